//! The stages as extension traits on timely streams. Each trait is one operator (or a short chain)
//! with the state it owns; composing them is `run`'s job, or a library user's.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

type HashSet<T> = ahash::AHashSet<T>;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::{BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use differential_dataflow::operators::count::CountTotal;
use differential_dataflow::AsCollection;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use super::process::{
    process_batch, Candidate, DedupKey, ProcessContext, Processed, QualityKey, SkipBelow,
};
use super::{DeliveryOrder, Time, RESTORED};
use crate::metrics::RunMetrics;
use crate::sink::parquet::{write_file, EpochFile};
use crate::sink::tables::{quality_schema, TableKind};
use crate::sink::{DeltaTables, FilesWritten};
use crate::source::RawBatch;

pub(crate) type Vecs<D> = CapacityContainerBuilder<Vec<D>>;

/// Data held back per epoch until the frontier passes it, each bucket with a capability for its
/// epoch (differential's updates may carry times later than their message's).
pub(crate) struct EpochBuckets<D> {
    pending: BTreeMap<Time, (Capability<Time>, Vec<D>)>,
}

impl<D> EpochBuckets<D> {
    pub(crate) fn new() -> Self {
        EpochBuckets {
            pending: BTreeMap::new(),
        }
    }

    /// Holds `cap` as the bucket of its epoch (so that the epoch is reported even if no data
    /// arrives for it).
    pub(crate) fn hold(&mut self, cap: Capability<Time>) {
        let t = *cap.time();
        self.pending.entry(t).or_insert_with(|| (cap, Vec::new()));
    }

    /// Files each datum of a message under its own time (`time_of`).
    pub(crate) fn absorb(
        &mut self,
        cap: &timely::dataflow::operators::InputCapability<Time>,
        port: usize,
        data: &mut Vec<D>,
        time_of: impl Fn(&D) -> Time,
    ) {
        for d in data.drain(..) {
            let time = time_of(&d);
            self.pending
                .entry(time)
                .or_insert_with(|| (cap.delayed(&time, port), Vec::new()))
                .1
                .push(d);
        }
    }

    /// Removes and returns, in epoch order, every bucket the frontier has passed.
    pub(crate) fn take_done(
        &mut self,
        frontier: &timely::progress::frontier::MutableAntichain<Time>,
    ) -> Vec<(Time, Capability<Time>, Vec<D>)> {
        let done: Vec<Time> = self
            .pending
            .keys()
            .copied()
            .filter(|t| !frontier.less_equal(t))
            .collect();
        done.into_iter()
            .map(|t| {
                let (cap, data) = self.pending.remove(&t).expect("present");
                (t, cap, data)
            })
            .collect()
    }
}

/// The epoch of a received message (every message of the pipeline is sent under a capability).
pub(crate) fn epoch_of(cap: &timely::dataflow::operators::InputCapability<Time>) -> Time {
    cap.least()
        .copied()
        .expect("pipeline messages carry a time")
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Raw batches → [`Processed`] batches (bronze rows, parse, rules, routing, counts).
pub trait Process<'s> {
    /// `skips` holds each partition's committed positions (rows at or below are dropped).
    fn process(
        self,
        ctx: ProcessContext,
        skips: Arc<BTreeMap<u32, SkipBelow>>,
        metrics: Arc<RunMetrics>,
    ) -> StreamVec<'s, Time, Arc<Processed>>;
}

impl<'s> Process<'s> for StreamVec<'s, Time, RawBatch> {
    fn process(
        self,
        ctx: ProcessContext,
        skips: Arc<BTreeMap<u32, SkipBelow>>,
        metrics: Arc<RunMetrics>,
    ) -> StreamVec<'s, Time, Arc<Processed>> {
        self.unary::<Vecs<Arc<Processed>>, _, _, _>(Pipeline, "Process", move |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for raw in data.drain(..) {
                        let started = Instant::now();
                        let skip = skips
                            .get(&raw.partition)
                            .copied()
                            .unwrap_or(SkipBelow::NONE);
                        let (partition, first) =
                            (raw.partition, raw.sequence_numbers.first().copied().unwrap_or(-1));
                        let processed = process_batch(raw, &ctx, skip, now_ms()).unwrap_or_else(|e| {
                            panic!("internal error processing partition {partition} at sequence {first}: {e:#}")
                        });
                        metrics.batch_processed(
                            processed.events as u64,
                            processed.body_bytes as u64,
                            started.elapsed().as_micros() as u64,
                        );
                        session.give(Arc::new(processed));
                    }
                });
            }
        })
    }
}

