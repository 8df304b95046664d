//! The `WriteQuality` operator: the quality table (one row per rule and window) rewritten in
//! place whenever an epoch changed it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use super::quality_counts::QualityChange;
use crate::dataflow::per_batch::QualityKey;
use crate::epoch::{EpochBuckets, Time, Vecs};
use crate::sink::parquet::write_file;
use crate::sink::tables::quality_schema;
use crate::sink::{EpochReport, Rows, TableKind};
use crate::storage::TableStore;

/// The current quality table, as the writer keeps it: (rule, window) → (evaluated, failed).
pub type QualityState = Arc<Mutex<BTreeMap<QualityKey, (i64, i64)>>>;

/// Rewrites the quality table (one row per rule and window) whenever an epoch changed it.
pub trait WriteQuality<'s> {
    /// `rules` are the (name, criticality) of rule 0 (`parse`), 1, 2, ...; `current_files` the
    /// table's committed files (replaced by the first rewrite); `window_ms` the window length.
    fn write_quality(
        self,
        store: TableStore,
        rules: Vec<(String, String)>,
        current_files: Vec<String>,
        window_ms: i64,
        state: QualityState,
    ) -> StreamVec<'s, Time, EpochReport>;
}

/// Applies an epoch's count changes to the table's rows.
fn apply(current: &mut BTreeMap<QualityKey, (i64, i64)>, changes: Vec<QualityChange>) {
    for (((rule, window, kind), total), _time, diff) in changes {
        let slot = current.entry((rule, window)).or_default();
        let delta = (total * diff) as i64;
        if kind == 0 {
            slot.0 += delta;
        } else {
            slot.1 += delta;
        }
    }
    current.retain(|_, v| *v != (0, 0));
}

impl<'s> WriteQuality<'s> for StreamVec<'s, Time, QualityChange> {
    fn write_quality(
        self,
        store: TableStore,
        rules: Vec<(String, String)>,
        current_files: Vec<String>,
        window_ms: i64,
        state: QualityState,
    ) -> StreamVec<'s, Time, EpochReport> {
        let worker = self.scope().index() as u32;
        self.unary_frontier::<Vecs<EpochReport>, _, _, _>(
            Exchange::new(|_: &QualityChange| 0),
            "Write quality",
            move |_cap, _info| {
                let mut pending = EpochBuckets::new();
                let mut files = current_files;
                move |(input, frontier), output| {
                    let port = output.output_index();
                    // Bucket each change by its own time, so that an epoch's commit holds exactly
                    // that epoch's counts.
                    input.for_each(|cap, data| {
                        pending.absorb(&cap, port, data, |c: &QualityChange| c.1)
                    });
                    for (t, cap, changes) in pending.take_done(frontier) {
                        let mut current = state.lock().expect("quality state");
                        apply(&mut current, changes);
                        if t == 0 {
                            continue; // restored state: already what the table holds
                        }
                        let rows = current.len() as u64;
                        let batch = quality_batch(&current, &rules, window_ms);
                        drop(current);
                        let report = match write_file(&store, &[batch]) {
                            Ok(add) => EpochReport::Files {
                                epoch: t,
                                table: TableKind::Quality.id(),
                                worker,
                                removes: std::mem::replace(
                                    &mut files,
                                    add.iter().map(|a| a.path.clone()).collect(),
                                ),
                                adds: add.into_iter().collect(),
                                rows: Rows::Holds(rows),
                            },
                            Err(e) => EpochReport::failed(t, TableKind::Quality.name(), e),
                        };
                        output.session(&cap).give(report);
                    }
                }
            },
        )
    }
}

/// The quality table's rows for `state`.
pub fn quality_batch(
    state: &BTreeMap<QualityKey, (i64, i64)>,
    rules: &[(String, String)],
    window_ms: i64,
) -> RecordBatch {
    let unknown = ("unknown".to_string(), "error".to_string());
    let rule_of = |r: u32| rules.get(r as usize).unwrap_or(&unknown);
    let name = StringArray::from_iter_values(state.keys().map(|(r, _)| rule_of(*r).0.as_str()));
    let crit = StringArray::from_iter_values(state.keys().map(|(r, _)| rule_of(*r).1.as_str()));
    let start = TimestampMicrosecondArray::from(
        state
            .keys()
            .map(|(_, w)| w.map(|w| w * 1000))
            .collect::<Vec<_>>(),
    )
    .with_timezone("UTC");
    let end = TimestampMicrosecondArray::from(
        state
            .keys()
            .map(|(_, w)| w.map(|w| (w + window_ms) * 1000))
            .collect::<Vec<_>>(),
    )
    .with_timezone("UTC");
    let evaluated = Int64Array::from_iter_values(state.values().map(|v| v.0));
    let failed = Int64Array::from_iter_values(state.values().map(|v| v.1));
    RecordBatch::try_new(
        quality_schema(),
        vec![
            Arc::new(name),
            Arc::new(crit),
            Arc::new(start),
            Arc::new(end),
            Arc::new(evaluated),
            Arc::new(failed),
        ],
    )
    .expect("quality rows match the schema")
}
