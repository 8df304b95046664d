//! Running the whole pipeline: open the tables and read the resume positions, restore the
//! stateful stages from what is committed, start timely workers (threads of this process, or a
//! cluster of processes), feed each worker the partitions it owns with epochs on a timer, and
//! gather the run summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use chrono::{DateTime, Utc};
use serde::Serialize;
use timely::dataflow::operators::{Concat, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

use super::operators::{
    Commit, CommitStats, DedupWinners, Process, QualityCounts, QualityState, SilverRows, TableRows,
    WriteQuality, WriteTable,
};
use super::process::{dedup_key, DedupKey, ProcessContext, QualityKey, SkipBelow};
use super::Time;
use crate::eventhub::{EventHubSource, EventHubSourceConfig, StartPosition};
use crate::metrics::{peak_rss_bytes, write_hgrm, Percentiles, RunMetrics};
use crate::quality::{EvalContext, LoadOptions, RuleSet};
use crate::sink::delta::read_table;
use crate::sink::tables::TableKind;
use crate::sink::DeltaTables;
use crate::sink::TableSpec;
use crate::source::{worker_for, PartitionReader, PartitionedSource, SequenceNumber};
use crate::views::dataset::DatasetChecks;
use crate::views::quality::{QualityByWindow, QualityByWindowView};
use crate::views::station::{StationHourly, StationLatest};
use crate::views::{
    change_feed_name, change_feed_schema, CustomViews, Maintain, View, ViewKind, ViewSink,
    ViewTable, WriteView,
};
use crate::{Error, Result};

/// The quality rules of the reference workload, compiled into the binary.
pub const DEFAULT_CHECKS: &str = include_str!("../../assets/checks.yml");

/// Where events come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// The reference workload generator, in process (no AMQP).
    Generator,
    /// A JSON-lines file, one body per line.
    File(PathBuf),
    /// An event hub (Azure Event Hubs, or `medallion emulator`).
    EventHub(EventHubSpec),
    /// The whole path on one machine: an embedded emulator, a producer of the reference workload
    /// (`events`, `stations`, `seed`) and the pipeline reading the hub over AMQP.
    Embedded,
}

/// The event hub a run reads.
#[derive(Clone, PartialEq, Default)]
pub struct EventHubSpec {
    /// Never logged (see the `Debug` impl).
    pub connection_string: String,
    /// The hub; `None` takes the connection string's `EntityPath`.
    pub hub: Option<String>,
    pub consumer_group: Option<String>,
    /// Where partitions without a committed position start.
    pub start: StartPosition,
    /// End the run once every partition has been idle this long (bounded runs: tests,
    /// backfills); `None` runs until stopped.
    pub stop_when_idle: Option<Duration>,
}

impl std::fmt::Debug for EventHubSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHubSpec")
            .field("connection_string", &"<redacted>")
            .field("hub", &self.hub)
            .field("consumer_group", &self.consumer_group)
            .field("start", &self.start)
            .field("stop_when_idle", &self.stop_when_idle)
            .finish()
    }
}

impl std::str::FromStr for SourceSpec {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "generator" => Ok(SourceSpec::Generator),
            "eventhub" => Ok(SourceSpec::EventHub(EventHubSpec::default())),
            "embedded" => Ok(SourceSpec::Embedded),
            _ => match s.strip_prefix("file:") {
                Some(p) if !p.is_empty() => Ok(SourceSpec::File(PathBuf::from(p))),
                _ => Err(format!(
                    "unknown source '{s}': expected 'embedded', 'eventhub', 'generator' or 'file:PATH'"
                )),
            },
        }
    }
}

impl SourceSpec {
    /// How the run summary names the source (never the connection string).
    pub fn describe(&self) -> String {
        match self {
            SourceSpec::Generator => "generator".into(),
            SourceSpec::File(p) => format!("file:{}", p.display()),
            SourceSpec::EventHub(h) => {
                format!("eventhub:{}", h.hub.as_deref().unwrap_or("(EntityPath)"))
            }
            SourceSpec::Embedded => "embedded emulator".into(),
        }
    }
}

