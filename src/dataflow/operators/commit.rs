//! The `Commit` operator: one Delta commit per table per finished epoch, on one worker (the
//! committer), with every partition's position as `txn`. A failure reported for an epoch (or a
//! failed commit) refuses that epoch and every later one: nothing after it is committed, and
//! the run returns the failure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use super::dedup::anchors::{DedupAnchors, EpochStamps};
use crate::dataflow::error::DataflowError;
use crate::epoch::{EpochBuckets, Time, Vecs};
use crate::metrics::RunMetrics;
use crate::sink::{BatchRead, DataFile, DeltaTables, EpochReport, Rows, TableId, TableKind};
use crate::telemetry::{CommitFailed, EpochCommitted, TableCommitted};

/// What the committer has committed, for the run summary.
#[derive(Debug, Default, Clone)]
pub struct CommitStats {
    /// Rows committed per table (for tables rewritten in place: the rows they now hold).
    rows: BTreeMap<TableId, u64>,
    /// For tables rewritten in place: the rows each worker's part holds.
    holds: BTreeMap<(TableId, u32), u64>,
    pub commits: u64,
    pub epochs: u64,
    pub last_epoch: Time,
}

impl CommitStats {
    /// Rows of table `id`, as committed so far.
    pub fn rows_of(&self, id: impl Into<TableId>) -> u64 {
        self.rows.get(&id.into()).copied().unwrap_or(0)
    }

    fn count(&mut self, table: TableId, worker: u32, rows: Rows) {
        match rows {
            Rows::Appended(n) => *self.rows.entry(table).or_default() += n,
            Rows::Holds(n) => {
                self.holds.insert((table, worker), n);
                let total = self
                    .holds
                    .range((table, 0)..=(table, u32::MAX))
                    .map(|(_, n)| n)
                    .sum();
                self.rows.insert(table, total);
            }
        }
    }
}

/// The first failure of a run, shared by the workers of the committer's process: the committer
/// records why it refused an epoch; the workers stop reading once it is set, and the run
/// returns it.
#[derive(Debug, Clone, Default)]
pub struct Failure(Arc<Mutex<Option<DataflowError>>>);

impl Failure {
    /// Records `e` unless a failure is already recorded (the first one is the cause).
    pub fn set(&self, e: DataflowError) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
    }

    pub fn is_set(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// The recorded failure, taken out.
    pub fn take(&self) -> Option<DataflowError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The committer: one Delta commit per table per finished epoch, on worker 0.
pub trait Commit<'s> {
    /// `tables` is `Some` on exactly one worker (the committer); every worker sends it its
    /// reports. Emits each epoch once it is committed (or refused). `deferred` are the tables
    /// written every few epochs ([`EpochReport::Deferred`]) and what their rows are made of.
    fn commit(
        self,
        tables: Option<DeltaTables>,
        metrics: Arc<RunMetrics>,
        stats: Arc<Mutex<CommitStats>>,
        failure: Failure,
        anchors: DedupAnchors,
        deferred: BTreeMap<TableId, MadeOf>,
    ) -> StreamVec<'s, Time, Time>;
}

impl<'s> Commit<'s> for StreamVec<'s, Time, EpochReport> {
    fn commit(
        self,
        tables: Option<DeltaTables>,
        metrics: Arc<RunMetrics>,
        stats: Arc<Mutex<CommitStats>>,
        failure: Failure,
        anchors: DedupAnchors,
        deferred: BTreeMap<TableId, MadeOf>,
    ) -> StreamVec<'s, Time, Time> {
        let mut anchors = anchors;
        let mut views = DeferredViews {
            silver: tables
                .as_ref()
                .map(|t| t.positions(TableKind::Silver).clone())
                .unwrap_or_default(),
            reads: BTreeMap::new(),
            tables: deferred,
            carried: BTreeMap::new(),
        };
        self.unary_frontier::<Vecs<Time>, _, _, _>(
            Exchange::new(|_: &EpochReport| 0),
            "Commit",
            move |_cap, _info| {
                let mut tables = tables;
                let mut pending = EpochBuckets::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|cap, data| pending.absorb(&cap, port, data, |r| r.epoch()));
                    for (t, cap, reports) in pending.take_done(frontier) {
                        let Some(tables) = tables.as_mut() else {
                            continue;
                        };
                        if !failure.is_set() {
                            let state = (&mut anchors, &mut views);
                            if let Err(e) =
                                commit_epoch(tables, t, reports, &metrics, &stats, state)
                            {
                                failure.set(e);
                            }
                        }
                        output.session(&cap).give(t);
                    }
                }
            },
        )
    }
}

