//! Restoring the stateful stages from what is committed (never from memory), reading only what
//! can still change: deduplication state from the silver rows after each partition's anchor
//! (recorded with every silver commit; only their key columns, and only the files whose
//! statistics may hold such rows), each partition's watermark from the last commit, the quality
//! counts from the quality table (only when a table is recomputed from them). Views
//! restart from their own files (`views::ViewStart`); the silver rows they would be recomputed
//! from are read only for a view that needs that (see `super::plan`).
//!
//! Tables written before anchors were recorded (or whose last commits are not medallion's) are
//! read whole, once: the next commit records anchors again.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;

use crate::dataflow::per_batch::QualityKey;
use crate::dataflow::{Anchor, DedupAnchors, RecordedAnchors, RestoredDedup};
use crate::sink::delta::{read_table, CommittedFile, DEDUP_FIELD, WATERMARKS_FIELD};
use crate::sink::parquet::read_columns;
use crate::sink::tables::{
    conform, lineage_positions, QualityColumns, SilverKeyColumns, SilverRoles,
};
use crate::sink::{DeltaTables, SinkError, TableKind};

/// How many of a table's last commits a restore looks through for medallion's `commitInfo`
/// fields (other writers, e.g. an `OPTIMIZE` elsewhere, commit without them).
const LOOK_BACK: usize = 20;

/// Committed state the stateful stages restart from (worker 0 holds it; the others start empty).
#[derive(Default)]
pub struct Restored {
    /// The deduplication state: the keys still remembered and the partitions' clocks.
    pub dedup: RestoredDedup,
    /// Deduplication's anchors as the committer continues them (`None`: nothing committed).
    pub anchors: Option<DedupAnchors>,
    /// Committed silver rows (only when a view is recomputed from them).
    pub silver: Vec<RecordBatch>,
    /// Committed silver rows after the lowest position of the views that replay them (only when
    /// a view lags silver and none is recomputed).
    pub replay: Vec<RecordBatch>,
    /// Each partition's watermark: the newest event time (ms) of its committed silver rows.
    pub watermarks: BTreeMap<u32, i64>,
    /// The quality table's counts.
    pub quality: Vec<(QualityKey, (i64, i64))>,
    /// What the restore read of silver: files and rows.
    pub silver_read: (usize, usize),
}

fn invalid(table: TableKind, message: String) -> SinkError {
    SinkError::Invalid {
        table: table.name().to_string(),
        message,
    }
}

/// What a restore must read beyond the deduplication state.
#[derive(Debug, Clone, Default)]
pub struct RestoreNeeds {
    /// All silver rows (a view is recomputed from them).
    pub silver_rows: bool,
    /// The quality table's counts (it or `quality_by_window` is recomputed from them).
    pub quality_counts: bool,
    /// The silver rows after these positions (per partition; a view replays them).
    pub replay_after: Option<BTreeMap<u32, i64>>,
}

/// Reads the committed state of `tables`. `rules` are the (name, criticality) of the quality
/// rules (index 0: `parse`). (The tables rewritten in place list their own files: see
/// `super::plan::view_start`.)
pub fn restore(
    tables: &DeltaTables,
    roles: &SilverRoles,
    rules: &[(String, String)],
    horizon_ms: i64,
    needs: RestoreNeeds,
) -> Result<Restored, SinkError> {
    let mut restored = Restored::default();
    if tables.version(TableKind::Silver) > 0 {
        restore_silver(tables, roles, horizon_ms, &needs, &mut restored)?;
        if let (Some(after), false) = (&needs.replay_after, needs.silver_rows) {
            restored.replay = replay_rows(tables, after)?;
        }
    }
    if needs.quality_counts && tables.version(TableKind::Quality) > 0 {
        let quality = read_table(tables.output(), TableKind::Quality)?;
        restored.quality = quality_counts(&quality.batches, rules)?;
    }
    Ok(restored)
}

