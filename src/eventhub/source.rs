//! [`EventHubSource`]: Event Hubs partitions as a [`PartitionedSource`].
//!
//! The trait is synchronous and called from timely worker threads in a tight loop, so the source
//! owns a small tokio runtime and one AMQP connection. Each [`EventHubPartitionReader`] has a
//! background task ([`crate::eventhub::pump`]) that receives events on its own link of that
//! connection and passes them in chunks through a bounded channel
//! (back-pressure: at most `channel_chunks` chunks wait); `next_batch` drains the channel without
//! blocking for more than [`EventHubSourceConfig::max_wait`].
//!
//! ## Start positions
//!
//! `open(partition, SequenceNumber(n))` with `n >= 0` reads from sequence number `n` on
//! (`0` is the start of the partition). A negative `n` ([`USE_CONFIGURED_START`]) means "no
//! committed position": the configured [`StartPosition`] (earliest or latest) is resolved to a
//! sequence number through the management API when the reader opens, so [`position`] is always
//! a sequence number.
//!
//! ## Reconnects
//!
//! When the link or connection fails, the task reopens a receiver with exponential backoff at
//! the sequence number after the last event it passed on, so nothing is lost or duplicated;
//! events that come back out of order (e.g. a client library re-attaching with an old filter)
//! are dropped and the receiver reopened. Sequence numbers handed out are strictly consecutive;
//! a gap after a reconnect (events expired meanwhile) is an error.
//!
//! ## Stopping when idle
//!
//! With [`EventHubSourceConfig::stop_when_idle`], a reader that received nothing for that long
//! asks the hub for the partition's last sequence number and ends only if it has handed out
//! everything up to it (a reader that is reconnecting is idle too, but not done).
//!
//! ## Owner level
//!
//! Every reader attaches with the source's owner level (`com.microsoft:epoch`, by default the
//! creation time of the source in ms), so a restarted pipeline takes its partitions from a
//! zombie reader. A displaced reader first returns what it already received, then
//! [`SourceError::PartitionTakenOver`] from every later `next_batch` call: it does not reconnect.
//!
//! [`position`]: PartitionReader::position

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    runtime::Runtime,
    sync::mpsc::{self, error::TryRecvError},
    task::JoinHandle,
};
use tracing::debug;

pub use crate::eventhub::pump::{Backoff, MANAGEMENT_TIMEOUT};
use crate::{
    eventhub::{
        amqp::{AmqpConsumer, Endpoint, SharedConnection},
        build_runtime,
        chunks::ChunkQueue,
        client::{ConsumerBackend, ReceiveRequest},
        connection::ConnectionConfig,
        error::EventHubError,
        pump::{sample_lag, with_retries, Message, Pump, Terminal},
    },
    source::{
        PartitionId, PartitionReader, PartitionedSource, RawBatch, SequenceNumber, SourceError,
    },
};

/// `open` with this (or any negative) sequence number uses the configured [`StartPosition`].
pub const USE_CONFIGURED_START: SequenceNumber = SequenceNumber(-1);

/// Where a reader starts when `open` is given no position (a negative sequence number).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StartPosition {
    /// The first retained event.
    #[default]
    Earliest,
    /// The first event enqueued after the reader opens.
    Latest,
}

/// Configuration of an [`EventHubSource`].
#[derive(Debug, Clone)]
pub struct EventHubSourceConfig {
    /// The connection string (see [`crate::eventhub::connection`]).
    pub connection_string: String,
    /// Hub name; `None` takes the connection string's `EntityPath`.
    pub hub: Option<String>,
    /// Consumer group.
    pub consumer_group: String,
    /// Start used when `open` gets a negative sequence number.
    pub start: StartPosition,
    /// Link credit (events the service may send ahead).
    pub prefetch: u32,
    /// Bounded source: a reader returns `Ok(None)` once its partition had no event for this long.
    /// `None`: unbounded, empty batches when nothing is available.
    pub stop_when_idle: Option<Duration>,
    /// Owner level of the readers; `None`: the current time in ms when the source is created.
    pub owner_level: Option<i64>,
    /// Longest `next_batch` waits when nothing is buffered (default: not at all; the worker's
    /// feed loop parks instead, and a reader that waited would make every idle loop cost a
    /// wait per partition: 5 ms of 200 µs sleeps, 5% of a core with nothing to read).
    pub max_wait: Duration,
    /// Events per chunk passed from the receiving task to the reader.
    pub chunk_events: usize,
    /// Chunks buffered per reader (the channel bound).
    pub channel_chunks: usize,
    /// Threads of the source's runtime.
    pub runtime_threads: usize,
    /// Reconnect backoff.
    pub reconnect: Backoff,
    /// Lifetime of the SAS tokens put on the connection (renewed every half lifetime).
    pub token_lifetime: Duration,
    /// How often the opened partitions' last enqueued sequence numbers are read for the lag
    /// gauges (`medallion_consumer_lag_*`).
    pub lag_interval: Duration,
    /// A connection silent for this long (no events, no heartbeats) is reopened.
    pub idle_timeout: Duration,
}

