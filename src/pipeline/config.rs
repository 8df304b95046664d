//! The run configuration: where events come from, where tables go, how epochs are cut, which
//! views are kept. Buildable in code (`RunConfig { .., ..Default::default() }`) or from the
//! command line (`medallion run`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::epoch::EpochPolicy;
use crate::event::EventSchema;
use crate::eventhub::StartPosition;
use crate::storage::Output;
use crate::views::{CustomViews, ViewKind};

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

/// How a run shows its progress (on stderr, from process 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A progress bar (drawn only when stderr is a terminal).
    #[default]
    Bar,
    /// A plain line every 2 s (for logs and CI).
    Lines,
    /// Nothing.
    Off,
}

/// The tables rewritten in place are written every this many epochs by default
/// (`run --view-every`):
/// about every 10 s under the default latency budget at a low rate. Each write rewrites every
/// group changed since the last, so a view's cost is paid once per write, not per epoch.
pub const DEFAULT_VIEW_EVERY: u64 = 10;

/// Everything a run needs; buildable in code (see `examples/`) or from the command line.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub source: SourceSpec,
    /// Generator: events, stations, seed.
    pub events: u64,
    pub stations: u32,
    pub seed: u64,
    /// Generator: events per second in all (`None`: as fast as the pipeline reads); enqueued
    /// times are then the wall-clock release times.
    pub rate: Option<f64>,
    /// Number of partitions the source is spread over.
    pub partitions: u32,
    /// Where the tables go (a local directory or an object-store URL, see [`Output`]): one
    /// Delta table per subdirectory, plus `_metrics/`.
    pub out: Output,
    /// The event the bodies carry (fields, id, time, key): the reference weather event unless a
    /// pipeline file declares another.
    pub event: Arc<EventSchema>,
    /// Checks file (YAML/JSON, DQX format); `None` = the reference checks compiled in.
    pub checks: Option<PathBuf>,
    /// Checks given as text (a pipeline file's inline `checks:`); they take precedence over
    /// `checks`.
    pub inline_checks: Option<String>,
    /// "Now" for time-dependent rules; `None` = the file's `.meta.json` `now`, else the clock.
    pub now: Option<DateTime<Utc>>,
    /// When epochs end (each ends in one Delta commit per table).
    pub epoch: EpochPolicy,
    pub window_ms: i64,
    pub horizon_ms: i64,
    /// How far (event time, ms) a view's watermark may pass a group (a station-hour, a day of
    /// quality windows) before the group leaves memory; a late row reads it back from its file.
    /// `None`: the deduplication horizon.
    pub lateness_ms: Option<i64>,
    /// The tables rewritten in place (views, dataset checks, quality counts) are written at
    /// every epoch that is a multiple of this (and at the run's last): between, they lag silver
    /// by at most this many epochs, and each write pays for all of them. 1: at every epoch. See
    /// [`DEFAULT_VIEW_EVERY`].
    pub view_every: u64,
    /// Largest number of events in one batch.
    pub batch_size: usize,
    /// How long a partition's reads smaller than a batch are gathered before processing
    /// ([`super::FeedOptions::linger`]).
    pub batch_linger: Duration,
    /// Timely's communication set-up: threads, processes, this process, hosts.
    pub timely: timely::CommunicationConfig,
    pub progress: ProgressMode,
    /// The views to maintain (each its own Delta table).
    pub views: Vec<ViewKind>,
    /// Also write each view's change feed (`<view>_changes`).
    pub change_feed: bool,
    /// Views of the library user's own, each written to its own table like the built-in ones.
    pub custom_views: CustomViews,
    /// Serve `GET /metrics` and `GET /healthz` here (process `i` of a cluster on port + i).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// `/healthz` answers 503 once no table was committed for this long.
    pub health_stale: std::time::Duration,
    /// Compact the append-only tables this often during the run (process 0), then vacuum every
    /// table.
    pub compact_every: Option<Duration>,
    /// With `compact_every`: the vacuum deletes files removed longer ago than this, and log
    /// entries older than this. The CLI refuses less than [`crate::maintenance::MIN_RETENTION`]
    /// without `--vacuum-force`: readers of older versions lose their files. The tables the run
    /// creates keep tombstones this long if it is under an hour.
    pub vacuum_retention: Duration,
    /// Checkpoint each table's Delta log this often, once it has
    /// [`crate::sink::delta::CHECKPOINT_MIN_COMMITS`] commits since its last checkpoint (sooner
    /// when its log grows large); zero: every that many commits. See
    /// [`crate::sink::delta::DEFAULT_CHECKPOINT_INTERVAL`].
    pub checkpoint_interval: Duration,
    /// Requesting it ends the run cleanly: the workers stop reading, the epochs read are
    /// committed and the run returns its summary ([`super::Stop::on_signals`] requests it on
    /// SIGTERM/SIGINT).
    pub stop: super::Stop,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            source: SourceSpec::Generator,
            events: 1_000_000,
            stations: 10_000,
            seed: 42,
            rate: None,
            partitions: 8,
            out: Output::local(PathBuf::from("medallion-data")),
            event: EventSchema::weather(),
            checks: None,
            inline_checks: None,
            now: None,
            epoch: EpochPolicy::default(),
            window_ms: 60_000,
            horizon_ms: 2 * 3_600_000,
            lateness_ms: None,
            view_every: DEFAULT_VIEW_EVERY,
            checkpoint_interval: crate::sink::delta::DEFAULT_CHECKPOINT_INTERVAL,
            batch_size: 16384,
            batch_linger: super::DEFAULT_LINGER,
            timely: timely::CommunicationConfig::Thread,
            progress: ProgressMode::default(),
            views: ViewKind::ALL.to_vec(),
            change_feed: false,
            custom_views: CustomViews::default(),
            metrics_addr: None,
            health_stale: std::time::Duration::from_secs(60),
            compact_every: None,
            vacuum_retention: crate::maintenance::VacuumOptions::default().retention,
            stop: super::Stop::default(),
        }
    }
}

/// Where this process stands in the run: (worker threads per process, this process's index,
/// number of processes).
pub fn process_info(cfg: &timely::CommunicationConfig) -> (usize, usize, usize) {
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
