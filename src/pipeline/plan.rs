//! The plan of a run, made before any worker starts: the rules, the opened source, the table
//! catalog (core tables, views and their change feeds, custom views, dataset checks) with their
//! ids, the opened tables and each partition's resume position, and (on process 0) the state to
//! restore.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::config::{process_info, RunConfig, SourceSpec};
use super::restore::{restore, RestoreNeeds, Restored};
use super::source::{load_run_rules, now_from_meta, open_source};
use crate::dataflow::per_batch::{ProcessContext, SkipBelow};
use crate::dataflow::{CommitStats, Failure, MadeOf, QualityState};
use crate::metrics::RunMetrics;
use crate::quality::{EvalContext, RuleSet};
use crate::sink::{Catalog, DeltaTables, TableId, TableKind, TableSpec};
use crate::source::PartitionedSource;
use crate::storage::{Output, TableStore};
use crate::views::dataset_checks::DatasetChecks;
use crate::views::quality::quality_by_window_schema;
use crate::views::station::{weather_column_missing, StationHourly, StationLatest};
use crate::views::{
    change_feed_name, change_feed_schema, restores_from_table, CustomView, View, ViewKind,
    ViewStart, ViewTable,
};
use crate::{Error, Result};

/// What every worker builds the standard dataflow from (shared, read-only, plus the run's shared
/// counters).
pub struct DataflowPlan {
    /// Where the tables are, and each table's store, by [`TableId`].
    pub out: Output,
    pub stores: Vec<TableStore>,
    pub ctx: ProcessContext,
    /// Each partition's committed positions: rows at or below are dropped per table.
    pub skips: Arc<BTreeMap<u32, SkipBelow>>,
    /// (name, criticality) of quality rule 0 (`parse`), 1, 2, ...
    pub rule_names: Vec<(String, String)>,
    pub window_ms: i64,
    pub horizon_ms: i64,
    pub views: BTreeMap<ViewKind, ViewTable>,
    pub custom_views: Vec<(Arc<dyn CustomView>, ViewTable)>,
    pub dataset_checks: Option<(Arc<DatasetChecks>, ViewTable)>,
    /// The tables already hold an earlier run's data.
    /// How each view's writer starts (by its table).
    pub view_starts: BTreeMap<TableId, ViewStart>,
    /// The tables rewritten in place (and their change feeds) written every `view_every` epochs
    /// when that is more than 1 (see `views::ViewSink::every`), and what their rows are made of.
    pub deferred_views: BTreeMap<TableId, MadeOf>,
    pub view_every: u64,
    /// How far (event time, ms) a view's watermark passes a group before it leaves memory.
    pub lateness_ms: i64,
    pub metrics: Arc<RunMetrics>,
    pub quality_state: QualityState,
}

impl DataflowPlan {
    /// The store of table `id`.
    pub fn store(&self, id: impl Into<TableId>) -> TableStore {
        self.stores[id.into().index()].clone()
    }
}

/// Everything a run needs before its workers start.
pub struct Plan {
    pub config: RunConfig,
    pub now: DateTime<Utc>,
    pub rules: Arc<RuleSet>,
    pub source: Arc<dyn PartitionedSource>,
    pub catalog: Catalog,
    /// Where each partition is opened.
    pub starts: BTreeMap<u32, i64>,
    pub dataflow: Arc<DataflowPlan>,
    /// The tables the run summary lists (every table but the change feeds).
    pub summary_tables: Vec<TableId>,
    /// The committer's tables (process 0 only; taken by worker 0).
    pub tables: Option<DeltaTables>,
    /// The committed state (process 0 only; taken by worker 0).
    pub restored: Option<Restored>,
    pub stats: Arc<Mutex<CommitStats>>,
    pub failure: Failure,
}

/// The table schema of a built-in view.
pub fn view_schema(kind: ViewKind) -> arrow::datatypes::SchemaRef {
    match kind {
        ViewKind::StationLatest => StationLatest::default().schema(),
        ViewKind::StationHourly => StationHourly.schema(),
        ViewKind::QualityByWindow => quality_by_window_schema(),
    }
}

/// The catalog's extra tables: views (each followed by its change feed), custom views, dataset
/// checks.
struct Tables {
    catalog: Catalog,
    views: BTreeMap<ViewKind, ViewTable>,
    custom_views: Vec<(Arc<dyn CustomView>, ViewTable)>,
    dataset_checks: Option<(Arc<DatasetChecks>, ViewTable)>,
    change_feeds: Vec<TableId>,
}