/// Everything a run needs; buildable in code (see `examples/`) or from the command line.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub source: SourceSpec,
    /// Generator: events, stations, seed.
    pub events: u64,
    pub stations: u32,
    pub seed: u64,
    /// Number of partitions the source is spread over.
    pub partitions: u32,
    /// Output directory: one Delta table per subdirectory, plus `_metrics/`.
    pub out: PathBuf,
    /// Checks file (YAML/JSON, DQX format); `None` = the reference checks compiled in.
    pub checks: Option<PathBuf>,
    /// "Now" for time-dependent rules; `None` = the file's `.meta.json` `now`, else the clock.
    pub now: Option<DateTime<Utc>>,
    pub epoch_ms: u64,
    pub window_ms: i64,
    pub horizon_ms: i64,
    /// Largest number of events in one batch.
    pub batch_size: usize,
    /// Timely's communication set-up: threads, processes, this process, hosts.
    pub timely: timely::CommunicationConfig,
    /// Show a progress bar (`Some(true)`: plain progress lines instead).
    pub progress: Option<bool>,
    /// The views to maintain (each its own Delta table).
    pub views: Vec<ViewKind>,
    /// Also write each view's change feed (`<view>_changes`).
    pub change_feed: bool,
    /// Views of the library user's own, each written to its own table like the built-in ones.
    pub custom_views: CustomViews,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            source: SourceSpec::Generator,
            events: 1_000_000,
            stations: 10_000,
            seed: 42,
            partitions: 8,
            out: PathBuf::from("medallion-data"),
            checks: None,
            now: None,
            epoch_ms: 250,
            window_ms: 60_000,
            horizon_ms: 2 * 3_600_000,
            batch_size: 16384,
            timely: timely::CommunicationConfig::Thread,
            progress: None,
            views: ViewKind::ALL.to_vec(),
            change_feed: false,
            custom_views: CustomViews::default(),
        }
    }
}

/// What a run did, as printed and written to `<out>/_metrics/summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub source: String,
    pub workers: usize,
    pub processes: usize,
    pub events_read: u64,
    pub body_bytes: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub mb_per_second: f64,
    /// Rows committed in this run per table (quality: rows now in the table).
    pub tables: BTreeMap<String, u64>,
    /// Per rule: (evaluated, failed), summed over windows, as the quality table holds them.
    pub rules: BTreeMap<String, (i64, i64)>,
    pub epochs: u64,
    pub commits: u64,
    pub batch_latency_us: Percentiles,
    pub commit_latency_us: Percentiles,
    pub end_to_end_latency_ms: Percentiles,
    pub peak_rss_bytes: Option<u64>,
    /// Events committed in each second of the run.
    pub events_per_second_series: Vec<u64>,
}

