//! The one error type of the Event Hubs client side.

use thiserror::Error;

use crate::source::SourceError;

/// Errors of the Event Hubs source and producer.
#[derive(Debug, Error)]
pub enum EventHubError {
    /// The connection string lacks a required field.
    #[error("Event Hubs connection string: missing field `{0}`")]
    MissingField(&'static str),
    /// A connection-string field has an unusable value (the value is not echoed: it may be secret).
    #[error("Event Hubs connection string: invalid `{field}`: {reason}")]
    InvalidField { field: &'static str, reason: String },
    /// The hub name is neither given nor in the connection string (`EntityPath`), or they differ.
    #[error("Event Hubs hub name: {0}")]
    HubName(String),
    /// A configuration value is out of range.
    #[error("invalid Event Hubs option: {0}")]
    Config(String),
    /// The hub reported a partition id that is not a non-negative integer.
    #[error("partition id '{0}' is not a number")]
    PartitionId(String),
    /// The partition does not exist.
    #[error("partition {partition} does not exist (the hub has {count} partitions)")]
    NoSuchPartition { partition: u32, count: u32 },
    /// The client library reported an error.
    #[error("{context}: {message}")]
    Client { context: String, message: String },
    /// A received event lacks a required annotation or has a malformed one.
    #[error("malformed event: {0}")]
    MalformedEvent(String),
    /// A reader with a higher owner level (epoch) took the partition.
    #[error("partition taken over by a reader with a higher owner level: {0}")]
    TakenOver(String),
    /// The hub refused the credentials (CBS `put-token` or a link closed as unauthorized).
    #[error("Event Hubs refused access to hub '{hub}': {message}")]
    Unauthorized { hub: String, message: String },
    /// A single event is larger than the maximum batch size.
    #[error("an event of {size} bytes does not fit in an Event Hubs batch")]
    EventTooLarge { size: usize },
    /// Sending kept failing.
    #[error("sending to partition {partition} failed after {attempts} attempts: {message}")]
    SendFailed {
        partition: String,
        attempts: u32,
        message: String,
    },
    /// The background runtime could not be built.
    #[error("cannot start the Event Hubs runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl EventHubError {
    /// Wraps a client-library error with what was being done.
    pub fn client(context: impl Into<String>, error: impl std::fmt::Display) -> Self {
        EventHubError::Client {
            context: context.into(),
            message: error.to_string(),
        }
    }
}

impl EventHubError {
    /// Errors that retrying cannot fix (bad credentials, a displaced reader, bad settings).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            EventHubError::Unauthorized { .. }
                | EventHubError::TakenOver(_)
                | EventHubError::MalformedEvent(_)
                | EventHubError::MissingField(_)
                | EventHubError::InvalidField { .. }
                | EventHubError::HubName(_)
                | EventHubError::Config(_)
        )
    }

    /// The [`SourceError`] for this error on `partition`.
    pub fn into_source_error(self, partition: u32) -> SourceError {
        match self {
            EventHubError::NoSuchPartition { partition, count } => {
                SourceError::NoSuchPartition(partition, count)
            }
            EventHubError::TakenOver(message) => {
                SourceError::PartitionTakenOver { partition, message }
            }
            EventHubError::MissingField(_)
            | EventHubError::InvalidField { .. }
            | EventHubError::HubName(_)
            | EventHubError::Config(_) => SourceError::Invalid(self.to_string()),
            other => SourceError::Remote {
                partition,
                message: other.to_string(),
            },
        }
    }
}
