//! Partition log: an append-only sequence of events, in memory or backed by
//! one file per hub/partition (`<data-dir>/<hub>/<partition>.log`).
//!
//! With a retention (`medallion emulator --retention 10m`), events enqueued longer ago leave
//! memory, as they leave an Event Hubs partition: the partition then begins at a later
//! sequence number (`begin_sequence_number`), and a reader asking for an expired position gets
//! the earliest event still retained. Sequence numbers and offsets never change. The file of a
//! file-backed log keeps every event; a reload applies the retention again.
//!
//! File format: repeated records `[u32 big-endian length][encoded AMQP message]`.
//! The stored message already carries its broker annotations, so reloading a
//! file restores sequence numbers, offsets and enqueued times. A torn record
//! at the end of a file (crash during append) is truncated away on reload.

use std::{
    collections::VecDeque,
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use fe2o3_amqp::link::delivery::Sendable;
use fe2o3_amqp_types::messaging::{
    message::__private::{Deserializable, Serializable},
    Body, Message, MessageAnnotations,
};
use serde_amqp::{primitives::Timestamp, Value};

use crate::error::{EmulatorError, Result};

/// An AMQP message as stored and delivered by the emulator.
pub type AmqpMessage = Message<Body<Value>>;

/// Annotation holding the per-partition sequence number (long).
pub const SEQUENCE_NUMBER: &str = "x-opt-sequence-number";
/// Annotation holding the offset (string).
pub const OFFSET: &str = "x-opt-offset";
/// Annotation holding the enqueued time (timestamp).
pub const ENQUEUED_TIME: &str = "x-opt-enqueued-time";
/// Annotation holding the partition key (string).
pub const PARTITION_KEY: &str = "x-opt-partition-key";

/// One stored event.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Sequence number, `0..n` within the partition.
    pub sequence_number: i64,
    /// Byte offset of the record in the partition log.
    pub offset: i64,
    /// Enqueued time in milliseconds since the Unix epoch.
    pub enqueued_ms: i64,
    /// The message with its broker annotations, encoded once when it was stored: consumer
    /// links send these bytes as they are ([`crate::substitute`]), and they take a third of the
    /// memory of the decoded message.
    pub encoded: Arc<[u8]>,
}

impl StoredEvent {
    /// The message with its broker annotations (decoded from the stored bytes).
    pub fn message(&self) -> Option<AmqpMessage> {
        decode_message(&self.encoded)
    }

    /// The message ready to send pre-settled (for events too large for a placeholder).
    pub fn sendable(&self) -> Option<Sendable<Body<Value>>> {
        Some(
            Sendable::builder()
                .message(self.message()?)
                .settled(true)
                .build(),
        )
    }
}

/// The events of one partition still retained; positions (sequence numbers) are those of the
/// partition, whose first `begin` events have expired.
#[derive(Debug, Default)]
pub struct PartitionLog {
    events: VecDeque<StoredEvent>,
    /// Sequence number of `events[0]` (of the next event while none is retained).
    begin: i64,
    next_offset: i64,
    file: Option<(PathBuf, File)>,
    /// Events enqueued longer ago than this are dropped (on append and on reload).
    retention: Option<std::time::Duration>,
}

/// Encodes a message into AMQP bytes.
pub fn encode_message(message: &AmqpMessage) -> Option<Vec<u8>> {
    serde_amqp::to_vec(&Serializable(message)).ok()
}

/// Decodes AMQP bytes into a message.
pub fn decode_message(bytes: &[u8]) -> Option<AmqpMessage> {
    serde_amqp::from_slice::<Deserializable<AmqpMessage>>(bytes)
        .ok()
        .map(|d| d.0)
}

/// Reads an annotation by symbol key.
pub fn annotation<'a>(message: &'a AmqpMessage, key: &str) -> Option<&'a Value> {
    message
        .message_annotations
        .as_ref()?
        .0
        .iter()
        .find(|(k, _)| matches!(k, fe2o3_amqp_types::messaging::annotations::OwnedKey::Symbol(s) if s.0 == key))
        .map(|(_, v)| v)
}

fn set_annotation(message: &mut AmqpMessage, key: &str, value: Value) {
    let annotations = message
        .message_annotations
        .get_or_insert_with(|| MessageAnnotations(Default::default()));
    annotations.0.insert(
        fe2o3_amqp_types::messaging::annotations::OwnedKey::Symbol(key.into()),
        value,
    );
}

impl PartitionLog {
    /// An empty in-memory log.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The same log, dropping events enqueued longer ago than `retention` (`None`: keep all).
    pub fn with_retention(mut self, retention: Option<std::time::Duration>) -> Self {
        self.retention = retention;
        self.expire(chrono::Utc::now().timestamp_millis());
        self
    }