/// Restores deduplication and the watermarks from silver: from the rows after the recorded
/// anchors when the last commits recorded them, else (a table from before) from all rows.
fn restore_silver(
    tables: &DeltaTables,
    roles: &SilverRoles,
    horizon_ms: i64,
    needs: &RestoreNeeds,
    restored: &mut Restored,
) -> Result<(), SinkError> {
    let recorded: Option<RecordedAnchors> = tables
        .recent_commit_field(TableKind::Silver, DEDUP_FIELD, LOOK_BACK)?
        .and_then(|v| serde_json::from_value(v).ok());
    let watermarks = tables
        .recent_commit_field(TableKind::Silver, WATERMARKS_FIELD, LOOK_BACK)?
        .and_then(|v| recorded_watermarks(&v));
    let bounded = match (recorded, watermarks) {
        (Some(a), Some(w)) if !needs.silver_rows => Some((a, w)),
        _ => None,
    };
    let files = tables.active_files_with_stats(TableKind::Silver)?;
    let store = tables.table(TableKind::Silver).store.clone();
    let key_columns = roles.key_columns();
    let (anchors, wanted, columns): (RecordedAnchors, Vec<String>, Option<&[&str]>) = match bounded
    {
        Some((recorded, watermarks)) => {
            restored.watermarks = watermarks;
            let wanted = files
                .iter()
                .filter(|f| {
                    may_hold_rows_after(f, |p| recorded.anchors.get(&p).map(|a| a.position))
                })
                .map(|f| f.path.clone())
                .collect();
            (recorded, wanted, Some(&key_columns[..]))
        }
        None => (
            RecordedAnchors::default(),
            files.iter().map(|f| f.path.clone()).collect(),
            (!needs.silver_rows).then_some(&key_columns[..]),
        ),
    };
    // File by file, keeping only the key rows (not the batches, unless the caller needs the
    // rows): holding every batch and the rows drawn from them at once made the restart's peak.
    let mut rows = Vec::new();
    let mut read_rows = 0;
    let mut kept = Vec::new();
    let scan_watermarks = restored.watermarks.is_empty();
    for f in &wanted {
        let batches = read_columns(&store, std::slice::from_ref(f), columns)?;
        for b in &batches {
            read_rows += b.num_rows();
            key_rows(b, roles, &anchors.anchors, &mut rows)?;
            if scan_watermarks {
                crate::dataflow::newest_event_times(b, roles, &mut restored.watermarks);
            }
        }
        if needs.silver_rows {
            let schema = &tables.table(TableKind::Silver).spec.schema;
            for b in &batches {
                kept.push(
                    conform(b, schema).map_err(|e| invalid(TableKind::Silver, e.to_string()))?,
                );
            }
        }
    }
    restored.silver_read = (wanted.len(), read_rows);
    tracing::info!(
        "restore read silver: {} of {} files, {} rows{}",
        wanted.len(),
        files.len(),
        read_rows,
        if anchors.anchors.is_empty() && columns.is_some() && wanted.len() == files.len() {
            " (no anchors recorded: the whole table, once)"
        } else {
            ""
        }
    );
    restored.dedup = RestoredDedup::of_rows_after(horizon_ms, &anchors.anchors, rows);
    restored.anchors = Some(DedupAnchors::restored(
        horizon_ms,
        &anchors,
        &restored.dedup.clocks,
        tables.positions(TableKind::Silver),
    ));
    if needs.silver_rows {
        restored.silver = kept;
    }
    Ok(())
}

/// The watermarks recorded in a commit (`medallionWatermarks`: partition → RFC 3339).
fn recorded_watermarks(v: &serde_json::Value) -> Option<BTreeMap<u32, i64>> {
    v.as_object()?
        .iter()
        .map(|(p, t)| {
            let ms = chrono::DateTime::parse_from_rfc3339(t.as_str()?)
                .ok()?
                .timestamp_millis();
            Some((p.parse().ok()?, ms))
        })
        .collect()
}

