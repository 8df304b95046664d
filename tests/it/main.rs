//! medallion's integration tests, in one test binary (one link of the library instead of one per
//! file). Each module is one area; `common` holds the helpers they share (the shared workload,
//! reading tables back, the Python oracle, view recomputations).
//!
//! Run one area with a filter, e.g. `cargo test --release --test it views::`.

mod common;

mod bounded_state;
mod cli;
mod cloud;
mod cluster;
mod declared_pipeline;
mod dqx_parity;
mod emulator;
mod eventhub_client;
mod eventhub_faults;
mod eventhub_pipeline;
mod file_stats;
mod fuzz_replay;
mod layout;
mod monitoring;
mod oracle;
mod pipeline;
mod python_sdk;
mod quality_cli;
mod quality_conformance;
mod quality_smoke;
mod reliability;
mod restart;
mod shutdown;
mod sources;
mod views;
mod workload;
