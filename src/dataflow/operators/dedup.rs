//! The `DedupWinners` operator: deduplication on `event_id` with differential, the first delivery
//! of each key wins; state retired behind the event-time horizon.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use differential_dataflow::AsCollection;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::dataflow::per_batch::{Candidate, DedupKey, Processed};
use crate::epoch::{epoch_of, DeliveryOrder, Time, Vecs, RESTORED};

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

type KeyUpdate = ((DedupKey, DeliveryOrder), Time, isize);

/// The keys' insertions (and, behind the horizon, retractions) as differential updates.
struct KeyState {
    live: BinaryHeap<Reverse<(i64, DedupKey, DeliveryOrder)>>,
    newest: i64,
    horizon_ms: i64,
}

impl KeyState {
    fn insert(&mut self, key: DedupKey, order: DeliveryOrder, event_time: i64) {
        self.live.push(Reverse((event_time, key, order)));
        self.newest = self.newest.max(event_time);
    }

    /// Retires what fell behind the horizon; never in the epoch that inserted it (the insert and
    /// the retraction would cancel before the decision).
    fn retire(&mut self, t: Time, mut give: impl FnMut(KeyUpdate)) {
        let watermark = self.newest.saturating_sub(self.horizon_ms);
        let mut deferred = Vec::new();
        while let Some(Reverse((event_time, key, order))) = self.live.peek().copied() {
            if event_time >= watermark {
                break;
            }
            self.live.pop();
            if order.0 == t {
                deferred.push(Reverse((event_time, key, order)));
            } else {
                give(((key, order), t, -1));
            }
        }
        self.live.extend(deferred);
    }
}

impl<'s> DedupWinners<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn dedup_winners(
        self,
        horizon_ms: i64,
        restored: Vec<(DedupKey, i64)>,
    ) -> StreamVec<'s, Time, (u32, i64)> {
        let updates =
            self.unary::<Vecs<KeyUpdate>, _, _, _>(Pipeline, "Dedup keys", move |cap, _info| {
                let mut restore = Some((cap, restored));
                let mut state = KeyState {
                    live: BinaryHeap::new(),
                    newest: i64::MIN,
                    horizon_ms,
                };
                move |input, output| {
                    if let Some((cap, restored)) = restore.take() {
                        let mut session = output.session(&cap);
                        for (key, event_time) in restored {
                            let order = (0, RESTORED, -1);
                            session.give(((key, order), 0, 1));
                            state.insert(key, order, event_time);
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
                                state.insert(*key, order, *event_time_ms);
                            }
                        }
                        state.retire(t, |u| session.give(u));
                    });
                }
            });
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