/// Per-epoch state of a table writer.
struct PendingFile {
    cap: Capability<Time>,
    file: Option<EpochFile>,
}

/// Selects one table's rows from processed batches.
pub trait TableRows<'s> {
    /// The bronze or quarantine rows of each processed batch.
    fn table_rows(self, kind: TableKind) -> StreamVec<'s, Time, RecordBatch>;
    /// Per epoch, the last sequence number of each partition read and the batches' read times:
    /// the committer records these positions in every table's commit of that epoch.
    fn positions(self) -> StreamVec<'s, Time, FilesWritten>;
}

impl<'s> TableRows<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn table_rows(self, kind: TableKind) -> StreamVec<'s, Time, RecordBatch> {
        self.unary::<Vecs<RecordBatch>, _, _, _>(
            Pipeline,
            &format!("{} rows", kind.name()),
            move |_cap, _info| {
                move |input, output| {
                    input.for_each(|cap, data| {
                        let mut session = output.session(&cap);
                        for p in data.drain(..) {
                            let rows = match kind {
                                TableKind::Bronze => p.bronze.as_ref(),
                                TableKind::Quarantine => p.quarantine.as_ref(),
                                _ => panic!(
                                    "table_rows selects bronze or quarantine, not {}",
                                    kind.name()
                                ),
                            };
                            if let Some(rows) = rows {
                                session.give(rows.clone());
                            }
                        }
                    });
                }
            },
        )
    }

    fn positions(self) -> StreamVec<'s, Time, FilesWritten> {
        self.unary_frontier::<Vecs<FilesWritten>, _, _, _>(
            Pipeline,
            "Positions",
            move |_cap, _info| {
                let mut pending: BTreeMap<
                    Time,
                    (Capability<Time>, BTreeMap<u32, i64>, Vec<(i64, u64, u64)>),
                > = BTreeMap::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|cap, data| {
                        let entry = pending.entry(epoch_of(&cap)).or_insert_with(|| {
                            (
                                cap.retain_least(port).expect("connected"),
                                BTreeMap::new(),
                                Vec::new(),
                            )
                        });
                        for p in data.drain(..) {
                            let pos = entry.1.entry(p.partition).or_insert(p.last_seq);
                            *pos = (*pos).max(p.last_seq);
                            entry
                                .2
                                .push((p.ingest_ms, p.events as u64, p.body_bytes as u64));
                        }
                    });
                    let done: Vec<Time> = pending
                        .keys()
                        .copied()
                        .filter(|t| !frontier.less_equal(t))
                        .collect();
                    for t in done {
                        let (cap, positions, batches) = pending.remove(&t).expect("present");
                        output.session(&cap).give(FilesWritten {
                            table: TableKind::Bronze as u8,
                            epoch: t,
                            positions: positions.into_iter().collect(),
                            batches,
                            ..Default::default()
                        });
                    }
                }
            },
        )
    }
}

/// Writes a stream of rows of one table: each epoch's rows go to one Parquet file, encoded as
/// they arrive and reported as [`FilesWritten`] once the epoch is done.
pub trait WriteTable<'s> {
    fn write_table(self, kind: TableKind, root: PathBuf) -> StreamVec<'s, Time, FilesWritten>;
}

