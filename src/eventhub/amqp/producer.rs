//! [`AmqpProducer`]: the sending side of Event Hubs directly on fe2o3-amqp.
//!
//! One sender link per partition (`<hub>/Partitions/<id>`) on the shared connection, attached
//! on first use and again after a failure. A batch is one delivery in the Event Hubs batch
//! format (message format `0x80013700`: each `Data` section holds one encoded event with its
//! `x-opt-partition-key` annotation, the envelope none), filled up to the link's maximum
//! message size, sent unsettled and acknowledged by the hub.

use std::{collections::HashMap, sync::Arc};

use fe2o3_amqp::{
    link::{delivery::Sendable, Sender},
    types::{
        messaging::{
            annotations::OwnedKey, message::__private::Serializable, Batch, Body, Data, Message,
            MessageAnnotations,
        },
        primitives::{Symbol, Value},
    },
};
use futures::{future::BoxFuture, FutureExt};
use tokio::sync::Mutex;

use crate::eventhub::{
    amqp::{management, shared::SharedConnection},
    client::{OutgoingEvent, ProducerBackend},
    error::EventHubError,
};

/// Message format of an Event Hubs batch.
const BATCH_FORMAT: u32 = 0x8001_3700;
/// Batch size when the link announces no maximum message size.
const DEFAULT_MAX_MESSAGE: u64 = 1024 * 1024;
/// Room kept for the batch's own framing and annotations.
const BATCH_OVERHEAD: usize = 512;

/// A sender link and the connection generation it was attached on.
struct Slot {
    sender: Sender,
    generation: u64,
}

/// Sends to Event Hubs over one shared connection.
pub struct AmqpProducer {
    connection: Arc<SharedConnection>,
    senders: std::sync::Mutex<HashMap<String, Arc<Mutex<Option<Slot>>>>>,
}

impl std::fmt::Debug for AmqpProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpProducer")
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl AmqpProducer {
    /// A producer over `connection`.
    pub fn new(connection: Arc<SharedConnection>) -> Self {
        AmqpProducer {
            connection,
            senders: Default::default(),
        }
    }

    fn slot(&self, partition: &str) -> Arc<Mutex<Option<Slot>>> {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        senders.entry(partition.to_string()).or_default().clone()
    }

    async fn attach(&self, partition: &str) -> Result<Slot, EventHubError> {
        let address = format!("{}/Partitions/{partition}", self.connection.endpoint().hub);
        let mut live = self.connection.lock().await?;
        let generation = live.generation;
        let name = format!("medallion-producer-{partition}-{}", uuid::Uuid::new_v4());
        let attached = Sender::attach(&mut live.session, name, address.as_str()).await;
        drop(live);
        match attached {
            Ok(sender) => Ok(Slot { sender, generation }),
            Err(e) => {
                self.connection.invalidate(generation).await;
                Err(EventHubError::client(format!("attaching to {address}"), e))
            }
        }
    }
}

/// Encodes one event as a batch entry: its key annotation and its body (no message id:
/// Event Hubs does not need one, and every byte is stored and read again).
fn encode(event: &OutgoingEvent) -> Result<Vec<u8>, EventHubError> {
    let message = Message::builder()
        .body(Body::<Value>::Data(Batch::new(vec![Data(
            event.body.clone().into(),
        )])))
        .build();
    let message = Message {
        message_annotations: event.partition_key.as_deref().map(key_annotation),
        ..message
    };
    serde_amqp::to_vec(&Serializable(&message))
        .map_err(|e| EventHubError::client("encoding an event", e))
}

fn key_annotation(key: &str) -> MessageAnnotations {
    let mut map = fe2o3_amqp::types::primitives::OrderedMap::new();
    map.insert(
        OwnedKey::Symbol(Symbol::from("x-opt-partition-key")),
        Value::String(key.to_string()),
    );
    MessageAnnotations(map)
}

impl ProducerBackend for AmqpProducer {
    fn partition_ids(&self) -> BoxFuture<'_, Result<Vec<String>, EventHubError>> {
        management::partition_ids(&self.connection).boxed()
    }

    fn send_batch<'a>(
        &'a self,
        partition: &'a str,
        events: &'a [OutgoingEvent],
    ) -> BoxFuture<'a, Result<usize, EventHubError>> {
        async move {
            let slot = self.slot(partition);
            let mut slot = slot.lock().await;
            let mut current = match slot.take() {
                Some(s) => s,
                None => self.attach(partition).await?,
            };
            let limit = current
                .sender
                .max_message_size()
                .filter(|m| *m > 0)
                .unwrap_or(DEFAULT_MAX_MESSAGE) as usize;
            let mut sections = Vec::new();
            let mut size = BATCH_OVERHEAD;
            for event in events {
                let encoded = encode(event)?;
                // 5 bytes of section header and constructor per entry.
                if size + encoded.len() + 8 > limit {
                    break;
                }
                size += encoded.len() + 8;
                sections.push(Data(encoded.into()));
            }
            let added = sections.len();
            if added == 0 {
                *slot = Some(current);
                return match events.first() {
                    Some(e) => Err(EventHubError::EventTooLarge { size: e.body.len() }),
                    None => Ok(0),
                };
            }
            // No partition key on the envelope: the batch goes to a partition link, as the
            // SDKs' partition-id batches do, and each event carries its own key (or none). The
            // hub gives an envelope key to every event without one of its own.
            let batch = Message::builder()
                .body(Body::<Value>::Data(Batch::new(sections)))
                .build();
            let sendable = Sendable::builder()
                .message(batch)
                .message_format(BATCH_FORMAT)
                .settled(false)
                .build();
            let outcome = current.sender.send(sendable).await;
            match outcome {
                Ok(o) if o.is_accepted() => {
                    *slot = Some(current);
                    Ok(added)
                }
                Ok(o) => {
                    *slot = Some(current);
                    Err(EventHubError::client(
                        format!("sending a batch to partition {partition}"),
                        format!("the hub answered {o:?}"),
                    ))
                }
                Err(e) => {
                    let generation = current.generation;
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(
                            std::time::Duration::from_secs(1),
                            current.sender.close(),
                        )
                        .await;
                    });
                    self.connection.invalidate(generation).await;
                    Err(EventHubError::client(
                        format!("sending a batch to partition {partition}"),
                        e,
                    ))
                }
            }
        }
        .boxed()
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        async move {
            let slots: Vec<_> = self
                .senders
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain()
                .map(|(_, s)| s)
                .collect();
            for slot in slots {
                if let Some(s) = slot.lock().await.take() {
                    let _ = s.sender.close().await;
                }
            }
            self.connection.close().await;
        }
        .boxed()
    }
}
