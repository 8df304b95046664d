//! The pipeline's stages as timely/differential operators, each an extension trait on a stream,
//! so that users can compose them (and their own stages) in their own dataflows:
//!
//! ```text
//! raw batches ─ process ─┬─ positions ────────────────────────────────────────────────┐
//!                        ├─ table_rows(Bronze) ─ write_table ──────────────────────────┤
//!                        ├─ table_rows(Quarantine) ─ write_table ──────────────────────┤ EpochReport
//!                        ├─ dedup_winners ─┐                                           │  (exchanged
//!                        ├──────────────── silver_rows ─ write_table ──────────────────┤   to worker 0)
//!                        └─ quality_counts ─ write_view(quality), quality_by_window ───┤
//!                                                                                      └─ commit
//! ```
//!
//! - [`per_batch`]: the pure per-batch work (parse, rules, routing, counts) with no state or I/O;
//! - [`operators`]: one operator per file;
//! - [`key_table`]: the deduplication state (compact 128-bit keys by event-time bucket);
//! - [`error`]: why a stage could not finish an epoch.
//!
//! Timely time is the epoch ([`crate::epoch::Time`]); messages are batches. Every table's files for
//! epoch `e` are committed together once the frontier shows that every worker has finished `e`.
//! `crate::pipeline` wires these stages into the standard dataflow.

pub mod error;
pub mod key_table;
pub mod operators;
pub mod per_batch;

pub use error::DataflowError;
pub use operators::{
    newest_event_times, Anchor, Commit, CommitStats, DedupAnchors, DedupWinners, EpochStamps,
    Failure, MadeOf, Process, QualityCounts, QualityState, ReadPositions, RecordedAnchors,
    RestoredDedup, RestoredKey, RowsOf, SilverRows, TableRows, Watermarks, WriteTable,
};
pub use per_batch::{process_batch, ProcessContext, Processed, SkipBelow};