impl EventHubSourceConfig {
    /// Defaults for `connection_string` and `hub` (consumer group `$Default`, earliest start,
    /// unbounded).
    pub fn new(connection_string: impl Into<String>, hub: impl Into<String>) -> Self {
        EventHubSourceConfig {
            connection_string: connection_string.into(),
            hub: Some(hub.into()),
            consumer_group: "$Default".into(),
            start: StartPosition::Earliest,
            prefetch: 2000,
            stop_when_idle: None,
            owner_level: None,
            max_wait: Duration::ZERO,
            chunk_events: 512,
            channel_chunks: 16,
            runtime_threads: 1,
            reconnect: Backoff::default(),
            token_lifetime: Duration::from_secs(3600),
            lag_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// State shared by the source and its readers; owns the runtime.
struct Shared {
    runtime: Option<Runtime>,
    backend: Arc<dyn ConsumerBackend>,
    config: EventHubSourceConfig,
    owner_level: i64,
    /// Partitions opened by this process (id, hub's name), sampled for the lag gauges.
    opened: Arc<std::sync::Mutex<Vec<(u32, String)>>>,
}

impl Shared {
    fn runtime(&self) -> &Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as Shared")
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Never blocks, so dropping from inside an async context is fine.
            runtime.shutdown_background();
        }
    }
}

/// Event Hubs as a partitioned source.
pub struct EventHubSource {
    shared: Arc<Shared>,
    /// Partition ids as the hub names them, indexed like `partitions`.
    partition_names: Vec<String>,
    partitions: Vec<PartitionId>,
}

impl std::fmt::Debug for EventHubSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHubSource")
            .field("hub", &self.shared.config.hub)
            .field("partitions", &self.partitions)
            .field("owner_level", &self.shared.owner_level)
            .finish_non_exhaustive()
    }
}

impl EventHubSource {
    /// Connects (one AMQP connection for all of the source's readers) and lists the partitions
    /// (management API).
    pub fn connect(config: EventHubSourceConfig) -> Result<Self, EventHubError> {
        let connection = ConnectionConfig::parse(&config.connection_string)?;
        let hub = connection.hub_name(config.hub.as_deref())?;
        let shared = SharedConnection::new(Endpoint {
            connection,
            hub: hub.clone(),
            token_lifetime: config.token_lifetime,
            idle_timeout: config.idle_timeout,
        });
        let backend = AmqpConsumer::new(Arc::new(shared), config.consumer_group.clone());
        Self::with_backend(
            EventHubSourceConfig {
                hub: Some(hub),
                ..config
            },
            Arc::new(backend),
        )
    }

