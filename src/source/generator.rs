//! The `generator` source: the reference workload ([`crate::workload`]) spread over P partitions
//! by partition key, as Event Hubs would: a line whose body has a `station_id` string goes to
//! `partition_for_key(station_id)`, any other line (no key, null, empty, truncated before it,
//! garbage) to `partition_for_key(None, P, line index)` (round robin). This is exactly how
//! [`super::file::FileSource`] partitions the file [`crate::workload::write_jsonl`] writes for the
//! same configuration, so both sources give the same bodies in the same partitions.
//!
//! Within a partition: sequence numbers 0, 1, 2, ... in line order; offset = sequence number;
//! enqueued time = the line's send time. Bounded: `next_batch` returns `Ok(None)` after the last
//! line.
//!
//! Trade-off: each reader walks the whole line index space but only *routes* the lines of other
//! partitions, from 8 random words each (the generator's randomness is addressable per line, see
//! `workload::engine`) and a per-station partition table; only its own lines are rendered. A
//! reader therefore costs N × routing + N/P × rendering instead of the N × rendering of
//! filtering a full generator. Measured (release, one busy shared core): the large scale point
//! (20M lines, 100,000 stations, 32 partitions) takes about 1.3 s per partition reader (routing
//! ≈ 45 ns/line, rendering its 625K lines ≈ 1 µs each, station table cache misses included),
//! i.e. ~40 CPU-s for all 32 readers, against ~10 s for one sequential generator; a reader
//! delivers ~0.5M events/s of its own partition. Opening at sequence number `k` re-routes the
//! lines before the k-th of the partition (O(N) routing, no rendering), and yields exactly the
//! suffix.
//!
//! Paced ([`GeneratorSource::with_rate`]): line `i` is released `i / rate` seconds after the
//! first read of any reader, and its enqueued time is that wall-clock instant, so that the
//! end-to-end latency (enqueued → committed) of a paced run is the real one. A reader returns an
//! empty batch while its next line is not yet due.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::{
    partition_for_key, PartitionId, PartitionReader, PartitionedSource, RawBatch, SequenceNumber,
    SourceError,
};
use crate::workload::engine::{Core, Route, Stations};
use crate::workload::WorkloadConfig;

/// The reference workload as a partitioned, bounded source.
pub struct GeneratorSource {
    cfg: WorkloadConfig,
    partitions: u32,
    core: Core,
    /// Partition of each station's (valid) id.
    station_partition: Arc<Vec<u32>>,
    pace: Option<Arc<Pace>>,
}

/// Release times of a paced generator: `rate` events per second from the first read.
#[derive(Debug)]
struct Pace {
    rate: f64,
    /// The first read: monotonic clock and wall clock (ms since the Unix epoch).
    start: OnceLock<(Instant, i64)>,
}

impl Pace {
    /// When line `i` is due: its offset from the start, and its wall-clock time in ms.
    fn due(&self, i: u64) -> (Instant, i64) {
        let (t0, ms0) = *self
            .start
            .get_or_init(|| (Instant::now(), chrono::Utc::now().timestamp_millis()));
        let offset = Duration::from_secs_f64(i as f64 / self.rate);
        (t0 + offset, ms0 + offset.as_millis() as i64)
    }
}

impl GeneratorSource {
    /// The workload `cfg` over `partitions` partitions (≥ 1).
    pub fn new(cfg: WorkloadConfig, partitions: u32) -> Result<Self, SourceError> {
        if partitions == 0 {
            return Err(SourceError::Invalid(
                "a source needs at least one partition".into(),
            ));
        }
        cfg.validate()
            .map_err(|e| SourceError::Invalid(e.to_string()))?;
        let st = Arc::new(Stations::new(
            cfg.seed,
            cfg.stations,
            i64::from(cfg.interval_s) * 1000,
        ));
        let station_partition = st
            .sids()
            .map(|sid| partition_for_key(Some(sid), partitions, 0).0)
            .collect();
        let core = Core::new(&cfg, st);
        Ok(GeneratorSource {
            cfg,
            partitions,
            core,
            station_partition: Arc::new(station_partition),
            pace: None,
        })
    }