impl<'s> WriteTable<'s> for StreamVec<'s, Time, RecordBatch> {
    fn write_table(self, kind: TableKind, root: PathBuf) -> StreamVec<'s, Time, FilesWritten> {
        let name = format!("Write {}", kind.name());
        self.unary_frontier::<Vecs<FilesWritten>, _, _, _>(Pipeline, &name, move |_cap, _info| {
            let mut pending: BTreeMap<Time, PendingFile> = BTreeMap::new();
            move |(input, frontier), output| {
                let port = output.output_index();
                input.for_each(|cap, data| {
                    let entry = pending
                        .entry(epoch_of(&cap))
                        .or_insert_with(|| PendingFile {
                            cap: cap.retain_least(port).expect("connected"),
                            file: None,
                        });
                    for rows in data.drain(..) {
                        if rows.num_rows() == 0 {
                            continue;
                        }
                        if entry.file.is_none() {
                            entry.file = Some(
                                EpochFile::create(&root, rows.schema())
                                    .unwrap_or_else(|e| panic!("{e}")),
                            );
                        }
                        entry
                            .file
                            .as_mut()
                            .expect("created")
                            .write(&rows)
                            .unwrap_or_else(|e| panic!("{e}"));
                    }
                });
                let done: Vec<Time> = pending
                    .keys()
                    .copied()
                    .filter(|t| !frontier.less_equal(t))
                    .collect();
                for t in done {
                    let p = pending.remove(&t).expect("present");
                    let Some(file) = p.file else { continue };
                    let rows = file.rows() as u64;
                    let add = file.finish().unwrap_or_else(|e| panic!("{e}"));
                    output.session(&p.cap).give(FilesWritten {
                        table: kind as u8,
                        epoch: t,
                        adds: add
                            .map(|a| serde_json::to_string(&a).expect("add serialises"))
                            .into_iter()
                            .collect(),
                        rows,
                        ..Default::default()
                    });
                }
            }
        })
    }
}

/// Deduplication on `event_id` with differential: the first delivery of each key wins.
pub trait DedupWinners<'s> {
    /// Emits, at epoch `e`, the `(partition, sequence number)` of every silver candidate of `e`
    /// that is the first delivery of its key, exchanged to the worker that read the partition.
    /// State is retired once the event time is more than `horizon_ms` behind the newest seen.
    /// `restored` are keys (with event times) already committed to silver before a restart.
    fn dedup_winners(
        self,
        horizon_ms: i64,
        restored: Vec<(DedupKey, i64)>,
    ) -> StreamVec<'s, Time, (u32, i64)>;
}

impl<'s> DedupWinners<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn dedup_winners(
        self,
        horizon_ms: i64,
        restored: Vec<(DedupKey, i64)>,
    ) -> StreamVec<'s, Time, (u32, i64)> {
        let updates = self.unary::<Vecs<((DedupKey, DeliveryOrder), Time, isize)>, _, _, _>(
            Pipeline,
            "Dedup keys",
            move |cap, _info| {
                let mut restore = Some((cap, restored));
                let mut live: BinaryHeap<Reverse<(i64, DedupKey, DeliveryOrder)>> =
                    BinaryHeap::new();
                let mut newest = i64::MIN;
                move |input, output| {
                    if let Some((cap, restored)) = restore.take() {
                        let mut session = output.session(&cap);
                        for (key, event_time) in restored {
                            let order = (0, RESTORED, -1);
                            session.give(((key, order), 0, 1));
                            live.push(Reverse((event_time, key, order)));
                            newest = newest.max(event_time);
                        }
                    }
                    input.for_each(|cap, data| {
                        let t = epoch_of(&cap);
                        let mut session = output.session(&cap);
                        for p in data.iter() {
                            for Candidate {
                                key,
                                sequence_number,
                                event_time_ms,
                            } in p.candidates.iter().flatten()
                            {
                                let order = (t, p.partition, *sequence_number);
                                session.give(((*key, order), t, 1));
                                live.push(Reverse((*event_time_ms, *key, order)));
                                newest = newest.max(*event_time_ms);
                            }
                        }
                        // Retire what fell behind the horizon; never in the epoch that inserted it
                        // (the insert and the retraction would cancel before the decision).
                        let watermark = newest.saturating_sub(horizon_ms);
                        let mut deferred = Vec::new();
                        while let Some(Reverse((event_time, key, order))) = live.peek().copied() {
                            if event_time >= watermark {
                                break;
                            }
                            live.pop();
                            if order.0 == t {
                                deferred.push(Reverse((event_time, key, order)));
                            } else {
                                session.give(((key, order), t, -1));
                            }
                        }
                        live.extend(deferred);
                    });
                }
            },
        );
        updates
            .as_collection()
            .reduce_named("Dedup", |_key, deliveries, output| {
                output.push((*deliveries[0].0, 1isize))
            })
            .inner
            .unary::<Vecs<(u32, i64)>, _, _, _>(Pipeline, "Winners", |_cap, _info| {
                move |input, output| {
                    let port = output.output_index();
                    input.for_each(|cap, data| {
                        // Differential's updates carry their own times (at or after the
                        // message's): emit each winner at the epoch of its update.
                        let mut by_time: BTreeMap<Time, Vec<(u32, i64)>> = BTreeMap::new();
                        for ((_key, (epoch, partition, seq)), time, diff) in data.drain(..) {
                            if diff > 0 && epoch == time && partition != RESTORED {
                                by_time.entry(time).or_default().push((partition, seq));
                            }
                        }
                        for (time, winners) in by_time {
                            let delayed = cap.delayed(&time, port);
                            output.session(&delayed).give_iterator(winners.into_iter());
                        }
                    });
                }
            })
    }
}

