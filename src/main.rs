//! The `medallion` command line: every command calls library code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use medallion::epoch::EpochPolicy;
use medallion::maintenance::cli::OutArgs;
use medallion::pipeline::{run, ProgressMode, RunConfig, SourceSpec};
use medallion::sink::delta::read_named_table;
use medallion::sink::TableKind;
use medallion::storage::Output;

/// Medallion pipeline for weather telemetry: partitioned sources → bronze → DQX-style quality
/// rules → silver / quarantine / quality Delta tables, on timely and differential dataflow.
#[derive(Parser)]
#[command(name = "medallion", version, about, long_about = None)]
struct Cli {
    /// Log lines on stderr as text (default) or JSON objects, one per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline (default: the reference workload through an embedded Event Hubs emulator, over AMQP, into ./medallion-data).
    Run(RunArgs),
    /// Load data-quality checks (DQX format) and apply them to sample rows.
    Check(medallion::quality::cli::CheckArgs),
    /// Print each output table's Delta version, data files and row count.
    Inspect {
        /// The `--out` of a run (a directory or URL; same as --out).
        dir: Option<String>,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Merge the small files of the append-only tables (bronze, silver, quarantine, change
    /// feeds) into large ones, as a Delta rewrite; safe while a pipeline is committing.
    Optimize(medallion::maintenance::cli::OptimizeArgs),
    /// Delete data files removed from the tables' logs longer ago than --retention.
    Vacuum(medallion::maintenance::cli::VacuumArgs),
    /// Write the reference workload as a JSON-lines file (plus FILE.meta.json).
    Generate(GenerateArgs),
    /// Send the reference workload (--events N) or a JSON-lines file (--file) to an event hub,
    /// partition key = station_id, in batches of up to 1 MB.
    Produce(ProduceArgs),
    /// Run a local Event Hubs–compatible AMQP 1.0 endpoint (plain AMQP and TLS on one port);
    /// prints the connection string to use, then serves until Ctrl-C.
    Emulator(medallion::emulator::EmulatorArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Worker threads per process (timely's -w); default: the cores this process may use.
    #[arg(short = 'w', long = "workers", alias = "threads", default_value_t = available_cores())]
    workers: usize,
    /// Number of processes in the cluster (timely's -n).
    #[arg(short = 'n', long = "processes", default_value_t = 1)]
    processes: usize,
    /// Index of this process in the cluster (timely's -p).
    #[arg(short = 'p', long = "process", default_value_t = 0)]
    process: usize,
    /// File with one host:port per line, one per process (timely's -h, here --hostfile only:
    /// -h prints help; default localhost:2101+i).
    #[arg(long = "hostfile")]
    hostfile: Option<PathBuf>,
    /// Where events come from: `embedded` (an in-process Event Hubs emulator fed with the
    /// reference workload, read over AMQP), `eventhub` (a real hub or `medallion emulator`; needs
    /// --connection-string), `generator` (the workload in process, no AMQP) or `file:PATH` (JSON
    /// lines). Default: `eventhub` when a connection string is given, else `embedded`.
    #[arg(long)]
    source: Option<SourceSpec>,
    /// Event Hubs connection string (never logged), e.g. the one `medallion emulator` prints.
    #[arg(long, env = "EVENTHUB_CONNECTION_STRING", hide_env_values = true)]
    connection_string: Option<String>,
    /// Event hub name (default: the connection string's EntityPath).
    #[arg(long)]
    hub: Option<String>,
    /// Consumer group.
    #[arg(long, default_value = "$Default")]
    consumer_group: String,
    /// Where partitions start that have no committed position: earliest or latest.
    #[arg(long, default_value = "earliest", value_parser = ["earliest", "latest"])]
    start: String,
    /// Event Hubs: end the run once every partition has been idle this many seconds (tests,
    /// backfills); without it the run reads until stopped.
    #[arg(long)]
    stop_when_idle: Option<f64>,
    /// Generator and embedded sources: number of events.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Generator and embedded sources: number of stations.
    #[arg(long, default_value_t = 10_000)]
    stations: u32,
    /// Generator and embedded sources: random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Generator source: release events at this rate (events per second in all), with the
    /// release time as the enqueued time, to measure end-to-end latency under a steady load.
    #[arg(long)]
    rate: Option<f64>,
    /// Number of partitions the events are spread over by station_id (file and generator
    /// sources; the embedded hub's partitions). An event hub has its own.
    #[arg(long, default_value_t = 8)]
    partitions: u32,
    /// Output: Delta tables bronze, silver, quarantine, quality, the views, dataset_checks, and
    /// _metrics/, in a local directory or an object store.
    #[command(flatten)]
    out: OutArgs,
    /// Quality checks, YAML or JSON in the DQX format (default: the reference checks, built in).
    #[arg(long)]
    checks: Option<PathBuf>,
    /// "Now" for time-dependent rules, RFC 3339 (default: a file's .meta.json, else the clock).
    #[arg(long)]
    now: Option<String>,
    /// Latency budget: an event is committed about this long after it was read, at most (e.g.
    /// 1s, 500ms, 10s). An epoch begins with its first event and ends once that event has
    /// waited the budget less what recent epochs took to commit (at least half the budget), or
    /// at --epoch-max-events; while nothing arrives, no epoch ends. Every epoch costs a commit
    /// per table, so a longer budget costs less CPU per event at low rates (1s: about half of
    /// the default's at 5,000 events/s), a shorter one gives fresher tables.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration, conflicts_with = "epoch_ms")]
    max_latency: std::time::Duration,
    /// Epoch length in milliseconds of wall-clock time, instead of --max-latency: one Delta
    /// commit per table per epoch that changed it.
    #[arg(long)]
    epoch_ms: Option<u64>,
    /// End an epoch after every N events each worker reads, instead of on the clock: the same
    /// input then makes the same epochs and commits on any machine (an idle source makes no new
    /// epochs).
    #[arg(long, conflicts_with_all = ["epoch_ms", "epoch_max_events", "max_latency"], value_name = "N")]
    epoch_events: Option<u64>,
    /// End an epoch sooner once a worker has read this many events in it, so that what an
    /// epoch holds in memory stays bounded however fast events arrive (0: no cap).
    #[arg(long, value_name = "N", default_value_t = medallion::epoch::DEFAULT_MAX_EPOCH_EVENTS)]
    epoch_max_events: u64,
    /// Event-time window of the quality aggregates, in seconds.
    #[arg(long, default_value_t = 60)]
    window_s: i64,
    /// Deduplication horizon in minutes of event time. Each partition's clock is the newest event
    /// time it has delivered; a copy of an event_id is dropped when its partition's clock has
    /// moved at most this far since the first delivery (however late the event's own time),
    /// and kept as new once it moved more than this plus an eighth. State older than that is
    /// dropped once every partition that delivered it has moved on (docs/src/deduplication.md).
    #[arg(long, default_value_t = 120)]
    horizon_min: i64,
    /// How late (minutes of event time) rows are expected: a view's group (a station-hour, a day
    /// of quality windows) leaves memory once its writer has seen groups this much newer, and is
    /// read back from its file if a later row reaches it (counted in
    /// medallion_view_groups_reloaded). Bounds memory, never changes results. Default: the
    /// horizon.
    #[arg(long, value_name = "MIN")]
    lateness_min: Option<i64>,
    /// Largest number of events per batch.
    #[arg(long, default_value_t = 16384)]
    batch_size: usize,
    /// How long a partition's small reads (a slow or paced stream) are gathered into one batch
    /// before processing, in milliseconds, once they hold 1,024 events; fewer wait for the end
    /// of the epoch, a full batch goes at once. Every batch has a fixed cost, so this trades a
    /// little latency for much less CPU. 0 turns gathering off.
    #[arg(long, value_name = "MS", default_value_t = medallion::pipeline::DEFAULT_LINGER.as_millis() as u64)]
    batch_linger_ms: u64,
    /// Views to maintain, each a Delta table kept equal to the view after every commit:
    /// comma-separated from station_latest, station_hourly, quality_by_window; or `all`, `none`.
    #[arg(long, default_value = "all")]
    views: medallion::views::ViewList,
    /// Also write each view's change feed (<view>_changes: `_change_type` insert/update/delete,
    /// `_epoch`).
    #[arg(long)]
    change_feed: bool,
    /// Print plain progress lines instead of a progress bar.
    #[arg(long)]
    plain_progress: bool,
    /// Serve Prometheus metrics (GET /metrics, OpenMetrics text) and GET /healthz on this
    /// address, e.g. 127.0.0.1:9464; process i of a cluster uses port + i.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// /healthz answers 503 once no table was committed for this many seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    health_stale_secs: u64,
    /// Compact the append-only tables (bronze, silver, quarantine, change feeds) this often
    /// while running, e.g. 10m: files older than a minute are merged (see `medallion optimize`).
    #[arg(long, value_name = "DURATION", value_parser = medallion::maintenance::parse_duration)]
    compact_every: Option<std::time::Duration>,
    /// With --compact-every: after each compaction, vacuum every table, deleting the files
    /// removed from it longer ago than this and the log entries older than an hour (or this, if
    /// shorter; see `medallion vacuum`), so that a long run fills its storage neither with
    /// replaced files nor with commit files, and its commits do not slow down listing them.
    /// Versions older than that can no longer be read. At least 1h unless
    /// --vacuum-force; under 1h the tables the run creates also keep tombstones only this long.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = medallion::maintenance::parse_duration)]
    vacuum_retention: std::time::Duration,
    /// Accept a --vacuum-retention under 1h (at least 1m): a reader of an older version may
    /// find its files gone. For test runs and soaks that should reach their steady state soon.
    #[arg(long)]
    vacuum_force: bool,
    /// On SIGTERM or SIGINT the run stops reading, commits the epochs it read, writes its summary
    /// and _metrics/ and exits 0; if that takes longer than this many seconds (or on a second
    /// signal) it exits at once with 130, losing nothing (a restart reads the rest again).
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    shutdown_timeout: u64,
}

/// The cores this process may use (1 where that cannot be told).
fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Args)]
struct ProduceArgs {
    /// Event Hubs connection string (never logged), e.g. the one `medallion emulator` prints.
    #[arg(long, env = "EVENTHUB_CONNECTION_STRING", hide_env_values = true)]
    connection_string: String,
    /// Event hub name (default: the connection string's EntityPath).
    #[arg(long)]
    hub: Option<String>,
    /// Number of reference-workload events to generate and send.
    #[arg(long, conflicts_with = "file")]
    events: Option<u64>,
    /// A JSON-lines file to send, one body per line.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Generator: number of stations.
    #[arg(long, default_value_t = 10_000)]
    stations: u32,
    /// Generator: random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Events per second (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
}

#[derive(Args)]
struct GenerateArgs {
    /// Number of events.
    #[arg(long, default_value_t = 10_000)]
    events: u64,
    /// Number of stations (as `run --source generator`'s default, so that the same seed gives the
    /// same events either way).
    #[arg(long, default_value_t = 10_000)]
    stations: u32,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Time of generation, RFC 3339.
    #[arg(long, default_value = "2026-11-26T12:00:00Z")]
    now: String,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
}

fn parse_now(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .map_err(|e| anyhow::anyhow!("--now '{s}' is not an RFC 3339 time: {e}"))
}

/// `--vacuum-retention`, checked: at least a minute (an epoch's files not yet committed), and at
/// least [`medallion::maintenance::MIN_RETENTION`] unless `--vacuum-force`.
fn vacuum_retention(a: &RunArgs) -> anyhow::Result<std::time::Duration> {
    let r = a.vacuum_retention;
    if r < std::time::Duration::from_secs(60) {
        anyhow::bail!(
            "--vacuum-retention {} is under a minute: files a running epoch has written but not yet committed would be deleted",
            humantime::format_duration(r)
        )
    }
    if r < medallion::maintenance::MIN_RETENTION && !a.vacuum_force {
        anyhow::bail!(
            "--vacuum-retention {} is under the minimum of {}: readers of older versions may still need those files (pass --vacuum-force to accept that)",
            humantime::format_duration(r),
            humantime::format_duration(medallion::maintenance::MIN_RETENTION)
        )
    }
    Ok(r)
}

fn run_config(a: RunArgs) -> anyhow::Result<RunConfig> {
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
            SourceSpec::EventHub(medallion::pipeline::EventHubSpec {
                connection_string: a.connection_string.clone().unwrap_or_default(),
                hub: a.hub.clone(),
                consumer_group: Some(a.consumer_group.clone()),
                start: if a.start == "latest" {
                    medallion::eventhub::StartPosition::Latest
                } else {
                    medallion::eventhub::StartPosition::Earliest
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
        checks: a.checks,
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
        batch_size: a.batch_size,
        batch_linger: std::time::Duration::from_millis(a.batch_linger_ms),
        timely,
        progress: if a.plain_progress || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressMode::Lines
        } else {
            ProgressMode::Bar
        },
        views: a.views.0,
        change_feed: a.change_feed,
        custom_views: Default::default(),
        metrics_addr: a.metrics_addr,
        health_stale: std::time::Duration::from_secs(a.health_stale_secs.max(1)),
        compact_every: a.compact_every,
        vacuum_retention,
        stop: medallion::pipeline::Stop::on_signals(std::time::Duration::from_secs(
            a.shutdown_timeout,
        ))
        .map_err(|e| anyhow::anyhow!("cannot install the SIGTERM/SIGINT handlers: {e}"))?,
    })
}

fn inspect(out: &Output) -> anyhow::Result<()> {
    if let Some(dir) = out.local_dir() {
        if !dir.is_dir() {
            anyhow::bail!("{} is not a directory", dir.display());
        }
    }
    medallion::outln!(
        "{:<24} {:>8} {:>8} {:>12}",
        "table",
        "version",
        "files",
        "rows"
    );
    let names = out.table_names()?;
    // The core tables first (marked when missing), then views, change feeds, dataset checks.
    let core: Vec<&str> = TableKind::ALL.iter().map(|k| k.name()).collect();
    let others = names.iter().filter(|n| !core.contains(&n.as_str()));
    for name in core.iter().copied().chain(others.map(String::as_str)) {
        if !names.iter().any(|n| n == name) {
            medallion::outln!("{:<24} {:>8} {:>8} {:>12}", name, "-", "-", "(missing)");
            continue;
        }
        let t = read_named_table(out, name)?;
        medallion::outln!(
            "{:<24} {:>8} {:>8} {:>12}",
            name,
            t.version,
            t.files,
            t.num_rows()
        );
    }
    Ok(())
}

fn produce(a: ProduceArgs) -> anyhow::Result<()> {
    use medallion::eventhub::BlockingProducer;
    if let Some(r) = a.rate {
        if !(r.is_finite() && r > 0.0) {
            anyhow::bail!("--rate must be a positive number of events per second");
        }
    }
    let producer = BlockingProducer::connect(&a.connection_string, a.hub.as_deref())
        .map_err(|e| anyhow::anyhow!("cannot connect to the event hub: {e}"))?;
    let total = match (&a.file, a.events) {
        (Some(_), _) => None,
        (None, n) => Some(n.unwrap_or(10_000)),
    };
    let bar = medallion::metrics::progress::producer_bar(total);
    let progress = |sent: u64| bar.set_position(sent);
    let (stats, read_error) = match &a.file {
        Some(path) => {
            let (lines, slot) = medallion::workload::keyed_lines(path)?;
            (producer.send_all(lines, a.rate, progress), Some(slot))
        }
        None => {
            let cfg = medallion::workload::WorkloadConfig {
                events: total.unwrap_or(0),
                stations: a.stations,
                seed: a.seed,
                now_ms: chrono::Utc::now().timestamp_millis(),
                ..Default::default()
            };
            cfg.validate()?;
            (
                producer.send_all(medallion::workload::keyed_events(&cfg), a.rate, progress),
                None,
            )
        }
    };
    bar.finish_and_clear();
    producer.close();
    let stats = stats.map_err(|e| anyhow::anyhow!("sending failed: {e}"))?;
    if let Some(e) = read_error.and_then(|s| s.lock().ok().and_then(|mut e| e.take())) {
        anyhow::bail!("stopped after {} events: {e}", stats.events);
    }
    medallion::outln!(
        "sent {} events ({:.1} MB) in {:.2} s: {:.0} events/s",
        stats.events,
        stats.bytes as f64 / 1e6,
        stats.seconds,
        stats.events_per_sec
    );
    Ok(())
}

/// Log lines (warnings, errors, plain progress) to stderr; `RUST_LOG` filters them as
/// `target=level,...` (default: medallion's own at info, its dependencies' at warn).
fn init_logging(format: LogFormat) {
    use tracing::Level;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let default = || {
        Targets::new()
            .with_target("medallion", Level::INFO)
            .with_target("eventhub_emulator", Level::INFO)
            // delta-rs' kernel logs an error when it probes a table that does not exist yet,
            // which is how every table is created; real failures reach us as errors anyway.
            .with_target("buoyant_kernel::snapshot", LevelFilter::OFF)
            .with_default(Level::WARN)
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) => spec.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!("warning: RUST_LOG '{spec}' is not a valid filter ({e}); using the default");
            default()
        }),
        Err(_) => default(),
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let text = (format == LogFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
    });
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
    });
    tracing_subscriber::registry()
        .with(text)
        .with(json)
        .with(filter)
        .init();
}

