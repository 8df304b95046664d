//! The `QualityCounts` operator: per-(rule, window) counts maintained with differential's
//! `count_total`, fed one pre-aggregated update per rule and window per batch.

use std::sync::Arc;

use differential_dataflow::operators::count::CountTotal;
use differential_dataflow::AsCollection;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::dataflow::per_batch::{Processed, QualityKey};
use crate::epoch::{epoch_of, Time, Vecs};

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

type Update = ((u32, Option<i64>, u8), Time, isize);

/// The updates of one (rule, window)'s counts at time `t`.
fn updates(
    ((rule, window), (evaluated, failed)): (QualityKey, (i64, i64)),
    t: Time,
) -> [Option<Update>; 2] {
    [
        (evaluated != 0).then_some(((rule, window, 0u8), t, evaluated as isize)),
        (failed != 0).then_some(((rule, window, 1u8), t, failed as isize)),
    ]
}

impl<'s> QualityCounts<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn quality_counts(
        self,
        restored: Vec<(QualityKey, (i64, i64))>,
    ) -> StreamVec<'s, Time, QualityChange> {
        self.unary::<Vecs<Update>, _, _, _>(Pipeline, "Quality updates", move |cap, _info| {
            let mut restore = Some((cap, restored));
            move |input, output| {
                if let Some((cap, restored)) = restore.take() {
                    let mut session = output.session(&cap);
                    for counts in restored {
                        session.give_iterator(updates(counts, 0).into_iter().flatten());
                    }
                }
                input.for_each(|cap, data| {
                    let t = epoch_of(&cap);
                    let mut session = output.session(&cap);
                    // Drained, not iterated: a batch's `Arc` must not outlive its message
                    // (timely recycles message buffers).
                    for p in data.drain(..) {
                        for &counts in &p.quality {
                            session.give_iterator(updates(counts, t).into_iter().flatten());
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
