//! The pipeline's stages as timely/differential operators, each an extension trait on a stream,
//! so that users can compose them (and their own stages) in their own `worker.dataflow(...)`:
//!
//! ```text
//! raw batches ─ process ─┬─ positions ──────────────────────────────────────────────┐
//!                        ├─ table_rows(bronze) ─ write_table ────────────────────────┤
//!                        ├─ table_rows(quarantine) ─ write_table ────────────────────┤ FilesWritten
//!                        ├─ dedup_winners ─┐                                         │  (exchanged
//!                        ├─────────────── silver_rows ─ write_table ─────────────────┤   to worker 0)
//!                        └─ quality_counts ─ write_quality (worker 0) ───────────────┤
//!                                                                                    └─ commit
//! ```
//!
//! Timely time is the epoch (`u64`); messages are batches. Every table's files for epoch `e` are
//! committed together once the frontier shows that every worker has finished `e`.

pub mod operators;
pub mod process;
pub mod run;

pub use operators::{
    Commit, DedupWinners, Process, QualityCounts, SilverRows, TableRows, WriteQuality, WriteTable,
};
pub use process::{process_batch, ProcessContext, Processed, SkipBelow};
pub use run::{run, RunConfig, RunSummary, SourceSpec};

/// Timely time of the pipeline: the epoch number.
pub type Time = u64;

/// Order of deliveries for "first delivery wins": (epoch, partition, sequence number).
pub type DeliveryOrder = (u64, u32, i64);

/// The partition used for state restored from committed tables (never a real partition).
pub const RESTORED: u32 = u32::MAX;
