//! The standard dataflow: medallion's stages wired into one graph, on a worker's input stream.
//! `run` builds it on every worker; a library user builds it too and adds steps or tables of
//! their own before the commit (see `examples/custom_dataflow.rs`).

use std::sync::Arc;

use arrow::array::RecordBatch;
use timely::dataflow::operators::Concat;
use timely::dataflow::StreamVec;

use super::plan::DataflowPlan;
use super::restore::Restored;
use crate::dataflow::per_batch::Processed;
use crate::dataflow::per_batch::QualityKey;
use crate::dataflow::{
    DedupWinners, Process, QualityCounts, ReadPositions, RowsOf, SilverRows, TableRows, Watermarks,
    WriteTable,
};
use crate::epoch::Time;
use crate::sink::{EpochReport, TableKind};
use crate::source::RawBatch;
use crate::views::quality::{QualityByWindow, QualityTable};
use crate::views::station::{StationHourly, StationLatest};
use crate::views::{Maintain, ViewKind, ViewSink, ViewStart, ViewTable, WriteView};
use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::operators::ToStream;

/// The streams of the standard dataflow that a library user may tap or extend.
pub struct Standard<'s> {
    /// Every processed batch (bronze rows, quarantine rows, silver candidates, counts).
    pub processed: StreamVec<'s, Time, Arc<Processed>>,
    /// Silver rows after deduplication, on the worker that read them.
    pub silver: StreamVec<'s, Time, RecordBatch>,
    /// The per-(rule, window) quality counts: (evaluated, failed) differences, per epoch.
    pub quality: VecCollection<'s, Time, QualityKey, (i64, i64)>,
    /// Every table's epoch reports: what the committer commits. Concatenate reports of tables of
    /// your own (added to the plan's catalog) before committing.
    pub reports: StreamVec<'s, Time, EpochReport>,
}

/// Builds the standard graph on `input`: process → bronze / quarantine / dedup → silver /
/// quality counts → quality, views, dataset checks; all their reports in `reports`.
/// `restored` is the committed state (worker 0's; empty on the others).
pub fn standard_dataflow<'s>(
    input: StreamVec<'s, Time, RawBatch>,
    plan: &DataflowPlan,
    mut restored: Restored,
) -> Standard<'s> {
    let processed = input.process(plan.ctx.clone(), plan.skips.clone(), plan.metrics.clone());
    let bronze = processed
        .clone()
        .table_rows(RowsOf::Bronze)
        .write_table(TableKind::Bronze.id(), plan.store(TableKind::Bronze));
    let quarantine = processed
        .clone()
        .table_rows(RowsOf::Quarantine)
        .write_table(
            TableKind::Quarantine.id(),
            plan.store(TableKind::Quarantine),
        );
    let winners = processed
        .clone()
        .dedup_winners(plan.horizon_ms, std::mem::take(&mut restored.dedup));
    let silver = processed.clone().silver_rows(winners);
    let silver_files = silver
        .clone()
        .write_table(TableKind::Silver.id(), plan.store(TableKind::Silver));
    let quality = processed.clone().quality_counts(plan.quality_state.clone());
    let restored_counts = std::mem::take(&mut restored.quality);
    let quality_counts = |sink: &ViewSink| {
        let mut counts = quality.clone();
        if matches!(sink.start, ViewStart::Recompute(_)) {
            let from: Vec<_> = restored_counts.iter().map(|&(k, c)| (k, 0, c)).collect();
            counts = counts.concat(from.to_stream(quality.scope()).as_collection());
        }
        counts
    };
    let quality_table = ViewTable {
        id: TableKind::Quality.id(),
        root: plan.store(TableKind::Quality),
        change_feed: None,
    };
    let quality_sink = view_sink(plan, &quality_table);
    let quality_files = quality_counts(&quality_sink).write_view(
        Arc::new(QualityTable(QualityByWindow {
            rules: plan.rule_names.clone(),
            window_ms: plan.window_ms,
        })),
        quality_sink,
    );
    let mut reports = processed
        .clone()
        .positions()
        .concat(bronze)
        .concat(quarantine)
        .concat(silver_files)
        .concat(silver.clone().watermarks(plan.ctx.roles().clone()))
        .concat(quality_files);
    for (&kind, table) in &plan.views {
        let sink = view_sink(plan, table);
        let files = match kind {
            ViewKind::StationLatest => {
                let view = Arc::new(StationLatest::default());
                silver
                    .clone()
                    .maintain(view.clone(), restored_input(&sink, &restored))
                    .write_view(view, sink)
            }
            ViewKind::StationHourly => {
                let view = Arc::new(StationHourly);
                silver
                    .clone()
                    .maintain(view.clone(), restored_input(&sink, &restored))
                    .write_view(view, sink)
            }
            ViewKind::QualityByWindow => quality_counts(&sink).write_view(
                Arc::new(QualityByWindow {
                    rules: plan.rule_names.clone(),
                    window_ms: plan.window_ms,
                }),
                sink,
            ),
        };
        reports = reports.concat(files);
    }
    for (view, table) in &plan.custom_views {
        let sink = view_sink(plan, table);
        let input = restored_input(&sink, &restored);
        reports = reports.concat(view.build(silver.clone(), input, sink));
    }
    if let Some((checks, table)) = &plan.dataset_checks {
        let sink = view_sink(plan, table);
        let files = silver
            .clone()
            .maintain(checks.clone(), restored_input(&sink, &restored))
            .write_view(checks.clone(), sink);
        reports = reports.concat(files);
    }
    Standard {
        processed,
        silver,
        quality,
        reports,
    }
}

/// The committed silver rows a view is recomputed from, or those after its positions that it
/// replays (none unless it does either).
fn restored_input(sink: &ViewSink, restored: &Restored) -> Vec<RecordBatch> {
    match &sink.start {
        ViewStart::Recompute(_) => restored.silver.clone(),
        ViewStart::Replay { after, .. } => {
            let rows = if restored.silver.is_empty() {
                &restored.replay
            } else {
                &restored.silver
            };
            crate::pipeline::restore::rows_after(rows, after)
        }
        _ => Vec::new(),
    }
}

fn view_sink(plan: &DataflowPlan, table: &ViewTable) -> ViewSink {
    ViewSink {
        table: table.clone(),
        start: plan.view_starts.get(&table.id).cloned().unwrap_or_default(),
        lateness_ms: plan.lateness_ms,
        every: if plan.deferred_views.contains_key(&table.id) {
            plan.view_every
        } else {
            1
        },
    }
}
