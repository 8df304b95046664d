//! # eventhub-emulator
//!
//! An Azure Event Hubs–compatible AMQP 1.0 endpoint for local runs and tests: a small broker
//! that speaks enough of the Event Hubs AMQP dialect for Microsoft's SDKs (Python
//! `azure-eventhub`; the Rust `azure_messaging_eventhubs` was medallion's client until 0.2),
//! medallion's own client and plain fe2o3-amqp clients to produce and consume events without
//! Azure:
//!
//! * plain AMQP and TLS (self-signed `localhost` certificate) on one port, see [`server`],
//!   [`tls`], the frame normaliser in [`stream`] and the inbound frame checks in [`inbound`];
//! * SASL ANONYMOUS/PLAIN and `$cbs` put-token, optionally verifying SAS tokens against a key
//!   and then requiring them per connection like the service, see [`cbs`] and [`auth`];
//! * each event stored once encoded and sent through a placeholder the socket pump swaps back,
//!   see [`substitute`];
//! * `$management` READ of hub and partition properties, see [`management`];
//! * producer links to `<hub>` and `<hub>/Partitions/<id>` (single messages and batches) and
//!   consumer links on `<hub>/ConsumerGroups/<cg>/Partitions/<id>` with selector filters and
//!   owner levels, see [`link`], [`selector`] and [`hub`];
//! * in-memory partition logs, or append-only files under `--data-dir` that survive restarts,
//!   see [`log`].
//!
//! Start it with [`Emulator::start`] (tests, embedded use) or [`run_cli`] (a command-line
//! front end; [`EmulatorArgs`] are its clap arguments).
//!
//! ## In medallion
//!
//! The `medallion` pipeline crate depends on this one (never the other way round) and
//! re-exports it as `medallion::emulator`: `medallion emulator` is [`run_cli`], the pipeline's
//! default `embedded` source starts an [`Emulator`] in process and reads it over AMQP, and its
//! integration tests drive it with SDK clients. [`hub::partition_for_key`], the emulator's
//! partition-key → partition mapping, is also the hash medallion's own sources partition by,
//! so that file, generator and Event Hubs input put a key in the same partition. Errors map
//! into medallion's `Error::Emulator`.

pub mod address;
pub mod auth;
pub mod cbs;
pub mod config;
pub mod error;
pub mod fuzzing;
pub mod hub;
pub mod inbound;
pub mod link;
pub mod log;
pub mod management;
pub mod selector;
pub mod server;
pub mod stream;
pub mod substitute;
pub mod tls;

use std::{net::SocketAddr, sync::Arc};

use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use config::{EmulatorArgs, EmulatorConfig, HubSpec};
pub use error::{EmulatorError, Result};

use crate::{
    config::{DEFAULT_SAS_KEY_NAME, DEFAULT_SAS_KEY_VALUE},
    hub::Broker,
    server::Shared,
};

/// Entry point: starts emulator instances.
#[derive(Debug, Clone, Copy)]
pub struct Emulator;

/// Statistics of one partition, for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStats {
    /// Number of events appended (retained or expired: the next sequence number).
    pub events: usize,
    /// Sequence number of the last event, `-1` when empty.
    pub last_sequence_number: i64,
}

/// A running emulator. Dropping the handle does not stop it; call
/// [`EmulatorHandle::shutdown`].
pub struct EmulatorHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    accept_task: JoinHandle<()>,
    sas_key: Option<String>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Binds the listener, loads the partition logs and starts serving.
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle> {
        let broker = Arc::new(Broker::new(&config)?);
        let tls = tls::generate()?;
        let listener = TcpListener::bind(SocketAddr::new(config.bind, config.port)).await?;
        let local_addr = listener.local_addr()?;
        let (kill, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            broker,
            tls,
            kill,
            open_connections: Arc::default(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let accept_task = tokio::spawn(server::accept_loop(listener, shared.clone(), shutdown_rx));
        Ok(EmulatorHandle {
            local_addr,
            shared,
            shutdown,
            accept_task,
            sas_key: config.sas_key,
        })
    }
}

impl EmulatorHandle {
    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connection string for Event Hubs SDKs (plain AMQP on this port).
    pub fn connection_string(&self) -> String {
        format!(
            "Endpoint=sb://localhost:{};SharedAccessKeyName={};SharedAccessKey={};UseDevelopmentEmulator=true;",
            self.local_addr.port(),
            DEFAULT_SAS_KEY_NAME,
            self.sas_key.as_deref().unwrap_or(DEFAULT_SAS_KEY_VALUE),
        )
    }

    /// PEM of the self-signed certificate served on TLS connections.
    pub fn cert_pem(&self) -> &str {
        &self.shared.tls.cert_pem
    }

    /// Closes every open connection abruptly; the emulator keeps serving.
    pub fn drop_all_connections(&self) {
        self.shared.kill.send_modify(|generation| *generation += 1);
    }

    /// Connections not yet fully closed: counted from accept until the socket handler and the
    /// socket pump have both ended (what a closed peer's connection still holds).
    pub fn open_connections(&self) -> usize {
        self.shared
            .open_connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Statistics of a partition, `None` for an unknown hub or partition.
    pub fn partition_stats(&self, hub: &str, partition: u32) -> Option<PartitionStats> {
        let hub = self.shared.broker.hub(hub)?;
        let partition = hub.partitions.get(partition as usize)?;
        let log = partition.log();
        Some(PartitionStats {
            events: log.end(),
            last_sequence_number: log.last().map_or(-1, |e| e.sequence_number),
        })
    }

    /// Stops accepting, drops all connections and waits for the accept loop.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.drop_all_connections();
        let _ = self.accept_task.await;
    }
}

/// Runs the emulator until Ctrl-C, printing the connection string on start.
pub async fn run_cli(args: EmulatorArgs) -> Result<()> {
    let config = EmulatorConfig::from(args);
    let hubs: Vec<String> = config
        .hubs
        .iter()
        .map(|h| format!("{}:{}", h.name, h.partitions))
        .collect();
    let handle = Emulator::start(config).await?;
    println!(
        "Event Hubs emulator listening on {} (plain AMQP and TLS), hubs: {}",
        handle.local_addr(),
        hubs.join(", ")
    );
    println!("{}", handle.connection_string());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}