fn now_from_meta(path: &Path) -> Option<DateTime<Utc>> {
    let text = std::fs::read_to_string(format!("{}.meta.json", path.display())).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    DateTime::parse_from_rfc3339(v.get("now")?.as_str()?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn process_info(cfg: &timely::CommunicationConfig) -> (usize, usize, usize) {
    match cfg {
        timely::CommunicationConfig::Thread => (1, 0, 1),
        timely::CommunicationConfig::Process(n) | timely::CommunicationConfig::ProcessBinary(n) => {
            (*n, 0, 1)
        }
        timely::CommunicationConfig::Cluster {
            threads,
            process,
            addresses,
            ..
        } => (*threads, *process, addresses.len()),
    }
}

/// Loads the rule set of a run.
pub fn load_rules(checks: Option<&Path>) -> Result<RuleSet> {
    let opts = LoadOptions::default();
    Ok(match checks {
        Some(p) => RuleSet::from_path(p, &opts)?,
        None => RuleSet::from_yaml_str(DEFAULT_CHECKS, &opts)?,
    })
}

/// Opens the configured source.
pub fn open_source(cfg: &RunConfig, now: DateTime<Utc>) -> Result<Arc<dyn PartitionedSource>> {
    Ok(match &cfg.source {
        SourceSpec::Generator => {
            let wl = crate::workload::WorkloadConfig {
                events: cfg.events,
                stations: cfg.stations,
                seed: cfg.seed,
                now_ms: now.timestamp_millis(),
                ..Default::default()
            };
            Arc::new(crate::source::generator::GeneratorSource::new(
                wl,
                cfg.partitions,
            )?)
        }
        SourceSpec::File(p) => Arc::new(crate::source::file::FileSource::open_path(
            p,
            cfg.partitions,
        )?),
        SourceSpec::EventHub(h) => {
            if h.connection_string.is_empty() {
                return Err(Error::Config(
                    "--source eventhub needs --connection-string (or EVENTHUB_CONNECTION_STRING)"
                        .into(),
                ));
            }
            let mut c = EventHubSourceConfig::new(h.connection_string.clone(), "");
            c.hub = h.hub.clone();
            if let Some(cg) = &h.consumer_group {
                c.consumer_group = cg.clone();
            }
            c.start = h.start;
            c.stop_when_idle = h.stop_when_idle;
            Arc::new(
                EventHubSource::connect(c)
                    .map_err(|e| Error::Config(format!("cannot connect to the event hub: {e}")))?,
            )
        }
        SourceSpec::Embedded => {
            return Err(Error::Config(
                "the embedded source is started by `run` (see EmbeddedHub)".into(),
            ))
        }
    })
}

/// The embedded path of `SourceSpec::Embedded`: an in-process emulator and a producer thread
/// sending the reference workload to it; kept alive for the run.
pub struct EmbeddedHub {
    _runtime: tokio::runtime::Runtime,
    handle: crate::emulator::EmulatorHandle,
    producer:
        Option<std::thread::JoinHandle<std::result::Result<crate::eventhub::SendStats, String>>>,
}

impl EmbeddedHub {
    /// Starts the emulator (hub `weather` with `cfg.partitions` partitions, a free loopback
    /// port) and a producer of `cfg.events` workload events; returns once the first events are
    /// sent (or the producer finished).
    pub fn start(cfg: &RunConfig, now: DateTime<Utc>) -> Result<EmbeddedHub> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("emulator")
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the embedded emulator: {e}")))?;
        let config = crate::emulator::EmulatorConfig {
            port: 0,
            hubs: vec![crate::emulator::HubSpec::new("weather", cfg.partitions)],
            ..Default::default()
        };
        let handle = runtime
            .block_on(crate::emulator::Emulator::start(config))
            .map_err(|e| Error::Config(format!("cannot start the embedded emulator: {e}")))?;
        let connection_string = handle.connection_string();
        let workload = crate::workload::WorkloadConfig {
            events: cfg.events,
            stations: cfg.stations,
            seed: cfg.seed,
            now_ms: now.timestamp_millis(),
            ..Default::default()
        };
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let producer = std::thread::Builder::new()
            .name("producer".into())
            .spawn(move || {
                let producer =
                    crate::eventhub::BlockingProducer::connect(&connection_string, Some("weather"))
                        .map_err(|e| e.to_string())?;
                let mut signalled = false;
                let stats = producer
                    .send_all(crate::workload::keyed_events(&workload), None, |sent| {
                        if !signalled && sent > 0 {
                            signalled = true;
                            let _ = started_tx.send(());
                        }
                    })
                    .map_err(|e| e.to_string());
                producer.close();
                stats
            })
            .map_err(|e| Error::Config(format!("cannot start the producer: {e}")))?;
        // Wait for the first events (or the producer's end, when the channel closes).
        let _ = started_rx.recv_timeout(Duration::from_secs(60));
        Ok(EmbeddedHub {
            _runtime: runtime,
            handle,
            producer: Some(producer),
        })
    }

    /// The source spec to read the embedded hub with.
    pub fn source(&self) -> EventHubSpec {
        EventHubSpec {
            connection_string: self.handle.connection_string(),
            hub: Some("weather".into()),
            consumer_group: None,
            start: StartPosition::Earliest,
            stop_when_idle: Some(Duration::from_secs(3)),
        }
    }

    /// Waits for the producer; its statistics, or why it failed.
    pub fn finish(mut self) -> std::result::Result<crate::eventhub::SendStats, String> {
        match self.producer.take().map(|p| p.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err("the producer thread panicked".into()),
            None => Err("no producer".into()),
        }
    }
}

/// Committed state the stateful stages restart from.
#[derive(Default)]
struct Restored {
    keys: Vec<(DedupKey, i64)>,
    /// Committed silver rows (the views restart from them).
    silver: Vec<arrow::array::RecordBatch>,
    quality: Vec<(QualityKey, (i64, i64))>,
    quality_files: Vec<String>,
}

fn restore(
    out: &Path,
    tables: &DeltaTables,
    rules: &[(String, String)],
    horizon_ms: i64,
) -> Result<Restored> {
    let mut restored = Restored::default();
    if tables.table(TableKind::Silver).table.version().unwrap_or(0) > 0 {
        let silver =
            read_table(out, TableKind::Silver).map_err(|e| Error::Config(e.to_string()))?;
        let mut keys = Vec::new();
        for b in &silver.batches {
            let ids = b
                .column_by_name("event_id")
                .expect("silver.event_id")
                .as_string::<i32>();
            let times = b
                .column_by_name("event_time")
                .expect("silver.event_time")
                .as_primitive::<TimestampMicrosecondType>();
            for i in 0..b.num_rows() {
                if !ids.is_null(i) {
                    let t = if times.is_null(i) {
                        i64::MIN
                    } else {
                        times.value(i) / 1000
                    };
                    keys.push((dedup_key(ids.value(i)), t));
                }
            }
        }
        restored.silver = silver.batches;
        let newest = keys.iter().map(|k| k.1).max().unwrap_or(i64::MIN);
        restored.keys = keys
            .into_iter()
            .filter(|k| k.1 >= newest.saturating_sub(horizon_ms))
            .collect();
    }
    if tables
        .table(TableKind::Quality)
        .table
        .version()
        .unwrap_or(0)
        > 0
    {
        let quality =
            read_table(out, TableKind::Quality).map_err(|e| Error::Config(e.to_string()))?;
        for b in &quality.batches {
            let names = b.column(0).as_string::<i32>();
            let starts = b.column(2).as_primitive::<TimestampMicrosecondType>();
            let ev = b.column(4).as_primitive::<Int64Type>();
            let failed = b.column(5).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                let Some(r) = rules.iter().position(|(n, _)| n == names.value(i)) else {
                    eprintln!("warning: quality table has counts for rule '{}', which the checks no longer define; they are dropped", names.value(i));
                    continue;
                };
                let w = (!starts.is_null(i)).then(|| starts.value(i) / 1000);
                restored
                    .quality
                    .push(((r as u32, w), (ev.value(i), failed.value(i))));
            }
        }
        restored.quality_files = committed_files(tables, TableKind::Quality as u8)?;
    }
    Ok(restored)
}

