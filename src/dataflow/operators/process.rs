//! The `Process` operator: raw batches → processed batches (bronze rows, parse, rules,
//! routing, counts), one [`process_batch`] call per batch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::dataflow::per_batch::{process_batch, ProcessContext, Processed, SkipBelow};
use crate::epoch::{Time, Vecs};
use crate::metrics::RunMetrics;
use crate::source::RawBatch;
use crate::telemetry::{BatchProcessed, RuleLabels};

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
        let labels = RuleLabels::of(&ctx.rules);
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
                        emit_batch(&processed, started.elapsed(), &labels, &metrics);
                        session.give(Arc::new(processed));
                    }
                });
            }
        })
    }
}

/// The batch's [`BatchProcessed`] event: outcomes, parse errors and rule counts summed over
/// windows (one update per rule per batch).
fn emit_batch(processed: &Processed, took: Duration, labels: &RuleLabels, metrics: &RunMetrics) {
    let mut rules: Vec<(u32, i64, i64)> = Vec::new();
    for &((rule, _window), (evaluated, failed)) in &processed.quality {
        match rules.last_mut() {
            Some(last) if last.0 == rule => {
                last.1 += evaluated;
                last.2 += failed;
            }
            _ => rules.push((rule, evaluated, failed)),
        }
    }
    let parse_errors = rules
        .iter()
        .find(|r| r.0 == 0)
        .map_or(0, |r| r.2.max(0) as u64);
    let error = processed
        .quarantine
        .as_ref()
        .map_or(0, |q| q.num_rows() as u64);
    let (silver, warning) = processed.silver.as_ref().map_or((0, 0), |s| {
        let warned = s
            .column_by_name("_warnings")
            .map_or(0, |w| w.len() - w.null_count());
        (s.num_rows() as u64, warned as u64)
    });
    BatchProcessed {
        partition: processed.partition,
        events: processed.events as u64,
        body_bytes: processed.body_bytes as u64,
        duration: took,
        parse_errors,
        valid: silver - warning,
        warning,
        error,
        rules: &rules,
        labels,
    }
    .emit(metrics);
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
