//! The `DedupWinners` operator: deduplication on `event_id`, the first delivery of each key wins;
//! state kept in a compact [`KeyTable`] per worker and forgotten behind each partition's horizon.
//!
//! # The rule
//!
//! Every partition has a clock: the newest event time among its silver candidates so far, in
//! the partition's own order (an event without an event time does not move it). Each delivery
//! of a key is stamped with its partition's clock right after it (the ingest time while the
//! partition has no event time yet). Let `C` be the stamp of the key's winning delivery (the
//! first one, or the first after the key was forgotten). A later copy in the same partition,
//! stamped `C'`, is
//!
//! - **always dropped** when `C' - C <= horizon`: a copy is caught however late its own event
//!   time is, and wherever batches and epochs end, however many workers read and in whatever
//!   order the events of a partition come (grouped by device, interleaved, shuffled);
//! - **always kept** (as a new winning delivery) when `C' - C > horizon + horizon / 8`: the
//!   partition has moved on and forgotten the key;
//! - in between, decided by the buckets of an eighth of the horizon (at least a second) that
//!   state is kept in: dropped iff the bucket of `C` is not before the bucket of `C' - horizon`,
//!   exactly and the same on every run.
//!
//! Copies do not refresh a key: its state stays where the winning delivery put it (as Spark's
//! `dropDuplicatesWithinWatermark` does), so a key re-sent for ever still leaves memory, and what
//! a restart rebuilds from silver's winners is the state it had (exactly so when every copy is
//! in its winner's partition, as a partition key on the station makes it: a copy from another
//! partition moved its own partition's clock, and silver does not hold it).
//!
//! A copy in another partition is caught under the same condition, measured on the copy's
//! partition, as long as the key is still held: a bucket is dropped once every partition that
//! delivered a key into it has moved a horizon past it, so the copy is caught for sure while the
//! partition of the earlier delivery has not itself moved more than the horizon past it. (Which
//! of two copies in different partitions is first depends on the epoch each is read in.)
//!
//! The clock is arrival-based, not the key's own event time: a late event (an hour behind its
//! partition, say) duplicated at once is a duplicate like any other. Bucketing keys by their own
//! event time let both copies of a late event beyond the horizon through (issue 24: a partition's
//! events grouped by station, each station's backlog at a time).
//!
//! # How
//!
//! Each silver candidate travels as a [`Delivery`] (its 128-bit key, partition, sequence number,
//! its bucket and its partition's first kept bucket: 40 bytes) to the worker that owns its key
//! (by the key's high bits). The owner holds an epoch's deliveries until the frontier passes the
//! epoch, orders them by (partition, sequence number) and keeps the first of each key not already
//! in its table: epochs complete in order, so that is "first delivery wins" by (epoch, partition,
//! sequence number), the same on every run whatever the workers' interleaving. Winners go back to
//! the worker that read their partition.
//!
//! The clocks are kept where partitions are read ([`PartitionProgress`]); after a restart they
//! are seeded from the committed silver rows (broadcast to every worker, which hold back their
//! batches until the seeds are in), and the committed keys are delivered again, stamped as they
//! were, never winning.
//!
//! This replaced a differential `reduce` over `(key, delivery)` with a retirement heap, which
//! kept every key of the horizon in its input and output arrangements and the heap (over 200
//! bytes per key); a key now costs one 20-byte slot at 50–80% load (26–38 bytes per live key
//! measured on the standard file).

pub mod anchors;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Capability, ToStream};
use timely::dataflow::StreamVec;

use crate::dataflow::key_table::{KeyTable, MAX_BUCKET};
use crate::dataflow::per_batch::{Candidate, DedupKey, Processed};
use crate::epoch::{epoch_of, EpochBuckets, Time, Vecs};

/// Deduplication on `event_id`: the first delivery of each key wins.
pub trait DedupWinners<'s> {
    /// Emits, at epoch `e`, the `(partition, sequence number)` of every silver candidate of `e`
    /// that is the first delivery of its key, exchanged to the worker that read the partition.
    /// A copy is dropped while its partition's clock has moved at most `horizon_ms` (plus up to
    /// an eighth of it) past the key's winning delivery; see the module docs for the exact
    /// rule. `restored` is the state committed before a restart (worker 0's; empty elsewhere).
    fn dedup_winners(
        self,
        horizon_ms: i64,
        restored: RestoredDedup,
    ) -> StreamVec<'s, Time, (u32, i64)>;
}

