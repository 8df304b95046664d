//! The `WriteQuality` operator: the quality table (one row per rule and window), one file per UTC
//! day of windows ([`window_file_group`]); an epoch rewrites only the days it changed, so a
//! commit's cost follows what the epoch touched, not the table's age.
//!
//! After a restart the committed files are mapped back to their days by their statistics (min
//! and max `window_start` in one day); files that span days (tables written before files were
//! grouped) are replaced, with every group rewritten, by the first epoch that changes anything.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use super::quality_counts::QualityChange;
use crate::dataflow::per_batch::QualityKey;
use crate::epoch::{EpochBuckets, Time, Vecs};
use crate::sink::delta::CommittedFile;
use crate::sink::parquet::write_file;
use crate::sink::tables::{quality_schema, window_file_group};
use crate::sink::{EpochReport, Rows, TableKind};
use crate::storage::TableStore;

/// The current quality table, as the writer keeps it: (rule, window) → (evaluated, failed).
pub type QualityState = Arc<Mutex<BTreeMap<QualityKey, (i64, i64)>>>;

/// Rewrites the days of the quality table (one row per rule and window) that an epoch changed.
pub trait WriteQuality<'s> {
    /// `rules` are the (name, criticality) of rule 0 (`parse`), 1, 2, ...; `current_files` the
    /// table's committed files; `window_ms` the window length.
    fn write_quality(
        self,
        store: TableStore,
        rules: Vec<(String, String)>,
        current_files: Vec<CommittedFile>,
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
        current_files: Vec<CommittedFile>,
        window_ms: i64,
        state: QualityState,
    ) -> StreamVec<'s, Time, EpochReport> {
        let worker = self.scope().index() as u32;
        self.unary_frontier::<Vecs<EpochReport>, _, _, _>(
            Exchange::new(|_: &QualityChange| 0),
            "Write quality",
            move |_cap, _info| {
                let mut pending = EpochBuckets::new();
                let mut files = QualityFiles::of(current_files);
                move |(input, frontier), output| {
                    let port = output.output_index();
                    // Bucket each change by its own time, so that an epoch's commit holds exactly
                    // that epoch's counts.
                    input.for_each(|cap, data| {
                        pending.absorb(&cap, port, data, |c: &QualityChange| c.1)
                    });
                    for (t, cap, changes) in pending.take_done(frontier) {
                        let changed: BTreeSet<u64> = changes
                            .iter()
                            .map(|(((_, window, _), _), _, _)| window_file_group(*window))
                            .collect();
                        let mut current = state.lock().expect("quality state");
                        apply(&mut current, changes);
                        if t == 0 {
                            continue; // restored state: already what the table holds
                        }
                        let report = files.rewrite(t, worker, &store, &current, changed, |rows| {
                            quality_batch(rows, &rules, window_ms)
                        });
                        drop(current);
                        output.session(&cap).give(report);
                    }
                }
            },
        )
    }
}

/// The quality table's file per group, and the committed files no group owns.
struct QualityFiles {
    files: BTreeMap<u64, String>,
    orphans: Vec<String>,
}

impl QualityFiles {
    /// Maps committed files to their groups by their statistics.
    fn of(committed: Vec<CommittedFile>) -> QualityFiles {
        let mut q = QualityFiles {
            files: BTreeMap::new(),
            orphans: Vec::new(),
        };
        for f in committed {
            match group_of_file(f.stats.as_deref()) {
                Some(g) if !q.files.contains_key(&g) => {
                    q.files.insert(g, f.path);
                }
                _ => q.orphans.push(f.path),
            }
        }
        q
    }

