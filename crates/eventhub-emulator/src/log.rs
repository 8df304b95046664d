//! Partition log: an append-only sequence of events, in memory or backed by
//! one file per hub/partition (`<data-dir>/<hub>/<partition>.log`).
//!
//! File format: repeated records `[u32 big-endian length][encoded AMQP message]`.
//! The stored message already carries its broker annotations, so reloading a
//! file restores sequence numbers, offsets and enqueued times. A torn record
//! at the end of a file (crash during append) is truncated away on reload.

use std::{
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

/// The events of one partition.
#[derive(Debug, Default)]
pub struct PartitionLog {
    events: Vec<StoredEvent>,
    next_offset: i64,
    file: Option<(PathBuf, File)>,
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
            let expected = log.events.len() as i64;
            if long(SEQUENCE_NUMBER) != Some(expected) {
                return Err(log_err(format!(
                    "record {expected} has a wrong sequence number"
                )));
            }
            let enqueued_ms = long(ENQUEUED_TIME).unwrap_or_default();
            log.events.push(StoredEvent {
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

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the log holds no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Up to `max` events from index `from` on (one lock for many sends).
    pub fn deliveries(&self, from: usize, max: usize) -> Vec<StoredEvent> {
        self.events
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take(max)
            .cloned()
            .collect()
    }

    /// The event at index (= sequence number) `idx`.
    pub fn get(&self, idx: usize) -> Option<&StoredEvent> {
        self.events.get(idx)
    }

    /// The last event.
    pub fn last(&self) -> Option<&StoredEvent> {
        self.events.last()
    }

    /// Index of the first event whose offset is `> offset` (or `>=` when inclusive).
    pub fn index_after_offset(&self, offset: i64, inclusive: bool) -> usize {
        self.events.partition_point(|e| {
            if inclusive {
                e.offset < offset
            } else {
                e.offset <= offset
            }
        })
    }

    /// Index of the first event enqueued `> ms` (or `>=` when inclusive).
    pub fn index_after_time(&self, ms: i64, inclusive: bool) -> usize {
        self.events.partition_point(|e| {
            if inclusive {
                e.enqueued_ms < ms
            } else {
                e.enqueued_ms <= ms
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
            let seq = (self.events.len() + i) as i64;
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
        assert_eq!(log.len(), 2);
        log.append(vec![msg("c")], None).unwrap();
        let log = PartitionLog::open(&path).unwrap();
        assert_eq!(log.len(), 3);
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
