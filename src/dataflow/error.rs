//! Errors of the dataflow's stages, as the committer records them (the first failure of a run
//! refuses its epoch and every later one; the run returns it).

use thiserror::Error;

use crate::epoch::Time;
use crate::sink::SinkError;

/// Why a stage could not finish an epoch.
#[derive(Debug, Error)]
pub enum DataflowError {
    /// A stage reported a failure for the epoch (writing a table's file, processing a batch).
    #[error("epoch {epoch}: {stage}: {message}")]
    Stage {
        epoch: Time,
        stage: String,
        message: String,
    },
    /// The Delta commit of a table failed.
    #[error("commit of epoch {epoch} to table {table} failed: {source}")]
    Commit {
        epoch: Time,
        table: String,
        #[source]
        source: SinkError,
    },
}
