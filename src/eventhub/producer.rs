//! [`EventHubProducer`]: batched sends, routed per partition key.
//!
//! Event Hubs batches must share a partition id (or key), so the producer computes each event's
//! partition from its key with [`route_key`] (the emulator's routing hash) and fills one batch
//! per partition up to the link's maximum message size (1 MB). Every event carries its key as
//! the `x-opt-partition-key` annotation. Events without a key go round robin. Partitions are
//! sent concurrently, one batch in flight per partition (keeping per-key order). A failed batch is
//! retried with exponential backoff up to `max_attempts` times (at-least-once: a batch whose
//! acknowledgement was lost may be stored twice).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::{stream::FuturesUnordered, StreamExt};
use tokio::runtime::Runtime;
use tracing::warn;

use crate::eventhub::{
    amqp::{AmqpProducer, Endpoint, SharedConnection},
    block_on, build_runtime,
    client::{OutgoingEvent, ProducerBackend},
    connection::ConnectionConfig,
    error::EventHubError,
};

/// Partition of a partition key: FNV-1a (32 bit) of the key's UTF-8 bytes modulo the partition
/// count: medallion's key hash ([`crate::source::partition_for_key`]), which the emulator
/// routes keyed events with too.
pub fn route_key(key: &str, partitions: u32) -> u32 {
    crate::source::partition_for_key(Some(key.as_bytes()), partitions, 0).0
}

/// Longest the producer waits for one batch's acknowledgement before resending it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// Producer settings.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Attempts per batch before giving up.
    pub max_attempts: u32,
    /// First retry delay (doubles per attempt, at most 5 s).
    pub initial_backoff: Duration,
    /// Events buffered per partition before a group is sent (a group may span several batches).
    pub group_bytes: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            group_bytes: 900 * 1024,
        }
    }
}

/// Result of [`EventHubProducer::send_all`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendStats {
    /// Events sent.
    pub events: u64,
    /// Body bytes sent.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
    /// `events / seconds`.
    pub events_per_sec: f64,
}

/// Sends events to one hub.
pub struct EventHubProducer {
    backend: Box<dyn ProducerBackend>,
    partitions: Vec<String>,
    config: ProducerConfig,
}

impl std::fmt::Debug for EventHubProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHubProducer")
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

/// Per-event size estimate on top of body and key (message id, annotations, framing).
const EVENT_OVERHEAD: usize = 64;

impl EventHubProducer {
    /// Connects (one AMQP connection); `hub` `None` takes `EntityPath`.
    pub async fn connect(
        connection_string: &str,
        hub: Option<&str>,
    ) -> Result<Self, EventHubError> {
        Self::connect_with(connection_string, hub, ProducerConfig::default()).await
    }

    /// [`connect`](Self::connect) with explicit settings.
    pub async fn connect_with(
        connection_string: &str,
        hub: Option<&str>,
        config: ProducerConfig,
    ) -> Result<Self, EventHubError> {
        let connection = ConnectionConfig::parse(connection_string)?;
        let hub = connection.hub_name(hub)?;
        let shared = SharedConnection::new(Endpoint {
            connection,
            hub,
            token_lifetime: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(60),
        });
        let backend = AmqpProducer::new(std::sync::Arc::new(shared));
        Self::with_backend(Box::new(backend), config).await
    }

    /// A producer over any [`ProducerBackend`]; reads the partition ids.
    pub async fn with_backend(
        backend: Box<dyn ProducerBackend>,
        config: ProducerConfig,
    ) -> Result<Self, EventHubError> {
        if config.max_attempts == 0 {
            return Err(EventHubError::Config(
                "max_attempts must be at least 1".into(),
            ));
        }
        let partitions = backend.partition_ids().await?;
        if partitions.is_empty() {
            return Err(EventHubError::Config("the hub has no partitions".into()));
        }
        Ok(EventHubProducer {
            backend,
            partitions,
            config,
        })
    }

    /// Number of partitions of the hub.
    pub fn partition_count(&self) -> u32 {
        self.partitions.len() as u32
    }

