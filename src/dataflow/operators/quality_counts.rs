//! The `QualityCounts` operator: the per-(rule, window) counts of each batch (pre-aggregated by
//! `process`) as a differential collection whose differences are (evaluated, failed) counts: the
//! counts of a (rule, window) at a time are that collection accumulated. The `quality` table and
//! `quality_by_window` write it as views (`views::quality`), keeping only the days of windows
//! still open in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::dataflow::per_batch::{Processed, QualityKey};
use crate::epoch::{epoch_of, Time, Vecs};

/// The counts this run added per rule (evaluated, failed), for the run summary.
pub type QualityState = Arc<Mutex<BTreeMap<u32, (i64, i64)>>>;

/// Per-(rule, window) counts as a collection.
pub trait QualityCounts<'s> {
    /// Each batch's pre-aggregated counts (one update per rule and window per batch) as
    /// differences of the collection of (rule, window) keys; adds them per rule to `state`.
    fn quality_counts(self, state: QualityState)
        -> VecCollection<'s, Time, QualityKey, (i64, i64)>;
}

type Update = (QualityKey, Time, (i64, i64));

impl<'s> QualityCounts<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn quality_counts(
        self,
        state: QualityState,
    ) -> VecCollection<'s, Time, QualityKey, (i64, i64)> {
        self.unary::<Vecs<Update>, _, _, _>(Pipeline, "Quality updates", move |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let t = epoch_of(&cap);
                    let mut session = output.session(&cap);
                    let mut per_rule = state.lock().unwrap_or_else(|p| p.into_inner());
                    // Drained, not iterated: a batch's `Arc` must not outlive its message
                    // (timely recycles message buffers).
                    for p in data.drain(..) {
                        for &(key, counts) in &p.quality {
                            if counts == (0, 0) {
                                continue;
                            }
                            let slot = per_rule.entry(key.0).or_default();
                            slot.0 += counts.0;
                            slot.1 += counts.1;
                            session.give((key, t, counts));
                        }
                    }
                });
            }
        })
        .as_collection()
    }
}
