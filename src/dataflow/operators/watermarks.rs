//! The `Watermarks` operator: each partition's watermark, the newest event time among its silver
//! rows, reported per epoch to the committer, which records it with every commit (the
//! `medallionWatermarks` field of the commit's `commitInfo`; see `sink::delta`).

use std::collections::BTreeMap;

use arrow::array::{Array, RecordBatch};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use super::dedup::anchors::EpochStamps;
use crate::epoch::{EpochBuckets, Time, Vecs};
use crate::sink::tables::{SilverKeyColumns, SilverRoles};
use crate::sink::EpochReport;

/// Reports the newest event time of each partition's silver rows, per epoch.
pub trait Watermarks<'s> {
    /// One [`EpochReport::Watermarks`] per epoch in which this worker wrote timed silver rows,
    /// and one [`EpochReport::DedupStamps`] per epoch in which it wrote rows with an `event_id`.
    fn watermarks(self, roles: SilverRoles) -> StreamVec<'s, Time, EpochReport>;
}

/// What the silver rows of `batch` that have an `event_id` tell of each partition's
/// deduplication clock, added to `stamps`.
pub fn dedup_stamps(
    batch: &RecordBatch,
    roles: &SilverRoles,
    stamps: &mut BTreeMap<u32, EpochStamps>,
) {
    let Ok(cols) = SilverKeyColumns::of(batch, roles) else {
        return;
    };
    let Some(ids) = cols.event_id else {
        return;
    };
    for i in 0..batch.num_rows() {
        if ids.is_null(i) {
            continue;
        }
        stamps
            .entry(cols.partition.value(i) as u32)
            .or_default()
            .add(cols.event_time_ms(i), cols.ingest_time_ms(i));
    }
}

/// The newest event time (ms) of each partition in `batch` (silver rows), added to `marks`.
pub fn newest_event_times(
    batch: &RecordBatch,
    roles: &SilverRoles,
    marks: &mut BTreeMap<u32, i64>,
) {
    let Ok(cols) = SilverKeyColumns::of(batch, roles) else {
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
    fn watermarks(self, roles: SilverRoles) -> StreamVec<'s, Time, EpochReport> {
        self.unary_frontier::<Vecs<EpochReport>, _, _, _>(
            Pipeline,
            "Watermarks",
            move |_cap, _info| {
                type Seen = (BTreeMap<u32, i64>, BTreeMap<u32, EpochStamps>);
                let mut pending: EpochBuckets<Seen> = EpochBuckets::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|cap, data| {
                        let (marks, stamps) = pending.state(&cap, port, Default::default);
                        for b in data.iter() {
                            newest_event_times(b, &roles, marks);
                            dedup_stamps(b, &roles, stamps);
                        }
                    });
                    for (epoch, cap, mut seen) in pending.take_done(frontier) {
                        let (marks, stamps) = seen.pop().unwrap_or_default();
                        let mut session = output.session(&cap);
                        if !marks.is_empty() {
                            session.give(EpochReport::Watermarks {
                                epoch,
                                marks: marks.into_iter().collect(),
                            });
                        }
                        if !stamps.is_empty() {
                            session.give(EpochReport::DedupStamps {
                                epoch,
                                stamps: stamps
                                    .into_iter()
                                    .map(|(p, s)| (p, s.newest_ms, s.untimed_ingest_ms))
                                    .collect(),
                            });
                        }
                    }
                }
            },
        )
    }
}
