//! The `run` command's options ([`RunArgs`]) and their translation into a [`RunConfig`]
//! ([`run_config`]); with a pipeline file, its `run:` settings become options too
//! ([`file_args`]). Every option can also come from a `MEDALLION_*` environment variable:
//! a flag beats the environment, which beats the file, which beats the default.

use std::path::PathBuf;

use clap::Args;

use crate::epoch::EpochPolicy;
use crate::maintenance::cli::OutArgs;
use crate::pipeline::file::PipelineFile;
use crate::pipeline::{ProgressMode, RunConfig, SourceSpec};

pub mod file_args;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// A pipeline file (YAML) declaring the event, its checks and views, and run settings under
    /// `run:` (any option of this command, by its name with `_`); options given here or as
    /// MEDALLION_* variables win over the file's. Default: the built-in weather pipeline
    /// (pipelines/weather.yml). `medallion validate --pipeline FILE` checks one without running.
    #[arg(long, value_name = "FILE", env = "MEDALLION_PIPELINE")]
    pub pipeline: Option<PathBuf>,
    /// Worker threads per process (timely's -w); default: the cores this process may use.
    #[arg(short = 'w', long = "workers", alias = "threads", default_value_t = available_cores(), env = "MEDALLION_WORKERS")]
    pub workers: usize,
    /// Number of processes in the cluster (timely's -n).
    #[arg(
        short = 'n',
        long = "processes",
        default_value_t = 1,
        env = "MEDALLION_PROCESSES"
    )]
    pub processes: usize,
    /// Index of this process in the cluster (timely's -p).
    #[arg(
        short = 'p',
        long = "process",
        default_value_t = 0,
        env = "MEDALLION_PROCESS"
    )]
    pub process: usize,
    /// File with one host:port per line, one per process (timely's -h, here --hostfile only:
    /// -h prints help; default localhost:2101+i).
    #[arg(long = "hostfile", env = "MEDALLION_HOSTFILE")]
    pub hostfile: Option<PathBuf>,
    /// Where events come from: `embedded` (an in-process Event Hubs emulator fed with the
    /// reference workload, read over AMQP), `eventhub` (a real hub or `medallion emulator`; needs
    /// --connection-string), `generator` (the workload in process, no AMQP) or `file:PATH` (JSON
    /// lines). Default: `eventhub` when a connection string is given, else `embedded`.
    #[arg(long, env = "MEDALLION_SOURCE")]
    pub source: Option<SourceSpec>,
    /// Event Hubs connection string (never logged), e.g. the one `medallion emulator` prints.
    #[arg(long, env = "EVENTHUB_CONNECTION_STRING", hide_env_values = true)]
    pub connection_string: Option<String>,
    /// Event hub name (default: the connection string's EntityPath).
    #[arg(long, env = "MEDALLION_HUB")]
    pub hub: Option<String>,
    /// Consumer group.
    #[arg(long, default_value = "$Default", env = "MEDALLION_CONSUMER_GROUP")]
    pub consumer_group: String,
    /// Where partitions start that have no committed position: earliest or latest.
    #[arg(long, default_value = "earliest", value_parser = ["earliest", "latest"], env = "MEDALLION_START")]
    pub start: String,
    /// Event Hubs: end the run once every partition has been idle this many seconds (tests,
    /// backfills); without it the run reads until stopped.
    #[arg(long, env = "MEDALLION_STOP_WHEN_IDLE")]
    pub stop_when_idle: Option<f64>,
    /// Generator and embedded sources: number of events.
    #[arg(long, default_value_t = 1_000_000, env = "MEDALLION_EVENTS")]
    pub events: u64,
    /// Generator and embedded sources: number of stations.
    #[arg(long, default_value_t = 10_000, env = "MEDALLION_STATIONS")]
    pub stations: u32,
    /// Generator and embedded sources: random seed.
    #[arg(long, default_value_t = 42, env = "MEDALLION_SEED")]
    pub seed: u64,
    /// Generator source: release events at this rate (events per second in all), with the
    /// release time as the enqueued time, to measure end-to-end latency under a steady load.
    #[arg(long, env = "MEDALLION_RATE")]
    pub rate: Option<f64>,
    /// Number of partitions the events are spread over by station_id (file and generator
    /// sources; the embedded hub's partitions). An event hub has its own.
    #[arg(long, default_value_t = 8, env = "MEDALLION_PARTITIONS")]
    pub partitions: u32,
    /// Output: Delta tables bronze, silver, quarantine, quality, the views, dataset_checks, and
    /// _metrics/, in a local directory or an object store.
    #[command(flatten)]
    pub out: OutArgs,
    /// Quality checks, YAML or JSON in the DQX format (default: the reference checks, built in).
    #[arg(long, env = "MEDALLION_CHECKS")]
    pub checks: Option<PathBuf>,
    /// "Now" for time-dependent rules, RFC 3339 (default: a file's .meta.json, else the clock).
    #[arg(long, env = "MEDALLION_NOW")]
    pub now: Option<String>,
    /// Latency budget: an event is committed about this long after it was read, at most (e.g.
    /// 1s, 500ms, 10s). An epoch begins with its first event and ends once that event has
    /// waited the budget less what recent epochs took to commit (at least half the budget), or
    /// at --epoch-max-events; while nothing arrives, no epoch ends. Every epoch costs a commit
    /// per table, so a longer budget costs less CPU per event at low rates (500ms: about 1.6
    /// times the default's at 5,000 events/s), a shorter one gives fresher tables.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, conflicts_with = "epoch_ms", env = "MEDALLION_MAX_LATENCY")]
    pub max_latency: std::time::Duration,
    /// Epoch length in milliseconds of wall-clock time, instead of --max-latency: one Delta
    /// commit per table per epoch that changed it.
    #[arg(long, env = "MEDALLION_EPOCH_MS")]
    pub epoch_ms: Option<u64>,
    /// End an epoch after every N events each worker reads, instead of on the clock: the same
    /// input then makes the same epochs and commits on any machine (an idle source makes no new
    /// epochs).
    #[arg(long, conflicts_with_all = ["epoch_ms", "epoch_max_events", "max_latency"], value_name = "N", env = "MEDALLION_EPOCH_EVENTS")]
    pub epoch_events: Option<u64>,
    /// End an epoch sooner once a worker has read this many events in it, so that what an
    /// epoch holds in memory stays bounded however fast events arrive (0: no cap).
    #[arg(long, value_name = "N", default_value_t = crate::epoch::DEFAULT_MAX_EPOCH_EVENTS, env = "MEDALLION_EPOCH_MAX_EVENTS")]
    pub epoch_max_events: u64,
    /// Event-time window of the quality aggregates, in seconds.
    #[arg(long, default_value_t = 60, env = "MEDALLION_WINDOW_S")]
    pub window_s: i64,
    /// Deduplication horizon in minutes of event time. Each partition's clock is the newest event
    /// time it has delivered; a copy of an event_id is dropped when its partition's clock has
    /// moved at most this far since the first delivery (however late the event's own time),
    /// and kept as new once it moved more than this plus an eighth. State older than that is
    /// dropped once every partition that delivered it has moved on (docs/src/deduplication.md).
    #[arg(long, default_value_t = 120, env = "MEDALLION_HORIZON_MIN")]
    pub horizon_min: i64,
    /// How late (minutes of event time) rows are expected: a view's group (a station-hour, a day
    /// of quality windows) leaves memory once its writer has seen groups this much newer, and is
    /// read back from its file if a later row reaches it (counted in
    /// medallion_view_groups_reloaded). Bounds memory, never changes results. Default: the
    /// horizon.
    #[arg(long, value_name = "MIN", env = "MEDALLION_LATENESS_MIN")]
    pub lateness_min: Option<i64>,
    /// Write the tables rewritten in place (the views, declared views, dataset_checks, quality)
    /// at every N-th epoch and at the end of the run, not at every epoch: they lag silver by at
    /// most N epochs (about N × --max-latency at a low rate), and each table's rewrite of its
    /// changed groups and its commit are paid once per N epochs. 1: every epoch, so that they
    /// always equal their recomputation over silver's latest commit. A restart replays into a
    /// view the silver rows committed after its last write, and reads the source again from
    /// quality's positions.
    #[arg(long, value_name = "N", default_value_t = crate::pipeline::config::DEFAULT_VIEW_EVERY,
          env = "MEDALLION_VIEW_EVERY", value_parser = clap::value_parser!(u64).range(1..))]
    pub view_every: u64,
    /// Largest number of events per batch.
    #[arg(long, default_value_t = 16384, env = "MEDALLION_BATCH_SIZE")]
    pub batch_size: usize,
    /// How long a partition's small reads (a slow or paced stream) are gathered into one batch
    /// before processing, in milliseconds, once they hold 4,096 events; fewer wait for the end
    /// of the epoch, a full batch goes at once. Every batch has a fixed cost, so this trades a
    /// little latency for much less CPU. 0 turns gathering off.
    #[arg(long, value_name = "MS", default_value_t = crate::pipeline::DEFAULT_LINGER.as_millis() as u64, env = "MEDALLION_BATCH_LINGER_MS")]
    pub batch_linger_ms: u64,
    /// Views to maintain, each a Delta table equal to the view as of its latest commit (written
    /// every --view-every epochs): comma-separated from station_latest, station_hourly,
    /// quality_by_window; or `all`, `none` (default: `all`; with --pipeline, the file's views,
    /// which this then filters).
    #[arg(long, env = "MEDALLION_VIEWS")]
    pub views: Option<crate::views::ViewList>,
    /// Also write each view's change feed (<view>_changes: `_change_type` insert/update/delete,
    /// `_epoch`).
    #[arg(long, env = "MEDALLION_CHANGE_FEED")]
    pub change_feed: bool,
    /// Print plain progress lines instead of a progress bar.
    #[arg(long, env = "MEDALLION_PLAIN_PROGRESS")]
    pub plain_progress: bool,
    /// Serve Prometheus metrics (GET /metrics, OpenMetrics text) and GET /healthz on this
    /// address, e.g. 127.0.0.1:9464; process i of a cluster uses port + i.
    #[arg(long, value_name = "ADDR", env = "MEDALLION_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// /healthz answers 503 once no table was committed for this many seconds.
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECS",
        env = "MEDALLION_HEALTH_STALE_SECS"
    )]
    pub health_stale_secs: u64,
    /// Compact the append-only tables (bronze, silver, quarantine, change feeds) this often
    /// while running, e.g. 10m: files older than a minute are merged (see `medallion optimize`).
    #[arg(long, value_name = "DURATION", value_parser = crate::maintenance::parse_duration, env = "MEDALLION_COMPACT_EVERY")]
    pub compact_every: Option<std::time::Duration>,
    /// With --compact-every: after each compaction, vacuum every table, deleting the files
    /// removed from it longer ago than this and the log entries older than an hour (or this, if
    /// shorter; see `medallion vacuum`), so that a long run fills its storage neither with
    /// replaced files nor with commit files, and its commits do not slow down listing them.
    /// Versions older than that can no longer be read. At least 1h unless
    /// --vacuum-force; under 1h the tables the run creates also keep tombstones only this long.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = crate::maintenance::parse_duration, env = "MEDALLION_VACUUM_RETENTION")]
    pub vacuum_retention: std::time::Duration,
    /// Accept a --vacuum-retention under 1h (at least 1m): a reader of an older version may
    /// find its files gone. For test runs and soaks that should reach their steady state soon.
    #[arg(long, env = "MEDALLION_VACUUM_FORCE")]
    pub vacuum_force: bool,
    /// Checkpoint each table's Delta log this often (a checkpoint lets readers, restarts and
    /// log cleanup skip the commits before it), once the table has 10 commits since its last
    /// one; sooner once those commits hold 4 MiB or number 100. A checkpoint rewrites the
    /// table's whole file list, so at low rates (a commit a second) checkpoints by count alone
    /// cost more than the commits; 0s: every 10 commits.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration, env = "MEDALLION_CHECKPOINT_INTERVAL")]
    pub checkpoint_interval: std::time::Duration,
    /// On SIGTERM or SIGINT the run stops reading, commits the epochs it read, writes its summary
    /// and _metrics/ and exits 0; if that takes longer than this many seconds (or on a second
    /// signal, not one within 250 ms of the first) it exits at once with 130, losing nothing (a
    /// restart reads the rest again).
    #[arg(
        long,
        default_value_t = 30,
        value_name = "SECS",
        env = "MEDALLION_SHUTDOWN_TIMEOUT"
    )]
    pub shutdown_timeout: u64,
}

