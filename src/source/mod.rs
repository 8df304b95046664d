//! Partitioned sources: the [`PartitionedSource`] trait every input implements (list partitions,
//! open one at a position, pull the next batch, report the position), the id newtypes, and the
//! assignment of partitions to workers (partition `i` is read by worker `i mod W`).
//!
//! A source hands out [`RawBatch`]es: columnar batches of raw Event Hubs messages, never single
//! events. Sources do no parsing and no quality work.

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub mod file;
pub mod generator;

/// A partition of a source (an Event Hubs partition id, or a hash bucket of the partition key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionId(pub u32);

/// Position of an event within its partition: 0, 1, 2, ... with no gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SequenceNumber(pub i64);

impl std::fmt::Display for PartitionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A batch of raw messages from one partition, in sequence order, column by column.
///
/// `bodies` holds all bodies back to back; body `i` is `bodies[body_offsets[i]..body_offsets[i+1]]`
/// (so `body_offsets.len() == len() + 1`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawBatch {
    pub partition: u32,
    pub sequence_numbers: Vec<i64>,
    /// Event Hubs offsets (opaque strings there; the byte offset in the file for `file:`).
    pub offsets: Vec<i64>,
    /// Enqueued time, milliseconds since the Unix epoch, UTC.
    pub enqueued_time_ms: Vec<i64>,
    /// Partition key of each message (the station id), if it had one.
    pub partition_keys: PartitionKeys,
    pub bodies: Vec<u8>,
    pub body_offsets: Vec<usize>,
    /// When the batch's oldest event became available (ms since the Unix epoch): its release
    /// for the paced generator, else when it was read; 0 until the reader or the feed sets it.
    /// End-to-end latency counts from it.
    #[serde(default)]
    pub available_ms: i64,
    /// When its newest event became available (as [`RawBatch::available_ms`]).
    #[serde(default)]
    pub last_available_ms: i64,
}

impl RawBatch {
    /// An empty batch for `partition`.
    pub fn new(partition: PartitionId) -> Self {
        RawBatch {
            partition: partition.0,
            body_offsets: vec![0],
            ..Default::default()
        }
    }
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.sequence_numbers.len()
    }
    pub fn is_empty(&self) -> bool {
        self.sequence_numbers.is_empty()
    }
    /// Body of message `i`.
    pub fn body(&self, i: usize) -> &[u8] {
        &self.bodies[self.body_offsets[i]..self.body_offsets[i + 1]]
    }
    /// Makes room for `events` more messages of `bytes` body bytes in all, so that the batch
    /// holds no spare capacity (its body buffer becomes bronze's `body` column as it is).
    pub fn reserve(&mut self, events: usize, bytes: usize) {
        self.sequence_numbers.reserve_exact(events);
        self.offsets.reserve_exact(events);
        self.enqueued_time_ms.reserve_exact(events);
        self.partition_keys.reserve(events);
        self.bodies.reserve_exact(bytes);
        self.body_offsets.reserve_exact(events + 1);
    }
    /// Appends one message.
    pub fn push(
        &mut self,
        seq: i64,
        offset: i64,
        enqueued_ms: i64,
        key: Option<&str>,
        body: &[u8],
    ) {
        if self.body_offsets.is_empty() {
            self.body_offsets.push(0);
        }
        self.sequence_numbers.push(seq);
        self.offsets.push(offset);
        self.enqueued_time_ms.push(enqueued_ms);
        self.partition_keys.push(key);
        self.bodies.extend_from_slice(body);
        self.body_offsets.push(self.bodies.len());
    }
    /// Appends messages `range` of `from` (their sequence numbers, offsets, times, keys and
    /// bodies), a few copies of contiguous slices whatever the number of messages; the
    /// availability times are left to the caller.
    pub fn extend_from(&mut self, from: &RawBatch, range: std::ops::Range<usize>) {
        if self.body_offsets.is_empty() {
            self.body_offsets.push(0);
        }
        if range.is_empty() {
            return;
        }
        let base = self.bodies.len();
        let (first, last) = (from.body_offsets[range.start], from.body_offsets[range.end]);
        self.sequence_numbers
            .extend_from_slice(&from.sequence_numbers[range.clone()]);
        self.offsets.extend_from_slice(&from.offsets[range.clone()]);
        self.enqueued_time_ms
            .extend_from_slice(&from.enqueued_time_ms[range.clone()]);
        self.partition_keys
            .extend_from(&from.partition_keys, range.clone());
        self.bodies.extend_from_slice(&from.bodies[first..last]);
        self.body_offsets.extend(
            from.body_offsets[range.start + 1..=range.end]
                .iter()
                .map(|o| o - first + base),
        );
    }
    /// Total body bytes.
    pub fn body_bytes(&self) -> usize {
        self.bodies.len()
    }
    /// Reads of one partition, each read right after the one before, as one batch: the first
    /// read as it is when it is the only one, else one exactly sized copy of them all (appending
    /// them one by one grows every buffer by doubling: a reallocation and a copy each time, and
    /// spare capacity that the bronze `body` column would keep).
    pub fn concat(mut reads: Vec<RawBatch>) -> RawBatch {
        if reads.len() <= 1 {
            return reads.pop().unwrap_or_default();
        }
        let events = reads.iter().map(RawBatch::len).sum();
        let bytes = reads.iter().map(RawBatch::body_bytes).sum();
        let mut batch = RawBatch::new(PartitionId(reads[0].partition));
        batch.reserve(events, bytes);
        batch
            .partition_keys
            .reserve_bytes(reads.iter().map(|r| r.partition_keys.bytes.len()).sum());
        for read in &reads {
            debug_assert_eq!(batch.partition, read.partition);
            batch.extend_from(read, 0..read.len());
            // The oldest and the newest availability (0: not set).
            batch.available_ms = match (batch.available_ms, read.available_ms) {
                (0, t) | (t, 0) => t,
                (a, b) => a.min(b),
            };
            batch.last_available_ms = batch.last_available_ms.max(read.last_available_ms);
        }
        batch
    }
}