/// The data files (names under the table's directory) of the table at `index`, as committed.
fn committed_files(tables: &DeltaTables, index: u8) -> Result<Vec<String>> {
    Ok(tables
        .active_files(index as usize)
        .map_err(|e| Error::Config(e.to_string()))?
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect())
}

fn open_tables(
    out: &Path,
    extra: &[TableSpec],
    partitions: &[u32],
    process: usize,
) -> Result<DeltaTables> {
    let mut tries = 0;
    loop {
        match DeltaTables::open_with(out, extra, partitions, process == 0) {
            Ok(t) => return Ok(t),
            // Processes other than 0 may race process 0 creating the tables: retry a while.
            Err(e) if process > 0 && tries < 50 => {
                tries += 1;
                drop(e);
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot open the output tables under {}: {e}",
                    out.display()
                )))
            }
        }
    }
}

/// Runs the pipeline to the end of a bounded source and returns the summary (on process 0;
/// other processes return their own partial view).
pub fn run(cfg: RunConfig) -> Result<RunSummary> {
    if cfg.source == SourceSpec::Embedded {
        let (_, _, processes) = process_info(&cfg.timely);
        if processes > 1 {
            return Err(Error::Config(
                "the embedded emulator runs inside one process; for a cluster give --source eventhub --connection-string ... (e.g. of `medallion emulator`) or file:PATH".into(),
            ));
        }
        if cfg.out.join("bronze").join("_delta_log").is_dir() {
            return Err(Error::Config(format!(
                "{} already holds the tables of an earlier run, and the embedded hub starts empty each time: pass another --out, remove {0}, or read a persistent hub (`medallion emulator --data-dir`) with --source eventhub",
                cfg.out.display()
            )));
        }
        let now = cfg.now.unwrap_or_else(Utc::now);
        let hub = EmbeddedHub::start(&cfg, now)?;
        let inner = RunConfig {
            source: SourceSpec::EventHub(hub.source()),
            now: Some(now),
            ..cfg
        };
        let mut summary = run(inner)?;
        let sent = hub
            .finish()
            .map_err(|e| Error::Config(format!("the embedded producer failed: {e}")))?;
        summary.source = format!(
            "the embedded emulator ({} events produced at {:.0} events/s)",
            sent.events, sent.events_per_sec
        );
        return Ok(summary);
    }
    let (threads, process, processes) = process_info(&cfg.timely);
    let peers = threads * processes;
    std::fs::create_dir_all(&cfg.out).map_err(|e| {
        Error::Config(format!(
            "cannot create output directory {}: {e}",
            cfg.out.display()
        ))
    })?;
    let rules = Arc::new(load_rules(cfg.checks.as_deref())?);
    let now = cfg.now.or_else(|| match &cfg.source {
        SourceSpec::File(p) => now_from_meta(p),
        _ => None,
    });
    let now = now.unwrap_or_else(Utc::now);
    let source = open_source(&cfg, now)?;
    let partitions: Vec<u32> = source.partitions().iter().map(|p| p.0).collect();
    // The view tables (and change feeds) follow the four core tables.
    let mut extra = Vec::new();
    let mut view_tables = BTreeMap::new();
    for &kind in &cfg.views {
        let schema = view_schema(kind);
        let index = (TableKind::ALL.len() + extra.len()) as u8;
        extra.push(TableSpec {
            name: kind.name().to_string(),
            schema: schema.clone(),
        });
        let change_feed = cfg.change_feed.then(|| {
            let name = change_feed_name(kind.name());
            extra.push(TableSpec {
                name: name.clone(),
                schema: change_feed_schema(&schema),
            });
            (index + 1, cfg.out.join(name))
        });
        view_tables.insert(
            kind,
            ViewTable {
                index,
                root: cfg.out.join(kind.name()),
                change_feed,
            },
        );
    }
    // The library user's views.
    let mut custom = Vec::new();
    for view in &cfg.custom_views.0 {
        let spec = view.table();
        if extra.iter().any(|t: &TableSpec| t.name == spec.name)
            || TableKind::ALL.iter().any(|k| k.name() == spec.name)
        {
            return Err(Error::Config(format!(
                "custom view '{}' has the name of another table",
                spec.name
            )));
        }
        let index = (TableKind::ALL.len() + extra.len()) as u8;
        custom.push((
            view.clone(),
            ViewTable {
                index,
                root: cfg.out.join(&spec.name),
                change_feed: None,
            },
        ));
        extra.push(spec);
    }
    // Dataset-level checks: their results table follows the views.
    let dataset_checks = if rules.dataset_checks().is_empty() {
        None
    } else {
        let checks = DatasetChecks::new(
            rules.dataset_checks().to_vec(),
            &crate::sink::tables::silver_schema(),
            cfg.window_ms,
        )
        .map_err(|e| Error::Config(format!("invalid dataset check: {e}")))?;
        let index = (TableKind::ALL.len() + extra.len()) as u8;
        extra.push(TableSpec {
            name: checks.name().to_string(),
            schema: checks.schema(),
        });
        Some((
            Arc::new(checks),
            ViewTable {
                index,
                root: cfg.out.join("dataset_checks"),
                change_feed: None,
            },
        ))
    };
    // Process 0 creates missing tables; the other processes wait until they exist.
    let tables = open_tables(&cfg.out, &extra, &partitions, process)?;
    let restart = tables.table(TableKind::Silver).table.version().unwrap_or(0) > 0
        || tables
            .table(TableKind::Quality)
            .table
            .version()
            .unwrap_or(0)
            > 0;
    let mut view_files = BTreeMap::new();
    if process == 0 {
        for (kind, t) in &view_tables {
            view_files.insert(*kind, committed_files(&tables, t.index)?);
        }
    }
    let mut custom_files = Vec::new();
    for (_, t) in &custom {
        custom_files.push(if process == 0 {
            committed_files(&tables, t.index)?
        } else {
            Vec::new()
        });
    }
    let dataset_files = match (&dataset_checks, process) {
        (Some((_, t)), 0) => committed_files(&tables, t.index)?,
        _ => Vec::new(),
    };
    let view_files = Arc::new(view_files);
    let worker_view_tables = view_tables.clone();
    let worker_dataset = dataset_checks.clone();
    let worker_custom = custom.clone();
    let mut rule_names = vec![("parse".to_string(), "error".to_string())];
    rule_names.extend(rules.rules().iter().map(|r| {
        (
            r.name().to_string(),
            match r.criticality() {
                crate::quality::Criticality::Error => "error".to_string(),
                crate::quality::Criticality::Warn => "warn".to_string(),
            },
        )
    }));

    // Resume positions: each table's committed sequence number per partition.
    let mut skips = BTreeMap::new();
    let mut starts = BTreeMap::new();
    for &p in &partitions {
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
        } else if matches!(cfg.source, SourceSpec::EventHub(_)) {
            crate::eventhub::source::USE_CONFIGURED_START.0 // --start earliest|latest
        } else {
            0
        };
        skips.insert(p, skip);
        starts.insert(p, start);
    }
    let skips = Arc::new(skips);
    let starts = Arc::new(starts);
    let restored = if process == 0 {
        restore(&cfg.out, &tables, &rule_names, cfg.horizon_ms)?
    } else {
        Restored::default()
    };
    let restored = Arc::new(Mutex::new(Some(restored)));
    let committer = Arc::new(Mutex::new(if process == 0 { Some(tables) } else { None }));

    let metrics = Arc::new(RunMetrics::default());
    let stats = Arc::new(Mutex::new(CommitStats::default()));
    let quality_state: QualityState = Arc::new(Mutex::new(BTreeMap::new()));
    let eval = EvalContext {
        now,
        run_time: Utc::now(),
        run_id: uuid::Uuid::new_v4().to_string(),
    };
    let ctx = ProcessContext {
        rules: rules.clone(),
        eval,
        window_ms: cfg.window_ms,
    };
    let total = source.len_hint();
    let progress = (process == 0).then(|| {
        crate::metrics::progress::Progress::start(
            metrics.clone(),
            total,
            cfg.progress.unwrap_or(false),
        )
    });
    let started = Instant::now();

    let worker_metrics = metrics.clone();
    let worker_stats = stats.clone();
    let worker_quality = quality_state.clone();
    let out = cfg.out.clone();
    let (epoch_ms, batch_size, horizon_ms, window_ms) = (
        cfg.epoch_ms.max(1),
        cfg.batch_size.max(1),
        cfg.horizon_ms,
        cfg.window_ms,
    );
    let config = timely::Config {
        communication: cfg.timely.clone(),
        worker: timely::WorkerConfig::default(),
    };
    let guards = timely::execute(config, move |worker| -> std::result::Result<(), String> {
        let index = worker.index();
        let peers = worker.peers();
        let tables = if index == 0 {
            committer.lock().expect("committer slot").take()
        } else {
            None
        };
        let restored = if index == 0 {
            restored.lock().expect("restored slot").take()
        } else {
            None
        };
        let restored = restored.unwrap_or_default();
        let mut input = InputHandleVec::<Time, crate::source::RawBatch>::new();
        let probe = ProbeHandle::new();
        let (ctx, skips, metrics, stats, quality_state) = (
            ctx.clone(),
            skips.clone(),
            worker_metrics.clone(),
            worker_stats.clone(),
            worker_quality.clone(),
        );
        let rule_names = rule_names.clone();
        let out = out.clone();
        let view_tables = worker_view_tables.clone();
        let view_sink = |kind: ViewKind| ViewSink {
            table: view_tables[&kind].clone(),
            restored_files: if index == 0 {
                view_files.get(&kind).cloned().unwrap_or_default()
            } else {
                Vec::new()
            },
            rewrite_at_start: restart,
        };
        let dataset_checks = worker_dataset.clone();
        let custom = worker_custom.clone();
        let custom_files = custom_files.clone();
        let dataset_files = if index == 0 {
            dataset_files.clone()
        } else {
            Vec::new()
        };
        worker.dataflow::<Time, _, _>(|scope| {
            let processed = input.to_stream(scope).process(ctx, skips, metrics.clone());
            let positions = processed.clone().positions();
            let bronze = processed
                .clone()
                .table_rows(TableKind::Bronze)
                .write_table(TableKind::Bronze, out.join("bronze"));
            let quarantine = processed
                .clone()
                .table_rows(TableKind::Quarantine)
                .write_table(TableKind::Quarantine, out.join("quarantine"));
            let winners = processed.clone().dedup_winners(horizon_ms, restored.keys);
            let silver_rows = processed.clone().silver_rows(winners);
            let silver = silver_rows
                .clone()
                .write_table(TableKind::Silver, out.join("silver"));
            let quality_changes = processed.quality_counts(restored.quality);
            let quality = quality_changes.clone().write_quality(
                out.join("quality"),
                rule_names.clone(),
                restored.quality_files,
                window_ms,
                quality_state,
            );
            let mut written = positions
                .concat(bronze)
                .concat(quarantine)
                .concat(silver)
                .concat(quality);
            for &kind in view_tables.keys() {
                let files = match kind {
                    ViewKind::StationLatest => silver_rows
                        .clone()
                        .maintain(Arc::new(StationLatest::default()), restored.silver.clone())
                        .write_view(Arc::new(StationLatest::default()), view_sink(kind)),
                    ViewKind::StationHourly => silver_rows
                        .clone()
                        .maintain(Arc::new(StationHourly), restored.silver.clone())
                        .write_view(Arc::new(StationHourly), view_sink(kind)),
                    ViewKind::QualityByWindow => {
                        quality_changes.clone().quality_by_window().write_view(
                            Arc::new(QualityByWindow {
                                rules: rule_names.clone(),
                                window_ms,
                            }),
                            view_sink(kind),
                        )
                    }
                };
                written = written.concat(files);
            }
            for ((view, table), files) in custom.into_iter().zip(custom_files) {
                let sink = ViewSink {
                    table,
                    restored_files: if index == 0 { files } else { Vec::new() },
                    rewrite_at_start: restart,
                };
                written =
                    written.concat(view.build(silver_rows.clone(), restored.silver.clone(), sink));
            }
            if let Some((checks, table)) = dataset_checks {
                let sink = ViewSink {
                    table,
                    restored_files: dataset_files,
                    rewrite_at_start: restart,
                };
                let files = silver_rows
                    .clone()
                    .maintain(checks.clone(), restored.silver.clone())
                    .write_view(checks, sink);
                written = written.concat(files);
            }
            written.commit(tables, metrics, stats).probe_with(&probe);
        });

        let readers =
            open_readers(source.as_ref(), index, peers, &starts).map_err(|e| e.to_string())?;
        feed_partitions(worker, input, &probe, readers, epoch_ms, batch_size)?;
        Ok(())
    })
    .map_err(|e| Error::Config(format!("cannot start timely workers: {e}")))?;
    for (i, r) in guards.join().into_iter().enumerate() {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Config(format!("worker {i}: {e}"))),
            Err(e) => return Err(Error::Config(format!("worker {i} failed: {e}"))),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(progress);

    let stats = stats.lock().expect("commit stats").clone();
    let mut tables_summary = BTreeMap::new();
    for k in TableKind::ALL {
        tables_summary.insert(k.name().to_string(), stats.rows_of(k as usize));
    }
    for (k, t) in &view_tables {
        tables_summary.insert(k.name().to_string(), stats.rows_of(t.index as usize));
    }
    for (view, t) in &custom {
        tables_summary.insert(view.table().name, stats.rows_of(t.index as usize));
    }
    if let Some((checks, t)) = &dataset_checks {
        tables_summary.insert(checks.name().to_string(), stats.rows_of(t.index as usize));
    }
    let mut rule_counts: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for ((r, _w), (e, f)) in quality_state.lock().expect("quality state").iter() {
        let name = rule_names_of(&rules, *r);
        let slot = rule_counts.entry(name).or_default();
        slot.0 += e;
        slot.1 += f;
    }
    // On the committer's process, count what the whole cluster committed; elsewhere, what this
    // process read.
    let counter = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let (events, bytes) = if process == 0 {
        (
            counter(&metrics.events_committed_total),
            counter(&metrics.bytes_committed_total),
        )
    } else {
        (counter(&metrics.events_read), counter(&metrics.bytes_read))
    };
    let summary = RunSummary {
        source: cfg.source.describe(),
        workers: peers,
        processes,
        events_read: events,
        body_bytes: bytes,
        seconds,
        events_per_second: events as f64 / seconds.max(1e-9),
        mb_per_second: bytes as f64 / 1e6 / seconds.max(1e-9),
        tables: tables_summary,
        rules: rule_counts,
        epochs: stats.epochs,
        commits: stats.commits,
        batch_latency_us: Percentiles::of(&metrics.batch_latency_us.lock().expect("metrics")),
        commit_latency_us: Percentiles::of(&metrics.commit_latency_us.lock().expect("metrics")),
        end_to_end_latency_ms: Percentiles::of(&metrics.e2e_latency_ms.lock().expect("metrics")),
        peak_rss_bytes: peak_rss_bytes(),
        events_per_second_series: metrics.per_second.lock().expect("metrics").clone(),
    };
    if process == 0 {
        write_metrics(&cfg.out, &metrics, &summary).map_err(|e| Error::Io {
            path: cfg.out.join("_metrics").display().to_string(),
            source: e,
        })?;
    }
    Ok(summary)
}

