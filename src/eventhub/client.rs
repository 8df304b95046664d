//! The seam between the source/producer logic and an AMQP client library.
//!
//! [`ConsumerBackend`] and [`ProducerBackend`] are all the source and producer need;
//! [`crate::eventhub::amqp`] implements them on fe2o3-amqp.

use futures::{future::BoxFuture, stream::BoxStream};

use crate::eventhub::error::EventHubError;

/// One received event, already decoded from its AMQP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// `x-opt-sequence-number`.
    pub sequence_number: i64,
    /// `x-opt-offset`, parsed as an integer.
    pub offset: i64,
    /// `x-opt-enqueued-time`, milliseconds since the Unix epoch.
    pub enqueued_time_ms: i64,
    /// `x-opt-partition-key`.
    pub partition_key: Option<String>,
    /// The body (all data sections, concatenated).
    pub body: Vec<u8>,
}

/// Positions of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo {
    /// First retained sequence number.
    pub beginning_sequence_number: i64,
    /// Last enqueued sequence number, `-1` when the partition never had an event.
    pub last_enqueued_sequence_number: i64,
    /// No event retained.
    pub is_empty: bool,
}

/// What to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveRequest {
    /// Partition id as the hub names it.
    pub partition: String,
    /// First sequence number to receive (inclusive).
    pub from_sequence_number: i64,
    /// Owner level (`com.microsoft:epoch`), if any.
    pub owner_level: Option<i64>,
    /// Link credit / prefetch count.
    pub prefetch: u32,
    /// Most events per yielded chunk.
    pub max_chunk: usize,
}

/// Chunks of events in partition order; the stream ends or yields an error when the link or
/// connection fails ([`EventHubError::TakenOver`] when an owner level displaced it).
pub type EventChunks = BoxStream<'static, Result<Vec<ReceivedEvent>, EventHubError>>;

/// Receiving side of a client library.
pub trait ConsumerBackend: Send + Sync + 'static {
    /// Partition ids of the hub (management API).
    fn partition_ids(&self) -> BoxFuture<'_, Result<Vec<String>, EventHubError>>;
    /// Positions of one partition (management API).
    fn partition_info(
        &self,
        partition: String,
    ) -> BoxFuture<'_, Result<PartitionInfo, EventHubError>>;
    /// Opens a receiver (lazily, on first poll) on its own connection.
    fn receive(&self, request: ReceiveRequest) -> EventChunks;
}

/// One event to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEvent {
    /// Partition key, carried as the `x-opt-partition-key` annotation.
    pub partition_key: Option<String>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Sending side of a client library.
pub trait ProducerBackend: Send + Sync + 'static {
    /// Partition ids of the hub (management API).
    fn partition_ids(&self) -> BoxFuture<'_, Result<Vec<String>, EventHubError>>;
    /// Sends as many events from the front of `events` as fit in one batch to `partition`
    /// (at least one, else [`EventHubError::EventTooLarge`]); returns how many were sent.
    fn send_batch<'a>(
        &'a self,
        partition: &'a str,
        events: &'a [OutgoingEvent],
    ) -> BoxFuture<'a, Result<usize, EventHubError>>;
    /// Closes the connection.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}
