//! The `DedupWinners` operator: deduplication on `event_id`, the first delivery of each key wins;
//! state kept in a compact [`KeyTable`] per worker and evicted behind the event-time horizon.
//!
//! Each silver candidate travels as a [`Delivery`] (its 128-bit key, partition, sequence number,
//! event time and its partition's horizon: 40 bytes) to the worker that owns its key (by the key's
//! high bits). The owner holds an epoch's deliveries until the frontier passes the epoch, orders
//! them by (partition, sequence number) and keeps the first of each key not already in its table:
//! epochs complete in order, so that is "first delivery wins" by (epoch, partition, sequence
//! number), the same on every run whatever the workers' interleaving. Winners go back to the
//! worker that read their partition.
//!
//! Forgetting is per partition, so that it never depends on how fast the workers read. A delivery
//! carries the horizon of its own partition: the first event-time bucket the partition still
//! remembers, from the newest event time among the partition's candidates up to and including
//! this one (computed where the partition is read, in order). For that delivery a held key in an
//! older bucket counts as forgotten. A bucket's keys leave memory only once every partition that
//! delivered a key into it has moved past it, so a partition that reads slowly (or pauses) keeps
//! the buckets it still needs: whether a duplicate within one partition is caught depends only on
//! that partition's own events, not on where epochs end or how far ahead other partitions are. A
//! duplicate from another partition is caught while its first delivery is held.
//! (One horizon per owner, the newest event time from any partition, let a worker that read
//! faster evict the keys of a slower one: on the 6M-event file 0–5 of its 29,911 duplicates
//! reached silver, a different number from run to run.)
//!
//! This replaced a differential `reduce` over `(key, delivery)` with a retirement heap, which
//! kept every key of the horizon in its input and output arrangements and the heap (over 200
//! bytes per key); a key now costs one 20-byte slot at 50–80% load (26–38 bytes per live key measured on the standard file).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::dataflow::key_table::{KeyTable, MAX_BUCKET};
use crate::dataflow::per_batch::{Candidate, DedupKey, Processed};
use crate::epoch::{EpochBuckets, Time, Vecs, RESTORED};

/// Deduplication on `event_id`: the first delivery of each key wins.
pub trait DedupWinners<'s> {
    /// Emits, at epoch `e`, the `(partition, sequence number)` of every silver candidate of `e`
    /// that is the first delivery of its key, exchanged to the worker that read the partition.
    /// A key is forgotten by a partition once the newest event time of that partition is more
    /// than `horizon_ms` (plus up to an eighth of it, see [`Horizon`]) past the key's event
    /// time. `restored` are keys (with event times) already committed to silver before a restart.
    fn dedup_winners(
        self,
        horizon_ms: i64,
        restored: Vec<(DedupKey, i64)>,
    ) -> StreamVec<'s, Time, (u32, i64)>;
}

/// One delivery of a silver candidate, on its way to the key's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The dedup key as (low, high) 64-bit halves (a `u128` would be 16-byte aligned).
    pub key: [u64; 2],
    pub partition: u32,
    /// The first bucket the partition still remembers at this delivery
    /// ([`Horizon::first_kept`] of the partition's newest event time so far, this one included).
    pub first_kept: u32,
    pub sequence_number: i64,
    /// The event time in ms (the ingest time for an event without one): the key's bucket.
    pub event_time_ms: i64,
}

impl Delivery {
    fn new(
        key: DedupKey,
        partition: u32,
        first_kept: u32,
        sequence_number: i64,
        event_time_ms: i64,
    ) -> Self {
        Delivery {
            key: [key as u64, (key >> 64) as u64],
            partition,
            first_kept,
            sequence_number,
            event_time_ms,
        }
    }

    fn key(&self) -> DedupKey {
        u128::from(self.key[0]) | u128::from(self.key[1]) << 64
    }
}

/// Event time in buckets of an eighth of the horizon (at least a second), counted from the Unix
/// epoch: a key lives in the bucket of its event time, and whole buckets are evicted.
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

    /// The bucket of an event time (times before 1970 share bucket 0).
    pub fn bucket(&self, event_time_ms: i64) -> u32 {
        event_time_ms
            .div_euclid(self.bucket_ms)
            .clamp(0, i64::from(MAX_BUCKET)) as u32
    }

    /// The first bucket still kept when the newest event time seen is `newest_ms`.
    pub fn first_kept(&self, newest_ms: i64) -> u32 {
        self.bucket(newest_ms.saturating_sub(self.horizon_ms))
    }
}

