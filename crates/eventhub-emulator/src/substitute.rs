//! Stored events sent without re-encoding them.
//!
//! fe2o3's sender encodes a message on every send; for consumer links that was most of the
//! emulator's CPU. Instead a consumer link sends a tiny *placeholder* message naming an entry
//! of its connection's [`Substitutions`], and the connection's pump ([`crate::stream`]) swaps
//! the placeholder payload of that transfer frame for the event's stored encoding. The
//! transfer performative (handle, delivery id and tag, settlement) stays fe2o3's, so session
//! and link state are untouched. Only events of at most [`MAX_SUBSTITUTED`] bytes are sent this
//! way, so the frame stays within any client's maximum frame size.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use fe2o3_amqp::link::delivery::Sendable;
use fe2o3_amqp_types::messaging::{AmqpValue, Body, Message};
use serde_amqp::{described::Described, descriptor::Descriptor, primitives::Symbol, Value};

/// Largest stored event sent through a placeholder.
pub const MAX_SUBSTITUTED: usize = 16 * 1024;

/// Descriptor of a placeholder body.
const PLACEHOLDER: &str = "com.medallion:stored-event";

/// The stored encodings waiting for their placeholders, per connection.
#[derive(Debug, Default, Clone)]
pub struct Substitutions {
    pending: Arc<Mutex<HashMap<u64, Arc<[u8]>>>>,
    next: Arc<AtomicU64>,
}

impl Substitutions {
    /// Registers `encoded` and returns the placeholder to send instead.
    pub fn placeholder(&self, encoded: Arc<[u8]>) -> Sendable<Body<Value>> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, encoded);
        let body = Value::Described(Box::new(Described {
            descriptor: Descriptor::Name(Symbol::from(PLACEHOLDER)),
            value: Value::Ulong(id),
        }));
        let message = Message::builder()
            .body(Body::Value(AmqpValue(body)))
            .build();
        Sendable::builder().message(message).settled(true).build()
    }

    /// The stored encoding for a transfer `payload` that is a placeholder of this connection.
    pub fn take(&self, payload: &[u8]) -> Option<Arc<[u8]>> {
        let id = placeholder_id(payload)?;
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
    }
}

/// The id in a placeholder payload: `amqp-value(described(PLACEHOLDER, ulong id))`.
fn placeholder_id(payload: &[u8]) -> Option<u64> {
    let name = PLACEHOLDER.as_bytes();
    // 00 53 77 | 00 a3 len name | 80 id(8)  (or 53 id / 44 for small ids)
    let rest = payload.strip_prefix(&[0x00, 0x53, 0x77, 0x00, 0xa3])?;
    let (&len, rest) = rest.split_first()?;
    let rest = rest
        .strip_prefix(name)
        .filter(|_| len as usize == name.len())?;
    match rest {
        [0x80, id @ ..] if id.len() == 8 => Some(u64::from_be_bytes(id.try_into().ok()?)),
        [0x53, id] => Some(u64::from(*id)),
        [0x44] => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp_types::messaging::message::__private::Serializable;

    #[test]
    fn placeholders_round_trip_for_small_and_large_ids() {
        let subs = Substitutions::default();
        for expected in [0u64, 7, 300, u64::from(u32::MAX) + 5] {
            subs.next.store(expected, Ordering::Relaxed);
            let stored: Arc<[u8]> = Arc::from(vec![1u8, 2, 3]);
            let sendable = subs.placeholder(stored.clone());
            let payload = serde_amqp::to_vec(&Serializable(&sendable.message)).unwrap();
            assert_eq!(placeholder_id(&payload), Some(expected), "{payload:x?}");
            assert_eq!(subs.take(&payload).as_deref(), Some(&stored[..]));
            assert_eq!(subs.take(&payload), None, "taken once");
        }
        assert_eq!(placeholder_id(b"\x00\x53\x75\xa0\x01x"), None);
    }
}
