//! # medallion
//!
//! A streaming medallion pipeline for weather telemetry, built on timely and differential dataflow:
//! partitioned sources → **bronze** (raw bodies) → parse → DQX-compatible data-quality rules →
//! **silver** (clean, deduplicated) / **quarantine** (failed, with reasons) → per-rule **quality**
//! aggregates, all written to Delta tables with an exactly-once commit protocol.
//!
//! Modules:
//! - [`workload`]: the reference weather workload generator.
//! - [`source`]: the partitioned source trait and its implementations.
//! - [`parse`]: JSON bodies → typed Arrow columns, with per-row parse errors.
//! - [`quality`]: DQX check definitions evaluated vectorised over Arrow.
//! - [`epoch`]: the pipeline's logical time, epoch policies, per-epoch buckets.
//! - [`dataflow`]: the pipeline's stages as timely operators (extension traits).
//! - [`pipeline`]: a whole run in layers: config, plan, the standard dataflow, workers, summary.
//! - [`sink`]: the table catalog, Parquet writing and the Delta commit protocol.
//! - [`metrics`]: histograms, run summary and progress.
//! - [`telemetry`]: typed telemetry events → Prometheus metrics and log lines; `/metrics`.
//! - [`views`]: views over silver and stream-wide dataset checks, maintained with differential.
//! - [`eventhub`]: the Event Hubs source and producer (medallion's own client on fe2o3-amqp 0.18).
//! - [`emulator`]: a local Event Hubs–compatible AMQP 1.0 endpoint (`medallion emulator`): the
//!   `eventhub-emulator` crate of this workspace, re-exported.

pub mod dataflow;
pub mod epoch;
pub mod error;
pub mod eventhub;
pub mod fault;
pub mod fuzzing;
pub mod maintenance;
pub mod metrics;
pub mod parse;
pub mod pipeline;
pub mod quality;
pub mod sink;
pub mod source;
pub mod storage;
pub mod telemetry;
pub mod views;
pub mod workload;

pub use error::{Error, Result};
/// The Event Hubs emulator (crate `eventhub-emulator`), under its historical path
/// `medallion::emulator`.
pub use eventhub_emulator as emulator;