/// Per-epoch state of the silver writer.
struct PendingSilver {
    cap: Capability<Time>,
    candidates: Vec<(RecordBatch, Vec<Option<Candidate>>)>,
    winners: HashSet<(u32, i64)>,
}

impl PendingSilver {
    /// The state of the message's epoch, created (holding a capability) on first use.
    fn for_message<'a>(
        pending: &'a mut BTreeMap<Time, PendingSilver>,
        cap: &timely::dataflow::operators::InputCapability<Time>,
        port: usize,
    ) -> &'a mut PendingSilver {
        pending
            .entry(epoch_of(cap))
            .or_insert_with(|| PendingSilver {
                cap: cap.retain_least(port).expect("connected"),
                candidates: Vec::new(),
                winners: HashSet::new(),
            })
    }
}

/// Silver rows: each epoch's candidates that won deduplication (rows without an `event_id`
/// are not deduplicated).
pub trait SilverRows<'s> {
    fn silver_rows(
        self,
        winners: StreamVec<'s, Time, (u32, i64)>,
    ) -> StreamVec<'s, Time, RecordBatch>;
}

impl<'s> SilverRows<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn silver_rows(
        self,
        winners: StreamVec<'s, Time, (u32, i64)>,
    ) -> StreamVec<'s, Time, RecordBatch> {
        let to_reader = Exchange::new(|w: &(u32, i64)| w.0 as u64);
        self.binary_frontier::<_, Vecs<RecordBatch>, _, _, _, _>(
            winners,
            Pipeline,
            to_reader,
            "Silver",
            move |_cap, _info| {
                let mut pending: BTreeMap<Time, PendingSilver> = BTreeMap::new();
                move |(input1, frontier1), (input2, frontier2), output| {
                    let port = output.output_index();
                    input1.for_each(|cap, data| {
                        let entry = PendingSilver::for_message(&mut pending, &cap, port);
                        for p in data.drain(..) {
                            if let Some(b) = &p.silver {
                                entry.candidates.push((b.clone(), p.candidates.clone()));
                            }
                        }
                    });
                    input2.for_each(|cap, data| {
                        PendingSilver::for_message(&mut pending, &cap, port)
                            .winners
                            .extend(data.drain(..));
                    });
                    let done: Vec<Time> = pending
                        .keys()
                        .copied()
                        .filter(|t| !frontier1.less_equal(t) && !frontier2.less_equal(t))
                        .collect();
                    for t in done {
                        let p = pending.remove(&t).expect("present");
                        let mut session = output.session(&p.cap);
                        for (batch, cands) in p.candidates {
                            let mask: BooleanArray = cands
                                .iter()
                                .map(|c| {
                                    Some(c.is_none_or(|c| {
                                        p.winners
                                            .contains(&(partition_of(&batch), c.sequence_number))
                                    }))
                                })
                                .collect();
                            let rows = arrow::compute::filter_record_batch(&batch, &mask)
                                .expect("mask matches batch");
                            if rows.num_rows() > 0 {
                                session.give(rows);
                            }
                        }
                    }
                }
            },
        )
    }
}