    /// Rewrites the groups `changed` (all, while orphans are left) of the table `current`.
    fn rewrite(
        &mut self,
        t: Time,
        worker: u32,
        store: &TableStore,
        current: &BTreeMap<QualityKey, (i64, i64)>,
        mut changed: BTreeSet<u64>,
        batch: impl Fn(&BTreeMap<QualityKey, (i64, i64)>) -> RecordBatch,
    ) -> EpochReport {
        if !self.orphans.is_empty() {
            changed.extend(current.keys().map(|(_, w)| window_file_group(*w)));
        }
        let mut rows: BTreeMap<u64, BTreeMap<QualityKey, (i64, i64)>> = BTreeMap::new();
        for (k, v) in current {
            let g = window_file_group(k.1);
            if changed.contains(&g) {
                rows.entry(g).or_default().insert(*k, *v);
            }
        }
        let mut removes = std::mem::take(&mut self.orphans);
        let mut adds = Vec::new();
        for g in changed {
            removes.extend(self.files.remove(&g));
            let Some(group_rows) = rows.get(&g) else {
                continue;
            };
            match write_file(store, &[batch(group_rows)]) {
                Ok(Some(add)) => {
                    self.files.insert(g, add.path.clone());
                    adds.push(add);
                }
                Ok(None) => {}
                Err(e) => return EpochReport::failed(t, TableKind::Quality.name(), e),
            }
        }
        EpochReport::Files {
            epoch: t,
            table: TableKind::Quality.id(),
            worker,
            removes,
            adds,
            rows: Rows::Holds(current.len() as u64),
        }
    }
}

/// The group of a committed quality file, from its statistics: the day of its `window_start`s
/// when they all fall in one (`None`: no statistics, or rows of several days).
fn group_of_file(stats: Option<&str>) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(stats?).ok()?;
    let rows = v["numRecords"].as_u64()?;
    let nulls = v["nullCount"]["window_start"].as_u64()?;
    let untimed = window_file_group(None);
    if nulls == rows {
        return Some(untimed);
    }
    let day = |side: &str| {
        let text = v[side]["window_start"].as_str()?;
        let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
        Some(window_file_group(Some(t.timestamp_millis())))
    };
    let (lo, hi) = (day("minValues")?, day("maxValues")?);
    (lo == hi && (nulls == 0 || lo == untimed)).then_some(lo)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, stats: Option<&str>) -> CommittedFile {
        CommittedFile {
            path: path.into(),
            stats: stats.map(str::to_string),
        }
    }

    #[test]
    fn committed_files_map_to_their_day_or_are_replaced() {
        let day = |d: &str| {
            window_file_group(Some(
                chrono::DateTime::parse_from_rfc3339(d)
                    .unwrap()
                    .timestamp_millis(),
            ))
        };
        let files = QualityFiles::of(vec![
            // no statistics (an older table): replaced by the first rewrite
            file("old", Some(r#"{"numRecords":40}"#)),
            file("none", None),
            // one day
            file(
                "dec4",
                Some(
                    r#"{"numRecords":3,"minValues":{"window_start":"2026-12-04T00:00:00.000Z"},"maxValues":{"window_start":"2026-12-04T23:55:00.000Z"},"nullCount":{"window_start":0}}"#,
                ),
            ),
            // two days
            file(
                "span",
                Some(
                    r#"{"numRecords":3,"minValues":{"window_start":"2026-12-02T00:00:00.000Z"},"maxValues":{"window_start":"2026-12-03T00:00:00.000Z"},"nullCount":{"window_start":0}}"#,
                ),
            ),
            // untimed rows only, and a day with untimed rows (only the first day holds those)
            file(
                "untimed",
                Some(r#"{"numRecords":2,"nullCount":{"window_start":2}}"#),
            ),
            file(
                "mixed",
                Some(
                    r#"{"numRecords":3,"minValues":{"window_start":"2026-12-05T00:00:00.000Z"},"maxValues":{"window_start":"2026-12-05T00:00:00.000Z"},"nullCount":{"window_start":1}}"#,
                ),
            ),
            // a second file for a day already owned
            file(
                "dec4b",
                Some(
                    r#"{"numRecords":1,"minValues":{"window_start":"2026-12-04T01:00:00.000Z"},"maxValues":{"window_start":"2026-12-04T01:00:00.000Z"},"nullCount":{"window_start":0}}"#,
                ),
            ),
        ]);
        assert_eq!(
            files.files,
            BTreeMap::from([
                (window_file_group(None), "untimed".to_string()),
                (day("2026-12-04T12:00:00Z"), "dec4".to_string()),
            ])
        );
        assert_eq!(files.orphans, ["old", "none", "span", "mixed", "dec4b"]);
    }
}
