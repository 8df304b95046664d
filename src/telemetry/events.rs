//! The typed telemetry events. Each is built where something happened (per batch, per commit,
//! per reconnect, per lag sample — never per record) and has one `emit` that updates the
//! process's Prometheus metrics, the run's own histograms (when it has a [`RunMetrics`]) and
//! writes one log line.

use std::{collections::BTreeMap, sync::atomic::Ordering, time::Duration};

use tracing::{debug, error, info, warn};

use crate::{
    metrics::RunMetrics,
    quality::RuleSet,
    sink::BatchRead,
    telemetry::registry::{
        LagState, Metrics, OutcomeLabel, PartitionLabel, RuleLabel, ScoreLabel, TableLabel,
    },
};

/// Rule names and criticalities by quality rule index (0 = `parse`), as the quality counts
/// number them.
#[derive(Debug, Clone, Default)]
pub struct RuleLabels(Vec<RuleLabel>);

impl RuleLabels {
    /// The labels of `rules` ([`RuleSet::rule_labels`]).
    pub fn of(rules: &RuleSet) -> Self {
        RuleLabels(
            rules
                .rule_labels()
                .into_iter()
                .map(|(rule, criticality)| RuleLabel { rule, criticality })
                .collect(),
        )
    }
}

/// A run starts: every labelled counter whose labels are known now (tables, partitions, rules,
/// outcomes) is exported at 0, so that dashboards and `rate()` have a series before the first
/// event or the first error. (Gauges such as a table's version or a partition's lag appear
/// once they are known: 0 would be a wrong value, not a missing one.)
#[derive(Debug)]
pub struct RunStarted<'a> {
    pub tables: &'a [String],
    pub partitions: &'a [u32],
    pub labels: &'a RuleLabels,
}

impl RunStarted<'_> {
    pub fn emit(&self) {
        let m = Metrics::global();
        for table in self.tables {
            let label = TableLabel {
                table: table.clone(),
            };
            let _ = m.commit_errors.get_or_create(&label);
            let _ = m.rows_committed.get_or_create(&label);
            let _ = m.groups_reloaded.get_or_create(&label);
            let _ = m.late_updates.get_or_create(&label);
        }
        for p in self.partitions {
            let label = PartitionLabel {
                partition: p.to_string(),
            };
            let _ = m.events_read.get_or_create(&label);
        }
        for rule in &self.labels.0 {
            let _ = m.rule_evaluated.get_or_create(rule);
            let _ = m.rule_failed.get_or_create(rule);
        }
        for outcome in ["valid", "warning", "error"] {
            let _ = m.dq_rows.get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            });
        }
        info!(
            tables = self.tables.len(),
            partitions = self.partitions.len(),
            rules = self.labels.0.len(),
            "run started"
        );
    }
}

/// One batch went through parse, rules and routing.
#[derive(Debug)]
pub struct BatchProcessed<'a> {
    pub partition: u32,
    pub events: u64,
    pub body_bytes: u64,
    pub duration: Duration,
    pub parse_errors: u64,
    /// Rows without a failed rule, rows with only warnings, rows with an error (quarantine).
    pub valid: u64,
    pub warning: u64,
    pub error: u64,
    /// (rule index, evaluated, failed), summed over windows.
    pub rules: &'a [(u32, i64, i64)],
    pub labels: &'a RuleLabels,
}

impl BatchProcessed<'_> {
    pub fn emit(&self, run: &RunMetrics) {
        run.batch_processed(
            self.events,
            self.body_bytes,
            self.duration.as_micros() as u64,
        );
        let m = Metrics::global();
        m.events_read
            .get_or_create(&PartitionLabel {
                partition: self.partition.to_string(),
            })
            .inc_by(self.events);
        m.parse_errors.inc_by(self.parse_errors);
        for (outcome, n) in [
            ("valid", self.valid),
            ("warning", self.warning),
            ("error", self.error),
        ] {
            if n > 0 {
                m.dq_rows
                    .get_or_create(&OutcomeLabel {
                        outcome: outcome.into(),
                    })
                    .inc_by(n);
            }
        }
        let mut totals = m.rule_totals.lock().unwrap_or_else(|e| e.into_inner());
        for &(rule, evaluated, failed) in self.rules {
            let Some(label) = self.labels.0.get(rule as usize) else {
                continue;
            };
            let (evaluated, failed) = (evaluated.max(0) as u64, failed.max(0) as u64);
            m.rule_evaluated.get_or_create(label).inc_by(evaluated);
            m.rule_failed.get_or_create(label).inc_by(failed);
            let t = totals.entry(label.rule.clone()).or_default();
            t.0 += evaluated;
            t.1 += failed;
            let score = 1.0 - t.1 as f64 / (t.0.max(1)) as f64;
            m.dq_score
                .get_or_create(&ScoreLabel {
                    rule: label.rule.clone(),
                })
                .set(score);
        }
        let all = (self.valid + self.warning + self.error).max(1);
        let t = totals.entry("all".into()).or_default();
        t.0 += all;
        t.1 += self.error;
        m.dq_score
            .get_or_create(&ScoreLabel { rule: "all".into() })
            .set(1.0 - t.1 as f64 / t.0.max(1) as f64);
        drop(totals);
        m.batch_duration.observe(self.duration.as_secs_f64());
        debug!(
            partition = self.partition,
            events = self.events,
            parse_errors = self.parse_errors,
            quarantined = self.error,
            micros = self.duration.as_micros() as u64,
            "batch processed"
        );
    }
}