/// The deduplication state committed before a restart (derived from silver's rows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestoredDedup {
    /// Keys still remembered, each with its partition and the partition's clock (ms) at its
    /// delivery.
    pub keys: Vec<RestoredKey>,
    /// Each partition's clock: the newest event time (ms) among its committed rows.
    pub clocks: Vec<(u32, i64)>,
}

/// A key committed to silver before a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoredKey {
    pub key: DedupKey,
    pub partition: u32,
    /// The partition's clock (ms) right after the key's delivery.
    pub clock_ms: i64,
}

impl RestoredDedup {
    /// The state of committed silver rows given as `(partition, sequence number, key, event
    /// time ms, ingest time ms)`, in any order: the clocks replayed in each partition's order,
    /// and the keys whose bucket the partition has not forgotten.
    pub fn of_rows(
        horizon_ms: i64,
        rows: Vec<(u32, i64, DedupKey, Option<i64>, i64)>,
    ) -> RestoredDedup {
        RestoredDedup::of_rows_after(horizon_ms, &BTreeMap::new(), rows)
    }

    /// [`RestoredDedup::of_rows`] of the rows after each partition's anchor (`rows` holds no row
    /// at or before it), each partition's clock starting from its anchor's: the same state as
    /// the replay of all rows (see [`anchors`]).
    pub fn of_rows_after(
        horizon_ms: i64,
        anchors: &BTreeMap<u32, anchors::Anchor>,
        mut rows: Vec<(u32, i64, DedupKey, Option<i64>, i64)>,
    ) -> RestoredDedup {
        let horizon = Horizon::new(horizon_ms);
        rows.sort_unstable_by_key(|r| (r.0, r.1));
        let mut progress = PartitionProgress::default();
        for (&p, a) in anchors {
            progress.seed(p, a.clock_ms);
        }
        let mut keys = Vec::with_capacity(rows.len());
        for &(partition, _, key, event_time_ms, ingest_ms) in &rows {
            keys.push(RestoredKey {
                key,
                partition,
                clock_ms: advance(progress.clock(partition), event_time_ms).unwrap_or(ingest_ms),
            });
        }
        let clocks = progress
            .newest_ms
            .iter()
            .filter(|(_, &t)| t != i64::MIN)
            .map(|(&p, &t)| (p, t))
            .collect();
        let mut restored = RestoredDedup { keys, clocks };
        let first_kept = restored.first_kept(&horizon);
        restored.keys.retain(|k| {
            horizon.bucket(k.clock_ms) >= first_kept.get(&k.partition).copied().unwrap_or(0)
        });
        restored
    }

    /// Each restored partition's first kept bucket.
    fn first_kept(&self, horizon: &Horizon) -> HashMap<u32, u32> {
        self.clocks
            .iter()
            .map(|&(p, t)| (p, horizon.first_kept(t)))
            .collect()
    }
}

/// Moves a partition's clock by an event's time; the clock right after it (`None` while the
/// partition has no event time yet).
fn advance(clock: &mut i64, event_time_ms: Option<i64>) -> Option<i64> {
    if let Some(t) = event_time_ms {
        *clock = (*clock).max(t);
    }
    (*clock != i64::MIN).then_some(*clock)
}

/// A key as (low, high) 64-bit halves.
fn halves(key: DedupKey) -> [u64; 2] {
    [key as u64, (key >> 64) as u64]
}

/// One delivery of a silver candidate, on its way to the key's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The dedup key as (low, high) 64-bit halves (a `u128` would be 16-byte aligned).
    pub key: [u64; 2],
    pub partition: u32,
    /// The first bucket the partition still remembers at this delivery
    /// ([`Horizon::first_kept`] of the partition's clock right after it).
    pub first_kept: u32,
    pub sequence_number: i64,
    /// The bucket of the partition's clock right after this delivery: where the key is held.
    pub bucket: u32,
    /// A key committed before a restart: it is remembered, never a winner.
    pub restored: bool,
}

impl Delivery {
    fn key(&self) -> DedupKey {
        u128::from(self.key[0]) | u128::from(self.key[1]) << 64
    }
}