    /// Drops the events enqueued before `now - retention`.
    fn expire(&mut self, now_ms: i64) {
        let Some(retention) = self.retention else {
            return;
        };
        let cutoff = now_ms.saturating_sub(retention.as_millis().min(i64::MAX as u128) as i64);
        while self.events.front().is_some_and(|e| e.enqueued_ms < cutoff) {
            self.events.pop_front();
            self.begin += 1;
        }
        if self.events.len() * 2 < self.events.capacity() && self.events.capacity() > 1024 {
            self.events.shrink_to_fit();
        }
    }

    /// Opens (or creates) the file-backed log at `path`, reloading its events.
    pub fn open(path: &Path) -> Result<Self> {
        let log_err = |reason: String| EmulatorError::Log {
            path: path.display().to_string(),
            reason,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut log = Self::default();
        let mut pos = 0usize;
        while pos + 4 <= bytes.len() {
            let len =
                u32::from_be_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
                    as usize;
            let Some(record) = bytes.get(pos + 4..pos + 4 + len) else {
                break;
            };
            let Some(message) = decode_message(record) else {
                break;
            };
            let long = |key| match annotation(&message, key) {
                Some(Value::Long(v)) => Some(*v),
                Some(Value::Timestamp(t)) => Some(t.milliseconds()),
                _ => None,
            };
            let expected = log.end() as i64;
            if long(SEQUENCE_NUMBER) != Some(expected) {
                return Err(log_err(format!(
                    "record {expected} has a wrong sequence number"
                )));
            }
            let enqueued_ms = long(ENQUEUED_TIME).unwrap_or_default();
            log.events.push_back(StoredEvent {
                sequence_number: expected,
                offset: pos as i64,
                enqueued_ms,
                encoded: Arc::from(record),
            });
            pos += 4 + len;
        }
        if pos < bytes.len() {
            // Torn or corrupt tail: drop it so appends continue cleanly.
            file.set_len(pos as u64)?;
        }
        file.seek(SeekFrom::End(0))?;
        log.next_offset = pos as i64;
        log.file = Some((path.to_path_buf(), file));
        Ok(log)
    }

    /// The sequence number the next event will get (= the number of events ever appended).
    pub fn end(&self) -> usize {
        self.begin as usize + self.events.len()
    }

    /// The sequence number of the first event still retained (of the next one if none is).
    pub fn begin(&self) -> i64 {
        self.begin
    }

    /// Whether the log retains no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Up to `max` events from sequence number `from` on, or from the first retained event if
    /// `from` has expired (one lock for many sends).
    pub fn deliveries(&self, from: usize, max: usize) -> Vec<StoredEvent> {
        let skip = ((from as i64 - self.begin).max(0) as usize).min(self.events.len());
        self.events.range(skip..).take(max).cloned().collect()
    }

    /// The event with sequence number `seq`, if retained.
    pub fn get(&self, seq: usize) -> Option<&StoredEvent> {
        self.events
            .get(usize::try_from(seq as i64 - self.begin).ok()?)
    }

    /// The last event.
    pub fn last(&self) -> Option<&StoredEvent> {
        self.events.back()
    }

    /// Sequence number of the first retained event whose offset is `> offset` (or `>=` when
    /// inclusive).
    pub fn index_after_offset(&self, offset: i64, inclusive: bool) -> usize {
        self.index_after(|e| e.offset, offset, inclusive)
    }

    /// Sequence number of the first retained event enqueued `> ms` (or `>=` when inclusive).
    pub fn index_after_time(&self, ms: i64, inclusive: bool) -> usize {
        self.index_after(|e| e.enqueued_ms, ms, inclusive)
    }

    /// Sequence number of the first retained event whose `key` (non-decreasing along the log)
    /// is `> value` (or `>=` when inclusive).
    fn index_after(&self, key: impl Fn(&StoredEvent) -> i64, value: i64, inclusive: bool) -> usize {
        self.begin as usize
            + self.events.partition_point(|e| {
                if inclusive {
                    key(e) < value
                } else {
                    key(e) <= value
                }
            })
    }

    /// Appends messages, stamping each with broker annotations; all share one
    /// enqueued time. Returns the number appended.
    pub fn append(
        &mut self,
        messages: Vec<AmqpMessage>,
        partition_key: Option<&str>,
    ) -> Result<usize> {
        let now = chrono::Utc::now().timestamp_millis();
        let enqueued_ms = self.last().map_or(now, |l| l.enqueued_ms.max(now));
        let mut records = Vec::new();
        let mut stamped = Vec::with_capacity(messages.len());
        let mut offset = self.next_offset;
        for (i, mut message) in messages.into_iter().enumerate() {
            let seq = (self.end() + i) as i64;
            set_annotation(&mut message, SEQUENCE_NUMBER, Value::Long(seq));
            set_annotation(&mut message, OFFSET, Value::String(offset.to_string()));
            set_annotation(
                &mut message,
                ENQUEUED_TIME,
                Value::Timestamp(Timestamp::from_milliseconds(enqueued_ms)),
            );
            let own_key = match annotation(&message, PARTITION_KEY) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Symbol(s)) => Some(s.0.clone()),
                _ => None,
            };
            if let Some(key) = own_key.or_else(|| partition_key.map(String::from)) {
                set_annotation(&mut message, PARTITION_KEY, Value::String(key));
            }
            let encoded = encode_message(&message).ok_or_else(|| EmulatorError::Log {
                path: "<memory>".into(),
                reason: "message cannot be encoded".into(),
            })?;
            if self.file.is_some() {
                records.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
                records.extend_from_slice(&encoded);
            }
            drop(message);
            let size = encoded.len() as i64;
            stamped.push(StoredEvent {
                sequence_number: seq,
                offset,
                enqueued_ms,
                encoded: Arc::from(encoded),
            });
            offset += 4 + size;
        }
        if let Some((_, file)) = self.file.as_mut() {
            file.write_all(&records)?;
            file.flush()?;
        }
        let n = stamped.len();
        self.events.extend(stamped);
        self.next_offset = offset;
        self.expire(now);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp_types::messaging::Data;