/// One table's part of an epoch was committed.
#[derive(Debug)]
pub struct TableCommitted<'a> {
    pub table: &'a str,
    pub version: i64,
    /// Rows the commit appended (or rows the rewritten table now holds, for views).
    pub rows: u64,
    pub duration: Duration,
}

impl TableCommitted<'_> {
    pub fn emit(&self, run: &RunMetrics) {
        run.committed(self.duration.as_micros() as u64);
        let m = Metrics::global();
        let label = TableLabel {
            table: self.table.to_string(),
        };
        m.rows_committed.get_or_create(&label).inc_by(self.rows);
        m.commit_duration
            .get_or_create(&label)
            .observe(self.duration.as_secs_f64());
        m.table_version.get_or_create(&label).set(self.version);
        let now_ms = chrono::Utc::now().timestamp_millis();
        m.last_commit
            .get_or_create(&label)
            .set(now_ms as f64 / 1000.0);
        m.last_commit_ms.store(now_ms, Ordering::Relaxed);
        debug!(
            table = self.table,
            version = self.version,
            rows = self.rows,
            millis = self.duration.as_millis() as u64,
            "table committed"
        );
    }
}

/// An epoch is committed in every table: its events' latencies and the partitions' positions.
#[derive(Debug)]
pub struct EpochCommitted<'a> {
    pub epoch: u64,
    /// The epoch's source batches (read or enqueued time, events, bytes).
    pub batches: &'a [BatchRead],
    /// Last committed sequence number per partition.
    pub positions: &'a BTreeMap<u32, i64>,
    /// How long the epoch's commits took, all tables together.
    pub duration: Duration,
}

/// Records `events` whose end-to-end latencies lie between `newest` and `oldest` (ms): spread
/// evenly over at most 8 points, so that a batch gathered over a whole epoch counts its events
/// neither all at its oldest nor all at its newest.
fn spread_latency(run: &RunMetrics, newest: u64, oldest: u64, events: u64) {
    let points = events.clamp(1, 8);
    let span = oldest - newest;
    for j in 0..points {
        let count = events / points + u64::from(j < events % points);
        if count > 0 {
            run.end_to_end(oldest - span * (2 * j + 1) / (2 * points), count);
        }
    }
}

impl EpochCommitted<'_> {
    pub fn emit(&self, run: &RunMetrics) {
        let m = Metrics::global();
        let now = chrono::Utc::now().timestamp_millis();
        let mut newest = None::<i64>;
        let (mut events, mut body_bytes) = (0, 0);
        for &BatchRead {
            read_ms,
            last_read_ms,
            events: n,
            body_bytes: bytes,
        } in self.batches
        {
            events += n;
            body_bytes += bytes;
            let latency = (now - read_ms).max(0);
            let last_read_ms = last_read_ms.max(read_ms);
            let freshest = (now - last_read_ms).clamp(0, latency);
            spread_latency(run, freshest as u64, latency as u64, n);
            // One observation per batch (its events share the latency): never per record.
            m.end_to_end.observe(latency as f64 / 1000.0);
            newest = Some(newest.map_or(last_read_ms, |n| n.max(last_read_ms)));
        }
        run.events_committed(events, body_bytes);
        if let Some(newest) = newest {
            m.watermark.set(newest as f64 / 1000.0);
        }
        let mut lag = m.lag.lock().unwrap_or_else(|e| e.into_inner());
        for (&partition, &seq) in self.positions {
            let state = lag.entry(partition).or_default();
            state.committed = Some(seq);
            update_lag(m, partition, state, now);
        }
        debug!(
            epoch = self.epoch,
            events,
            millis = self.duration.as_secs_f64() * 1000.0,
            "epoch committed"
        );
    }
}

