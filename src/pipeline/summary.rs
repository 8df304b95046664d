//! What a run did: the summary printed at the end and written to `<out>/_metrics/summary.json`,
//! with the HdrHistogram percentile files beside it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::metrics::{write_hgrm, Percentiles, RunMetrics};
use crate::quality::RuleSet;
use crate::storage::{Output, StorageError};

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
    /// When the run was stopped on request (SIGTERM, SIGINT, [`super::Stop`]): the events this
    /// process had read, every one of them committed.
    pub stopped_after_reading: Option<u64>,
}

pub(crate) fn rule_names_of(rules: &RuleSet, r: u32) -> String {
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

/// Writes the summary and the latency histograms to `<out>/_metrics/`.
pub(crate) fn write_metrics(
    out: &Output,
    metrics: &RunMetrics,
    summary: &RunSummary,
) -> Result<(), StorageError> {
    let hgrm = |h: &std::sync::Mutex<hdrhistogram::Histogram<u64>>, scale: f64| {
        let mut bytes = Vec::new();
        write_hgrm(&h.lock().expect("metrics"), &mut bytes, scale).expect("writes to memory");
        bytes
    };
    let files = [
        (
            "batch_latency_ms.hgrm",
            hgrm(&metrics.batch_latency_us, 1000.0),
        ),
        (
            "commit_latency_ms.hgrm",
            hgrm(&metrics.commit_latency_us, 1000.0),
        ),
        (
            "end_to_end_latency_ms.hgrm",
            hgrm(&metrics.e2e_latency_ms, 1.0),
        ),
        (
            "summary.json",
            serde_json::to_string_pretty(summary)
                .expect("summary serialises")
                .into_bytes(),
        ),
    ];
    for (name, bytes) in files {
        out.put_file(&format!("_metrics/{name}"), bytes)?;
    }
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
        if let Some(n) = self.stopped_after_reading {
            let _ = writeln!(
                s,
                "  stopped on request after reading {n} events in this process, all committed"
            );
        }
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
