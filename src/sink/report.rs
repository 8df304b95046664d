//! What writers tell the committer about an epoch: the typed messages between the workers that
//! write files and the one worker that commits them.

use serde::{Deserialize, Serialize};

use super::parquet::DataFile;
use super::tables::TableId;
use crate::epoch::Time;

/// One source batch as read: for end-to-end latency and cluster-wide throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRead {
    /// When the batch's oldest event became available (ms since the Unix epoch; see
    /// [`crate::source::RawBatch::available_ms`]).
    pub read_ms: i64,
    /// When its newest event became available (0: as `read_ms`).
    #[serde(default)]
    pub last_read_ms: i64,
    pub events: u64,
    pub body_bytes: u64,
}

/// How many rows a writer's report stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rows {
    /// Rows appended by this epoch's files (bronze, silver, quarantine, change feeds).
    Appended(u64),
    /// Rows this worker's part of a table rewritten in place now holds (quality, views).
    Holds(u64),
}

/// A worker's report on one epoch, sent to the committer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EpochReport {
    /// What a worker read in the epoch: the last sequence number of each partition (recorded in
    /// every table's commit of the epoch as its resume position) and the source batches.
    Read {
        epoch: Time,
        positions: Vec<(u32, i64)>,
        batches: Vec<BatchRead>,
    },
    /// Files a writer wrote for one table in the epoch, and the committed files they replace.
    Files {
        epoch: Time,
        table: TableId,
        worker: u32,
        adds: Vec<DataFile>,
        removes: Vec<String>,
        rows: Rows,
    },
    /// The newest event time (ms) of each partition's silver rows in the epoch, as one worker
    /// wrote them: the committer keeps each partition's greatest, its watermark.
    Watermarks { epoch: Time, marks: Vec<(u32, i64)> },
    /// Per partition, the newest event time (ms) of the epoch's silver rows that have an
    /// `event_id`, and the newest ingest time (ms) of those without an event time, as one worker
    /// wrote them: what moves deduplication's clocks (the committer keeps its anchors from them).
    DedupStamps {
        epoch: Time,
        stamps: Vec<(u32, Option<i64>, Option<i64>)>,
    },
    /// A view writer holds changes of `table` it writes at a later epoch (views are written every
    /// `--view-every` epochs): the committer leaves the table as it is in this epoch, so its
    /// positions still say which silver rows it holds.
    Deferred { epoch: Time, table: TableId },
    /// A stage could not do its part of the epoch: the committer commits nothing of this epoch
    /// or any later one, and the run ends with this error.
    Failed {
        epoch: Time,
        /// Where: the table or stage, e.g. `silver` or `process`.
        stage: String,
        error: String,
    },
}

impl EpochReport {
    /// The epoch the report is about.
    pub fn epoch(&self) -> Time {
        match self {
            EpochReport::Read { epoch, .. }
            | EpochReport::Files { epoch, .. }
            | EpochReport::Watermarks { epoch, .. }
            | EpochReport::DedupStamps { epoch, .. }
            | EpochReport::Deferred { epoch, .. }
            | EpochReport::Failed { epoch, .. } => *epoch,
        }
    }

    /// The report of a failed write of `table` (or stage) in `epoch`.
    pub fn failed(epoch: Time, stage: &str, error: impl std::fmt::Display) -> EpochReport {
        EpochReport::Failed {
            epoch,
            stage: stage.to_string(),
            error: error.to_string(),
        }
    }
}
