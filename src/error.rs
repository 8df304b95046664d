//! The public error type: every module's own error enum maps into [`Error`] exactly once here.

use thiserror::Error;

/// Any error medallion's library API returns.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Quality(#[from] crate::quality::QualityError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error(transparent)]
    Emulator(#[from] crate::emulator::EmulatorError),
    #[error("{0}")]
    Config(String),
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
