//! Sinks: the output tables, writing Parquet files (any worker) and committing them to Delta
//! (one committer, in epoch order). Writing a file and committing it are separate steps, as in
//! delta-rs' writers: a worker reports [`FilesWritten`] for an epoch; the committer commits all
//! files of an epoch at once, with each partition's last sequence number as a Delta `txn`
//! action (app id `<table>/<partition>`), which is the resume position.

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub mod delta;
pub mod parquet;
pub mod tables;

pub use delta::{DeltaTables, TableState};
pub use tables::{TableKind, TableSpec};

/// Errors of sinks.
#[derive(Debug, Error)]
pub enum SinkError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Parquet error on {path}: {source}")]
    Parquet {
        path: String,
        #[source]
        source: ::parquet::errors::ParquetError,
    },
    #[error("Delta error on table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: deltalake::DeltaTableError,
    },
    #[error("Arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("table {table}: {message}")]
    Invalid { table: String, message: String },
}

/// What a worker wrote for one table in one epoch: files to add (Delta `add` actions as JSON,
/// so that they travel through timely's serialisation), files to remove (for tables rewritten in
/// place), and the last sequence number of each partition whose events the epoch covered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesWritten {
    /// Index of the table ([`TableKind`] as u8 for the core tables; extra tables follow).
    pub table: u8,
    pub epoch: u64,
    pub adds: Vec<String>,
    pub removes: Vec<String>,
    pub positions: Vec<(u32, i64)>,
    pub rows: u64,
    /// `rows` is the number of rows this worker's part of the table now holds (tables rewritten
    /// in place: quality, views), not the number appended.
    pub snapshot: bool,
    /// The worker that wrote the files.
    pub worker: u32,
    /// For end-to-end latency and cluster-wide throughput: (read time in ms, events, body bytes)
    /// of each source batch.
    pub batches: Vec<(i64, u64, u64)>,
}
