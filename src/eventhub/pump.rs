//! The background side of [`crate::eventhub::source`]: the receiving task of each partition
//! reader ([`Pump`]: chunks to the reader, reconnects with [`Backoff`] after the last event
//! handed on), management requests with retries, and the lag sampler.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use tokio::{runtime::Runtime, sync::mpsc};
use tracing::{debug, warn};

use crate::{
    eventhub::{
        block_on,
        client::{ConsumerBackend, ReceiveRequest},
        error::EventHubError,
    },
    source::{PartitionId, RawBatch, SourceError},
    telemetry::{LagSampled, SourceReconnect},
};

/// Longest a management request (hub or partition properties) may take before it is retried.
pub const MANAGEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a management request with a timeout, retrying failures and time-outs with `backoff`
/// (a connection dropped mid-request would otherwise leave it pending for ever).
pub(crate) fn with_retries<T, F, Fut>(
    runtime: &Runtime,
    backoff: Backoff,
    call: F,
) -> Result<T, EventHubError>
where
    T: Send,
    F: Fn() -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<T, EventHubError>> + Send,
{
    block_on(runtime, async {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match tokio::time::timeout(MANAGEMENT_TIMEOUT, call()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) if e.is_permanent() => return Err(e),
                Ok(Err(e)) => e,
                Err(_) => EventHubError::client(
                    "management request",
                    format!("no answer within {} s", MANAGEMENT_TIMEOUT.as_secs()),
                ),
            };
            if attempt >= backoff.max_attempts.max(1) {
                return Err(error);
            }
            warn!(attempt, %error, "management request failed; retrying");
            tokio::time::sleep(backoff.delay(attempt)).await;
        }
    })
}

/// Reconnect backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Consecutive failed attempts before the reader gives up with an error.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(5),
            max_attempts: 10,
        }
    }
}

impl Backoff {
    /// Delay before attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Reads the opened partitions' ends every `interval` and emits [`LagSampled`] (failures are
/// skipped: the gauges keep their last value and the readers report real trouble).
pub(crate) async fn sample_lag(
    backend: Arc<dyn ConsumerBackend>,
    opened: Arc<std::sync::Mutex<Vec<(u32, String)>>>,
    interval: Duration,
) {
    loop {
        tokio::time::sleep(interval.max(Duration::from_millis(100))).await;
        let partitions = opened.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (id, name) in partitions {
            let info = tokio::time::timeout(MANAGEMENT_TIMEOUT, backend.partition_info(name)).await;
            if let Ok(Ok(info)) = info {
                LagSampled {
                    partition: id,
                    last_enqueued: info.last_enqueued_sequence_number,
                }
                .emit();
            }
        }
    }
}

/// What the receiving task sends to the reader.
pub(crate) enum Message {
    /// A chunk of consecutive events, copied into one batch's buffers on the receiving side:
    /// each event's own allocations are freed on the thread that made them, and the reader
    /// copies contiguous slices instead of freeing two allocations per event.
    Events(RawBatch),
    Failed(Terminal),
}

/// Why a reader stopped for good.
#[derive(Debug, Clone)]
pub(crate) enum Terminal {
    TakenOver(String),
    Failed(String),
}

impl Terminal {
    pub(crate) fn to_error(&self, partition: PartitionId) -> SourceError {
        match self {
            Terminal::TakenOver(m) => SourceError::PartitionTakenOver {
                partition: partition.0,
                message: m.clone(),
            },
            Terminal::Failed(m) => SourceError::Remote {
                partition: partition.0,
                message: m.clone(),
            },
        }
    }
}

/// The background receiving task of one reader.
pub(crate) struct Pump {
    /// The reader's partition, which the chunks it is sent name.
    pub(crate) partition: PartitionId,
    pub(crate) backend: Arc<dyn ConsumerBackend>,
    pub(crate) request: ReceiveRequest,
    pub(crate) backoff: Backoff,
    pub(crate) tx: mpsc::Sender<Message>,
}

impl Pump {
    pub(crate) async fn run(mut self) {
        let mut failures = 0u32;
        let mut first_open = true;
        loop {
            let reason = match self
                .receive_until_failure(&mut first_open, &mut failures)
                .await
            {
                Ok(reason) => reason,
                Err(terminal) => {
                    let _ = self.tx.send(Message::Failed(terminal)).await;
                    return;
                }
            };
            if self.tx.is_closed() {
                return;
            }
            failures += 1;
            if failures > self.backoff.max_attempts {
                let message = format!(
                    "giving up after {} reconnect attempts: {reason}",
                    failures - 1
                );
                let _ = self
                    .tx
                    .send(Message::Failed(Terminal::Failed(message)))
                    .await;
                return;
            }
            let delay = self.backoff.delay(failures);
            SourceReconnect {
                partition: &self.request.partition,
                attempt: failures,
                delay,
                reason: &reason,
                resume_at: self.request.from_sequence_number,
            }
            .emit();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.tx.closed() => return,
            }
        }
    }

    /// Receives until the stream fails; returns why (to reconnect) or a terminal error.
    async fn receive_until_failure(
        &mut self,
        first_open: &mut bool,
        failures: &mut u32,
    ) -> Result<String, Terminal> {
        let mut stream = self.backend.receive(self.request.clone());
        // The first event after a reopen may not skip ahead (it would mean lost events); on the
        // very first open the partition may begin later than requested (retention).
        let mut first_event = true;
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                _ = self.tx.closed() => return Ok("reader closed".into()),
            };
            let chunk = match item {
                None => return Ok("the receiver stream ended".into()),
                Some(Ok(chunk)) => chunk,
                Some(Err(EventHubError::TakenOver(m))) => return Err(Terminal::TakenOver(m)),
                Some(Err(e)) if e.is_permanent() => return Err(Terminal::Failed(e.to_string())),
                Some(Err(e)) => return Ok(e.to_string()),
            };
            let expected_before = self.request.from_sequence_number;
            let mut accepted = RawBatch::new(self.partition);
            accepted.reserve(chunk.len(), chunk.iter().map(|e| e.body.len()).sum());
            let mut out_of_order = None;
            for event in chunk {
                let expected = self.request.from_sequence_number;
                let seq = event.sequence_number;
                if seq == expected || (seq > expected && first_event && *first_open) {
                    if seq != expected {
                        warn!(partition = %self.request.partition, "partition begins at {seq}, not {expected}");
                    }
                    self.request.from_sequence_number = seq + 1;
                    accepted.push(
                        seq,
                        event.offset,
                        event.enqueued_time_ms,
                        event.partition_key.as_deref(),
                        &event.body,
                    );
                } else if seq > expected && first_event {
                    return Err(Terminal::Failed(format!(
                        "events {expected}..{} are no longer available after a reconnect",
                        seq - 1
                    )));
                } else {
                    out_of_order = Some(format!(
                        "received sequence number {seq}, expected {expected}"
                    ));
                    break;
                }
                first_event = false;
                *first_open = false;
            }
            if !accepted.is_empty() {
                if self.request.from_sequence_number > expected_before {
                    *failures = 0;
                }
                if self.tx.send(Message::Events(accepted)).await.is_err() {
                    return Ok("reader closed".into());
                }
            }
            if let Some(reason) = out_of_order {
                debug!(partition = %self.request.partition, %reason, "reopening the receiver");
                return Ok(reason);
            }
        }
    }
}
