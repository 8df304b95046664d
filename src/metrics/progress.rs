//! The progress display of a run: a bar (or spinner for unbounded sources) fed from the shared
//! event counter, on stderr, hidden when stderr is not a terminal unless asked for.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::RunMetrics;

/// A running progress display; stops when dropped.
pub struct Progress {
    /// Dropped to stop the display (its thread waits on it between refreshes, so that it wakes
    /// 5 times a second rather than polling a flag: at 100 events/s the polling was ~2% of the
    /// run's CPU).
    stop: Option<mpsc::Sender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Shows progress of `metrics.events_read` towards `total` (if known), refreshed 5×/s.
    /// With `plain`, logs a line every 2 s (`medallion::progress`, level info) instead of drawing a
    /// bar (for logs and CI).
    pub fn start(metrics: Arc<RunMetrics>, total: Option<u64>, plain: bool) -> Progress {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            let bar = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            if plain {
                bar.set_draw_target(ProgressDrawTarget::hidden());
            }
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {human_pos}/{human_len} events ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let mut ticks = 0u64;
            while let Err(RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(200))
            {
                let n = metrics.events_read.load(Ordering::Relaxed);
                bar.set_position(n);
                ticks += 1;
                if plain && ticks % 10 == 0 {
                    let secs = metrics.started.elapsed().as_secs_f64();
                    match total {
                        Some(t) => tracing::info!(
                            target: "medallion::progress",
                            "{n}/{t} events read ({:.0} events/s)",
                            n as f64 / secs
                        ),
                        None => tracing::info!(
                            target: "medallion::progress",
                            "{n} events read ({:.0} events/s)",
                            n as f64 / secs
                        ),
                    }
                }
            }
            bar.set_position(metrics.events_read.load(Ordering::Relaxed));
            bar.finish_and_clear();
        });
        Progress {
            stop: Some(stop),
            handle: Some(handle),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A progress bar for `medallion produce` (a spinner when the total is unknown); drawn on stderr
/// only when it is a terminal.
pub fn producer_bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {human_pos}/{human_len} events sent ({per_sec})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
