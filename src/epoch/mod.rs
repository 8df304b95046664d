//! Epochs: the pipeline's logical time and the helpers every stage uses to hold data until the
//! frontier says an epoch is complete. It sits below the stages (`dataflow/`, `views/`) and the
//! pipeline that drives them, and imports none of them.
//!
//! - [`Time`]: timely's time in this pipeline, the epoch number (1, 2, ...; 0 carries state
//!   restored from committed tables).
//! - [`EpochPolicy`]: when a worker's input moves to the next epoch: on the wall clock, or after a
//!   fixed number of events (deterministic: what tests use).
//! - [`EpochBuckets`]: per-epoch buckets of data held with a capability until the frontier passes.

mod buckets;
mod policy;

pub use buckets::{epoch_of, EpochBuckets, Vecs};
pub use policy::{EpochClock, EpochPolicy, DEFAULT_MAX_EPOCH_EVENTS, DEFAULT_MAX_LATENCY};

/// Timely time of the pipeline: the epoch number.
pub type Time = u64;

/// Order of deliveries for "first delivery wins": (epoch, partition, sequence number).
pub type DeliveryOrder = (Time, u32, i64);
