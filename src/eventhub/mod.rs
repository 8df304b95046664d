//! Azure Event Hubs client side: a partitioned source ([`EventHubSource`]) and a producer
//! ([`EventHubProducer`]).
//!
//! The AMQP work is medallion's own lean client on fe2o3-amqp 0.18 ([`amqp`]), behind the
//! [`client::ConsumerBackend`] and [`client::ProducerBackend`] traits (so tests and other
//! transports can stand in without touching the source or producer logic).
//!
//! * [`connection`]: connection-string parsing (emulator or real service), key redaction;
//! * [`source`]: [`EventHubSource`] / [`EventHubPartitionReader`], the synchronous
//!   [`crate::source::PartitionedSource`] over a background tokio runtime, with reconnects;
//!   `chunks` holds what a reader received and has not handed out yet;
//! * [`producer`]: [`EventHubProducer`] and [`BlockingProducer`], batched sends per partition.

pub mod amqp;
pub(crate) mod chunks;
pub mod client;
pub mod connection;
pub mod error;
pub mod producer;
pub mod pump;
pub mod source;

pub use connection::ConnectionConfig;
pub use error::EventHubError;
pub use producer::{BlockingProducer, EventHubProducer, ProducerConfig, SendStats};
pub use source::{EventHubPartitionReader, EventHubSource, EventHubSourceConfig, StartPosition};

/// Runs `future` to completion on `runtime` from synchronous code.
///
/// `Runtime::block_on` panics when called from inside another tokio runtime (e.g. a caller's
/// `#[tokio::main]`); in that case the future is driven from a scoped helper thread instead.
pub(crate) fn block_on<F>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return runtime.block_on(future);
    }
    std::thread::scope(
        |scope| match scope.spawn(|| runtime.block_on(future)).join() {
            Ok(output) => output,
            Err(panic) => std::panic::resume_unwind(panic),
        },
    )
}

/// Builds the multi-threaded runtime a source or blocking producer owns.
pub(crate) fn build_runtime(
    threads: usize,
    name: &str,
) -> Result<tokio::runtime::Runtime, EventHubError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(EventHubError::Runtime)
}