/// The table schema of a built-in view.
pub fn view_schema(kind: ViewKind) -> arrow::datatypes::SchemaRef {
    match kind {
        ViewKind::StationLatest => StationLatest::default().schema(),
        ViewKind::StationHourly => StationHourly.schema(),
        ViewKind::QualityByWindow => crate::views::quality::quality_by_window_schema(),
    }
}

/// Opens the partitions of `source` that worker `index` of `peers` reads, each at its start
/// position (`starts`, default 0).
pub fn open_readers(
    source: &dyn PartitionedSource,
    index: usize,
    peers: usize,
    starts: &BTreeMap<u32, i64>,
) -> std::result::Result<Vec<Box<dyn PartitionReader>>, crate::source::SourceError> {
    let mut readers = Vec::new();
    for p in source.partitions() {
        if worker_for(p, peers) == index {
            let start = starts.get(&p.0).copied().unwrap_or(0);
            readers.push(source.open(p, SequenceNumber(start))?);
        }
    }
    Ok(readers)
}

/// Drives one worker: reads its partitions batch by batch into `input`, advances the epoch every
/// `epoch_ms`, steps the dataflow, and keeps at most two epochs in flight behind `probe`.
/// Returns once every partition is exhausted and the dataflow has finished.
pub fn feed_partitions(
    worker: &mut timely::worker::Worker,
    mut input: InputHandleVec<Time, crate::source::RawBatch>,
    probe: &ProbeHandle<Time>,
    mut readers: Vec<Box<dyn PartitionReader>>,
    epoch_ms: u64,
    batch_size: usize,
) -> std::result::Result<(), String> {
    let begin = Instant::now();
    let epoch_ms = epoch_ms.max(1);
    let mut epoch: Time = 1;
    input.advance_to(epoch);
    let mut live = vec![true; readers.len()];
    // A partition that fails stops being read, but the worker finishes the dataflow (so that what
    // was read is committed and the other workers are not left waiting) before reporting it.
    let mut failure: Option<String> = None;
    while live.iter().any(|l| *l) {
        for (i, reader) in readers.iter_mut().enumerate() {
            if !live[i] {
                continue;
            }
            match reader.next_batch(batch_size) {
                Ok(Some(batch)) if !batch.is_empty() => input.send(batch),
                Ok(Some(_)) => {}
                Ok(None) => live[i] = false,
                Err(e) => {
                    live[i] = false;
                    eprintln!("error: reading partition {}: {e}", reader.partition());
                    failure.get_or_insert_with(|| {
                        format!("reading partition {}: {e}", reader.partition())
                    });
                }
            }
        }
        let now_epoch = 1 + begin.elapsed().as_millis() as u64 / epoch_ms;
        if now_epoch > epoch {
            epoch = now_epoch;
            input.advance_to(epoch);
        }
        worker.step();
        // Back-pressure: stay at most two epochs ahead of what is committed (parking, not
        // spinning, so that the other workers get the cores).
        while probe.less_than(&epoch.saturating_sub(2)) {
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
    }
    input.close();
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(1)));
    }
    failure.map_or(Ok(()), Err)
}