    /// Sends all `events` (`(partition key, body)`), at most `rate` events/s when given, calling
    /// `progress(events sent so far)` after each acknowledged group.
    pub async fn send_all<I, F>(
        &self,
        events: I,
        rate: Option<f64>,
        mut progress: F,
    ) -> Result<SendStats, EventHubError>
    where
        I: IntoIterator<Item = (Option<String>, Vec<u8>)>,
        F: FnMut(u64),
    {
        if let Some(r) = rate {
            if !(r > 0.0 && r.is_finite()) {
                return Err(EventHubError::Config(format!(
                    "rate must be a positive number of events/s, got {r}"
                )));
            }
        }
        let started = Instant::now();
        let n = self.partition_count();
        // With a rate, keep groups to ~50 ms of events so the stream stays smooth.
        let max_group_events = rate.map_or(usize::MAX, |r| ((r * 0.05) as usize).max(1));
        let mut pending: HashMap<u32, (Vec<OutgoingEvent>, usize)> = HashMap::new();
        let mut in_flight = FuturesUnordered::new();
        let mut busy = vec![false; n as usize];
        let (mut dispatched, mut sent, mut bytes, mut round_robin) = (0u64, 0u64, 0u64, 0u64);

        let mut events = events.into_iter();
        let mut exhausted = false;
        loop {
            // Pick the next full group (or, at the end, any non-empty one).
            let ready = if exhausted {
                pending.keys().copied().find(|p| !busy[*p as usize])
            } else {
                match events.next() {
                    None => {
                        exhausted = true;
                        continue;
                    }
                    Some((key, body)) => {
                        let partition = match &key {
                            Some(k) => route_key(k, n),
                            None => {
                                round_robin += 1;
                                ((round_robin - 1) % u64::from(n)) as u32
                            }
                        };
                        bytes += body.len() as u64;
                        let size =
                            body.len() + key.as_ref().map_or(0, String::len) + EVENT_OVERHEAD;
                        let entry = pending.entry(partition).or_default();
                        entry.0.push(OutgoingEvent {
                            partition_key: key,
                            body,
                        });
                        entry.1 += size;
                        (entry.1 >= self.config.group_bytes || entry.0.len() >= max_group_events)
                            .then_some(partition)
                    }
                }
            };
            let Some(partition) = ready else {
                if exhausted && pending.is_empty() && in_flight.is_empty() {
                    break;
                }
                if exhausted {
                    // Everything left waits for its partition's in-flight group.
                    if let Some(result) = in_flight.next().await {
                        let (p, count): (u32, usize) = result?;
                        busy[p as usize] = false;
                        sent += count as u64;
                        progress(sent);
                    }
                }
                continue;
            };
            // One group in flight per partition.
            while busy[partition as usize] {
                if let Some(result) = in_flight.next().await {
                    let (p, count): (u32, usize) = result?;
                    busy[p as usize] = false;
                    sent += count as u64;
                    progress(sent);
                }
            }
            let Some((group, _)) = pending.remove(&partition) else {
                continue;
            };
            if let Some(r) = rate {
                let due = started + Duration::from_secs_f64(dispatched as f64 / r);
                tokio::time::sleep_until(due.into()).await;
            }
            dispatched += group.len() as u64;
            busy[partition as usize] = true;
            in_flight.push(self.send_group(partition, group));
        }
        let seconds = started.elapsed().as_secs_f64();
        Ok(SendStats {
            events: sent,
            bytes,
            seconds,
            events_per_sec: sent as f64 / seconds.max(1e-9),
        })
    }

    /// Sends a group as one or more batches, retrying each batch.
    async fn send_group(
        &self,
        partition: u32,
        group: Vec<OutgoingEvent>,
    ) -> Result<(u32, usize), EventHubError> {
        let name = &self.partitions[partition as usize];
        let mut start = 0;
        while start < group.len() {
            let mut attempt = 0;
            loop {
                attempt += 1;
                // An acknowledgement that never comes (a dropped connection, or a disposition
                // lost on the client side) must not hang the producer: time out and resend.
                let sent = tokio::time::timeout(
                    SEND_TIMEOUT,
                    self.backend.send_batch(name, &group[start..]),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(EventHubError::client(
                        format!("sending a batch to partition {name}"),
                        format!("no acknowledgement within {} s", SEND_TIMEOUT.as_secs()),
                    ))
                });
                match sent {
                    Ok(count) => {
                        start += count.max(1);
                        break;
                    }
                    Err(e @ EventHubError::EventTooLarge { .. }) => return Err(e),
                    Err(e @ EventHubError::Unauthorized { .. }) => return Err(e),
                    Err(e) if attempt >= self.config.max_attempts => {
                        return Err(EventHubError::SendFailed {
                            partition: name.clone(),
                            attempts: attempt,
                            message: e.to_string(),
                        })
                    }
                    Err(e) => {
                        let delay = self
                            .config
                            .initial_backoff
                            .saturating_mul(1 << (attempt - 1).min(16))
                            .min(Duration::from_secs(5));
                        warn!(partition = %name, attempt, ?delay, error = %e, "sending a batch failed; retrying");
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        }
        Ok((partition, group.len()))
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.backend.close().await;
    }
}

/// A synchronous [`EventHubProducer`] for CLI use; owns its runtime.
pub struct BlockingProducer {
    inner: Option<EventHubProducer>,
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for BlockingProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingProducer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl BlockingProducer {
    /// Connects; `hub` `None` takes `EntityPath`.
    pub fn connect(connection_string: &str, hub: Option<&str>) -> Result<Self, EventHubError> {
        let runtime = build_runtime(2, "eventhub-producer")?;
        let inner = block_on(&runtime, EventHubProducer::connect(connection_string, hub))?;
        Ok(BlockingProducer {
            inner: Some(inner),
            runtime: Some(runtime),
        })
    }

    /// Number of partitions of the hub.
    pub fn partition_count(&self) -> u32 {
        self.inner
            .as_ref()
            .map_or(0, EventHubProducer::partition_count)
    }

    /// See [`EventHubProducer::send_all`].
    pub fn send_all<I, F>(
        &self,
        events: I,
        rate: Option<f64>,
        progress: F,
    ) -> Result<SendStats, EventHubError>
    where
        I: IntoIterator<Item = (Option<String>, Vec<u8>)> + Send,
        I::IntoIter: Send,
        F: FnMut(u64) + Send,
    {
        let (Some(inner), Some(runtime)) = (self.inner.as_ref(), self.runtime.as_ref()) else {
            return Err(EventHubError::Config("producer closed".into()));
        };
        block_on(runtime, inner.send_all(events, rate, progress))
    }

    /// Closes the connection.
    pub fn close(mut self) {
        if let (Some(inner), Some(runtime)) = (self.inner.take(), self.runtime.as_ref()) {
            block_on(runtime, inner.close());
        }
    }
}

impl Drop for BlockingProducer {
    fn drop(&mut self) {
        drop(self.inner.take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
