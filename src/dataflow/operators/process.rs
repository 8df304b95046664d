//! The `Process` operator: raw batches → processed batches (bronze rows, parse, rules,
//! routing, counts), one [`process_batch`] call per batch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::dataflow::per_batch::{process_batch, ProcessContext, Processed, SkipBelow};
use crate::epoch::{Time, Vecs};
use crate::metrics::RunMetrics;
use crate::source::RawBatch;

/// Raw batches → [`Processed`] batches (bronze rows, parse, rules, routing, counts).
pub trait Process<'s> {
    /// `skips` holds each partition's committed positions (rows at or below are dropped). A batch
    /// that cannot be processed becomes a [`Processed`] with its `error` set: the epoch's read
    /// report turns it into a failure the committer refuses the epoch for.
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
                        let processed = process_batch(raw, &ctx, skip, now_ms()).unwrap_or_else(
                            |e| {
                                Processed::failed(
                                    partition,
                                    format!("processing partition {partition} from sequence number {first}: {e:#}"),
                                )
                            },
                        );
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

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