/// The committed silver rows after `after` (each partition's position), read from the files
/// whose statistics say they may hold such rows: what views that lag silver replay.
fn replay_rows(
    tables: &DeltaTables,
    after: &BTreeMap<u32, i64>,
) -> Result<Vec<RecordBatch>, SinkError> {
    let files = tables.active_files_with_stats(TableKind::Silver)?;
    let wanted: Vec<String> = files
        .iter()
        .filter(|f| may_hold_rows_after(f, |p| after.get(&p).copied()))
        .map(|f| f.path.clone())
        .collect();
    let store = tables.table(TableKind::Silver).store.clone();
    let schema = &tables.table(TableKind::Silver).spec.schema;
    let mut rows = Vec::new();
    let mut read = 0;
    for f in &wanted {
        for b in read_columns(&store, std::slice::from_ref(f), None)? {
            read += b.num_rows();
            let b = conform(&b, schema).map_err(|e| invalid(TableKind::Silver, e.to_string()))?;
            rows.extend(rows_after(&[b], after));
        }
    }
    let kept: usize = rows.iter().map(|b| b.num_rows()).sum();
    tracing::info!(
        "restore read silver for the views that lag it: {} of {} files, {read} rows, {kept} after \
         the views' positions",
        wanted.len(),
        files.len()
    );
    Ok(rows)
}

/// The rows of `batches` (silver rows, conformed to silver's schema) after their partition's
/// position in `after` (all of a partition it does not name).
pub fn rows_after(batches: &[RecordBatch], after: &BTreeMap<u32, i64>) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for b in batches {
        let (partition, seq) =
            lineage_positions(b).expect("silver rows carry their partition and sequence number");
        let keep: arrow::array::BooleanArray = (0..b.num_rows())
            .map(|i| {
                let p = partition.value(i) as u32;
                Some(after.get(&p).is_none_or(|&pos| seq.value(i) > pos))
            })
            .collect();
        match keep.true_count() {
            0 => {}
            n if n == b.num_rows() => out.push(b.clone()),
            _ => out.push(
                arrow::compute::filter_record_batch(b, &keep).expect("mask of the batch's length"),
            ),
        }
    }
    out
}

/// Whether a silver file may hold rows after their partition's position (`after`: `None` for a
/// partition with none), by its statistics (partition and sequence-number ranges; a file without
/// them may).
fn may_hold_rows_after(file: &CommittedFile, after: impl Fn(u32) -> Option<i64>) -> bool {
    let Some(stats) = file.stats_json() else {
        return true;
    };
    let int = |side: &str, col: &str| stats[side][col].as_i64();
    let (Some(lo), Some(hi), Some(max_seq)) = (
        int("minValues", "partition"),
        int("maxValues", "partition"),
        int("maxValues", "sequence_number"),
    ) else {
        return true;
    };
    if hi - lo > 100_000 {
        return true;
    }
    (lo..=hi).any(|p| {
        u32::try_from(p)
            .ok()
            .and_then(&after)
            .is_none_or(|position| max_seq > position)
    })
}

/// The deduplication state of committed silver rows after `anchors`: each partition's clock
/// replayed in its order from its anchor's, and the keys it still remembers.
fn key_rows(
    b: &RecordBatch,
    roles: &SilverRoles,
    anchors: &BTreeMap<u32, Anchor>,
    rows: &mut Vec<(u32, i64, u128, Option<i64>, i64)>,
) -> Result<(), SinkError> {
    let cols = SilverKeyColumns::of(b, roles).map_err(|e| invalid(TableKind::Silver, e))?;
    for i in 0..b.num_rows() {
        let partition = cols.partition.value(i) as u32;
        let seq = cols.sequence_number.value(i);
        let after_anchor = anchors.get(&partition).is_none_or(|a| seq > a.position);
        let key = if after_anchor { cols.key(i) } else { None };
        if let Some(key) = key {
            rows.push((
                partition,
                seq,
                key,
                cols.event_time_ms(i),
                cols.ingest_time_ms(i),
            ));
        }
    }
    Ok(())
}

/// The committed quality counts per (rule, window); rules the checks no longer define are dropped.
fn quality_counts(
    quality: &[RecordBatch],
    rules: &[(String, String)],
) -> Result<Vec<(QualityKey, (i64, i64))>, SinkError> {
    let mut counts = Vec::new();
    for b in quality {
        let parts = crate::views::quality::quality_parts(rules, b).ok_or_else(|| {
            let e = QualityColumns::of(b).err().unwrap_or_default();
            invalid(TableKind::Quality, e)
        })?;
        counts.extend(parts);
    }
    Ok(counts)
}
