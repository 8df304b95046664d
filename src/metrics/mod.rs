//! Run telemetry: latency histograms (HdrHistogram), throughput per second of run, the run
//! summary (`summary.json`), `.hgrm` percentile files, peak RSS and the progress display.
//! Stages record one value per batch or per commit, never per record.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

pub mod progress;

/// The histograms of one run, shared by the workers of a process.
pub struct RunMetrics {
    pub started: Instant,
    /// Events and body bytes read by this process's workers.
    pub events_read: AtomicU64,
    pub bytes_read: AtomicU64,
    /// Per-batch processing latency (parse + rules + routing), microseconds.
    pub batch_latency_us: Mutex<Histogram<u64>>,
    /// Delta commit latency per table and epoch, microseconds.
    pub commit_latency_us: Mutex<Histogram<u64>>,
    /// End-to-end latency (enqueued, or read for sources without enqueue times → committed),
    /// milliseconds, weighted by events.
    pub e2e_latency_ms: Mutex<Histogram<u64>>,
    /// Events committed to bronze in each second of the run.
    pub per_second: Mutex<Vec<u64>>,
    /// Events and body bytes committed (all processes; known on the committer's process).
    pub events_committed_total: AtomicU64,
    pub bytes_committed_total: AtomicU64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

impl Default for RunMetrics {
    fn default() -> Self {
        RunMetrics {
            started: Instant::now(),
            events_read: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            batch_latency_us: Mutex::new(histogram()),
            commit_latency_us: Mutex::new(histogram()),
            e2e_latency_ms: Mutex::new(histogram()),
            per_second: Mutex::new(Vec::new()),
            events_committed_total: AtomicU64::new(0),
            bytes_committed_total: AtomicU64::new(0),
        }
    }
}

impl RunMetrics {
    /// Records that a batch of `events` took `micros` to process.
    pub fn batch_processed(&self, events: u64, bytes: u64, micros: u64) {
        self.events_read.fetch_add(events, Ordering::Relaxed);
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
        let _ = self
            .batch_latency_us
            .lock()
            .expect("metrics lock")
            .record(micros.max(1));
    }

    /// Records a commit of one table that took `micros`.
    pub fn committed(&self, micros: u64) {
        let _ = self
            .commit_latency_us
            .lock()
            .expect("metrics lock")
            .record(micros.max(1));
    }

    /// Records that `events` read at `ingest` (or enqueued then) are now committed.
    pub fn end_to_end(&self, latency_ms: u64, events: u64) {
        let _ = self
            .e2e_latency_ms
            .lock()
            .expect("metrics lock")
            .record_n(latency_ms.max(1), events);
    }

    /// Adds `events` (of `bytes` body bytes) committed, from any process of the cluster, to the
    /// throughput of the current second of the run.
    pub fn events_committed(&self, events: u64, bytes: u64) {
        self.events_committed_total
            .fetch_add(events, Ordering::Relaxed);
        self.bytes_committed_total
            .fetch_add(bytes, Ordering::Relaxed);
        let sec = self.started.elapsed().as_secs() as usize;
        let mut v = self.per_second.lock().expect("metrics lock");
        if v.len() <= sec {
            v.resize(sec + 1, 0);
        }
        v[sec] += events;
    }
}

/// p50/p90/p99/p99.9/max of a histogram.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Writes `h` in HdrHistogram's percentile-distribution text format (`.hgrm`), values scaled
/// by `scale` (e.g. 1000.0 to print microseconds as milliseconds).
pub fn write_hgrm(h: &Histogram<u64>, f: &mut impl Write, scale: f64) -> std::io::Result<()> {
    writeln!(
        f,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    for v in h.iter_quantiles(1) {
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / scale;
        let count = v.count_since_last_iteration();
        let _ = count;
        if q < 1.0 {
            writeln!(
                f,
                "{:>12.3} {:>14.12} {:>10} {:>14.2}",
                value,
                q,
                v.count_since_last_iteration(),
                1.0 / (1.0 - q)
            )?;
        } else {
            writeln!(
                f,
                "{:>12.3} {:>14.12} {:>10}",
                value,
                q,
                v.count_since_last_iteration()
            )?;
        }
    }
    writeln!(
        f,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / scale,
        h.stdev() / scale
    )?;
    writeln!(
        f,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.max() as f64 / scale,
        h.len()
    )?;
    writeln!(
        f,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values()
    )?;
    Ok(())
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