    /// A source over any [`ConsumerBackend`]; lists the partitions now.
    pub fn with_backend(
        config: EventHubSourceConfig,
        backend: Arc<dyn ConsumerBackend>,
    ) -> Result<Self, EventHubError> {
        if config.prefetch == 0 || config.chunk_events == 0 || config.channel_chunks == 0 {
            return Err(EventHubError::Config(
                "prefetch, chunk_events and channel_chunks must be positive".into(),
            ));
        }
        let runtime = build_runtime(config.runtime_threads, "eventhub-source")?;
        let owner_level = config
            .owner_level
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        let names = with_retries(&runtime, config.reconnect, || backend.partition_ids())?;
        let partitions = names
            .iter()
            .map(|n| {
                n.parse::<u32>()
                    .map(PartitionId)
                    .map_err(|_| EventHubError::PartitionId(n.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let opened = Arc::new(std::sync::Mutex::new(Vec::new()));
        runtime.spawn(sample_lag(
            backend.clone(),
            opened.clone(),
            config.lag_interval,
        ));
        Ok(EventHubSource {
            shared: Arc::new(Shared {
                runtime: Some(runtime),
                backend,
                config,
                owner_level,
                opened,
            }),
            partition_names: names,
            partitions,
        })
    }

    /// The owner level (`com.microsoft:epoch`) the readers attach with.
    pub fn owner_level(&self) -> i64 {
        self.shared.owner_level
    }

    /// Opens `partition` with the concrete reader type.
    pub fn open_reader(
        &self,
        partition: PartitionId,
        start: SequenceNumber,
    ) -> Result<EventHubPartitionReader, EventHubError> {
        let index = self.partitions.iter().position(|p| *p == partition).ok_or(
            EventHubError::NoSuchPartition {
                partition: partition.0,
                count: self.partitions.len() as u32,
            },
        )?;
        let name = self.partition_names[index].clone();
        let shared = &self.shared;
        let config = &shared.config;
        let start_seq = if start.0 >= 0 {
            start.0
        } else {
            let info = with_retries(shared.runtime(), config.reconnect, || {
                shared.backend.partition_info(name.clone())
            })?;
            match config.start {
                StartPosition::Earliest => info.beginning_sequence_number.max(0),
                StartPosition::Latest => info.last_enqueued_sequence_number.max(-1) + 1,
            }
        };
        shared
            .opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((partition.0, name.clone()));
        let (tx, rx) = mpsc::channel(config.channel_chunks);
        let pump = Pump {
            partition,
            backend: shared.backend.clone(),
            request: ReceiveRequest {
                partition: name,
                from_sequence_number: start_seq,
                owner_level: Some(shared.owner_level),
                prefetch: config.prefetch,
                max_chunk: config.chunk_events,
            },
            backoff: config.reconnect,
            tx,
        };
        let task = shared.runtime().spawn(pump.run());
        Ok(EventHubPartitionReader {
            partition,
            rx,
            queue: ChunkQueue::new(partition, start_seq),
            terminal: None,
            finished: false,
            stop_when_idle: config.stop_when_idle,
            max_wait: config.max_wait,
            last_activity: Instant::now(),
            task,
            partition_name: self.partition_names[index].clone(),
            shared: shared.clone(),
        })
    }
}

impl PartitionedSource for EventHubSource {
    /// The partitions listed when the source connected.
    fn partitions(&self) -> Vec<PartitionId> {
        self.partitions.clone()
    }

    fn open(
        &self,
        partition: PartitionId,
        start: SequenceNumber,
    ) -> Result<Box<dyn PartitionReader>, SourceError> {
        self.open_reader(partition, start)
            .map(|r| Box::new(r) as Box<dyn PartitionReader>)
            .map_err(|e| e.into_source_error(partition.0))
    }

    /// The configured [`StartPosition`] (earliest or latest), resolved when the reader opens.
    fn initial_position(&self) -> SequenceNumber {
        USE_CONFIGURED_START
    }
}

/// Reads one Event Hubs partition; see the [module docs](self).
pub struct EventHubPartitionReader {
    partition: PartitionId,
    rx: mpsc::Receiver<Message>,
    /// What was received and not yet handed out.
    queue: ChunkQueue,
    terminal: Option<Terminal>,
    finished: bool,
    stop_when_idle: Option<Duration>,
    max_wait: Duration,
    last_activity: Instant,
    task: JoinHandle<()>,
    partition_name: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EventHubPartitionReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHubPartitionReader")
            .field("partition", &self.partition)
            .field("next_seq", &self.queue.next_seq())
            .finish_non_exhaustive()
    }
}

impl Drop for EventHubPartitionReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventHubPartitionReader {
    /// Receives chunks until `max` events are queued, the channel is empty (waiting up to
    /// [`EventHubSourceConfig::max_wait`] while nothing is queued) or the receiving task
    /// reported its end.
    fn receive(&mut self, max: usize) {
        let deadline = Instant::now() + self.max_wait;
        while self.queue.queued() < max && self.terminal.is_none() {
            match self.rx.try_recv() {
                Ok(Message::Events(chunk)) => self.queue.push(chunk),
                Ok(Message::Failed(t)) => self.terminal = Some(t),
                Err(TryRecvError::Empty) => {
                    if self.queue.queued() > 0 || Instant::now() >= deadline {
                        return;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(TryRecvError::Disconnected) => {
                    self.terminal = Some(Terminal::Failed("the receiving task stopped".into()))
                }
            }
        }
    }
}

impl PartitionReader for EventHubPartitionReader {
    fn partition(&self) -> PartitionId {
        self.partition
    }

    fn next_batch(&mut self, max: usize) -> Result<Option<RawBatch>, SourceError> {
        if let Some(t) = self.terminal.as_ref().filter(|_| self.queue.queued() == 0) {
            return Err(t.to_error(self.partition));
        }
        if self.finished {
            return Ok(None);
        }
        let max = max.max(1);
        self.receive(max);
        let (batch, gap) = self.queue.take(max);
        if let Some(gap) = gap {
            self.terminal = Some(Terminal::Failed(gap.to_string()));
        }
        if batch.is_empty() {
            if let Some(t) = &self.terminal {
                return Err(t.to_error(self.partition));
            }
            if self
                .stop_when_idle
                .is_some_and(|idle| self.last_activity.elapsed() >= idle)
            {
                // Idle is not enough (the receiver may be reconnecting): stop only once the
                // partition has nothing past what was handed out.
                let shared = &self.shared;
                let name = self.partition_name.clone();
                let info = with_retries(shared.runtime(), shared.config.reconnect, || {
                    shared.backend.partition_info(name.clone())
                })
                .map_err(|e| e.into_source_error(self.partition.0))?;
                if info.last_enqueued_sequence_number < self.queue.next_seq() {
                    self.finished = true;
                    return Ok(None);
                }
                debug!(partition = %self.partition, "idle but behind the partition's end; waiting");
                self.last_activity = Instant::now();
            }
        } else {
            self.last_activity = Instant::now();
        }
        Ok(Some(batch))
    }

    fn position(&self) -> SequenceNumber {
        SequenceNumber(self.queue.next_seq())
    }
}