/// Where partitions are read: the newest event time of each partition's candidates so far.
#[derive(Debug, Default)]
struct PartitionProgress {
    newest_ms: HashMap<u32, i64>,
}

impl PartitionProgress {
    /// The deliveries of `partition`'s next candidates (in the partition's order; its map entry
    /// looked up once per batch). An event without an event time is bucketed by `ingest_ms` and
    /// does not move the horizon.
    fn deliver<'a>(
        &'a mut self,
        horizon: &'a Horizon,
        partition: u32,
        candidates: impl IntoIterator<Item = &'a Candidate> + 'a,
        ingest_ms: i64,
    ) -> impl Iterator<Item = Delivery> + 'a {
        let newest = self.newest_ms.entry(partition).or_insert(i64::MIN);
        candidates.into_iter().map(move |c| {
            if let Some(t) = c.event_time_ms {
                *newest = (*newest).max(t);
            }
            let first_kept = if *newest == i64::MIN {
                0
            } else {
                horizon.first_kept(*newest)
            };
            Delivery::new(
                c.key,
                partition,
                first_kept,
                c.sequence_number,
                c.event_time_ms.unwrap_or(ingest_ms),
            )
        })
    }
}

/// The owner worker's state: the keys, and which partitions still need each bucket.
struct Owner {
    keys: KeyTable,
    horizon: Horizon,
    /// Per partition, the first bucket it still remembers (the latest its deliveries said).
    first_kept: HashMap<u32, u32>,
    /// Per bucket holding keys, the partitions that delivered a key into it (sorted).
    delivered_into: BTreeMap<u32, Vec<u32>>,
}

impl Owner {
    fn new(horizon_ms: i64) -> Self {
        Owner {
            keys: KeyTable::default(),
            horizon: Horizon::new(horizon_ms),
            first_kept: HashMap::new(),
            delivered_into: BTreeMap::new(),
        }
    }

    /// Decides one complete epoch: `deliveries` in any order; returns the winners.
    fn decide(&mut self, mut deliveries: Vec<Delivery>) -> Vec<(u32, i64)> {
        // Batches of one partition arrive in order: runs that the stable sort merges cheaply.
        deliveries.sort_by_key(|d| (d.partition, d.sequence_number));
        let mut winners = Vec::new();
        let mut last = None;
        for d in &deliveries {
            let bucket = self.horizon.bucket(d.event_time_ms);
            if self.keys.admit(d.key(), bucket, d.first_kept) && d.partition != RESTORED {
                winners.push((d.partition, d.sequence_number));
            }
            // The key is now held in `bucket` or later; this partition needs `bucket`.
            if last != Some((bucket, d.partition)) {
                last = Some((bucket, d.partition));
                let partitions = self.delivered_into.entry(bucket).or_default();
                if let Err(at) = partitions.binary_search(&d.partition) {
                    partitions.insert(at, d.partition);
                }
            }
            if d.partition != RESTORED {
                let kept = self.first_kept.entry(d.partition).or_insert(0);
                *kept = (*kept).max(d.first_kept);
            }
        }
        self.evict();
        winners
    }