/// The partition keys of a batch's messages, back to back in one buffer (no allocation per
/// message); they become bronze's `partition_key` column as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionKeys {
    bytes: String,
    /// Where key `i` ends in `bytes` (it starts where key `i - 1` ends).
    ends: Vec<usize>,
    /// Whether message `i` had a key.
    present: Vec<bool>,
}

impl PartitionKeys {
    /// Appends the key of the next message.
    pub fn push(&mut self, key: Option<&str>) {
        if let Some(k) = key {
            self.bytes.push_str(k);
        }
        self.ends.push(self.bytes.len());
        self.present.push(key.is_some());
    }

    /// The key of message `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.present[i].then(|| &self.bytes[start..self.ends[i]])
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Every key, in message order.
    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Makes room for `n` more keys.
    pub fn reserve(&mut self, n: usize) {
        self.ends.reserve_exact(n);
        self.present.reserve_exact(n);
    }

    /// Makes room for `bytes` more bytes of keys.
    pub fn reserve_bytes(&mut self, bytes: usize) {
        self.bytes.reserve_exact(bytes);
    }

    /// Appends the keys `range` of `from`.
    pub fn extend_from(&mut self, from: &PartitionKeys, range: std::ops::Range<usize>) {
        let base = self.bytes.len();
        let first = if range.start == 0 {
            0
        } else {
            from.ends[range.start - 1]
        };
        let last = if range.is_empty() {
            first
        } else {
            from.ends[range.end - 1]
        };
        self.bytes.push_str(&from.bytes[first..last]);
        self.ends
            .extend(from.ends[range.clone()].iter().map(|e| e - first + base));
        self.present.extend_from_slice(&from.present[range]);
    }

    /// The keys as an Arrow string column (null where a message had none), without copying
    /// them; `None` when they exceed the 2 GiB a string column can address.
    pub fn into_array(self) -> Option<arrow::array::StringArray> {
        use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
        let offsets: Vec<i32> = std::iter::once(Ok(0))
            .chain(self.ends.iter().map(|&e| i32::try_from(e)))
            .collect::<Result<_, _>>()
            .ok()?;
        let nulls = self
            .present
            .iter()
            .any(|p| !p)
            .then(|| NullBuffer::from(self.present));
        arrow::array::StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            arrow::buffer::Buffer::from_vec(self.bytes.into_bytes()),
            nulls,
        )
        .ok()
    }
}

/// Errors of sources.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot read source file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown source '{0}': expected generator, file:PATH or eventhub")]
    UnknownSource(String),
    #[error("partition {0} does not exist (the source has {1} partitions)")]
    NoSuchPartition(u32, u32),
    #[error("invalid source option: {0}")]
    Invalid(String),
    #[error("partition {partition} was taken over by another reader with a higher owner level: {message}")]
    PartitionTakenOver { partition: u32, message: String },
    #[error("partition {partition}: {message}")]
    Remote { partition: u32, message: String },
}

/// One open partition: yields batches in sequence order.
pub trait PartitionReader: Send {
    /// The partition this reader reads.
    fn partition(&self) -> PartitionId;
    /// Up to `max` next messages; `Ok(None)` when the partition is exhausted (bounded sources
    /// only); an empty batch when nothing is available right now (unbounded sources).
    fn next_batch(&mut self, max: usize) -> Result<Option<RawBatch>, SourceError>;
    /// Sequence number of the next message this reader will return.
    fn position(&self) -> SequenceNumber;
}

/// A source made of partitions (bytewax-style): list them, open one at a position.
pub trait PartitionedSource: Send + Sync {
    /// All partitions of the source.
    fn partitions(&self) -> Vec<PartitionId>;
    /// Opens `partition` so that its first message is the one with sequence number `start`.
    fn open(
        &self,
        partition: PartitionId,
        start: SequenceNumber,
    ) -> Result<Box<dyn PartitionReader>, SourceError>;
    /// Total number of events, when the source is bounded and knows it (for progress display).
    fn len_hint(&self) -> Option<u64> {
        None
    }
    /// Where a partition with no committed position is opened (by default its first event).
    fn initial_position(&self) -> SequenceNumber {
        SequenceNumber(0)
    }
}

