//! Restoring the stateful stages from what is committed (never from memory): deduplication state
//! from silver's `event_id`s (each partition's clock replayed, the keys inside its horizon), the
//! quality counts from the quality table, the views from committed silver rows, and each
//! rewritten-in-place table's current files.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;

use crate::dataflow::per_batch::{dedup_key, QualityKey};
use crate::dataflow::RestoredDedup;
use crate::sink::delta::{read_table, CommittedFile};
use crate::sink::tables::{QualityColumns, SilverKeyColumns};
use crate::sink::{DeltaTables, SinkError, TableId, TableKind};

/// Committed state the stateful stages restart from (worker 0 holds it; the others start empty).
#[derive(Default)]
pub struct Restored {
    /// The deduplication state: the keys still remembered and the partitions' clocks.
    pub dedup: RestoredDedup,
    /// Committed silver rows (the views restart from them).
    pub silver: Vec<RecordBatch>,
    /// Each partition's watermark: the newest event time (ms) of its committed silver rows.
    pub watermarks: BTreeMap<u32, i64>,
    /// The quality table's counts.
    pub quality: Vec<(QualityKey, (i64, i64))>,
    /// The committed files of each table rewritten in place, with their statistics.
    pub files: BTreeMap<TableId, Vec<CommittedFile>>,
}

impl Restored {
    /// The committed files of table `id` (none when it has none, or on other workers).
    pub fn files_of(&self, id: impl Into<TableId>) -> Vec<String> {
        self.committed_of(id).into_iter().map(|f| f.path).collect()
    }

    /// The committed files of table `id` with their statistics.
    pub fn committed_of(&self, id: impl Into<TableId>) -> Vec<CommittedFile> {
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
) -> Result<Restored, SinkError> {
    let mut restored = Restored::default();
    if tables.version(TableKind::Silver) > 0 {
        let silver = read_table(tables.output(), TableKind::Silver)?;
        tracing::info!(
            "restore read silver: {} files, {} rows",
            silver.files,
            silver.num_rows()
        );
        restored.dedup = dedup_state(&silver.batches, horizon_ms)?;
        for b in &silver.batches {
            crate::dataflow::newest_event_times(b, &mut restored.watermarks);
        }
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

/// The deduplication state of committed silver rows: each partition's clock replayed in its
/// order, and the keys it still remembers.
fn dedup_state(silver: &[RecordBatch], horizon_ms: i64) -> Result<RestoredDedup, SinkError> {
    let mut rows = Vec::new();
    for b in silver {
        let cols = SilverKeyColumns::of(b).map_err(|e| invalid(TableKind::Silver, e))?;
        for i in 0..b.num_rows() {
            if !arrow::array::Array::is_null(cols.event_id, i) {
                rows.push((
                    cols.partition.value(i) as u32,
                    cols.sequence_number.value(i),
                    dedup_key(cols.event_id.value(i)),
                    cols.event_time_ms(i),
                    cols.ingest_time_ms(i),
                ));
            }
        }
    }
    Ok(RestoredDedup::of_rows(horizon_ms, rows))
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

/// The data files (names under the table's directory) of table `id`, as committed, with their
/// statistics.
pub fn committed_files(tables: &DeltaTables, id: TableId) -> Result<Vec<CommittedFile>, SinkError> {
    tables.active_files_with_stats(id)
}