/// A commit failed: the run stops at the last committed epoch.
#[derive(Debug)]
pub struct CommitFailed<'a> {
    pub table: &'a str,
    pub error: &'a str,
}

impl CommitFailed<'_> {
    pub fn emit(&self) {
        Metrics::global()
            .commit_errors
            .get_or_create(&TableLabel {
                table: self.table.to_string(),
            })
            .inc();
        error!(table = self.table, error = self.error, "commit failed");
    }
}

/// A source reopened a connection or link.
#[derive(Debug)]
pub struct SourceReconnect<'a> {
    pub partition: &'a str,
    pub attempt: u32,
    pub delay: Duration,
    pub reason: &'a str,
    pub resume_at: i64,
}

impl SourceReconnect<'_> {
    pub fn emit(&self) {
        Metrics::global().source_reconnects.inc();
        warn!(
            partition = self.partition,
            attempt = self.attempt,
            delay_ms = self.delay.as_millis() as u64,
            reason = self.reason,
            "Event Hubs receiver failed; reconnecting at sequence number {}",
            self.resume_at
        );
    }
}

/// After a view's epoch: the groups its writer read back from their files, and those that left
/// memory (one event per writer and epoch).
#[derive(Debug)]
pub struct ViewGroupsMoved<'a> {
    pub table: &'a str,
    /// Groups read back from their files this epoch.
    pub reloaded: u64,
    /// Keys of those groups the epoch changed.
    pub updates: u64,
    /// Groups that left memory after the epoch.
    pub evicted: u64,
    /// Groups the writer holds now, and held after its previous epoch.
    pub held: u64,
    pub was_held: u64,
}

impl ViewGroupsMoved<'_> {
    pub fn emit(&self) {
        let m = Metrics::global();
        let label = TableLabel {
            table: self.table.to_string(),
        };
        m.groups_reloaded
            .get_or_create(&label)
            .inc_by(self.reloaded);
        m.late_updates.get_or_create(&label).inc_by(self.updates);
        m.groups_held
            .get_or_create(&label)
            .inc_by(self.held as i64 - self.was_held as i64);
        if self.reloaded > 0 {
            info!(
                table = self.table,
                groups = self.reloaded,
                updates = self.updates,
                held = self.held,
                "read back {} groups for {} late keys",
                self.reloaded,
                self.updates
            );
        } else if self.evicted > 0 {
            debug!(
                table = self.table,
                evicted = self.evicted,
                held = self.held,
                "groups left memory"
            );
        }
    }
}

/// Compaction merged small files of one table (`run --compact-every`).
#[derive(Debug)]
pub struct TableCompacted<'a> {
    pub table: &'a str,
    pub files_removed: usize,
    pub files_added: usize,
    pub bytes: u64,
}

impl TableCompacted<'_> {
    pub fn emit(&self) {
        Metrics::global()
            .compacted_files
            .inc_by(self.files_removed as u64);
        info!(
            table = self.table,
            files_removed = self.files_removed,
            files_added = self.files_added,
            bytes = self.bytes,
            "compacted {} files into {}",
            self.files_removed,
            self.files_added
        );
    }
}

/// The hub's end of a partition, sampled on a timer.
#[derive(Debug)]
pub struct LagSampled {
    pub partition: u32,
    /// Last enqueued sequence number (-1 for an empty partition).
    pub last_enqueued: i64,
}

impl LagSampled {
    pub fn emit(&self) {
        let m = Metrics::global();
        let now = chrono::Utc::now().timestamp_millis();
        let mut lag = m.lag.lock().unwrap_or_else(|e| e.into_inner());
        let state = lag.entry(self.partition).or_default();
        state.last_enqueued = Some(self.last_enqueued);
        update_lag(m, self.partition, state, now);
        debug!(
            partition = self.partition,
            last_enqueued = self.last_enqueued,
            "lag sampled"
        );
    }
}

fn update_lag(m: &Metrics, partition: u32, state: &mut LagState, now_ms: i64) {
    let Some(last) = state.last_enqueued else {
        return;
    };
    let behind = (last - state.committed.unwrap_or(-1)).max(0);
    if behind == 0 {
        state.caught_up_ms = Some(now_ms);
    }
    let since = state.caught_up_ms.unwrap_or(now_ms);
    let label = PartitionLabel {
        partition: partition.to_string(),
    };
    m.lag_events.get_or_create(&label).set(behind);
    let seconds = if behind == 0 {
        0.0
    } else {
        (now_ms - since).max(0) as f64 / 1000.0
    };
    m.lag_seconds.get_or_create(&label).set(seconds);
}
