//! Telemetry as typed events (after Vector's `internal_events`): operators and sources build an
//! event per batch, commit, reconnect or lag sample and call its `emit`, which updates the
//! process's Prometheus metrics ([`Metrics`]), the run's histograms and writes one log line.
//! [`server`] serves the metrics (`GET /metrics`, OpenMetrics text) and `GET /healthz`.

pub mod events;
pub mod registry;
pub mod server;

pub use events::{
    BatchProcessed, CommitFailed, EpochCommitted, LagSampled, RuleLabels, RunStarted,
    SourceReconnect, TableCommitted, ViewGroupsMoved,
};
pub use registry::Metrics;
pub use server::MetricsServer;
