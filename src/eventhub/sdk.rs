//! [`ConsumerBackend`] and [`ProducerBackend`] over Microsoft's `azure_messaging_eventhubs`.
//!
//! Every receiver gets its own [`ConsumerClient`] (one AMQP connection per partition reader):
//! the SDK caches receivers per partition URL and re-attaches a dropped link with its *original*
//! start filter, so the source reopens a fresh client at the next sequence number instead of
//! relying on that recovery (it also spreads partitions over connections for throughput).

use std::time::{Duration, UNIX_EPOCH};

use azure_core_amqp::{
    message::{AmqpAnnotationKey, AmqpMessageBody},
    AmqpMessage, AmqpSymbol, AmqpValue,
};
use azure_messaging_eventhubs::{
    error::ErrorKind, models::ReceivedEventData, ConsumerClient, EventDataBatchOptions,
    OpenReceiverOptions, ProducerClient, RetryOptions, StartLocation, StartPosition,
};
use futures::{future::BoxFuture, FutureExt, StreamExt};

use crate::eventhub::{
    client::{
        ConsumerBackend, EventChunks, OutgoingEvent, PartitionInfo, ProducerBackend,
        ReceiveRequest, ReceivedEvent,
    },
    connection::ConnectionConfig,
    error::EventHubError,
};

/// How long the SDK itself retries before an error reaches our reconnect logic.
fn sdk_retry_options() -> RetryOptions {
    RetryOptions {
        initial_delay: azure_core::time::Duration::milliseconds(100),
        max_delay: azure_core::time::Duration::seconds(2),
        max_total_elapsed: azure_core::time::Duration::seconds(10),
        max_retries: 2,
    }
}

/// Longest connecting or attaching a receiver may take before the pump retries.
const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Receives through the SDK.
#[derive(Debug, Clone)]
pub struct SdkConsumer {
    connection: ConnectionConfig,
    hub: String,
    consumer_group: String,
}

impl SdkConsumer {
    /// A backend for `hub` and `consumer_group`; connects lazily.
    pub fn new(connection: ConnectionConfig, hub: String, consumer_group: String) -> Self {
        SdkConsumer {
            connection,
            hub,
            consumer_group,
        }
    }

    async fn open_client(&self) -> Result<ConsumerClient, EventHubError> {
        let mut builder = ConsumerClient::builder()
            .with_consumer_group(self.consumer_group.clone())
            .with_retry_options(sdk_retry_options());
        if let Some(endpoint) = self.connection.custom_endpoint() {
            builder = builder.with_custom_endpoint(endpoint);
        }
        builder
            .open_with_connection_string(&self.connection.sdk_connection_string(), Some(&self.hub))
            .await
            .map_err(|e| {
                EventHubError::client(
                    format!("cannot connect to {}", self.connection.amqp_url()),
                    e,
                )
            })
    }
}

