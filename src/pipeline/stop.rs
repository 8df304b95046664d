//! Stopping a run cleanly: [`Stop`], a flag that a run's workers poll between reads. Once it is
//! requested every worker stops reading, the epochs already read finish and are committed, the
//! summary and `_metrics/` are written, and the run returns normally; a restart then continues
//! exactly where the last commit stopped, with no epoch redone. In a cluster a stop requested in
//! one process reaches every process through the dataflow (as does a refused commit).
//!
//! [`Stop::on_signals`] requests it on SIGTERM or SIGINT (what Kubernetes, systemd, Docker and
//! Ctrl-C send), with a deadline, after which (or on a second signal, not the same one delivered
//! twice) the process exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A request to stop reading, shared by a run's workers (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

/// Exit code when a run is stopped by a second signal or does not finish within the deadline.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Signals this soon after the first are part of the same request (see [`Stop::on_signals`]).
pub const SAME_REQUEST: Duration = Duration::from_millis(250);

impl Stop {
    /// Asks the run to stop reading and finish what it read.
    pub fn request(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// A `Stop` requested by the first SIGTERM or SIGINT this process receives. The run then has
    /// `deadline` to finish; when it has not (or on a second signal) the process exits at once
    /// with [`EXIT_INTERRUPTED`], which loses nothing: what was not committed is read again on
    /// restart. A signal within [`SAME_REQUEST`] of the first is not a second one: `timeout`
    /// delivers its signal twice (to the process, then to its process group), which made some
    /// runs under it exit at once. Fails only when the signal handlers cannot be installed.
    pub fn on_signals(deadline: Duration) -> std::io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        let stop = Stop::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Installed here, before the run starts, so that no early signal kills the process.
        let (mut term, mut int) = rt.block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            ))
        })?;
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("medallion-signals".into())
            .spawn(move || {
                rt.block_on(async move {
                    let name = next_signal(&mut term, &mut int).await;
                    tracing::info!(
                        signal = name,
                        deadline_s = deadline.as_secs_f64(),
                        "stopping: finishing and committing what was read (a second signal exits at once)"
                    );
                    let first = tokio::time::Instant::now();
                    flag.request();
                    let why = loop {
                        tokio::select! {
                            _ = tokio::time::sleep_until(first + deadline) => break "the shutdown deadline",
                            _ = next_signal(&mut term, &mut int) => {
                                // `timeout` sends its signal to the process and again to its
                                // process group: a repeat this soon is the same request.
                                if first.elapsed() >= SAME_REQUEST {
                                    break "a second signal";
                                }
                            }
                        }
                    };
                    tracing::warn!(
                        why,
                        "exiting at once; what was not committed is read again on restart"
                    );
                    std::process::exit(EXIT_INTERRUPTED);
                })
            })?;
        Ok(stop)
    }
}

/// The name of the next SIGTERM or SIGINT.
async fn next_signal(
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
