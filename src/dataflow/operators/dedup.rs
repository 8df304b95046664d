//! The `DedupWinners` operator: deduplication on `event_id`, the first delivery of each key wins;
//! state kept in a compact [`KeyTable`] per worker and evicted behind the event-time horizon.
//!
//! Each silver candidate travels as a [`Delivery`] (its 128-bit key, partition, sequence number
//! and event time: 40 bytes) to the worker that owns its key (by the key's high bits). The owner
//! holds an epoch's deliveries until the frontier passes the epoch, orders them by (partition,
//! sequence number) and keeps the first of each key not already in its table: epochs complete in
//! order, so that is "first delivery wins" by (epoch, partition, sequence number), the same on
//! every run whatever the workers' interleaving. Winners go back to the worker that read their
//! partition.
//!
//! This replaced a differential `reduce` over `(key, delivery)` with a retirement heap, which
//! kept every key of the horizon in its input and output arrangements and the heap (over 200
//! bytes per key); a key now costs one 20-byte slot at 50–80% load.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::dataflow::key_table::{KeyTable, MAX_BUCKET};
use crate::dataflow::per_batch::{DedupKey, Processed};
use crate::epoch::{EpochBuckets, Time, Vecs, RESTORED};

/// Deduplication on `event_id`: the first delivery of each key wins.
pub trait DedupWinners<'s> {
    /// Emits, at epoch `e`, the `(partition, sequence number)` of every silver candidate of `e`
    /// that is the first delivery of its key, exchanged to the worker that read the partition.
    /// A key is forgotten once the newest event time its worker has seen is more than
    /// `horizon_ms` (plus up to an eighth of it, see [`Horizon`]) past the key's event time.
    /// `restored` are keys (with event times) already committed to silver before a restart.
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
    pub sequence_number: i64,
    pub event_time_ms: i64,
}

impl Delivery {
    fn new(key: DedupKey, partition: u32, sequence_number: i64, event_time_ms: i64) -> Self {
        Delivery {
            key: [key as u64, (key >> 64) as u64],
            partition,
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

/// The owner worker's state: the keys of the horizon and the newest event time seen.
struct Owner {
    keys: KeyTable,
    horizon: Horizon,
    newest_ms: i64,
    first_kept: u32,
}

impl Owner {
    fn new(horizon_ms: i64) -> Self {
        Owner {
            keys: KeyTable::default(),
            horizon: Horizon::new(horizon_ms),
            newest_ms: i64::MIN,
            first_kept: 0,
        }
    }

    /// Decides one complete epoch: `deliveries` in any order; returns the winners.
    fn decide(&mut self, mut deliveries: Vec<Delivery>) -> Vec<(u32, i64)> {
        // Batches of one partition arrive in order: runs that the stable sort merges cheaply.
        deliveries.sort_by_key(|d| (d.partition, d.sequence_number));
        let mut winners = Vec::new();
        for d in &deliveries {
            let bucket = self.horizon.bucket(d.event_time_ms);
            if self.keys.insert(d.key(), bucket) && d.partition != RESTORED {
                winners.push((d.partition, d.sequence_number));
            }
            self.newest_ms = self.newest_ms.max(d.event_time_ms);
        }
        let first_kept = self.horizon.first_kept(self.newest_ms);
        if first_kept > self.first_kept {
            self.first_kept = first_kept;
            let evicted = self.keys.evict_below(first_kept);
            tracing::debug!(
                evicted,
                live = self.keys.len(),
                bytes = self.keys.bytes(),
                "dedup state behind the horizon evicted"
            );
        }
        winners
    }
}

impl<'s> DedupWinners<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn dedup_winners(
        self,
        horizon_ms: i64,
        restored: Vec<(DedupKey, i64)>,
    ) -> StreamVec<'s, Time, (u32, i64)> {
        let deliveries =
            self.unary::<Vecs<Delivery>, _, _, _>(Pipeline, "Dedup keys", move |cap, _info| {
                let mut restore = Some((cap, restored));
                move |input, output| {
                    if let Some((cap, restored)) = restore.take() {
                        output.session(&cap).give_iterator(
                            restored
                                .into_iter()
                                .map(|(key, time)| Delivery::new(key, RESTORED, -1, time)),
                        );
                    }
                    input.for_each(|cap, data| {
                        let mut session = output.session(&cap);
                        // Drained, not iterated: the batch (its bronze rows) must not stay
                        // alive in a recycled message buffer.
                        for p in data.drain(..) {
                            session.give_iterator(p.candidates.iter().flatten().map(|c| {
                                Delivery::new(
                                    c.key,
                                    p.partition,
                                    c.sequence_number,
                                    c.event_time_ms,
                                )
                            }));
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

    fn owner(horizon_ms: i64) -> Owner {
        Owner::new(horizon_ms)
    }

    #[test]
    fn first_delivery_wins_within_and_across_epochs() {
        let mut o = owner(3_600_000);
        let t = 1_800_000_000_000;
        // Epoch 1: key 7 from partitions 2 (seq 5) and 1 (seq 9), arriving out of order.
        let e1 = vec![
            Delivery::new(7, 2, 5, t),
            Delivery::new(8, 2, 6, t),
            Delivery::new(7, 1, 9, t),
        ];
        let mut w = o.decide(e1);
        w.sort();
        assert_eq!(w, vec![(1, 9), (2, 6)]);
        // Epoch 2: key 7 again loses; key 9 wins once.
        let e2 = vec![Delivery::new(7, 0, 1, t), Delivery::new(9, 0, 2, t)];
        assert_eq!(o.decide(e2), vec![(0, 2)]);
        // A restored key never wins and makes later deliveries lose.
        let mut r = owner(3_600_000);
        assert!(r.decide(vec![Delivery::new(7, RESTORED, -1, t)]).is_empty());
        assert!(r.decide(vec![Delivery::new(7, 0, 1, t)]).is_empty());
    }

    #[test]
    fn keys_behind_the_horizon_are_forgotten() {
        let h = 8_000_000; // buckets of 1,000 s
        let mut o = owner(h);
        let t = 1_800_000_000_000;
        assert_eq!(o.decide(vec![Delivery::new(1, 0, 1, t)]), vec![(0, 1)]);
        // Newest moves just within the horizon (and its bucket slack): key 1 is still known.
        assert!(o.decide(vec![Delivery::new(2, 0, 2, t + h)]).len() == 1);
        assert!(o.decide(vec![Delivery::new(1, 0, 3, t)]).is_empty());
        // Newest moves two buckets past the horizon: key 1 is forgotten and wins again.
        o.decide(vec![Delivery::new(3, 0, 4, t + h + 2_000_000)]);
        assert_eq!(o.decide(vec![Delivery::new(1, 0, 5, t)]), vec![(0, 5)]);
        assert_eq!(o.keys.len(), 3);
    }
}
