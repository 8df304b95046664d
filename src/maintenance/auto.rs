//! [`Compactor`]: compaction and vacuum on a timer inside a run (`run --compact-every 10m`). A
//! background thread of process 0 compacts the run's append-only tables every interval while the
//! pipeline commits, then vacuums every table of the run (files removed longer ago than
//! `--vacuum-retention`, 7 days by default), so that a run of months does not fill its storage
//! with the files its rewrites and compactions replaced. A failed compaction or vacuum is logged
//! and tried again at the next interval (it never stops the run: the pipeline's data is
//! committed either way).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::compact::{compact_table, CompactOptions};
use super::vacuum::{vacuum_table, VacuumOptions};
use crate::storage::Output;
use crate::telemetry::events::TableCompacted;

/// The compaction thread of a run; stopped (after the table it is on) when dropped.
pub struct Compactor {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Compactor {
    /// Compacts `tables` at `out` every `every`, then vacuums `vacuumed` with `vacuum`.
    pub fn start(
        out: Output,
        tables: Vec<String>,
        every: Duration,
        opts: CompactOptions,
        vacuumed: Vec<String>,
        vacuum: VacuumOptions,
    ) -> Compactor {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("medallion-compactor".into())
            .spawn(move || {
                let mut next = Instant::now() + every;
                while !stopped.load(Ordering::Relaxed) {
                    if Instant::now() < next {
                        std::thread::sleep(Duration::from_millis(100).min(every));
                        continue;
                    }
                    for table in &tables {
                        if stopped.load(Ordering::Relaxed) {
                            break;
                        }
                        match compact_table(&out, table, &opts) {
                            Ok(r) if r.files_removed > 0 => TableCompacted {
                                table,
                                files_removed: r.files_removed,
                                files_added: r.files_added,
                                bytes: r.bytes_rewritten,
                            }
                            .emit(),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(table = table.as_str(), error = %e, "compaction failed; trying again at the next interval"),
                        }
                    }
                    for table in &vacuumed {
                        if stopped.load(Ordering::Relaxed) {
                            break;
                        }
                        match vacuum_table(&out, table, &vacuum) {
                            Ok(r) if !r.files.is_empty() || r.log_entries > 0 => tracing::info!(
                                table = table.as_str(),
                                files = r.files.len(),
                                log_entries = r.log_entries,
                                "vacuum deleted {} files removed from the table and {} log entries, older than {}",
                                r.files.len(),
                                r.log_entries,
                                humantime::format_duration(vacuum.retention)
                            ),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(table = table.as_str(), error = %e, "vacuum failed; trying again at the next interval"),
                        }
                    }
                    next = Instant::now() + every;
                }
            })
            .expect("the compactor thread starts");
        Compactor {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
