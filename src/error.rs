//! The public error type: every module's own error enum maps into [`Error`] exactly once here,
//! through `From`. `Config` is for configuration only (bad options, conflicting settings).

use thiserror::Error;

/// Any error medallion's library API returns.
#[derive(Debug, Error)]
pub enum Error {
    /// Bad configuration: options that conflict, are out of range, or name what does not exist.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Quality(#[from] crate::quality::QualityError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    Maintenance(#[from] crate::maintenance::MaintenanceError),
    #[error(transparent)]
    EventHub(#[from] crate::eventhub::EventHubError),
    #[error(transparent)]
    Workload(#[from] crate::workload::WorkloadError),
    /// A stage failed during the run: the committer refused the epoch and everything after it.
    #[error(transparent)]
    Dataflow(#[from] crate::dataflow::DataflowError),
    /// A partition could not be read (what was read before it is committed).
    #[error("reading partition {partition}: {source}")]
    Read {
        partition: u32,
        #[source]
        source: crate::source::SourceError,
    },
    /// The embedded emulator or its producer failed.
    #[error("the embedded event hub: {0}")]
    Embedded(String),
    /// A timely worker stopped abnormally.
    #[error("worker {index} failed: {message}")]
    Worker { index: usize, message: String },
    #[error(transparent)]
    Emulator(#[from] crate::emulator::EmulatorError),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Result with medallion's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
