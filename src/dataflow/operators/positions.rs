//! The `ReadPositions` operator: per epoch, what this worker read (each partition's last sequence
//! number and the source batches), as the [`EpochReport::Read`] the committer records in every
//! table's commit of the epoch.

use std::collections::BTreeMap;
use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::dataflow::per_batch::Processed;
use crate::epoch::{EpochBuckets, Time, Vecs};
use crate::sink::{BatchRead, EpochReport};

/// The read positions of each epoch.
pub trait ReadPositions<'s> {
    /// Per epoch, the last sequence number of each partition read and the batches' read times;
    /// a batch that failed to process makes the epoch's report a failure instead.
    fn positions(self) -> StreamVec<'s, Time, EpochReport>;
}

impl<'s> ReadPositions<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn positions(self) -> StreamVec<'s, Time, EpochReport> {
        self.unary_frontier::<Vecs<EpochReport>, _, _, _>(
            Pipeline,
            "Positions",
            move |_cap, _info| {
                // Only each batch's summary waits for the epoch, not the batch itself.
                let mut pending: EpochBuckets<BatchSummary> = EpochBuckets::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|cap, data| {
                        let bucket = pending.bucket(&cap, port);
                        bucket.extend(data.drain(..).map(|p| BatchSummary::of(&p)));
                    });
                    for (epoch, cap, batches) in pending.take_done(frontier) {
                        output.session(&cap).give(read_report(epoch, batches));
                    }
                }
            },
        )
    }
}

/// What the read report needs of one processed batch.
struct BatchSummary {
    partition: u32,
    last_seq: i64,
    read: BatchRead,
    error: Option<String>,
}

impl BatchSummary {
    fn of(p: &Processed) -> Self {
        BatchSummary {
            partition: p.partition,
            last_seq: p.last_seq,
            read: BatchRead {
                read_ms: p.available_ms.0,
                last_read_ms: p.available_ms.1,
                events: p.events as u64,
                body_bytes: p.body_bytes as u64,
            },
            error: p.error.clone(),
        }
    }
}

fn read_report(epoch: Time, summaries: Vec<BatchSummary>) -> EpochReport {
    if let Some(error) = summaries.iter().find_map(|b| b.error.as_ref()) {
        return EpochReport::failed(epoch, "process", error);
    }
    let mut positions: BTreeMap<u32, i64> = BTreeMap::new();
    let mut batches = Vec::with_capacity(summaries.len());
    for b in summaries {
        let pos = positions.entry(b.partition).or_insert(b.last_seq);
        *pos = (*pos).max(b.last_seq);
        batches.push(b.read);
    }
    EpochReport::Read {
        epoch,
        positions: positions.into_iter().collect(),
        batches,
    }
}