impl ConsumerBackend for SdkConsumer {
    fn partition_ids(&self) -> BoxFuture<'_, Result<Vec<String>, EventHubError>> {
        async move {
            let client = self.open_client().await?;
            let props = client.get_eventhub_properties().await;
            let _ = client.close().await;
            props.map(|p| p.partition_ids).map_err(|e| {
                EventHubError::client(
                    format!("cannot read the properties of hub '{}'", self.hub),
                    e,
                )
            })
        }
        .boxed()
    }

    fn partition_info(
        &self,
        partition: String,
    ) -> BoxFuture<'_, Result<PartitionInfo, EventHubError>> {
        async move {
            let client = self.open_client().await?;
            let props = client.get_partition_properties(&partition).await;
            let _ = client.close().await;
            let p = props.map_err(|e| {
                EventHubError::client(
                    format!("cannot read the properties of partition {partition}"),
                    e,
                )
            })?;
            Ok(PartitionInfo {
                beginning_sequence_number: p.beginning_sequence_number,
                last_enqueued_sequence_number: p.last_enqueued_sequence_number,
                is_empty: p.is_empty,
            })
        }
        .boxed()
    }

    fn receive(&self, request: ReceiveRequest) -> EventChunks {
        let backend = self.clone();
        Box::pin(async_stream::try_stream! {
            // A connection dropped during the handshake can leave it pending: bound it, so the
            // pump reconnects.
            let opening = tokio::time::timeout(OPEN_TIMEOUT, backend.open_client())
                .await
                .map_err(|_| EventHubError::client(format!("connecting for partition {}", request.partition), "timed out"))?;
            let client = opening?;
            let options = OpenReceiverOptions {
                owner_level: request.owner_level,
                prefetch: Some(request.prefetch),
                start_position: Some(StartPosition {
                    location: StartLocation::SequenceNumber(request.from_sequence_number),
                    inclusive: true,
                }),
                receive_timeout: None,
            };
            let receiver = tokio::time::timeout(
                OPEN_TIMEOUT,
                client.open_receiver_on_partition(request.partition.clone(), Some(options)),
            )
            .await
            .map_err(|_| EventHubError::client(format!("opening a receiver on partition {}", request.partition), "timed out"))?
            .map_err(|e| receive_error(&request.partition, e))?;
            let events = receiver.stream_events();
            futures::pin_mut!(events);
            let max_chunk = request.max_chunk.max(1);
            while let Some(first) = events.next().await {
                let first = first.map_err(|e| receive_error(&request.partition, e))?;
                let mut chunk = Vec::with_capacity(max_chunk.min(1024));
                chunk.push(decode(&first)?);
                let mut failure = None;
                // Take whatever else is already buffered, without waiting.
                while chunk.len() < max_chunk {
                    match events.next().now_or_never() {
                        Some(Some(Ok(event))) => chunk.push(decode(&event)?),
                        Some(Some(Err(e))) => {
                            failure = Some(receive_error(&request.partition, e));
                            break;
                        }
                        Some(None) | None => break,
                    }
                }
                yield chunk;
                if let Some(failure) = failure {
                    Err(failure)?;
                }
            }
        })
    }
}

fn receive_error(
    partition: &str,
    error: azure_messaging_eventhubs::EventHubsError,
) -> EventHubError {
    match &error.kind {
        ErrorKind::ConsumerDisconnected(Some(described)) => EventHubError::TakenOver(
            described
                .description
                .clone()
                .unwrap_or_else(|| format!("{:?}", described.condition)),
        ),
        _ => EventHubError::client(format!("receiving from partition {partition}"), error),
    }
}

