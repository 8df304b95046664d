//! The progress display of a run: a bar (or spinner for unbounded sources) fed from the shared
//! event counter, on stderr, hidden when stderr is not a terminal unless asked for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::RunMetrics;

/// A running progress display; stops when dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Shows progress of `metrics.events_read` towards `total` (if known), refreshed 5×/s.
    /// With `plain`, logs a line every 2 s (`medallion::progress`, level info) instead of drawing a
    /// bar (for logs and CI).
    pub fn start(metrics: Arc<RunMetrics>, total: Option<u64>, plain: bool) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
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
            while !flag.load(Ordering::Relaxed) {
                for _ in 0..4 {
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
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
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
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
