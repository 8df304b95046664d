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
    /// Total body bytes.
    pub fn body_bytes(&self) -> usize {
        self.bodies.len()
    }
    /// Appends the messages of `next`, the batch read right after this one from the same
    /// partition (so that sequence numbers stay contiguous).
    pub fn append(&mut self, next: RawBatch) {
        debug_assert_eq!(self.partition, next.partition);
        if self.body_offsets.is_empty() {
            self.body_offsets.push(0);
        }
        let base = self.bodies.len();
        self.sequence_numbers.extend(next.sequence_numbers);
        self.offsets.extend(next.offsets);
        self.enqueued_time_ms.extend(next.enqueued_time_ms);
        self.partition_keys.append(next.partition_keys);
        self.bodies.extend_from_slice(&next.bodies);
        self.body_offsets
            .extend(next.body_offsets.iter().skip(1).map(|o| o + base));
        self.available_ms = match (self.available_ms, next.available_ms) {
            (0, t) | (t, 0) => t,
            (a, b) => a.min(b),
        };
        self.last_available_ms = self.last_available_ms.max(next.last_available_ms);
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

    /// Appends the keys of `next`.
    pub fn append(&mut self, next: PartitionKeys) {
        let base = self.bytes.len();
        self.bytes.push_str(&next.bytes);
        self.ends.extend(next.ends.iter().map(|e| e + base));
        self.present.extend(next.present);
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
    fn partition_keys_keep_each_message_s_key_through_append_and_into_arrow() {
        let mut a = PartitionKeys::default();
        a.push(Some("ST-1"));
        a.push(None);
        a.push(Some(""));
        let mut b = PartitionKeys::default();
        b.push(Some("é-2"));
        b.push(None);
        a.append(b);
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
}