    /// Evicts the buckets that every partition which delivered into them has forgotten (keys
    /// restored after a restart: once the partition furthest ahead has).
    fn evict(&mut self) {
        let furthest = self.first_kept.values().copied().max().unwrap_or(0);
        let first_kept = &self.first_kept;
        let forgotten = |bucket: u32, p: u32| {
            bucket
                < if p == RESTORED {
                    furthest
                } else {
                    first_kept.get(&p).copied().unwrap_or(0)
                }
        };
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

impl<'s> DedupWinners<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn dedup_winners(
        self,
        horizon_ms: i64,
        restored: Vec<(DedupKey, i64)>,
    ) -> StreamVec<'s, Time, (u32, i64)> {
        let horizon = Horizon::new(horizon_ms);
        let deliveries =
            self.unary::<Vecs<Delivery>, _, _, _>(Pipeline, "Dedup keys", move |cap, _info| {
                let mut restore = Some((cap, restored));
                let mut progress = PartitionProgress::default();
                move |input, output| {
                    if let Some((cap, restored)) = restore.take() {
                        output.session(&cap).give_iterator(
                            restored
                                .into_iter()
                                .map(|(key, time)| Delivery::new(key, RESTORED, 0, -1, time)),
                        );
                    }
                    input.for_each(|cap, data| {
                        let mut session = output.session(&cap);
                        // Drained, not iterated: the batch (its bronze rows) must not stay
                        // alive in a recycled message buffer.
                        for p in data.drain(..) {
                            session.give_iterator(progress.deliver(
                                &horizon,
                                p.partition,
                                p.candidates.iter().flatten(),
                                p.ingest_ms,
                            ));
                        }
                    });
                }
            });
        let to_owner = Exchange::new(|d: &Delivery| d.key[1]);
        deliveries.unary_frontier::<Vecs<(u32, i64)>, _, _, _>(
            to_owner,
            "Dedup",
            move |_cap, _info| {
                let mut pending: EpochBuckets<Delivery> = EpochBuckets::new();
                let mut owner = Owner::new(horizon_ms);
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const T: i64 = 1_800_000_000_000;

    /// A delivery whose partition's newest event time is `newest`.
    fn at(key: DedupKey, partition: u32, seq: i64, time: i64, newest: i64, h: i64) -> Delivery {
        Delivery::new(
            key,
            partition,
            Horizon::new(h).first_kept(newest),
            seq,
            time,
        )
    }

    #[test]
    fn first_delivery_wins_within_and_across_epochs() {
        let h = 3_600_000;
        let mut o = Owner::new(h);
        // Epoch 1: key 7 from partitions 2 (seq 5) and 1 (seq 9), arriving out of order.
        let e1 = vec![
            at(7, 2, 5, T, T, h),
            at(8, 2, 6, T, T, h),
            at(7, 1, 9, T, T, h),
        ];
        let mut w = o.decide(e1);
        w.sort();
        assert_eq!(w, vec![(1, 9), (2, 6)]);
        // Epoch 2: key 7 again loses; key 9 wins once.
        let e2 = vec![at(7, 0, 1, T, T, h), at(9, 0, 2, T, T, h)];
        assert_eq!(o.decide(e2), vec![(0, 2)]);
        // A restored key never wins and makes later deliveries lose.
        let mut r = Owner::new(h);
        assert!(r
            .decide(vec![Delivery::new(7, RESTORED, 0, -1, T)])
            .is_empty());
        assert!(r.decide(vec![at(7, 0, 1, T, T, h)]).is_empty());
    }

    #[test]
    fn keys_behind_their_partition_s_horizon_are_forgotten() {
        let h = 8_000_000; // buckets of 1,000 s
        let mut o = Owner::new(h);
        assert_eq!(o.decide(vec![at(1, 0, 1, T, T, h)]), vec![(0, 1)]);
        // The partition moves just within the horizon (and its bucket slack): key 1 is known.
        assert_eq!(o.decide(vec![at(2, 0, 2, T + h, T + h, h)]).len(), 1);
        assert!(o.decide(vec![at(1, 0, 3, T, T + h, h)]).is_empty());
        // Two buckets past the horizon: key 1 is forgotten (and evicted) and wins again.
        o.decide(vec![at(3, 0, 4, T + h + 2_000_000, T + h + 2_000_000, h)]);
        assert!(!o.keys.contains(1));
        assert_eq!(
            o.decide(vec![at(1, 0, 5, T, T + h + 2_000_000, h)]),
            vec![(0, 5)]
        );
    }

    #[test]
    fn a_partition_far_ahead_does_not_evict_the_keys_a_slower_one_still_needs() {
        let h = 8_000_000;
        let mut o = Owner::new(h);
        // Partition 0 delivers key 1 at T; partition 1 is already a day ahead.
        assert_eq!(o.decide(vec![at(1, 0, 1, T, T, h)]), vec![(0, 1)]);
        let day = 86_400_000;
        assert_eq!(
            o.decide(vec![at(2, 1, 1, T + day, T + day, h)]),
            vec![(1, 1)]
        );
        // Partition 0's duplicate of key 1 (its horizon has not passed T) still loses.
        assert!(o.decide(vec![at(1, 0, 2, T, T + 1_000, h)]).is_empty());
        assert!(o.keys.contains(1));
        // Once partition 0 moves on too, the bucket goes.
        o.decide(vec![at(3, 0, 3, T + day, T + day, h)]);
        assert!(!o.keys.contains(1));
    }

    #[test]
    fn restored_keys_leave_once_the_partition_furthest_ahead_has_passed_them() {
        let h = 8_000_000;
        let mut o = Owner::new(h);
        o.decide(vec![Delivery::new(5, RESTORED, 0, -1, T)]);
        o.decide(vec![at(6, 3, 1, T + h, T + h, h)]);
        assert!(o.keys.contains(5));
        o.decide(vec![at(7, 3, 2, T + 2 * h, T + 2 * h, h)]);
        assert!(!o.keys.contains(5));
    }

    /// The winners of deliveries split into epochs at `cuts`, with the partitions interleaved
    /// in a shuffled order within each epoch.
    fn winners_when_cut(
        partitions: &[Vec<Candidate>],
        cuts: &[usize],
        seed: u64,
    ) -> Vec<(u32, i64)> {
        let h = 3_600_000;
        let horizon = Horizon::new(h);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut progress = PartitionProgress::default();
        let mut owner = Owner::new(h);
        let mut next = vec![0usize; partitions.len()];
        let mut winners = Vec::new();
        for &cut in cuts.iter().chain([&usize::MAX]) {
            let mut epoch = Vec::new();
            for (p, cands) in partitions.iter().enumerate() {
                // Each partition reads a different share of its events per epoch.
                let share = cut.saturating_mul(p + 1) / partitions.len();
                let end = cands.len().min(share.max(next[p]));
                epoch.extend(progress.deliver(&horizon, p as u32, &cands[next[p]..end], 0));
                next[p] = end;
            }
            let n = epoch.len();
            for i in 0..n {
                epoch.swap(i, rng.random_range(i..n.max(1)));
            }
            winners.extend(owner.decide(epoch));
        }
        winners.sort();
        winners
    }

    #[test]
    fn winners_do_not_depend_on_where_epochs_end_or_how_far_partitions_are_apart() {
        // Four partitions of 3,000 events over 30 h of event time (horizon 1 h), each event
        // duplicated now and then up to 40 events later, some late by up to 50 min, and a few
        // without an event time.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let partitions: Vec<Vec<Candidate>> = (0..4u32)
            .map(|p| {
                let mut cands: Vec<Candidate> = Vec::new();
                for i in 0..3_000i64 {
                    let key = (u128::from(p) << 64) | i as u128;
                    let late = if rng.random_range(0..10) == 0 {
                        rng.random_range(0..3_000_000)
                    } else {
                        0
                    };
                    let time = (rng.random_range(0..50) != 0).then_some(T + i * 36_000 - late);
                    cands.push(Candidate {
                        key,
                        sequence_number: 0,
                        event_time_ms: time,
                    });
                    if i > 40 && rng.random_range(0..20) == 0 {
                        let earlier = cands[cands.len() - rng.random_range(1..40)];
                        cands.push(earlier);
                    }
                }
                for (s, c) in cands.iter_mut().enumerate() {
                    c.sequence_number = s as i64;
                }
                cands
            })
            .collect();
        let whole = winners_when_cut(&partitions, &[], 1);
        let total: usize = partitions.iter().map(Vec::len).sum();
        assert!(
            whole.len() >= 4 * 3_000 && whole.len() < total,
            "{} of {total}",
            whole.len()
        );
        for seed in 0..6u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut cuts: Vec<usize> = (0..rng.random_range(1..40))
                .map(|_| rng.random_range(0..3_200))
                .collect();
            cuts.sort();
            assert_eq!(
                winners_when_cut(&partitions, &cuts, seed),
                whole,
                "cuts {cuts:?}"
            );
        }
    }
}