    /// Releases the lines at `rate` events per second in all (see the module docs).
    pub fn with_rate(mut self, rate: f64) -> Result<Self, SourceError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(SourceError::Invalid(format!(
                "the generator's rate must be a positive number of events per second, not {rate}"
            )));
        }
        self.pace = Some(Arc::new(Pace {
            rate,
            start: OnceLock::new(),
        }));
        Ok(self)
    }

    /// The workload configuration.
    pub fn config(&self) -> &WorkloadConfig {
        &self.cfg
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> u32 {
        self.partitions
    }

    /// Partition of line `index` (routing only, no rendering).
    pub fn partition_of(&self, index: u64) -> PartitionId {
        let mut core = self.core.clone();
        route_partition(&mut core, &self.station_partition, self.partitions, index)
    }
}

#[inline]
fn route_partition(core: &mut Core, table: &[u32], partitions: u32, i: u64) -> PartitionId {
    match core.route(i) {
        Route::Station(s) => PartitionId(table[s as usize]),
        Route::Other(key) => partition_for_key(key.as_deref(), partitions, i),
    }
}

impl PartitionedSource for GeneratorSource {
    fn len_hint(&self) -> Option<u64> {
        Some(self.config().events)
    }

    fn partitions(&self) -> Vec<PartitionId> {
        (0..self.partitions).map(PartitionId).collect()
    }

    fn open(
        &self,
        partition: PartitionId,
        start: SequenceNumber,
    ) -> Result<Box<dyn PartitionReader>, SourceError> {
        if partition.0 >= self.partitions {
            return Err(SourceError::NoSuchPartition(partition.0, self.partitions));
        }
        if start.0 < 0 {
            return Err(SourceError::Invalid(format!(
                "negative start position {}",
                start.0
            )));
        }
        let mut r = GeneratorReader {
            core: self.core.clone(),
            table: Arc::clone(&self.station_partition),
            partitions: self.partitions,
            partition,
            next_line: 0,
            seq: 0,
            pace: self.pace.clone(),
            held: None,
        };
        while r.seq < start.0 {
            if r.next_match().is_none() {
                return Err(SourceError::Invalid(format!(
                    "start position {} is past the end of partition {} ({} events)",
                    start.0, partition, r.seq
                )));
            }
            r.seq += 1;
        }
        Ok(Box::new(r))
    }
}

struct GeneratorReader {
    core: Core,
    table: Arc<Vec<u32>>,
    partitions: u32,
    partition: PartitionId,
    /// Next line index to route.
    next_line: u64,
    /// Sequence number of the next message.
    seq: i64,
    pace: Option<Arc<Pace>>,
    /// A line of this partition found but not yet due (paced).
    held: Option<u64>,
}

impl GeneratorReader {
    /// Index of the next line of this partition (consumed), or `None` at the end.
    fn next_match(&mut self) -> Option<u64> {
        while self.next_line < self.core.events {
            let i = self.next_line;
            self.next_line += 1;
            if route_partition(&mut self.core, &self.table, self.partitions, i) == self.partition {
                return Some(i);
            }
        }
        None
    }
}

impl PartitionReader for GeneratorReader {
    fn partition(&self) -> PartitionId {
        self.partition
    }

    fn next_batch(&mut self, max: usize) -> Result<Option<RawBatch>, SourceError> {
        let mut batch = RawBatch::new(self.partition);
        let now = self.pace.as_ref().map(|_| Instant::now());
        while batch.len() < max {
            let Some(i) = self.held.take().or_else(|| self.next_match()) else {
                break;
            };
            let paced_ms = match (&self.pace, now) {
                (Some(pace), Some(now)) => {
                    let (due, due_ms) = pace.due(i);
                    if due > now {
                        self.held = Some(i);
                        break;
                    }
                    if batch.available_ms == 0 {
                        batch.available_ms = due_ms;
                    }
                    batch.last_available_ms = due_ms;
                    Some(due_ms)
                }
                _ => None,
            };
            let r = self.core.render(i, &mut batch.bodies);
            batch.body_offsets.push(batch.bodies.len());
            batch.sequence_numbers.push(self.seq);
            batch.offsets.push(self.seq);
            batch
                .enqueued_time_ms
                .push(paced_ms.unwrap_or(r.send_time_ms));
            batch.partition_keys.push(r.key.as_str(&self.core.st));
            self.seq += 1;
        }
        if batch.is_empty() && self.held.is_none() && self.next_line >= self.core.events {
            return Ok(None);
        }
        Ok(Some(batch))
    }

    fn position(&self) -> SequenceNumber {
        SequenceNumber(self.seq)
    }
}
