//! Restoring the stateful stages from what is committed (never from memory): deduplication keys
//! from silver's `event_id`s inside the horizon, the quality counts from the quality table, the
//! views from committed silver rows, and each rewritten-in-place table's current files.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;

use crate::dataflow::per_batch::{dedup_key, DedupKey, QualityKey};
use crate::sink::delta::read_table;
use crate::sink::tables::{QualityColumns, SilverKeyColumns};
use crate::sink::{DeltaTables, SinkError, TableId, TableKind};
use crate::Result;

/// Committed state the stateful stages restart from (worker 0 holds it; the others start empty).
#[derive(Default)]
pub struct Restored {
    /// Deduplication keys with their event times (ms), within the horizon.
    pub keys: Vec<(DedupKey, i64)>,
    /// Committed silver rows (the views restart from them).
    pub silver: Vec<RecordBatch>,
    /// The quality table's counts.
    pub quality: Vec<(QualityKey, (i64, i64))>,
    /// The committed files of each table rewritten in place (replaced by its first rewrite).
    pub files: BTreeMap<TableId, Vec<String>>,
}

impl Restored {
    /// The committed files of table `id` (none when it has none, or on other workers).
    pub fn files_of(&self, id: impl Into<TableId>) -> Vec<String> {
        self.files.get(&id.into()).cloned().unwrap_or_default()
    }
}

fn invalid(table: TableKind, message: String) -> SinkError {
    SinkError::Invalid {
        table: table.name().to_string(),
        message,
    }
}

/// Reads the committed state of `tables`. `rules` are the (name, criticality) of the quality
/// rules (index 0: `parse`); `rewritten` the tables whose files are replaced in place.
pub fn restore(
    tables: &DeltaTables,
    rules: &[(String, String)],
    horizon_ms: i64,
    rewritten: &[TableId],
) -> Result<Restored> {
    let mut restored = Restored::default();
    if tables.version(TableKind::Silver) > 0 {
        let silver = read_table(tables.output(), TableKind::Silver)?;
        restored.keys = dedup_keys(&silver.batches, horizon_ms)?;
        restored.silver = silver.batches;
    }
    if tables.version(TableKind::Quality) > 0 {
        let quality = read_table(tables.output(), TableKind::Quality)?;
        restored.quality = quality_counts(&quality.batches, rules)?;
    }
    for &id in rewritten {
        restored.files.insert(id, committed_files(tables, id)?);
    }
    Ok(restored)
}

/// The dedup keys of committed silver rows whose event time is within the horizon of the newest.
fn dedup_keys(silver: &[RecordBatch], horizon_ms: i64) -> Result<Vec<(DedupKey, i64)>, SinkError> {
    let mut keys = Vec::new();
    for b in silver {
        let cols = SilverKeyColumns::of(b).map_err(|e| invalid(TableKind::Silver, e))?;
        for i in 0..b.num_rows() {
            if !arrow::array::Array::is_null(cols.event_id, i) {
                let t = cols.event_time_ms(i).unwrap_or(i64::MIN);
                keys.push((dedup_key(cols.event_id.value(i)), t));
            }
        }
    }
    let newest = keys.iter().map(|k| k.1).max().unwrap_or(i64::MIN);
    keys.retain(|k| k.1 >= newest.saturating_sub(horizon_ms));
    Ok(keys)
}

/// The committed quality counts per (rule, window); rules the checks no longer define are dropped.
fn quality_counts(
    quality: &[RecordBatch],
    rules: &[(String, String)],
) -> Result<Vec<(QualityKey, (i64, i64))>, SinkError> {
    let mut counts = Vec::new();
    for b in quality {
        let cols = QualityColumns::of(b).map_err(|e| invalid(TableKind::Quality, e))?;
        for i in 0..b.num_rows() {
            let name = cols.rule.value(i);
            let Some(r) = rules.iter().position(|(n, _)| n == name) else {
                tracing::warn!(
                    rule = name,
                    "the quality table has counts for a rule the checks no longer define; they are dropped"
                );
                continue;
            };
            let w = cols.window_start_ms(i);
            counts.push((
                (r as u32, w),
                (cols.evaluated.value(i), cols.failed.value(i)),
            ));
        }
    }
    Ok(counts)
}

/// The data files (names under the table's directory) of table `id`, as committed.
pub fn committed_files(tables: &DeltaTables, id: TableId) -> Result<Vec<String>> {
    Ok(tables.active_files(id)?)
}
