//! [`AmqpConsumer`]: the receiving side of Event Hubs directly on fe2o3-amqp.
//!
//! Every receiver link of a source shares one connection ([`SharedConnection`]). A link reads
//! `<hub>/ConsumerGroups/<group>/Partitions/<id>` from a sequence number on (selector filter
//! `amqp.annotation.x-opt-sequence-number > 'N'`), with the source's owner level as
//! `com.microsoft:epoch`, pre-settled (no disposition per event) and with manual credit: the
//! prefetch window is granted at attach and topped up with one flow each time half of it was
//! received *and handed on*, so a stalled reader holds at most one window per partition.
//! Bodies stay bytes (`Data` sections); the four annotations are read without building more
//! than the annotation map.

use std::sync::Arc;

use fe2o3_amqp::{
    link::{receiver::CreditMode, Receiver, ReceiverAttachError, RecvError},
    types::{
        definitions::{
            AmqpError, Error as AmqpErrorFrame, ErrorCondition, LinkError, ReceiverSettleMode,
            SenderSettleMode,
        },
        messaging::{annotations::OwnedKey, Body, Message, Source},
        primitives::{Symbol, Value},
    },
};
use futures::{future::BoxFuture, FutureExt};
use serde_amqp::{described::Described, descriptor::Descriptor};

use crate::eventhub::{
    amqp::{management, shared::SharedConnection},
    client::{ConsumerBackend, EventChunks, PartitionInfo, ReceiveRequest, ReceivedEvent},
    error::EventHubError,
};

/// The selector filter Event Hubs reads start positions from.
const SELECTOR_FILTER: &str = "apache.org:selector-filter:string";
/// Owner level link property.
const EPOCH_PROPERTY: &str = "com.microsoft:epoch";

/// Receives from Event Hubs over one shared connection.
#[derive(Debug, Clone)]
pub struct AmqpConsumer {
    connection: Arc<SharedConnection>,
    consumer_group: String,
}

impl AmqpConsumer {
    /// A consumer of `consumer_group` over `connection`.
    pub fn new(connection: Arc<SharedConnection>, consumer_group: String) -> Self {
        AmqpConsumer {
            connection,
            consumer_group,
        }
    }

    async fn attach(&self, request: &ReceiveRequest) -> Result<Receiver, EventHubError> {
        let endpoint = self.connection.endpoint();
        let address = format!(
            "{}/ConsumerGroups/{}/Partitions/{}",
            endpoint.hub, self.consumer_group, request.partition
        );
        let expression = format!(
            "amqp.annotation.x-opt-sequence-number > '{}'",
            request.from_sequence_number - 1
        );
        let filter = Described {
            descriptor: Descriptor::Name(Symbol::from(SELECTOR_FILTER)),
            value: Value::String(expression),
        };
        let source = Source::builder()
            .address(address.clone())
            .add_to_filter(SELECTOR_FILTER, filter)
            .build();
        let mut properties = fe2o3_amqp::types::definitions::Fields::new();
        if let Some(level) = request.owner_level {
            properties.insert(Symbol::from(EPOCH_PROPERTY), Value::Long(level));
        }
        let id = uuid::Uuid::new_v4();
        let mut live = self.connection.lock().await?;
        let generation = live.generation;
        let attached = Receiver::builder()
            .name(format!("medallion-{}-{id}", request.partition))
            .source(source)
            .target(format!("medallion-{id}"))
            .sender_settle_mode(SenderSettleMode::Settled)
            .receiver_settle_mode(ReceiverSettleMode::First)
            .credit_mode(CreditMode::Manual)
            .auto_accept(false)
            .properties(properties)
            .attach(&mut live.session)
            .await;
        drop(live);
        let mut receiver = match attached {
            Ok(r) => r,
            Err(e) => {
                if let ReceiverAttachError::RemoteClosedWithError(frame) = &e {
                    if let Some(refused) = refusal(frame, &request.partition, &endpoint.hub) {
                        return Err(refused);
                    }
                }
                self.connection.invalidate(generation).await;
                return Err(EventHubError::client(
                    format!("attaching to {address}"),
                    e.to_string(),
                ));
            }
        };
        receiver
            .set_credit(request.prefetch.max(1))
            .await
            .map_err(|e| {
                EventHubError::client(format!("granting credit on {address}"), format!("{e:?}"))
            })?;
        Ok(receiver)
    }
}