/// The partition of a silver batch (all its rows come from one raw batch).
fn partition_of(batch: &RecordBatch) -> u32 {
    let col = batch
        .column_by_name("partition")
        .expect("silver has a partition column");
    col.as_any()
        .downcast_ref::<arrow::array::Int32Array>()
        .map(|a| a.value(0) as u32)
        .unwrap_or(0)
}

/// A change of one quality count: ((rule, window, 0 = evaluated | 1 = failed), total).
pub type QualityChange = (((u32, Option<i64>, u8), isize), Time, isize);

/// Per-(rule, window) counts maintained with differential.
pub trait QualityCounts<'s> {
    /// Feeds each batch's pre-aggregated counts (one update per rule and window per batch, the
    /// count as the diff) into `count_total`; emits the changes of the totals. `restored` are the
    /// totals committed before a restart (fed at epoch 0).
    fn quality_counts(
        self,
        restored: Vec<(QualityKey, (i64, i64))>,
    ) -> StreamVec<'s, Time, QualityChange>;
}

impl<'s> QualityCounts<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn quality_counts(
        self,
        restored: Vec<(QualityKey, (i64, i64))>,
    ) -> StreamVec<'s, Time, QualityChange> {
        type Update = ((u32, Option<i64>, u8), Time, isize);
        self.unary::<Vecs<Update>, _, _, _>(Pipeline, "Quality updates", move |cap, _info| {
            let mut restore = Some((cap, restored));
            move |input, output| {
                if let Some((cap, restored)) = restore.take() {
                    let mut session = output.session(&cap);
                    for ((rule, window), (evaluated, failed)) in restored {
                        if evaluated != 0 {
                            session.give(((rule, window, 0u8), 0, evaluated as isize));
                        }
                        if failed != 0 {
                            session.give(((rule, window, 1u8), 0, failed as isize));
                        }
                    }
                }
                input.for_each(|cap, data| {
                    let t = epoch_of(&cap);
                    let mut session = output.session(&cap);
                    for p in data.iter() {
                        for &((rule, window), (evaluated, failed)) in &p.quality {
                            if evaluated != 0 {
                                session.give(((rule, window, 0u8), t, evaluated as isize));
                            }
                            if failed != 0 {
                                session.give(((rule, window, 1u8), t, failed as isize));
                            }
                        }
                    }
                });
            }
        })
        .as_collection()
        .count_total()
        .inner
    }
}

/// The current quality table, as the writer keeps it: (rule, window) → (evaluated, failed).
pub type QualityState = Arc<Mutex<BTreeMap<QualityKey, (i64, i64)>>>;

/// Rewrites the quality table (one row per rule and window) whenever an epoch changed it.
pub trait WriteQuality<'s> {
    /// `rules` are the (name, criticality) of rule 0 (`parse`), 1, 2, ...; `current_files` the
    /// table's committed files (replaced by the first rewrite); `window_ms` the window length.
    fn write_quality(
        self,
        root: PathBuf,
        rules: Vec<(String, String)>,
        current_files: Vec<String>,
        window_ms: i64,
        state: QualityState,
    ) -> StreamVec<'s, Time, FilesWritten>;
}

