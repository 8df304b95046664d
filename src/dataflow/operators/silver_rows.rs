//! The `SilverRows` operator: each epoch's silver candidates filtered to those that won
//! deduplication, on the worker that read them.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::Int64Type;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::dataflow::per_batch::Processed;
use crate::epoch::{EpochBuckets, Time, Vecs};

type HashSet<T> = ahash::AHashSet<T>;

/// What an epoch's silver writer holds: candidate batches, and winners.
enum SilverInput {
    /// A batch of candidates, and which of its rows have a dedup key.
    Candidates(RecordBatch, Vec<bool>),
    Winners(Vec<(u32, i64)>),
}

/// Silver rows: each epoch's candidates that won deduplication (rows without an `event_id`
/// are not deduplicated).
pub trait SilverRows<'s> {
    fn silver_rows(
        self,
        winners: StreamVec<'s, Time, (u32, i64)>,
    ) -> StreamVec<'s, Time, RecordBatch>;
}

impl<'s> SilverRows<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn silver_rows(
        self,
        winners: StreamVec<'s, Time, (u32, i64)>,
    ) -> StreamVec<'s, Time, RecordBatch> {
        let to_reader = Exchange::new(|w: &(u32, i64)| w.0 as u64);
        self.binary_frontier::<_, Vecs<RecordBatch>, _, _, _, _>(
            winners,
            Pipeline,
            to_reader,
            "Silver",
            move |_cap, _info| {
                let mut pending: EpochBuckets<SilverInput> = EpochBuckets::new();
                move |(input1, frontier1), (input2, frontier2), output| {
                    let port = output.output_index();
                    input1.for_each(|cap, data| {
                        let bucket = pending.bucket(&cap, port);
                        for p in data.drain(..) {
                            if let Some(b) = &p.silver {
                                let keyed = p.candidates.iter().map(Option::is_some).collect();
                                bucket.push(SilverInput::Candidates(b.clone(), keyed));
                            }
                        }
                    });
                    input2.for_each(|cap, data| {
                        pending
                            .bucket(&cap, port)
                            .push(SilverInput::Winners(std::mem::take(data)));
                    });
                    let done = |t: &Time| !frontier1.less_equal(t) && !frontier2.less_equal(t);
                    for (_t, cap, inputs) in pending.take_done_by(done) {
                        let mut session = output.session(&cap);
                        for rows in winning_rows(inputs) {
                            session.give(rows);
                        }
                    }
                }
            },
        )
    }
}

/// The rows of an epoch's candidate batches that won (or have no event id: no key, not
/// deduplicated; see [`crate::dataflow::per_batch::Candidate`]).
fn winning_rows(inputs: Vec<SilverInput>) -> Vec<RecordBatch> {
    let mut winners: HashSet<(u32, i64)> = HashSet::new();
    let mut candidates = Vec::new();
    for input in inputs {
        match input {
            SilverInput::Winners(w) => winners.extend(w),
            SilverInput::Candidates(b, keyed) => candidates.push((b, keyed)),
        }
    }
    let mut out = Vec::new();
    for (batch, keyed) in candidates {
        let partition = partition_of(&batch);
        let seqs = batch
            .column_by_name("sequence_number")
            .expect("silver has a sequence_number column")
            .as_primitive::<Int64Type>();
        let mask: BooleanArray = (0..batch.num_rows())
            .map(|i| Some(!keyed[i] || winners.contains(&(partition, seqs.value(i)))))
            .collect();
        let rows = arrow::compute::filter_record_batch(&batch, &mask).expect("mask matches batch");
        if rows.num_rows() > 0 {
            out.push(rows);
        }
    }
    out
}

/// The partition of a silver batch (all its rows come from one raw batch).
fn partition_of(batch: &RecordBatch) -> u32 {
    batch
        .column_by_name("partition")
        .and_then(|col| col.as_any().downcast_ref::<arrow::array::Int32Array>())
        .filter(|a| !a.is_empty())
        .map(|a| a.value(0) as u32)
        .unwrap_or(0)
}