/// What the rows of a table written every few epochs are made of, which says what positions
/// its commits record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MadeOf {
    /// Silver rows (the views over silver): a restart replays into the table the silver rows
    /// after its positions, so once written it holds every silver row committed up to the epoch.
    SilverRows,
    /// The events read (the quality counts): a restart reads the source again from the table's
    /// positions, so once written it holds what it held and every event read since.
    ReadEvents,
}

/// The tables written every few epochs. A table's commit comes at an epoch in which no writer
/// of it held changes back, and records the positions of everything its rows hold then
/// ([`MadeOf`]), not only the partitions read in that epoch. Files a writer wrote in an epoch in
/// which another writer of the table held back (a writer that saw its input end writes at
/// once) are carried to the table's next commit.
struct DeferredViews {
    /// Silver's positions before the run, and every epoch's reads since.
    silver: BTreeMap<u32, i64>,
    /// Every epoch's reads of this run.
    reads: BTreeMap<u32, i64>,
    tables: BTreeMap<TableId, MadeOf>,
    carried: BTreeMap<TableId, (Vec<DataFile>, Vec<String>)>,
}

impl DeferredViews {
    /// Adds an epoch's files of `id` to those carried to its next commit; a file added and
    /// removed before that commit is never committed.
    fn carry(&mut self, id: TableId, adds: Vec<DataFile>, removes: Vec<String>) {
        let (carried_adds, carried_removes) = self.carried.entry(id).or_default();
        for path in removes {
            match carried_adds.iter().position(|a| a.path == path) {
                Some(i) => {
                    carried_adds.remove(i);
                }
                None => carried_removes.push(path),
            }
        }
        carried_adds.extend(adds);
    }
}

/// An epoch's reports, gathered per table.
#[derive(Default)]
struct EpochPlan {
    positions: BTreeMap<u32, i64>,
    /// Rows appended per table (views, which rewrite, are not counted).
    appended: BTreeMap<TableId, u64>,
    batches: Vec<BatchRead>,
    files: BTreeMap<TableId, (Vec<DataFile>, Vec<String>)>,
    /// Newest event time (ms) per partition of the epoch's silver rows.
    watermarks: BTreeMap<u32, i64>,
    /// What the epoch's silver rows tell of deduplication's clocks.
    stamps: BTreeMap<u32, EpochStamps>,
    /// Views whose writers hold changes for a later epoch: not committed in this one.
    deferred: BTreeSet<TableId>,
}

fn gather(
    epoch: Time,
    reports: Vec<EpochReport>,
    stats: &mut CommitStats,
) -> Result<EpochPlan, DataflowError> {
    let mut plan = EpochPlan::default();
    for report in reports {
        match report {
            EpochReport::Failed { stage, error, .. } => {
                return Err(DataflowError::Stage {
                    epoch,
                    stage,
                    message: error,
                })
            }
            EpochReport::Read {
                positions, batches, ..
            } => {
                for (p, seq) in positions {
                    let e = plan.positions.entry(p).or_insert(seq);
                    *e = (*e).max(seq);
                }
                plan.batches.extend(batches);
            }
            EpochReport::DedupStamps { stamps, .. } => {
                for (p, newest_ms, untimed_ingest_ms) in stamps {
                    plan.stamps.entry(p).or_default().merge(&EpochStamps {
                        newest_ms,
                        untimed_ingest_ms,
                    });
                }
            }
            EpochReport::Deferred { table, .. } => {
                plan.deferred.insert(table);
            }
            EpochReport::Watermarks { marks, .. } => {
                for (p, t) in marks {
                    let e = plan.watermarks.entry(p).or_insert(t);
                    *e = (*e).max(t);
                }
            }
            EpochReport::Files {
                table,
                worker,
                adds,
                removes,
                rows,
                ..
            } => {
                let entry = plan.files.entry(table).or_default();
                entry.0.extend(adds);
                entry.1.extend(removes);
                if let Rows::Appended(n) = rows {
                    *plan.appended.entry(table).or_default() += n;
                }
                stats.count(table, worker, rows);
            }
        }
    }
    Ok(plan)
}