impl ConsumerBackend for AmqpConsumer {
    fn partition_ids(&self) -> BoxFuture<'_, Result<Vec<String>, EventHubError>> {
        management::partition_ids(&self.connection).boxed()
    }

    fn partition_info(
        &self,
        partition: String,
    ) -> BoxFuture<'_, Result<PartitionInfo, EventHubError>> {
        async move { management::partition_info(&self.connection, &partition).await }.boxed()
    }

    fn receive(&self, request: ReceiveRequest) -> EventChunks {
        let state = Stream::Start(self.clone(), request);
        Box::pin(futures::stream::unfold(state, |state| async move {
            match state {
                Stream::Done => None,
                Stream::Start(consumer, request) => match consumer.attach(&request).await {
                    Ok(receiver) => {
                        let mut link = Link {
                            consumer,
                            window: request.prefetch.max(2),
                            max_chunk: request.max_chunk.max(1),
                            partition: request.partition,
                            receiver,
                            since_top_up: 0,
                        };
                        let chunk = link.next_chunk().await;
                        Some(link.after(chunk))
                    }
                    Err(e) => Some((Err(e), Stream::Done)),
                },
                Stream::Open(mut link) => {
                    let chunk = link.next_chunk().await;
                    Some(link.after(chunk))
                }
            }
        }))
    }
}

enum Stream {
    Start(AmqpConsumer, ReceiveRequest),
    Open(Box<Link>),
    Done,
}

/// An attached receiver link and its credit bookkeeping.
struct Link {
    consumer: AmqpConsumer,
    partition: String,
    receiver: Receiver,
    window: u32,
    max_chunk: usize,
    since_top_up: u32,
}

impl Link {
    /// Waits for one event, then takes whatever else has already arrived (up to `max_chunk`).
    /// Credit is topped up *before* waiting, for the events handed on by the previous chunk.
    async fn next_chunk(&mut self) -> Result<Vec<ReceivedEvent>, EventHubError> {
        if self.since_top_up >= self.window / 2 {
            self.receiver
                .set_credit(self.window)
                .await
                .map_err(|e| self.failed(format!("{e:?}")))?;
            self.since_top_up = 0;
        }
        let first = self
            .receiver
            .recv::<Body<Value>>()
            .await
            .map_err(|e| self.recv_error(e))?;
        let mut chunk = Vec::with_capacity(self.max_chunk.min(4096));
        chunk.push(decode(first.into_message())?);
        while chunk.len() < self.max_chunk {
            match self.receiver.recv::<Body<Value>>().now_or_never() {
                Some(Ok(delivery)) => chunk.push(decode(delivery.into_message())?),
                // Reported on the next call, after this chunk is handed on.
                Some(Err(_)) | None => break,
            }
        }
        self.since_top_up += chunk.len() as u32;
        Ok(chunk)
    }

    fn after(
        self,
        chunk: Result<Vec<ReceivedEvent>, EventHubError>,
    ) -> (Result<Vec<ReceivedEvent>, EventHubError>, Stream) {
        match chunk {
            Ok(events) => (Ok(events), Stream::Open(Box::new(self))),
            Err(e) => {
                // A link that failed on its own leaves the connection to the other links; a
                // broken connection is noticed by the next `lock`.
                let receiver = self.receiver;
                tokio::spawn(async move {
                    let _ =
                        tokio::time::timeout(std::time::Duration::from_secs(1), receiver.close())
                            .await;
                });
                (Err(e), Stream::Done)
            }
        }
    }