/// glibc raises its mmap threshold as large blocks are freed (up to 32 MiB), after which the
/// pipeline's multi-MiB batch buffers come from the heap, where freed ones fragment it and are not
/// returned: a fixed 4 MiB threshold took peak RSS on the standard file from 494 to 419 MB at the
/// same throughput (see bench-results/HISTORY.md). Library users keep their own allocator settings.
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation parameters; called before other threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// Returns the heap's free pages to the system every few seconds. A long run's live heap is flat
/// (heaptrack over 2M to 20M events: ~94 MB between epochs either way), but glibc keeps the free
/// pages between live blocks, so RSS crept up over the run (242 to 287 MB over 20M events) with
/// nothing new held. `malloc_trim` releases them (madvise) without moving anything.
fn spawn_heap_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _ = std::thread::Builder::new()
        .name("heap-trim".into())
        .spawn(|| loop {
            std::thread::sleep(std::time::Duration::from_secs(2));
            // SAFETY: malloc_trim is thread-safe; it only releases free pages.
            unsafe {
                libc::malloc_trim(0);
            }
        });
}

fn main() -> ExitCode {
    fix_mmap_threshold();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result: anyhow::Result<u8> = match cli.command {
        Command::Run(args) => run_config(args).and_then(|cfg| {
            spawn_heap_trimmer();
            let is_primary = match &cfg.timely {
                timely::CommunicationConfig::Cluster { process, .. } => *process == 0,
                _ => true,
            };
            let summary = run(cfg)?;
            if is_primary {
                medallion::write_stdout(format_args!("{}", summary.render()));
            }
            Ok(0)
        }),
        Command::Check(args) => medallion::quality::cli::run_check_command(&args).map(|c| c as u8),
        Command::Inspect { dir, mut out } => {
            if let Some(d) = dir {
                out.out = d;
            }
            out.output()
                .map_err(anyhow::Error::from)
                .and_then(|o| inspect(&o))
                .map(|_| 0)
        }
        Command::Optimize(a) => medallion::maintenance::cli::optimize(&a)
            .map(|_| 0)
            .map_err(anyhow::Error::from),
        Command::Vacuum(a) => medallion::maintenance::cli::vacuum(&a)
            .map(|_| 0)
            .map_err(anyhow::Error::from),
        Command::Produce(a) => produce(a).map(|_| 0),
        Command::Emulator(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| {
                rt.block_on(medallion::emulator::run_cli(args))
                    .map_err(anyhow::Error::from)
            })
            .map(|_| 0),
        Command::Generate(a) => parse_now(&a.now).and_then(|now| {
            let cfg = medallion::workload::WorkloadConfig {
                events: a.events,
                stations: a.stations,
                seed: a.seed,
                now_ms: now.timestamp_millis(),
                ..Default::default()
            };
            let meta = medallion::workload::write_jsonl(&cfg, &a.out)?;
            eprintln!("wrote {} events to {}", meta.events, a.out.display());
            Ok(0)
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
