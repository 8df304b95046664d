//! Sinks: the output tables, writing Parquet files (any worker) and committing them to Delta
//! (one committer, in epoch order). Writing a file and committing it are separate steps, as in
//! delta-rs' writers: a worker writes [`DataFile`]s and reports them in an [`EpochReport`]; the
//! committer commits all files of an epoch at once, with each partition's last sequence number as
//! a Delta `txn` action (app id `<table>/<partition>`), which is the resume position.
//!
//! - [`tables`]: the run's [`Catalog`] of tables ([`TableId`]s), schemas, named columns;
//! - [`parquet`]: Parquet files of one table and epoch;
//! - [`stats`]: each file's Delta statistics, from its Parquet footer;
//! - [`report`]: what writers tell the committer per epoch;
//! - [`delta`]: the Delta side (create, positions, commit, read back);
//! - [`log`]: the log's upkeep (checkpoints, retention properties, expired entries).

use thiserror::Error;

pub mod delta;
pub mod log;
pub mod parquet;
pub mod report;
pub mod stats;
pub mod tables;

pub use delta::{DeltaTables, TableState};
pub use parquet::DataFile;
pub use report::{BatchRead, EpochReport, Rows};
pub use tables::{Catalog, TableId, TableKind, TableSpec};

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
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}