/// Decodes the Event Hubs annotations and the body of a received message.
fn decode(event: &ReceivedEventData) -> Result<ReceivedEvent, EventHubError> {
    let message = event.raw_amqp_message();
    let mut sequence_number: Option<i64> = None;
    let mut offset: Option<i64> = None;
    let mut enqueued_time_ms: Option<i64> = None;
    let mut partition_key: Option<String> = None;
    if let Some(annotations) = message.message_annotations.as_ref() {
        for (key, value) in annotations.0.iter() {
            let AmqpAnnotationKey::Symbol(symbol) = key else {
                continue;
            };
            match (symbol.0.as_str(), value) {
                ("x-opt-sequence-number", AmqpValue::Long(v)) => sequence_number = Some(*v),
                ("x-opt-offset", AmqpValue::String(s)) => {
                    offset = Some(s.parse::<i64>().map_err(|_| {
                        EventHubError::MalformedEvent(format!(
                            "x-opt-offset '{s}' is not an integer"
                        ))
                    })?)
                }
                ("x-opt-offset", AmqpValue::Long(v)) => offset = Some(*v),
                ("x-opt-enqueued-time", AmqpValue::TimeStamp(t)) => {
                    enqueued_time_ms = t.0.map(|t| match t.duration_since(UNIX_EPOCH) {
                        Ok(d) => d.as_millis() as i64,
                        Err(e) => -(e.duration().as_millis() as i64),
                    })
                }
                ("x-opt-partition-key", AmqpValue::String(s)) => partition_key = Some(s.clone()),
                _ => {}
            }
        }
    }
    let sequence_number = sequence_number
        .ok_or_else(|| EventHubError::MalformedEvent("no x-opt-sequence-number".into()))?;
    let body = match &message.body {
        AmqpMessageBody::Binary(parts) if parts.len() == 1 => parts[0].clone(),
        AmqpMessageBody::Binary(parts) => parts.concat(),
        AmqpMessageBody::Empty => Vec::new(),
        AmqpMessageBody::Value(AmqpValue::Binary(b)) => b.clone(),
        AmqpMessageBody::Value(AmqpValue::String(s)) => s.clone().into_bytes(),
        _ => {
            return Err(EventHubError::MalformedEvent(format!(
                "event {sequence_number} has a non-binary body"
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

/// Sends through the SDK.
pub struct SdkProducer {
    client: ProducerClient,
    hub: String,
    next_message_id: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for SdkProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkProducer")
            .field("hub", &self.hub)
            .finish_non_exhaustive()
    }
}

impl SdkProducer {
    /// Connects to `hub`.
    pub async fn connect(connection: &ConnectionConfig, hub: &str) -> Result<Self, EventHubError> {
        let mut builder = ProducerClient::builder().with_retry_options(sdk_retry_options());
        if let Some(endpoint) = connection.custom_endpoint() {
            builder = builder.with_custom_endpoint(endpoint);
        }
        let client = builder
            .open_with_connection_string(&connection.sdk_connection_string(), Some(hub))
            .await
            .map_err(|e| {
                EventHubError::client(format!("cannot connect to {}", connection.amqp_url()), e)
            })?;
        let seed = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Ok(SdkProducer {
            client,
            hub: hub.to_string(),
            next_message_id: std::sync::atomic::AtomicU64::new(seed.as_nanos() as u64),
        })
    }

    fn message(&self, event: &OutgoingEvent) -> AmqpMessage {
        let mut message = AmqpMessage::from(event.body.clone());
        // A cheap unique id (the SDK would otherwise generate a UUID per event).
        let id = self
            .next_message_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        message.set_message_id(id);
        if let Some(key) = &event.partition_key {
            message.add_message_annotation(AmqpSymbol::from("x-opt-partition-key"), key.clone());
        }
        message
    }
}

impl ProducerBackend for SdkProducer {
    fn partition_ids(&self) -> BoxFuture<'_, Result<Vec<String>, EventHubError>> {
        async move {
            self.client
                .get_eventhub_properties()
                .await
                .map(|p| p.partition_ids)
                .map_err(|e| {
                    EventHubError::client(
                        format!("cannot read the properties of hub '{}'", self.hub),
                        e,
                    )
                })
        }
        .boxed()
    }

    fn send_batch<'a>(
        &'a self,
        partition: &'a str,
        events: &'a [OutgoingEvent],
    ) -> BoxFuture<'a, Result<usize, EventHubError>> {
        async move {
            let batch = self
                .client
                .create_batch(Some(EventDataBatchOptions {
                    partition_id: Some(partition.to_string()),
                    ..Default::default()
                }))
                .await
                .map_err(|e| {
                    EventHubError::client(
                        format!("cannot create a batch for partition {partition}"),
                        e,
                    )
                })?;
            let mut added = 0;
            for event in events {
                let fits = batch
                    .try_add_amqp_message(self.message(event), None)
                    .map_err(|e| EventHubError::client("cannot add an event to a batch", e))?;
                if !fits {
                    break;
                }
                added += 1;
            }
            if added == 0 {
                return match events.first() {
                    Some(e) => Err(EventHubError::EventTooLarge { size: e.body.len() }),
                    None => Ok(0),
                };
            }
            self.client.send_batch(batch, None).await.map_err(|e| {
                EventHubError::client(format!("sending a batch to partition {partition}"), e)
            })?;
            Ok(added)
        }
        .boxed()
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        async move {
            let _ = self.client.close().await;
        }
        .boxed()
    }
}
