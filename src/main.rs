//! The `medallion` command line: every command calls library code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use medallion::maintenance::cli::OutArgs;
use medallion::pipeline::cli::{file_args, parse_now, run_config, RunArgs};
use medallion::pipeline::file::ChecksSource;
use medallion::pipeline::run;
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
    #[command(args_override_self = true)]
    Run(RunArgs),
    /// Check a pipeline file without running it: every problem with its line and key, exit 2.
    Validate {
        /// The pipeline file (YAML).
        #[arg(long, value_name = "FILE")]
        pipeline: PathBuf,
    },
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
    /// partition key = each body's station_id (or --key, or the key a --pipeline file declares),
    /// in batches of up to 1 MB.
    Produce(ProduceArgs),
    /// Run a local Event Hubs–compatible AMQP 1.0 endpoint (plain AMQP and TLS on one port);
    /// prints the connection string to use, then serves until Ctrl-C.
    Emulator(medallion::emulator::EmulatorArgs),
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
    /// With --file: the body member whose value is each event's partition key (a string, number
    /// or boolean; default station_id). Events with the same key go to the same partition.
    #[arg(long, requires = "file", value_name = "FIELD")]
    key: Option<String>,
    /// With --file: the partition key is the key field the pipeline file's event declares (none
    /// declared: no partition key, the hub spreads the events).
    #[arg(long, requires = "file", conflicts_with = "key", value_name = "FILE")]
    pipeline: Option<PathBuf>,
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
    // The partition key, from a pipeline file read (and checked) before connecting.
    let pipeline = (a.pipeline.as_deref())
        .map(medallion::pipeline::file::PipelineFile::load)
        .transpose()?;
    let scan = medallion::workload::KeyScan::for_key(match (&a.key, &pipeline) {
        (Some(field), _) => Some(field.as_str()),
        (None, Some(p)) => p.event.key_name(),
        (None, None) => Some("station_id"),
    });
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
            let (lines, slot) = medallion::workload::keyed_lines(path, scan)?;
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
/// same throughput (see bench-results/HISTORY.md). Fixing it also fixes glibc's trim threshold at
/// 128 KiB, so that every free leaving that much at the top of an arena handed the pages back
/// and the next epoch's buffers faulted them in again (~530K page faults on the standard file, 9%
/// of the CPU at 5,000 events/s): a 16 MiB trim threshold keeps them, and the heap trimmer below
/// returns what stays free. Library users keep their own allocator settings.
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation parameters; called before other threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
    }
}

/// Returns the heap's free pages to the system every ten seconds. A long run's live heap is flat
/// (heaptrack over 2M to 20M events: ~94 MB between epochs either way), but glibc keeps the free
/// pages between live blocks, so RSS crept up over the run (242 to 287 MB over 20M events) with
/// nothing new held. `malloc_trim` releases them (madvise) without moving anything. Not more
/// often: the pages it releases are those the next epochs fault in again (every 2 s: 26K page
/// faults in 30 s at 5,000 events/s, every 10 s: 13K).
fn spawn_heap_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _ = std::thread::Builder::new()
        .name("heap-trim".into())
        .spawn(|| loop {
            std::thread::sleep(std::time::Duration::from_secs(10));
            // SAFETY: malloc_trim is thread-safe; it only releases free pages.
            unsafe {
                libc::malloc_trim(0);
            }
        });
}

/// `medallion validate`: 0 and a summary when the file is valid, 2 and every problem if not.
fn validate(path: &std::path::Path) -> anyhow::Result<u8> {
    match file_args::validate(path, &Cli::command()) {
        Ok(f) => {
            let e = &f.event;
            medallion::outln!(
                "{}: valid: {} fields (id: {}, time: {}, key: {}), {}, {} views, {} run settings",
                path.display(),
                e.fields().len(),
                e.id_name().unwrap_or("none"),
                e.time_name().unwrap_or("enqueued time"),
                e.key_name().unwrap_or("none"),
                match &f.checks {
                    None => "no checks".to_string(),
                    Some(ChecksSource::File(p)) => format!("checks from {}", p.display()),
                    Some(ChecksSource::Inline(_)) => "inline checks".to_string(),
                    Some(ChecksSource::Builtin) => "the built-in weather checks".to_string(),
                },
                f.views.len(),
                f.run.len()
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(2)
        }
    }
}

fn main() -> ExitCode {
    fix_mmap_threshold();
    let args = match file_args::with_file_settings(std::env::args_os().collect(), &Cli::command()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = match Cli::command().try_get_matches_from(args) {
        Ok(m) => Cli::from_arg_matches(&m).unwrap_or_else(|e| e.exit()),
        Err(e) => e.exit(),
    };
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
        Command::Validate { pipeline } => validate(&pipeline),
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