/// Time in buckets of an eighth of the horizon (at least a second), counted from the Unix
/// epoch: a key lives in the bucket of its delivery's clock, and whole buckets are evicted.
#[derive(Debug, Clone, Copy)]
pub struct Horizon {
    horizon_ms: i64,
    bucket_ms: i64,
}

impl Horizon {
    pub fn new(horizon_ms: i64) -> Self {
        Horizon {
            horizon_ms: horizon_ms.max(0),
            bucket_ms: (horizon_ms / 8).max(1000),
        }
    }

    /// The bucket of a time in ms (times before 1970 share bucket 0).
    pub fn bucket(&self, ms: i64) -> u32 {
        ms.div_euclid(self.bucket_ms)
            .clamp(0, i64::from(MAX_BUCKET)) as u32
    }

    /// The first bucket still kept when a partition's clock is `clock_ms`.
    pub fn first_kept(&self, clock_ms: i64) -> u32 {
        self.bucket(clock_ms.saturating_sub(self.horizon_ms))
    }
}

/// Where partitions are read: each partition's clock, the newest event time of its candidates
/// so far (`i64::MIN` before the first).
#[derive(Debug, Default)]
struct PartitionProgress {
    newest_ms: HashMap<u32, i64>,
}

impl PartitionProgress {
    fn clock(&mut self, partition: u32) -> &mut i64 {
        self.newest_ms.entry(partition).or_insert(i64::MIN)
    }

    /// Moves a partition's clock to at least `clock_ms` (a restored clock).
    fn seed(&mut self, partition: u32, clock_ms: i64) {
        let clock = self.clock(partition);
        *clock = (*clock).max(clock_ms);
    }

    /// The deliveries of `partition`'s next candidates (in the partition's order; its map entry
    /// looked up once per batch). An event without an event time does not move the clock; while
    /// the partition has no clock yet its keys are stamped with `ingest_ms`.
    fn deliver<'a>(
        &'a mut self,
        horizon: &'a Horizon,
        partition: u32,
        candidates: impl IntoIterator<Item = &'a Candidate> + 'a,
        ingest_ms: i64,
    ) -> impl Iterator<Item = Delivery> + 'a {
        let clock = self.clock(partition);
        candidates.into_iter().map(move |c| {
            let (bucket, first_kept) = match advance(clock, c.event_time_ms) {
                Some(now) => (horizon.bucket(now), horizon.first_kept(now)),
                None => (horizon.bucket(ingest_ms), 0),
            };
            Delivery {
                key: halves(c.key),
                partition,
                first_kept,
                sequence_number: c.sequence_number,
                bucket,
                restored: false,
            }
        })
    }
}

/// The owner worker's state: the keys, and which partitions still need each bucket.
struct Owner {
    keys: KeyTable,
    /// Per partition, the first bucket it still remembers (the latest its deliveries said).
    first_kept: HashMap<u32, u32>,
    /// Per bucket holding keys, the partitions that delivered a key into it (sorted).
    delivered_into: BTreeMap<u32, Vec<u32>>,
}

impl Owner {
    fn new() -> Self {
        Owner {
            keys: KeyTable::default(),
            first_kept: HashMap::new(),
            delivered_into: BTreeMap::new(),
        }
    }

    /// Decides one complete epoch: `deliveries` in any order; returns the winners.
    fn decide(&mut self, mut deliveries: Vec<Delivery>) -> Vec<(u32, i64)> {
        // Batches of one partition arrive in order: runs that the stable sort merges cheaply.
        // Restored keys (sequence numbers of the past) come first.
        deliveries.sort_by_key(|d| (!d.restored, d.partition, d.sequence_number));
        let mut winners = Vec::new();
        let mut last = None;
        for d in &deliveries {
            let kept = self.first_kept.entry(d.partition).or_insert(0);
            *kept = (*kept).max(d.first_kept);
            if !self.keys.admit(d.key(), d.bucket, d.first_kept) {
                continue; // a copy: the key stays where its winner put it
            }
            if !d.restored {
                winners.push((d.partition, d.sequence_number));
            }
            // The key is now held in `d.bucket`, which this partition needs.
            if last != Some((d.bucket, d.partition)) {
                last = Some((d.bucket, d.partition));
                let partitions = self.delivered_into.entry(d.bucket).or_default();
                if let Err(at) = partitions.binary_search(&d.partition) {
                    partitions.insert(at, d.partition);
                }
            }
        }
        self.evict();
        winners
    }

