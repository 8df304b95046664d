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
pub mod event;
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

/// `println!` for the command-line tools: a closed pipe (`medallion inspect | head -1`) ends the
/// process quietly with exit 0 instead of a panic.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Writes to stdout; exits 0 at once when the reader has gone (a closed pipe), 2 on any other
/// write error (a full disk behind a redirect).
#[doc(hidden)]
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        tracing::error!(error = %e, "writing to stdout failed");
        std::process::exit(2);
    }
}
/// The Event Hubs emulator (crate `eventhub-emulator`), under its historical path
/// `medallion::emulator`.
pub use eventhub_emulator as emulator;