fn plan_tables(cfg: &RunConfig, rules: &RuleSet) -> Result<Tables> {
    let mut catalog = Catalog::for_event(&cfg.event);
    let add = |catalog: &mut Catalog, spec: TableSpec| catalog.add(spec).map_err(Error::Config);
    let mut views = BTreeMap::new();
    let mut change_feeds = Vec::new();
    for &kind in &cfg.views {
        let station = kind != ViewKind::QualityByWindow;
        if let Some(missing) = station
            .then(|| weather_column_missing(&cfg.event))
            .flatten()
        {
            return Err(Error::Config(format!(
                "view {} reads the weather event's columns, and this event lacks {missing} \
                 (declare `latest` or `aggregate` views for your own events)",
                kind.name()
            )));
        }
        let schema = view_schema(kind);
        let id = add(
            &mut catalog,
            TableSpec {
                name: kind.name().to_string(),
                schema: schema.clone(),
            },
        )?;
        let change_feed = if cfg.change_feed {
            let name = change_feed_name(kind.name());
            let feed = add(
                &mut catalog,
                TableSpec {
                    name: name.clone(),
                    schema: change_feed_schema(&schema),
                },
            )?;
            change_feeds.push(feed);
            Some((feed, cfg.out.table(&name)?))
        } else {
            None
        };
        let root = cfg.out.table(kind.name())?;
        views.insert(
            kind,
            ViewTable {
                id,
                root,
                change_feed,
            },
        );
    }
    let mut custom_views = Vec::new();
    for view in &cfg.custom_views.0 {
        let spec = view.table();
        let name = spec.name.clone();
        let root = cfg.out.table(&name)?;
        let id = catalog.add(spec).map_err(|_| {
            Error::Config(format!(
                "custom view '{name}' has the name of another table"
            ))
        })?;
        custom_views.push((
            view.clone(),
            ViewTable {
                id,
                root,
                change_feed: None,
            },
        ));
    }
    let dataset_checks = if rules.dataset_checks().is_empty() {
        None
    } else {
        let checks = DatasetChecks::new(
            rules.dataset_checks().to_vec(),
            &crate::sink::tables::silver_schema_for(&cfg.event),
            &crate::sink::tables::SilverRoles::of(&cfg.event).time,
            cfg.window_ms,
        )
        .map_err(|e| Error::Config(format!("invalid dataset check: {e}")))?;
        let id = add(
            &mut catalog,
            TableSpec {
                name: checks.name().to_string(),
                schema: checks.schema(),
            },
        )?;
        let root = cfg.out.table(checks.name())?;
        Some((
            Arc::new(checks),
            ViewTable {
                id,
                root,
                change_feed: None,
            },
        ))
    };
    Ok(Tables {
        catalog,
        views,
        custom_views,
        dataset_checks,
        change_feeds,
    })
}

/// Opens the tables (process 0 creates missing ones; the others wait until they exist).
/// The tables of the views over silver (the others, `quality_by_window`, are over the quality
/// counts).
fn silver_views(planned: &Tables) -> Vec<TableId> {
    let mut ids: Vec<TableId> = planned
        .views
        .iter()
        .filter(|(&kind, _)| kind != ViewKind::QualityByWindow)
        .map(|(_, t)| t.id)
        .collect();
    ids.extend(planned.custom_views.iter().map(|(_, t)| t.id));
    ids.extend(planned.dataset_checks.iter().map(|(_, t)| t.id));
    ids
}

/// The tables written every few epochs: the views over silver and their change feeds (made of
/// silver rows), `quality` and `quality_by_window` (made of the events read).
fn deferred_views(planned: &Tables, over_silver: &[TableId]) -> BTreeMap<TableId, MadeOf> {
    let mut ids: BTreeMap<TableId, MadeOf> = over_silver
        .iter()
        .map(|&id| (id, MadeOf::SilverRows))
        .collect();
    ids.insert(TableKind::Quality.id(), MadeOf::ReadEvents);
    if let Some(t) = planned.views.get(&ViewKind::QualityByWindow) {
        ids.insert(t.id, MadeOf::ReadEvents);
    }
    let tables = (planned.views.values())
        .chain(planned.custom_views.iter().map(|(_, t)| t))
        .chain(planned.dataset_checks.iter().map(|(_, t)| t));
    for t in tables {
        if let (Some(&made_of), Some((feed, _))) = (ids.get(&t.id), &t.change_feed) {
            ids.insert(*feed, made_of);
        }
    }
    ids
}