fn commit_epoch(
    tables: &mut DeltaTables,
    epoch: Time,
    reports: Vec<EpochReport>,
    metrics: &RunMetrics,
    stats: &Mutex<CommitStats>,
    (anchors, views): (&mut DedupAnchors, &mut DeferredViews),
) -> Result<(), DataflowError> {
    let epoch_started = Instant::now();
    // Counted on a copy: a refused epoch leaves the statistics as they were.
    let mut counted = stats.lock().expect("commit stats").clone();
    let mut plan = gather(epoch, reports, &mut counted)?;
    let _ = crate::fault::reached(crate::fault::Point::BeforeCommit);
    let mut commits = 0;
    tables.advance_watermarks(&plan.watermarks);
    anchors.advance(&plan.stamps, &plan.positions);
    tables.record_dedup_anchors(&anchors.recorded());
    for (&p, &seq) in &plan.positions {
        for positions in [&mut views.silver, &mut views.reads] {
            let e = positions.entry(p).or_insert(seq);
            *e = (*e).max(seq);
        }
    }
    let ids: Vec<TableId> = tables.catalog().iter().map(|(id, _)| id).collect();
    for id in ids {
        let (adds, removes) = plan.files.remove(&id).unwrap_or_default();
        let made_of = views.tables.get(&id).copied();
        let (adds, removes) = match made_of {
            None => (adds, removes),
            Some(_) => {
                views.carry(id, adds, removes);
                if plan.deferred.contains(&id) {
                    continue;
                }
                views.carried.remove(&id).unwrap_or_default()
            }
        };
        let positions = match made_of {
            Some(MadeOf::SilverRows) => &views.silver,
            Some(MadeOf::ReadEvents) => &views.reads,
            None => &plan.positions,
        };
        let started = Instant::now();
        let before = tables.version(id);
        let name = tables.table(id).spec.name.clone();
        if let Err(source) = tables.commit(id, epoch, adds, removes, positions) {
            let error = source.to_string();
            CommitFailed {
                table: &name,
                error: &error,
            }
            .emit();
            return Err(DataflowError::Commit {
                epoch,
                table: name,
                source,
            });
        }
        if tables.version(id) != before {
            let _ = crate::fault::reached(crate::fault::Point::BetweenTables);
            commits += 1;
            TableCommitted {
                table: &name,
                version: tables.version(id) as i64,
                rows: plan.appended.get(&id).copied().unwrap_or(0),
                duration: started.elapsed(),
            }
            .emit(metrics);
        }
    }
    EpochCommitted {
        epoch,
        batches: &plan.batches,
        positions: &plan.positions,
        duration: epoch_started.elapsed(),
    }
    .emit(metrics);
    counted.commits += commits;
    counted.epochs += 1;
    counted.last_epoch = epoch;
    *stats.lock().expect("commit stats") = counted;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> DataFile {
        DataFile {
            path: path.to_string(),
            size: 1,
            modification_time: 0,
            rows: 1,
            stats: String::new(),
        }
    }

    /// Files carried over epochs in which a table's commit was held back: a file added and then
    /// removed before the commit is never committed, removes of committed files stay, and the
    /// newest adds are kept.
    #[test]
    fn carried_files_cancel_an_add_removed_before_the_commit() {
        let id = TableKind::Quality.id();
        let mut views = DeferredViews {
            silver: BTreeMap::new(),
            reads: BTreeMap::new(),
            tables: BTreeMap::from([(id, MadeOf::ReadEvents)]),
            carried: BTreeMap::new(),
        };
        // Epoch 1: one writer rewrites group a (committed file a0) while another held back.
        views.carry(id, vec![file("a1")], vec!["a0".into()]);
        // Epoch 2: group a again (its uncommitted a1 goes), and group b.
        views.carry(
            id,
            vec![file("a2"), file("b1")],
            vec!["a1".into(), "b0".into()],
        );
        let (adds, removes) = views.carried.remove(&id).unwrap();
        let adds: Vec<&str> = adds.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(adds, ["a2", "b1"]);
        assert_eq!(removes, ["a0", "b0"]);
    }
}