impl<'s> WriteQuality<'s> for StreamVec<'s, Time, QualityChange> {
    fn write_quality(
        self,
        root: PathBuf,
        rules: Vec<(String, String)>,
        current_files: Vec<String>,
        window_ms: i64,
        state: QualityState,
    ) -> StreamVec<'s, Time, FilesWritten> {
        self.unary_frontier::<Vecs<FilesWritten>, _, _, _>(
            Exchange::new(|_: &QualityChange| 0),
            "Write quality",
            move |_cap, _info| {
                let mut pending = EpochBuckets::new();
                let mut files = current_files;
                move |(input, frontier), output| {
                    let port = output.output_index();
                    // Bucket each change by its own time, so that an epoch's commit holds exactly
                    // that epoch's counts.
                    input.for_each(|cap, data| {
                        pending.absorb(&cap, port, data, |c: &QualityChange| c.1)
                    });
                    for (t, cap, changes) in pending.take_done(frontier) {
                        let mut current = state.lock().expect("quality state");
                        for (((rule, window, kind), total), _time, diff) in changes {
                            let slot = current.entry((rule, window)).or_default();
                            let delta = (total * diff) as i64;
                            if kind == 0 {
                                slot.0 += delta;
                            } else {
                                slot.1 += delta;
                            }
                        }
                        current.retain(|_, v| *v != (0, 0));
                        if t == 0 {
                            continue; // restored state: already what the table holds
                        }
                        let batch = quality_batch(&current, &rules, window_ms);
                        drop(current);
                        let add = write_file(&root, &[batch]).unwrap_or_else(|e| panic!("{e}"));
                        let adds: Vec<String> = add
                            .iter()
                            .map(|a| serde_json::to_string(a).expect("add serialises"))
                            .collect();
                        let removes = std::mem::replace(
                            &mut files,
                            add.iter().map(|a| a.path.clone()).collect(),
                        );
                        let rows = state.lock().expect("quality state").len() as u64;
                        output.session(&cap).give(FilesWritten {
                            table: TableKind::Quality as u8,
                            epoch: t,
                            adds,
                            removes,
                            rows,
                            snapshot: true,
                            ..Default::default()
                        });
                    }
                }
            },
        )
    }
}

/// The quality table's rows for `state`.
pub fn quality_batch(
    state: &BTreeMap<QualityKey, (i64, i64)>,
    rules: &[(String, String)],
    window_ms: i64,
) -> RecordBatch {
    let unknown = ("unknown".to_string(), "error".to_string());
    let rule_of = |r: u32| rules.get(r as usize).unwrap_or(&unknown);
    let name = StringArray::from_iter_values(state.keys().map(|(r, _)| rule_of(*r).0.as_str()));
    let crit = StringArray::from_iter_values(state.keys().map(|(r, _)| rule_of(*r).1.as_str()));
    let start = TimestampMicrosecondArray::from(
        state
            .keys()
            .map(|(_, w)| w.map(|w| w * 1000))
            .collect::<Vec<_>>(),
    )
    .with_timezone("UTC");
    let end = TimestampMicrosecondArray::from(
        state
            .keys()
            .map(|(_, w)| w.map(|w| (w + window_ms) * 1000))
            .collect::<Vec<_>>(),
    )
    .with_timezone("UTC");
    let evaluated = Int64Array::from_iter_values(state.values().map(|v| v.0));
    let failed = Int64Array::from_iter_values(state.values().map(|v| v.1));
    RecordBatch::try_new(
        quality_schema(),
        vec![
            Arc::new(name),
            Arc::new(crit),
            Arc::new(start),
            Arc::new(end),
            Arc::new(evaluated),
            Arc::new(failed),
        ],
    )
    .expect("quality rows match the schema")
}

/// What the committer has committed, for the run summary.
#[derive(Debug, Default, Clone)]
pub struct CommitStats {
    /// Rows committed per table index (for tables rewritten in place: the rows they now hold).
    pub rows: Vec<u64>,
    /// For tables rewritten in place: the rows each worker's part holds.
    snapshots: BTreeMap<(u8, u32), u64>,
    pub commits: u64,
    pub epochs: u64,
    pub last_epoch: Time,
}

impl CommitStats {
    /// Rows of the table at `index`, as committed so far.
    pub fn rows_of(&self, index: usize) -> u64 {
        self.rows.get(index).copied().unwrap_or(0)
    }
}