/// Where the restore starts reading the silver rows replayed into views that lag silver: per
/// partition, the lowest of their positions (`None`: no view replays).
fn replay_after(
    tables: &DeltaTables,
    starts: &BTreeMap<TableId, ViewStart>,
) -> Option<BTreeMap<u32, i64>> {
    let lagging: Vec<&BTreeMap<u32, i64>> = starts
        .values()
        .filter_map(|s| match s {
            ViewStart::Replay { after, .. } => Some(after),
            _ => None,
        })
        .collect();
    if lagging.is_empty() {
        return None;
    }
    let partitions = tables.positions(TableKind::Silver).keys();
    Some(
        partitions
            .map(|&p| {
                let lowest = lagging.iter().map(|a| a.get(&p).copied().unwrap_or(-1));
                (p, lowest.min().unwrap_or(-1))
            })
            .collect(),
    )
}

/// How each view's writer starts. Every process decides alike: they read the same log before
/// the first commit of the run.
fn view_starts(tables: &DeltaTables, planned: &Tables) -> Result<BTreeMap<TableId, ViewStart>> {
    let mut starts = BTreeMap::new();
    let quality = TableKind::Quality.id();
    starts.insert(quality, view_start(tables, quality, quality, true)?);
    for (&kind, t) in &planned.views {
        let source = match kind {
            ViewKind::QualityByWindow => TableKind::Quality,
            ViewKind::StationLatest | ViewKind::StationHourly => TableKind::Silver,
        };
        starts.insert(t.id, view_start(tables, t.id, source.id(), true)?);
    }
    for (view, t) in &planned.custom_views {
        let start = view_start(
            tables,
            t.id,
            TableKind::Silver.id(),
            view.restores_from_table(),
        )?;
        starts.insert(t.id, start);
    }
    if let Some((checks, t)) = &planned.dataset_checks {
        let restorable = restores_from_table(checks.as_ref());
        starts.insert(
            t.id,
            view_start(tables, t.id, TableKind::Silver.id(), restorable)?,
        );
    }
    Ok(starts)
}

/// How the writer of view table `id` over table `source` starts: from its own files when it can
/// read them back, each holds one group, and the view committed every epoch its source did;
/// else recomputed from the source (a table from before files were named by group, or one that
/// lags its source after a crash between the two commits).
pub fn view_start(
    tables: &DeltaTables,
    id: TableId,
    source: TableId,
    restorable: bool,
) -> Result<ViewStart> {
    if tables.version(id) == 0 && tables.version(source) == 0 {
        return Ok(ViewStart::Empty);
    }
    let files = tables.active_files_with_stats(id)?;
    let in_sync = tables.positions(id) == tables.positions(source);
    let mut groups = std::collections::BTreeSet::new();
    let by_group = files.iter().all(|f| {
        crate::sink::parquet::group_of_file(&f.path).is_some_and(|g| groups.insert(g))
            && f.records().is_some()
    });
    if restorable && in_sync && by_group {
        return Ok(ViewStart::FromTable(files));
    }
    if restorable && by_group && source == TableKind::Silver.id() {
        // Written every few epochs, or a crash came between silver's commit and the view's:
        // the silver rows after the view's positions are replayed into it.
        return Ok(ViewStart::Replay {
            files,
            after: tables.positions(id).clone(),
        });
    }
    tracing::info!(
        table = tables.table(id).spec.name.as_str(),
        "recomputing the view from its input: {}",
        if !restorable {
            "it cannot read its rows back"
        } else if !in_sync {
            "its table lags its input (a crash between two commits)"
        } else {
            "its files are not one per group (a table from before)"
        }
    );
    Ok(ViewStart::Recompute(
        files.into_iter().map(|f| f.path).collect(),
    ))
}