/// The cores this process may use (1 where that cannot be told).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn parse_now(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .map_err(|e| anyhow::anyhow!("--now '{s}' is not an RFC 3339 time: {e}"))
}

/// `--vacuum-retention`, checked: at least a minute (an epoch's files not yet committed), and at
/// least [`crate::maintenance::MIN_RETENTION`] unless `--vacuum-force`.
fn vacuum_retention(a: &RunArgs) -> anyhow::Result<std::time::Duration> {
    let r = a.vacuum_retention;
    if r < std::time::Duration::from_secs(60) {
        anyhow::bail!(
            "--vacuum-retention {} is under a minute: files a running epoch has written but not yet committed would be deleted",
            humantime::format_duration(r)
        )
    }
    if r < crate::maintenance::MIN_RETENTION && !a.vacuum_force {
        anyhow::bail!(
            "--vacuum-retention {} is under the minimum of {}: readers of older versions may still need those files (pass --vacuum-force to accept that)",
            humantime::format_duration(r),
            humantime::format_duration(crate::maintenance::MIN_RETENTION)
        )
    }
    Ok(r)
}

pub fn run_config(a: RunArgs) -> anyhow::Result<RunConfig> {
    let pipeline = a.pipeline.as_deref().map(PipelineFile::load).transpose()?;
    let mut cfg = base_config(a)?;
    if let Some(file) = pipeline {
        let (checks, views) = (cfg.checks.take(), cfg.views.clone());
        file.apply(&mut cfg).map_err(anyhow::Error::msg)?;
        // A --checks given beats the file's; --views filters the file's built-in views.
        if checks.is_some() {
            cfg.checks = checks;
            cfg.inline_checks = None;
        }
        if views != crate::views::ViewKind::ALL.to_vec() {
            cfg.views.retain(|v| views.contains(v));
        }
        let weather = cfg.event == crate::event::EventSchema::weather();
        if !weather && matches!(cfg.source, SourceSpec::Generator | SourceSpec::Embedded) {
            anyhow::bail!(
                "the {} source makes weather events, and this pipeline declares another event: \
                 set its source (`source: file:PATH` or `eventhub` under `run:`, or --source)",
                cfg.source.describe()
            );
        }
    }
    Ok(cfg)
}