fn rule_names_of(rules: &RuleSet, r: u32) -> String {
    if r == 0 {
        "parse".to_string()
    } else {
        rules
            .rules()
            .get(r as usize - 1)
            .map(|x| x.name().to_string())
            .unwrap_or_else(|| format!("rule {r}"))
    }
}

fn write_metrics(out: &Path, metrics: &RunMetrics, summary: &RunSummary) -> std::io::Result<()> {
    let dir = out.join("_metrics");
    std::fs::create_dir_all(&dir)?;
    write_hgrm(
        &metrics.batch_latency_us.lock().expect("metrics"),
        &dir.join("batch_latency_ms.hgrm"),
        1000.0,
    )?;
    write_hgrm(
        &metrics.commit_latency_us.lock().expect("metrics"),
        &dir.join("commit_latency_ms.hgrm"),
        1000.0,
    )?;
    write_hgrm(
        &metrics.e2e_latency_ms.lock().expect("metrics"),
        &dir.join("end_to_end_latency_ms.hgrm"),
        1.0,
    )?;
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(summary).expect("summary serialises"),
    )?;
    Ok(())
}

impl RunSummary {
    /// The human-readable summary printed at the end of a run.
    pub fn render(&self) -> String {
        let mut s = String::new();
        use std::fmt::Write;
        let _ = writeln!(
            s,
            "medallion run: {} events from {} in {:.2} s with {} worker(s) in {} process(es)",
            self.events_read, self.source, self.seconds, self.workers, self.processes
        );
        let _ = writeln!(
            s,
            "  throughput: {:.0} events/s, {:.1} MB/s of JSON",
            self.events_per_second, self.mb_per_second
        );
        let _ = writeln!(
            s,
            "  committed rows: {}",
            self.tables
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            s,
            "  epochs: {}, Delta commits: {}",
            self.epochs, self.commits
        );
        let p = |name: &str, p: &Percentiles, unit: &str, scale: f64| {
            format!(
                "  {name:<22} p50 {:.2} {unit}, p90 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2} ({} samples)",
                p.p50 as f64 / scale, p.p90 as f64 / scale, p.p99 as f64 / scale, p.p999 as f64 / scale, p.max as f64 / scale, p.count
            )
        };
        let _ = writeln!(
            s,
            "{}",
            p("batch latency:", &self.batch_latency_us, "ms", 1000.0)
        );
        let _ = writeln!(
            s,
            "{}",
            p("commit latency:", &self.commit_latency_us, "ms", 1000.0)
        );
        let _ = writeln!(
            s,
            "{}",
            p(
                "end-to-end latency:",
                &self.end_to_end_latency_ms,
                "ms",
                1.0
            )
        );
        if let Some(rss) = self.peak_rss_bytes {
            let _ = writeln!(s, "  peak RSS: {:.1} MB", rss as f64 / 1e6);
        }
        let _ = writeln!(s, "  rule counts (evaluated / failed):");
        for (name, (e, f)) in &self.rules {
            let _ = writeln!(s, "    {name:<32} {e:>10} {f:>8}");
        }
        s
    }
}
