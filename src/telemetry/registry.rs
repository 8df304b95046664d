//! The process's Prometheus metrics ([`Metrics::global`]), registered once with
//! `prometheus-client` and encoded as OpenMetrics text for `GET /metrics`. Only the typed events
//! of [`crate::telemetry::events`] write to them.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, AtomicU64},
        Mutex, OnceLock,
    },
    time::Instant,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

/// `{partition}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub partition: String,
}

/// `{table}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabel {
    pub table: String,
}

/// `{outcome}`: `valid`, `warning` or `error`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

/// `{rule, criticality}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    pub rule: String,
    pub criticality: String,
}

/// `{rule}` (`all` for every rule together).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScoreLabel {
    pub rule: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn short_durations() -> Histogram {
    // 0.5 ms … 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn latencies() -> Histogram {
    // 10 ms … 164 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 15))
}

/// Where a partition stands, for the lag gauges.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LagState {
    pub last_enqueued: Option<i64>,
    pub committed: Option<i64>,
    /// When the partition was last seen with nothing left to commit (ms since the Unix epoch).
    pub caught_up_ms: Option<i64>,
}

/// Every metric `GET /metrics` serves; docs/src/monitoring.md lists them.
pub struct Metrics {
    registry: Registry,
    pub events_read: Family<PartitionLabel, Counter>,
    pub rows_committed: Family<TableLabel, Counter>,
    pub parse_errors: Counter,
    pub dq_rows: Family<OutcomeLabel, Counter>,
    pub rule_evaluated: Family<RuleLabel, Counter>,
    pub rule_failed: Family<RuleLabel, Counter>,
    pub batch_duration: Histogram,
    pub commit_duration: Histograms<TableLabel>,
    pub end_to_end: Histogram,
    pub source_reconnects: Counter,
    /// Data files merged away by compaction.
    pub compacted_files: Counter,
    pub commit_errors: Family<TableLabel, Counter>,
    /// View groups read back from their files (late rows, or first changes after a restart).
    pub groups_reloaded: Family<TableLabel, Counter>,
    /// View updates (one per changed key) that went to groups read back from their files.
    pub late_updates: Family<TableLabel, Counter>,
    /// View groups in memory, summed over the writers of this process.
    pub groups_held: Family<TableLabel, Gauge>,
    pub table_version: Family<TableLabel, Gauge>,
    pub last_commit: Family<TableLabel, FloatGauge>,
    pub watermark: FloatGauge,
    pub lag_events: Family<PartitionLabel, Gauge>,
    pub lag_seconds: Family<PartitionLabel, FloatGauge>,
    pub dq_score: Family<ScoreLabel, FloatGauge>,
    pub resident_memory: Gauge,
    pub(crate) lag: Mutex<HashMap<u32, LagState>>,
    /// (evaluated, failed) per rule name, for the score gauges.
    pub(crate) rule_totals: Mutex<HashMap<String, (u64, u64)>>,
    /// Last commit of any table, ms since the Unix epoch (0: none yet).
    pub(crate) last_commit_ms: AtomicI64,
    pub(crate) started: Instant,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

impl Metrics {
    /// The metrics of this process.
    pub fn global() -> &'static Metrics {
        GLOBAL.get_or_init(Metrics::new)
    }

    fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            events_read: Family::default(),
            rows_committed: Family::default(),
            parse_errors: Counter::default(),
            dq_rows: Family::default(),
            rule_evaluated: Family::default(),
            rule_failed: Family::default(),
            batch_duration: short_durations(),
            commit_duration: Family::new_with_constructor(short_durations),
            end_to_end: latencies(),
            source_reconnects: Counter::default(),
            compacted_files: Counter::default(),
            commit_errors: Family::default(),
            groups_reloaded: Family::default(),
            late_updates: Family::default(),
            groups_held: Family::default(),
            table_version: Family::default(),
            last_commit: Family::default(),
            watermark: FloatGauge::default(),
            lag_events: Family::default(),
            lag_seconds: Family::default(),
            dq_score: Family::default(),
            resident_memory: Gauge::default(),
            lag: Mutex::new(HashMap::new()),
            rule_totals: Mutex::new(HashMap::new()),
            last_commit_ms: AtomicI64::new(0),
            started: Instant::now(),
        };
        let r = &mut registry;
        r.register(
            "medallion_events_read",
            "Events read from the source",
            m.events_read.clone(),
        );
        r.register(
            "medallion_rows_committed",
            "Rows committed to Delta tables",
            m.rows_committed.clone(),
        );
        r.register(
            "medallion_parse_errors",
            "Event bodies that could not be parsed",
            m.parse_errors.clone(),
        );
        r.register(
            "medallion_dq_rows",
            "Rows by data-quality outcome",
            m.dq_rows.clone(),
        );
        r.register(
            "medallion_rule_evaluated",
            "Rows a rule was evaluated on",
            m.rule_evaluated.clone(),
        );
        r.register(
            "medallion_rule_failed",
            "Rows a rule failed on",
            m.rule_failed.clone(),
        );
        r.register(
            "medallion_batch_duration_seconds",
            "Time to process one batch",
            m.batch_duration.clone(),
        );
        r.register(
            "medallion_commit_duration_seconds",
            "Time of one Delta commit",
            m.commit_duration.clone(),
        );
        r.register(
            "medallion_end_to_end_latency_seconds",
            "Enqueued (or read) to committed, per event",
            m.end_to_end.clone(),
        );
        r.register(
            "medallion_compacted_files",
            "Data files merged into larger ones by compaction",
            m.compacted_files.clone(),
        );
        r.register(
            "medallion_source_reconnects",
            "Source connections or links reopened",
            m.source_reconnects.clone(),
        );
        r.register(
            "medallion_commit_errors",
            "Commits that failed",
            m.commit_errors.clone(),
        );
        r.register(
            "medallion_view_groups_reloaded",
            "View file groups read back from their files to take late rows (or first changes after a restart)",
            m.groups_reloaded.clone(),
        );
        r.register(
            "medallion_view_late_keys",
            "View keys changed in groups read back from their files",
            m.late_updates.clone(),
        );
        r.register(
            "medallion_view_groups_held",
            "View file groups held in memory (this process)",
            m.groups_held.clone(),
        );
        r.register(
            "medallion_delta_table_version",
            "Current Delta version of a table",
            m.table_version.clone(),
        );
        r.register(
            "medallion_last_commit_timestamp_seconds",
            "Unix time of a table's last commit",
            m.last_commit.clone(),
        );
        r.register(
            "medallion_watermark_timestamp_seconds",
            "Unix time of the newest event committed (enqueued or read time)",
            m.watermark.clone(),
        );
        r.register(
            "medallion_consumer_lag_events",
            "Events enqueued in a partition and not yet committed",
            m.lag_events.clone(),
        );
        r.register(
            "medallion_consumer_lag_seconds",
            "How long a partition has had events enqueued and not committed (0 when caught up)",
            m.lag_seconds.clone(),
        );
        r.register(
            "medallion_dq_score",
            "Share of evaluated rows without a failure, per rule and for all rules",
            m.dq_score.clone(),
        );
        r.register(
            "process_resident_memory_bytes",
            "Resident memory of this process",
            m.resident_memory.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The OpenMetrics text of every metric (`GET /metrics`).
    pub fn encode(&self) -> String {
        if let Some(rss) = resident_bytes() {
            self.resident_memory.set(rss as i64);
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Seconds since the last commit of any table (since start when none yet).
    pub fn seconds_since_commit(&self) -> f64 {
        let last = self
            .last_commit_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if last == 0 {
            return self.started.elapsed().as_secs_f64();
        }
        ((chrono::Utc::now().timestamp_millis() - last).max(0)) as f64 / 1000.0
    }
}

/// Resident memory of this process (Linux `VmRSS`).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
