//! The embedded path of `SourceSpec::Embedded`: an in-process Event Hubs emulator and a
//! producer of the reference workload, so that the default run exercises the whole AMQP path on
//! a machine without an Azure account.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::config::{EventHubSpec, RunConfig};
use crate::eventhub::{EventHubError, SendStats, StartPosition};
use crate::{Error, Result};

/// The embedded path of `SourceSpec::Embedded`: an in-process emulator and a producer thread
/// sending the reference workload to it; kept alive for the run.
pub struct EmbeddedHub {
    _runtime: tokio::runtime::Runtime,
    handle: crate::emulator::EmulatorHandle,
    producer: Option<std::thread::JoinHandle<std::result::Result<SendStats, EventHubError>>>,
}

impl EmbeddedHub {
    /// Starts the emulator (hub `weather` with `cfg.partitions` partitions, a free loopback
    /// port) and a producer of `cfg.events` workload events; returns once the first events are
    /// sent (or the producer finished).
    pub fn start(cfg: &RunConfig, now: DateTime<Utc>) -> Result<EmbeddedHub> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("emulator")
            .enable_all()
            .build()
            .map_err(|e| Error::Embedded(format!("cannot start its runtime: {e}")))?;
        let config = crate::emulator::EmulatorConfig {
            port: 0,
            hubs: vec![crate::emulator::HubSpec::new("weather", cfg.partitions)],
            ..Default::default()
        };
        let handle = runtime.block_on(crate::emulator::Emulator::start(config))?;
        let connection_string = handle.connection_string();
        let workload = crate::workload::WorkloadConfig {
            events: cfg.events,
            stations: cfg.stations,
            seed: cfg.seed,
            now_ms: now.timestamp_millis(),
            ..Default::default()
        };
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let producer = std::thread::Builder::new()
            .name("producer".into())
            .spawn(move || {
                let producer = crate::eventhub::BlockingProducer::connect(
                    &connection_string,
                    Some("weather"),
                )?;
                let mut signalled = false;
                let stats =
                    producer.send_all(crate::workload::keyed_events(&workload), None, |sent| {
                        if !signalled && sent > 0 {
                            signalled = true;
                            let _ = started_tx.send(());
                        }
                    });
                producer.close();
                stats
            })
            .map_err(|e| Error::Embedded(format!("cannot start the producer: {e}")))?;
        // Wait for the first events (or the producer's end, when the channel closes).
        let _ = started_rx.recv_timeout(Duration::from_secs(60));
        Ok(EmbeddedHub {
            _runtime: runtime,
            handle,
            producer: Some(producer),
        })
    }

    /// The source spec to read the embedded hub with.
    pub fn source(&self) -> EventHubSpec {
        EventHubSpec {
            connection_string: self.handle.connection_string(),
            hub: Some("weather".into()),
            consumer_group: None,
            start: StartPosition::Earliest,
            stop_when_idle: Some(Duration::from_secs(3)),
        }
    }

    /// Waits for the producer; its statistics, or why it failed.
    pub fn finish(mut self) -> Result<SendStats> {
        match self.producer.take().map(|p| p.join()) {
            Some(Ok(r)) => Ok(r?),
            Some(Err(_)) => Err(Error::Embedded("the producer thread panicked".into())),
            None => Err(Error::Embedded("no producer was started".into())),
        }
    }
}
