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
                let mut pending: EpochBuckets<Arc<Processed>> = EpochBuckets::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|cap, data| pending.bucket(&cap, port).append(data));
                    for (epoch, cap, processed) in pending.take_done(frontier) {
                        output.session(&cap).give(read_report(epoch, &processed));
                    }
                }
            },
        )
    }
}

fn read_report(epoch: Time, processed: &[Arc<Processed>]) -> EpochReport {
    if let Some(error) = processed.iter().find_map(|p| p.error.as_ref()) {
        return EpochReport::failed(epoch, "process", error);
    }
    let mut positions: BTreeMap<u32, i64> = BTreeMap::new();
    let mut batches = Vec::with_capacity(processed.len());
    for p in processed {
        let pos = positions.entry(p.partition).or_insert(p.last_seq);
        *pos = (*pos).max(p.last_seq);
        batches.push(BatchRead {
            read_ms: p.ingest_ms,
            events: p.events as u64,
            body_bytes: p.body_bytes as u64,
        });
    }
    EpochReport::Read {
        epoch,
        positions: positions.into_iter().collect(),
        batches,
    }
}