    fn msg(body: &str) -> AmqpMessage {
        Message::builder()
            .body(Body::Data(
                vec![Data(body.as_bytes().to_vec().into())].into(),
            ))
            .build()
    }

    fn key_of(log: &PartitionLog, i: usize) -> Option<String> {
        match annotation(&log.get(i).unwrap().message().unwrap(), PARTITION_KEY) {
            Some(Value::String(k)) => Some(k.clone()),
            None => None,
            other => panic!("a key annotation that is not a string: {other:?}"),
        }
    }

    #[test]
    fn an_event_keeps_its_own_key_and_takes_the_envelope_s_only_without_one() {
        // The service's rule for a batch: the envelope's partition key goes to every event that
        // has none of its own; an event's own key is never overwritten.
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(&dir.path().join("0.log")).unwrap();
        let mut own = msg("own");
        set_annotation(&mut own, PARTITION_KEY, Value::String("mine".into()));
        log.append(vec![own, msg("bare")], Some("envelope"))
            .unwrap();
        let mut own = msg("own");
        set_annotation(&mut own, PARTITION_KEY, Value::String("mine".into()));
        log.append(vec![own, msg("bare")], None).unwrap();
        let keys: Vec<_> = (0..4).map(|i| key_of(&log, i)).collect();
        assert_eq!(
            keys,
            vec![
                Some("mine".to_string()),
                Some("envelope".to_string()),
                Some("mine".to_string()),
                None
            ]
        );
    }

    #[test]
    fn expired_events_leave_and_positions_stay() {
        let mut log =
            PartitionLog::in_memory().with_retention(Some(std::time::Duration::from_secs(60)));
        log.append(vec![msg("a"), msg("b")], None).unwrap();
        // Enqueued two minutes ago: due to expire at the next append.
        for e in log.events.iter_mut() {
            e.enqueued_ms -= 120_000;
        }
        let old_offset = log.get(1).unwrap().offset;
        log.append(vec![msg("c")], None).unwrap();
        assert_eq!((log.begin(), log.end()), (2, 3));
        assert!(log.get(0).is_none() && log.get(1).is_none());
        let c = log.get(2).unwrap();
        assert_eq!(c.sequence_number, 2);
        assert!(c.offset > old_offset);
        // An expired position gets the earliest retained event.
        let from_start: Vec<i64> = log
            .deliveries(0, 10)
            .iter()
            .map(|e| e.sequence_number)
            .collect();
        assert_eq!(from_start, vec![2]);
        assert!(log.deliveries(3, 10).is_empty());
        assert_eq!(log.index_after_offset(old_offset, false), 2);
        assert_eq!(log.index_after_time(0, false), 2);
    }

    #[test]
    fn file_log_reloads_and_truncates_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub").join("0.log");
        {
            let mut log = PartitionLog::open(&path).unwrap();
            log.append(vec![msg("a"), msg("b")], Some("k")).unwrap();
        }
        // Simulate a torn write.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0, 0, 1, 0, 1, 2]).unwrap();
        drop(f);
        let mut log = PartitionLog::open(&path).unwrap();
        assert_eq!(log.end(), 2);
        log.append(vec![msg("c")], None).unwrap();
        let log = PartitionLog::open(&path).unwrap();
        assert_eq!(log.end(), 3);
        let e = log.get(2).unwrap();
        assert_eq!(e.sequence_number, 2);
        assert!(
            matches!(annotation(&log.get(0).unwrap().message().unwrap(), PARTITION_KEY), Some(Value::String(k)) if k == "k")
        );
        assert_eq!(log.index_after_offset(-1, false), 0);
        assert_eq!(log.index_after_offset(e.offset, true), 2);
        assert_eq!(log.index_after_offset(e.offset, false), 3);
    }
}