/// The configuration of the options alone (the weather pipeline's event, checks and views).
fn base_config(a: RunArgs) -> anyhow::Result<RunConfig> {
    let vacuum_retention = vacuum_retention(&a)?;
    if a.workers == 0 || a.processes == 0 {
        anyhow::bail!("--workers and --processes must be at least 1");
    }
    if a.process >= a.processes {
        anyhow::bail!(
            "--process {} is out of range for --processes {}",
            a.process,
            a.processes
        );
    }
    if a.partitions == 0 {
        anyhow::bail!("--partitions must be at least 1");
    }
    let timely = if a.processes > 1 {
        let addresses = match &a.hostfile {
            Some(f) => {
                let text = std::fs::read_to_string(f)
                    .map_err(|e| anyhow::anyhow!("cannot read hostfile {}: {e}", f.display()))?;
                let hosts: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
                if hosts.len() < a.processes {
                    anyhow::bail!(
                        "hostfile {} lists {} hosts but --processes is {}",
                        f.display(),
                        hosts.len(),
                        a.processes
                    );
                }
                hosts.into_iter().take(a.processes).collect()
            }
            None => (0..a.processes)
                .map(|i| format!("localhost:{}", 2101 + i))
                .collect(),
        };
        timely::CommunicationConfig::Cluster {
            threads: a.workers,
            process: a.process,
            addresses,
            report: false,
            zerocopy: false,
        }
    } else if a.workers > 1 {
        timely::CommunicationConfig::Process(a.workers)
    } else {
        timely::CommunicationConfig::Thread
    };
    if let Some(c) = &a.checks {
        if !c.is_file() {
            anyhow::bail!(
                "checks file {} does not exist or is not a file",
                c.display()
            );
        }
    }
    let source = match a.source {
        Some(SourceSpec::EventHub(_)) | None if a.connection_string.is_some() => {
            SourceSpec::EventHub(crate::pipeline::EventHubSpec {
                connection_string: a.connection_string.clone().unwrap_or_default(),
                hub: a.hub.clone(),
                consumer_group: Some(a.consumer_group.clone()),
                start: if a.start == "latest" {
                    crate::eventhub::StartPosition::Latest
                } else {
                    crate::eventhub::StartPosition::Earliest
                },
                stop_when_idle: match a.stop_when_idle {
                    Some(s) if !(s.is_finite() && s > 0.0) => {
                        anyhow::bail!("--stop-when-idle must be a positive number of seconds")
                    }
                    s => s.map(std::time::Duration::from_secs_f64),
                },
            })
        }
        Some(SourceSpec::EventHub(_)) => anyhow::bail!(
            "--source eventhub needs --connection-string or EVENTHUB_CONNECTION_STRING (for a local hub, start `medallion emulator` and use the connection string it prints)"
        ),
        None => SourceSpec::Embedded,
        Some(other) => other,
    };
    // The rate itself is checked by the generator (`GeneratorSource::with_rate`).
    let rate = match (a.rate, &source) {
        (None, _) | (Some(_), SourceSpec::Generator) => a.rate,
        (Some(_), _) => anyhow::bail!(
            "--rate paces the generator source only (`--source generator`); for Event Hubs, pace the producer (`medallion produce --rate`)"
        ),
    };
    Ok(RunConfig {
        source,
        events: a.events,
        stations: a.stations,
        seed: a.seed,
        rate,
        partitions: a.partitions,
        out: a.out.output()?,
        event: crate::event::EventSchema::weather(),
        checks: a.checks,
        inline_checks: None,
        now: a.now.as_deref().map(parse_now).transpose()?,
        epoch: match a.epoch_events {
            Some(0) => anyhow::bail!("--epoch-events must be at least 1"),
            Some(n) => EpochPolicy::Events(n),
            None => match a.epoch_ms {
                Some(0) => anyhow::bail!("--epoch-ms must be at least 1"),
                Some(ms) if a.epoch_max_events == 0 => EpochPolicy::Millis(ms),
                Some(ms) => EpochPolicy::MillisOrEvents {
                    ms,
                    max_events: a.epoch_max_events,
                },
                None if a.max_latency < std::time::Duration::from_millis(2) => {
                    anyhow::bail!("--max-latency must be at least 2ms")
                }
                None => EpochPolicy::for_latency(a.max_latency, a.epoch_max_events),
            },
        },
        window_ms: a.window_s.max(1) * 1000,
        horizon_ms: a.horizon_min.max(1) * 60_000,
        lateness_ms: a.lateness_min.map(|m| m.max(0) * 60_000),
        view_every: a.view_every.max(1),
        batch_size: a.batch_size,
        batch_linger: std::time::Duration::from_millis(a.batch_linger_ms),
        timely,
        progress: if a.plain_progress || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressMode::Lines
        } else {
            ProgressMode::Bar
        },
        views: a
            .views
            .map_or(crate::views::ViewKind::ALL.to_vec(), |v| v.0),
        change_feed: a.change_feed,
        custom_views: Default::default(),
        metrics_addr: a.metrics_addr,
        health_stale: std::time::Duration::from_secs(a.health_stale_secs.max(1)),
        compact_every: a.compact_every,
        vacuum_retention,
        checkpoint_interval: a.checkpoint_interval,
        stop: crate::pipeline::Stop::on_signals(std::time::Duration::from_secs(a.shutdown_timeout))
            .map_err(|e| anyhow::anyhow!("cannot install the SIGTERM/SIGINT handlers: {e}"))?,
    })
}
