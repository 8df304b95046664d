//! The `Watermarks` operator: each partition's watermark, the newest event time among its silver
//! rows, reported per epoch to the committer, which records it with every commit (the
//! `medallionWatermarks` field of the commit's `commitInfo`; see `sink::delta`).

use std::collections::BTreeMap;

use arrow::array::{Array, RecordBatch};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::epoch::{EpochBuckets, Time, Vecs};
use crate::sink::tables::SilverKeyColumns;
use crate::sink::EpochReport;

/// Reports the newest event time of each partition's silver rows, per epoch.
pub trait Watermarks<'s> {
    /// One [`EpochReport::Watermarks`] per epoch in which this worker wrote timed silver rows.
    fn watermarks(self) -> StreamVec<'s, Time, EpochReport>;
}

/// The newest event time (ms) of each partition in `batch` (silver rows), added to `marks`.
pub fn newest_event_times(batch: &RecordBatch, marks: &mut BTreeMap<u32, i64>) {
    let Ok(cols) = SilverKeyColumns::of(batch) else {
        return;
    };
    for i in 0..batch.num_rows() {
        if cols.event_time.is_null(i) {
            continue;
        }
        let t = cols.event_time.value(i).div_euclid(1000);
        let m = marks.entry(cols.partition.value(i) as u32).or_insert(t);
        *m = (*m).max(t);
    }
}

impl<'s> Watermarks<'s> for StreamVec<'s, Time, RecordBatch> {
    fn watermarks(self) -> StreamVec<'s, Time, EpochReport> {
        self.unary_frontier::<Vecs<EpochReport>, _, _, _>(
            Pipeline,
            "Watermarks",
            move |_cap, _info| {
                let mut pending: EpochBuckets<BTreeMap<u32, i64>> = EpochBuckets::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|cap, data| {
                        let bucket = pending.bucket(&cap, port);
                        if bucket.is_empty() {
                            bucket.push(BTreeMap::new());
                        }
                        data.iter()
                            .for_each(|b| newest_event_times(b, &mut bucket[0]));
                    });
                    for (epoch, cap, mut marks) in pending.take_done(frontier) {
                        let marks = marks.pop().unwrap_or_default();
                        if !marks.is_empty() {
                            output.session(&cap).give(EpochReport::Watermarks {
                                epoch,
                                marks: marks.into_iter().collect(),
                            });
                        }
                    }
                }
            },
        )
    }
}