/// Which worker (of `peers` across all processes) reads `partition`.
pub fn worker_for(partition: PartitionId, peers: usize) -> usize {
    partition.0 as usize % peers.max(1)
}

/// Partition for a partition key over `partitions` partitions: a stable hash of the key
/// (FNV-1a 32 bit, as a stand-in for Event Hubs' key hashing), the one the emulator routes keyed
/// events with ([`crate::emulator::hub::partition_for_key`]), so both agree. Messages without a
/// key go to partition `fallback % partitions` (the caller passes e.g. the line number: round
/// robin).
pub fn partition_for_key(key: Option<&[u8]>, partitions: u32, fallback: u64) -> PartitionId {
    let p = partitions.max(1);
    match key {
        Some(k) => PartitionId(crate::emulator::hub::partition_for_key(k, p)),
        None => PartitionId((fallback % p as u64) as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    #[test]
    fn partition_keys_keep_each_message_s_key_through_extend_and_into_arrow() {
        let mut a = PartitionKeys::default();
        a.push(Some("ST-1"));
        a.push(None);
        a.push(Some(""));
        let mut b = PartitionKeys::default();
        b.push(Some("é-2"));
        b.push(None);
        a.extend_from(&b, 0..b.len());
        let expected = [Some("ST-1"), None, Some(""), Some("é-2"), None];
        assert_eq!(a.iter().collect::<Vec<_>>(), expected);
        let array = a.into_array().unwrap();
        assert_eq!(array.len(), 5);
        assert_eq!(array.null_count(), 2);
        assert_eq!(array.iter().collect::<Vec<_>>(), expected);

        let mut all = PartitionKeys::default();
        all.push(Some("k"));
        assert_eq!(all.into_array().unwrap().null_count(), 0);
        assert_eq!(PartitionKeys::default().into_array().unwrap().len(), 0);
    }

    /// A random message: sequence number `seq`, a body of 0–40 bytes, a key or none.
    fn random_message(rng: &mut impl rand::Rng, seq: i64) -> (i64, Option<String>, Vec<u8>) {
        let key = rng
            .random_bool(0.7)
            .then(|| "k".repeat(rng.random_range(0..4)) + "é");
        let body = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
        (seq, key, body)
    }

    fn batch_of(messages: &[(i64, Option<String>, Vec<u8>)]) -> RawBatch {
        let mut b = RawBatch::new(PartitionId(3));
        for (seq, key, body) in messages {
            b.push(*seq, seq * 10, seq * 100, key.as_deref(), body);
        }
        b
    }

    /// Concatenated reads and ranges copied out of chunks equal the same messages pushed one
    /// by one (random messages, random cuts, empty reads and ranges included).
    #[test]
    fn concatenated_reads_and_copied_ranges_equal_the_messages_pushed_one_by_one() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(26);
        for _ in 0..300 {
            let n = rng.random_range(0..60);
            let messages: Vec<_> = (0..n).map(|i| random_message(&mut rng, i)).collect();
            let whole = batch_of(&messages);
            // Cut into reads at random points.
            let mut cuts: Vec<usize> = (0..rng.random_range(0..6))
                .map(|_| rng.random_range(0..=n as usize))
                .collect();
            cuts.extend([0, n as usize]);
            cuts.sort_unstable();
            let reads: Vec<RawBatch> = cuts
                .windows(2)
                .map(|w| {
                    let mut read = batch_of(&messages[w[0]..w[1]]);
                    read.available_ms = 1000 + w[0] as i64;
                    read.last_available_ms = 1000 + w[1] as i64;
                    read
                })
                .collect();
            let joined = RawBatch::concat(reads.clone());
            assert_eq!(
                (joined.sequence_numbers.clone(), joined.offsets.clone()),
                (whole.sequence_numbers.clone(), whole.offsets.clone())
            );
            assert_eq!(joined.enqueued_time_ms, whole.enqueued_time_ms);
            assert_eq!(joined.partition_keys, whole.partition_keys);
            assert_eq!(
                (joined.bodies.clone(), joined.body_offsets.clone()),
                (whole.bodies.clone(), whole.body_offsets.clone())
            );
            assert_eq!(joined.partition, 3);
            assert_eq!(joined.available_ms, 1000);
            assert_eq!(joined.last_available_ms, 1000 + n);
            // Copy the chunks out again in random ranges.
            let mut copied = RawBatch::new(PartitionId(3));
            for read in &reads {
                let mut at = 0;
                while at < read.len() {
                    let to = rng.random_range(at..=read.len());
                    copied.extend_from(read, at..to);
                    at = to;
                }
            }
            copied.available_ms = whole.available_ms;
            copied.last_available_ms = whole.last_available_ms;
            assert_eq!(copied, whole);
        }
    }
}