    /// Evicts the buckets that every partition which delivered into them has forgotten.
    fn evict(&mut self) {
        let furthest = self.first_kept.values().copied().max().unwrap_or(0);
        let first_kept = &self.first_kept;
        let forgotten = |bucket: u32, p: u32| bucket < first_kept.get(&p).copied().unwrap_or(0);
        let gone: Vec<u32> = self
            .delivered_into
            .range(..furthest)
            .filter(|(&bucket, partitions)| partitions.iter().all(|&p| forgotten(bucket, p)))
            .map(|(&bucket, _)| bucket)
            .collect();
        if gone.is_empty() {
            return;
        }
        for b in &gone {
            self.delivered_into.remove(b);
        }
        let evicted = self.keys.evict_where(|b| gone.binary_search(&b).is_ok());
        tracing::debug!(
            evicted,
            buckets = gone.len(),
            live = self.keys.len(),
            bytes = self.keys.bytes(),
            "dedup state behind the horizon evicted"
        );
    }
}

/// The restored keys as deliveries: stamped as they were, each with its partition's restored
/// first kept bucket.
fn restored_deliveries(horizon: &Horizon, restored: &RestoredDedup) -> Vec<Delivery> {
    let first_kept = restored.first_kept(horizon);
    restored
        .keys
        .iter()
        .map(|k| Delivery {
            key: halves(k.key),
            partition: k.partition,
            first_kept: first_kept.get(&k.partition).copied().unwrap_or(0),
            sequence_number: -1,
            bucket: horizon.bucket(k.clock_ms),
            restored: true,
        })
        .collect()
}

impl<'s> DedupWinners<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn dedup_winners(
        self,
        horizon_ms: i64,
        restored: RestoredDedup,
    ) -> StreamVec<'s, Time, (u32, i64)> {
        let horizon = Horizon::new(horizon_ms);
        // Every worker's readers need the restored clocks of the partitions they read.
        let clocks = restored.clocks.clone().to_stream(self.scope()).broadcast();
        let deliveries = self.binary_frontier::<_, Vecs<Delivery>, _, _, _, _>(
            clocks,
            Pipeline,
            Pipeline,
            "Dedup keys",
            move |cap, _info| {
                let mut restore = Some((cap, restored_deliveries(&horizon, &restored)));
                let mut progress = PartitionProgress::default();
                // Batches that came before the restored clocks were all in, in arrival order.
                let mut held: Vec<(Capability<Time>, Vec<Arc<Processed>>)> = Vec::new();
                move |(input, _frontier), (clocks, clocks_frontier), output| {
                    if let Some((cap, restored)) = restore.take() {
                        output.session(&cap).give_iterator(restored.into_iter());
                    }
                    clocks.for_each(|_cap, data| {
                        for (partition, clock_ms) in data.drain(..) {
                            progress.seed(partition, clock_ms);
                        }
                    });
                    let seeded = clocks_frontier.is_empty();
                    let port = output.output_index();
                    input.for_each(|cap, data| {
                        let t = epoch_of(&cap);
                        // Drained, not iterated: the batch (its bronze rows) must not stay
                        // alive in a recycled message buffer.
                        held.push((cap.delayed(&t, port), data.drain(..).collect()));
                    });
                    if !seeded {
                        return;
                    }
                    for (cap, batches) in held.drain(..) {
                        let mut session = output.session(&cap);
                        for p in batches {
                            session.give_iterator(progress.deliver(
                                &horizon,
                                p.partition,
                                p.candidates.iter().flatten(),
                                p.ingest_ms,
                            ));
                        }
                    }
                }
            },
        );
        let to_owner = Exchange::new(|d: &Delivery| d.key[1]);
        deliveries.unary_frontier::<Vecs<(u32, i64)>, _, _, _>(
            to_owner,
            "Dedup",
            move |_cap, _info| {
                let mut pending: EpochBuckets<Delivery> = EpochBuckets::new();
                let mut owner = Owner::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|cap, data| {
                        pending.bucket(&cap, port).append(data);
                    });
                    for (_epoch, cap, deliveries) in pending.take_done(frontier) {
                        let winners = owner.decide(deliveries);
                        output.session(&cap).give_iterator(winners.into_iter());
                    }
                }
            },
        )
    }
}
