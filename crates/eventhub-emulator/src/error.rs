//! Error type of the emulator.

use std::io;

/// Errors raised while configuring, starting or running the emulator.
///
/// Errors caused by a misbehaving client never surface here: they are
/// answered on the wire with an AMQP error and the emulator keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A `NAME:PARTITIONS` hub specification could not be parsed.
    #[error("invalid hub spec {spec:?}: {reason}")]
    InvalidHubSpec {
        /// The offending text.
        spec: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The configuration is inconsistent (duplicate hub, no hubs, ...).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Socket or file I/O failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// Generating the self-signed certificate failed.
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] openssl::error::ErrorStack),
    /// Building the TLS acceptor failed.
    #[error("TLS setup failed: {0}")]
    Tls(#[from] native_tls::Error),
    /// A partition log file is corrupt beyond the recoverable tail.
    #[error("partition log {path}: {reason}")]
    Log {
        /// The log file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Result alias used throughout the emulator.
pub type Result<T, E = EmulatorError> = std::result::Result<T, E>;