fn open_tables(cfg: &RunConfig, catalog: &Catalog, partitions: &[u32]) -> Result<DeltaTables> {
    let (_, process, _) = process_info(&cfg.timely);
    let mut tries = 0;
    loop {
        // Tombstones outliving their files would only grow every checkpoint.
        let tombstones = cfg
            .vacuum_retention
            .min(crate::sink::delta::DEFAULT_TOMBSTONE_RETENTION);
        match DeltaTables::open_with(
            cfg.out.clone(),
            catalog,
            partitions,
            process == 0,
            tombstones,
        ) {
            Ok(t) => return Ok(t.with_checkpoint_interval(cfg.checkpoint_interval)),
            // Processes other than 0 may race process 0 creating the tables: retry a while.
            Err(_) if process > 0 && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Each partition's committed positions per table, and where its reader starts: after the
/// lowest position over the tables (each table drops what it already holds), or at the source's
/// initial position when nothing is committed.
fn resume_positions(
    tables: &DeltaTables,
    partitions: &[u32],
    initial: i64,
) -> (BTreeMap<u32, SkipBelow>, BTreeMap<u32, i64>) {
    let mut skips = BTreeMap::new();
    let mut starts = BTreeMap::new();
    for &p in partitions {
        let pos = |k: TableKind| tables.positions(k).get(&p).copied().unwrap_or(-1);
        let skip = SkipBelow {
            bronze: pos(TableKind::Bronze),
            silver: pos(TableKind::Silver),
            quarantine: pos(TableKind::Quarantine),
            quality: pos(TableKind::Quality),
        };
        let committed = TableKind::ALL
            .iter()
            .any(|k| tables.positions(*k).contains_key(&p));
        let start = if committed {
            skip.bronze
                .min(skip.silver)
                .min(skip.quarantine)
                .min(skip.quality)
                + 1
        } else {
            initial
        };
        skips.insert(p, skip);
        starts.insert(p, start);
    }
    (skips, starts)
}

impl Plan {
    /// Plans a run of `config`: loads the rules, opens the source and the tables, reads the
    /// resume positions and (on process 0) the state to restore.
    pub fn new(config: RunConfig) -> Result<Plan> {
        let cfg = &config;
        let (_, process, _) = process_info(&cfg.timely);
        let rules = Arc::new(load_run_rules(cfg)?);
        let now = cfg.now.or_else(|| match &cfg.source {
            SourceSpec::File(p) => now_from_meta(p),
            _ => None,
        });
        let now = now.unwrap_or_else(Utc::now);
        let source = open_source(cfg, now)?;
        let partitions: Vec<u32> = source.partitions().iter().map(|p| p.0).collect();
        let planned = plan_tables(cfg, &rules)?;
        let mut tables = open_tables(cfg, &planned.catalog, &partitions)?;
        let view_starts = view_starts(&tables, &planned)?;
        let over_silver = silver_views(&planned);
        let deferred_views = if cfg.view_every > 1 {
            deferred_views(&planned, &over_silver)
        } else {
            Default::default()
        };
        let recomputed = |id: &TableId| matches!(view_starts[id], ViewStart::Recompute(_));
        let needs = RestoreNeeds {
            silver_rows: over_silver.iter().any(recomputed),
            replay_after: replay_after(&tables, &view_starts),
            quality_counts: view_starts
                .keys()
                .filter(|id| !over_silver.contains(id))
                .any(recomputed),
        };
        let (skips, starts) = resume_positions(&tables, &partitions, source.initial_position().0);
        let rule_names = rules.rule_labels();
        let restored = if process == 0 {
            let roles = crate::sink::tables::SilverRoles::of(&cfg.event);
            let restored = restore(&tables, &roles, &rule_names, cfg.horizon_ms, needs)?;
            tables.advance_watermarks(&restored.watermarks);
            Some(restored)
        } else {
            None
        };
        let ctx = ProcessContext::new(
            rules.clone(),
            EvalContext {
                now,
                run_time: Utc::now(),
                run_id: uuid::Uuid::new_v4().to_string(),
            },
            cfg.window_ms,
            cfg.event.clone(),
        );
        let summary_tables = planned
            .catalog
            .iter()
            .map(|(id, _)| id)
            .filter(|id| !planned.change_feeds.contains(id))
            .collect();
        let stores = planned
            .catalog
            .iter()
            .map(|(_, spec)| cfg.out.table(&spec.name))
            .collect::<Result<Vec<_>, _>>()?;
        let dataflow = Arc::new(DataflowPlan {
            out: cfg.out.clone(),
            stores,
            ctx,
            skips: Arc::new(skips),
            rule_names,
            window_ms: cfg.window_ms,
            horizon_ms: cfg.horizon_ms,
            views: planned.views,
            custom_views: planned.custom_views,
            dataset_checks: planned.dataset_checks,
            view_starts,
            deferred_views,
            view_every: cfg.view_every.max(1),
            lateness_ms: cfg.lateness_ms.unwrap_or(cfg.horizon_ms),
            metrics: Arc::new(RunMetrics::default()),
            quality_state: Arc::new(Mutex::new(BTreeMap::new())),
        });
        Ok(Plan {
            now,
            rules,
            source,
            catalog: planned.catalog,
            starts,
            dataflow,
            summary_tables,
            tables: (process == 0).then_some(tables),
            restored,
            stats: Arc::new(Mutex::new(CommitStats::default())),
            failure: Failure::default(),
            config,
        })
    }
}