/// The committer: one Delta commit per table per finished epoch, on worker 0.
pub trait Commit<'s> {
    /// `tables` is `Some` on exactly one worker (the committer); every worker sends it its files.
    fn commit(
        self,
        tables: Option<DeltaTables>,
        metrics: Arc<RunMetrics>,
        stats: Arc<Mutex<CommitStats>>,
    ) -> StreamVec<'s, Time, Time>;
}

impl<'s> Commit<'s> for StreamVec<'s, Time, FilesWritten> {
    fn commit(
        self,
        tables: Option<DeltaTables>,
        metrics: Arc<RunMetrics>,
        stats: Arc<Mutex<CommitStats>>,
    ) -> StreamVec<'s, Time, Time> {
        self.unary_frontier::<Vecs<Time>, _, _, _>(
            Exchange::new(|_: &FilesWritten| 0),
            "Commit",
            move |_cap, _info| {
                let mut tables = tables;
                let mut pending = EpochBuckets::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|cap, data| {
                        pending.absorb(&cap, port, data, |w: &FilesWritten| w.epoch)
                    });
                    for (t, cap, written) in pending.take_done(frontier) {
                        let Some(tables) = tables.as_mut() else {
                            continue;
                        };
                        commit_epoch(tables, t, written, &metrics, &stats);
                        output.session(&cap).give(t);
                    }
                }
            },
        )
    }
}

fn commit_epoch(
    tables: &mut DeltaTables,
    epoch: Time,
    written: Vec<FilesWritten>,
    metrics: &RunMetrics,
    stats: &Mutex<CommitStats>,
) {
    let mut positions: BTreeMap<u32, i64> = BTreeMap::new();
    let mut batches = Vec::new();
    let mut per_table: BTreeMap<u8, (Vec<deltalake::kernel::Add>, Vec<String>)> = BTreeMap::new();
    let mut s = stats.lock().expect("commit stats");
    if s.rows.len() < tables.len() {
        s.rows.resize(tables.len(), 0);
    }
    for w in written {
        for (p, seq) in &w.positions {
            let e = positions.entry(*p).or_insert(*seq);
            *e = (*e).max(*seq);
        }
        batches.extend(w.batches.iter().copied());
        let entry = per_table.entry(w.table).or_default();
        for a in &w.adds {
            entry
                .0
                .push(serde_json::from_str(a).expect("add actions round-trip"));
        }
        entry.1.extend(w.removes);
        if w.snapshot {
            s.snapshots.insert((w.table, w.worker), w.rows);
        } else if let Some(r) = s.rows.get_mut(w.table as usize) {
            *r += w.rows;
        }
    }
    let snapshot_rows: BTreeMap<u8, u64> =
        s.snapshots
            .iter()
            .fold(BTreeMap::new(), |mut acc, ((t, _), r)| {
                *acc.entry(*t).or_default() += r;
                acc
            });
    for (t, r) in snapshot_rows {
        if let Some(slot) = s.rows.get_mut(t as usize) {
            *slot = r;
        }
    }
    drop(s);
    let mut commits = 0;
    for index in 0..tables.len() {
        let (adds, removes) = per_table.remove(&(index as u8)).unwrap_or_default();
        let started = Instant::now();
        let before = tables.table_at(index).table.version();
        tables
            .commit_at(index, epoch, adds, removes, &positions)
            .unwrap_or_else(|e| {
                panic!(
                    "commit of epoch {epoch} to {} failed: {e}",
                    tables.table_at(index).spec.name
                )
            });
        if tables.table_at(index).table.version() != before {
            commits += 1;
            metrics.committed(started.elapsed().as_micros() as u64);
        }
    }
    let now = now_ms();
    let (mut events, mut bytes) = (0, 0);
    for (ingest_ms, n, b) in batches {
        metrics.end_to_end((now - ingest_ms).max(0) as u64, n);
        events += n;
        bytes += b;
    }
    metrics.events_committed(events, bytes);
    let mut s = stats.lock().expect("commit stats");
    s.commits += commits;
    s.epochs += 1;
    s.last_epoch = epoch;
}