    fn failed(&self, message: String) -> EventHubError {
        EventHubError::client(
            format!("receiving from partition {}", self.partition),
            message,
        )
    }

    fn recv_error(&self, error: RecvError) -> EventHubError {
        use fe2o3_amqp::link::LinkStateError;
        if let RecvError::LinkStateError(
            LinkStateError::RemoteDetachedWithError(e) | LinkStateError::RemoteClosedWithError(e),
        ) = &error
        {
            let hub = &self.consumer.connection.endpoint().hub;
            if let Some(refused) = refusal(e, &self.partition, hub) {
                return refused;
            }
        }
        self.failed(error.to_string())
    }
}

/// The hub's error closing (or refusing) a partition's link, when retrying cannot help: the
/// partition taken by a higher owner level (`amqp:link:stolen`, or precondition-failed at
/// attach), or the credentials refused (`amqp:unauthorized-access`).
fn refusal(error: &AmqpErrorFrame, partition: &str, hub: &str) -> Option<EventHubError> {
    let description = error.description.clone().unwrap_or_default();
    match &error.condition {
        ErrorCondition::LinkError(LinkError::Stolen)
        | ErrorCondition::AmqpError(AmqpError::PreconditionFailed) => Some(
            EventHubError::TakenOver(format!("partition {partition}: {description}")),
        ),
        ErrorCondition::AmqpError(AmqpError::UnauthorizedAccess) => {
            Some(EventHubError::Unauthorized {
                hub: hub.to_string(),
                message: description,
            })
        }
        _ => None,
    }
}

/// The Event Hubs annotations and body of one received message.
fn decode(message: Message<Body<Value>>) -> Result<ReceivedEvent, EventHubError> {
    let mut sequence_number = None;
    let mut offset = None;
    let mut enqueued_time_ms = None;
    let mut partition_key = None;
    if let Some(annotations) = message.message_annotations {
        for (key, value) in annotations.0 {
            let OwnedKey::Symbol(symbol) = key else {
                continue;
            };
            match (symbol.0.as_str(), value) {
                ("x-opt-sequence-number", Value::Long(v)) => sequence_number = Some(v),
                ("x-opt-offset", Value::String(s)) => {
                    offset = Some(s.parse::<i64>().map_err(|_| {
                        EventHubError::MalformedEvent(format!(
                            "x-opt-offset '{s}' is not an integer"
                        ))
                    })?)
                }
                ("x-opt-offset", Value::Long(v)) => offset = Some(v),
                ("x-opt-enqueued-time", Value::Timestamp(t)) => {
                    enqueued_time_ms = Some(t.milliseconds())
                }
                ("x-opt-partition-key", Value::String(s)) => partition_key = Some(s),
                _ => {}
            }
        }
    }
    let sequence_number = sequence_number
        .ok_or_else(|| EventHubError::MalformedEvent("no x-opt-sequence-number".into()))?;
    let body = match message.body {
        Body::Data(sections) => {
            let mut sections = sections.into_inner();
            if sections.len() == 1 {
                sections.pop().map(|d| d.0.into_vec()).unwrap_or_default()
            } else {
                sections.into_iter().flat_map(|d| d.0.into_vec()).collect()
            }
        }
        Body::Empty => Vec::new(),
        Body::Value(v) => match v.0 {
            Value::Binary(b) => b.into_vec(),
            Value::String(s) => s.into_bytes(),
            _ => {
                return Err(EventHubError::MalformedEvent(format!(
                    "event {sequence_number} has a non-binary body"
                )))
            }
        },
        Body::Sequence(_) => {
            return Err(EventHubError::MalformedEvent(format!(
                "event {sequence_number} has an amqp-sequence body"
            )))
        }
    };
    Ok(ReceivedEvent {
        sequence_number,
        offset: offset.unwrap_or(-1),
        enqueued_time_ms: enqueued_time_ms.unwrap_or(0),
        partition_key,
        body,
    })
}
