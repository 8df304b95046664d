//! Fault injection for the reliability harness (`scripts/crash.py`, `tests/it/reliability.rs`):
//! named points in the write and commit path where the process dies as under `kill -9`, or where
//! storage fails as on a full disk, chosen by the environment variable `MEDALLION_FAULT`:
//!
//! - `kill@POINT[:N]`: SIGKILL this process the N-th time (default 1) POINT is reached;
//! - `enospc@POINT[:N]`: from the N-th time on, the storage call at POINT fails with
//!   "No space left on device" (only at points that do I/O: `parquet_write`, `commit`).
//!
//! POINTs ([`Point`]): `parquet_write` (a Parquet file partly written), `before_commit` (all of
//! an epoch's files written, nothing committed), `commit` (a table's commit about to be made),
//! `between_tables` (an epoch committed to one table, not yet to the next), `checkpoint` (a
//! checkpoint about to be written), `during_checkpoint` (a kill timed to land while delta-rs
//! writes the checkpoint: 0–20 ms after it starts), `after_checkpoint` (written, the next commit
//! not yet made).
//!
//! Unset, as in every real run, a point costs one atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A place in the write and commit path where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    ParquetWrite,
    BeforeCommit,
    Commit,
    BetweenTables,
    Checkpoint,
    DuringCheckpoint,
    AfterCheckpoint,
}

impl Point {
    /// Every point, in the order a commit reaches them.
    pub const ALL: [Point; 7] = [
        Point::ParquetWrite,
        Point::BeforeCommit,
        Point::Commit,
        Point::BetweenTables,
        Point::Checkpoint,
        Point::DuringCheckpoint,
        Point::AfterCheckpoint,
    ];

    /// The point's name in `MEDALLION_FAULT`.
    pub fn name(self) -> &'static str {
        match self {
            Point::ParquetWrite => "parquet_write",
            Point::BeforeCommit => "before_commit",
            Point::Commit => "commit",
            Point::BetweenTables => "between_tables",
            Point::Checkpoint => "checkpoint",
            Point::DuringCheckpoint => "during_checkpoint",
            Point::AfterCheckpoint => "after_checkpoint",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Kill,
    NoSpace,
}

#[derive(Debug)]
struct Fault {
    action: Action,
    point: Point,
    at: u64,
    hits: AtomicU64,
}

/// Parses `kill@POINT[:N]` / `enospc@POINT[:N]`.
fn parse(spec: &str) -> Result<Fault, String> {
    let (action, rest) = spec
        .split_once('@')
        .ok_or_else(|| format!("MEDALLION_FAULT '{spec}': expected ACTION@POINT[:N]"))?;
    let action = match action {
        "kill" => Action::Kill,
        "enospc" => Action::NoSpace,
        other => {
            return Err(format!(
                "MEDALLION_FAULT: unknown action '{other}' (kill, enospc)"
            ))
        }
    };
    let (name, at) = match rest.split_once(':') {
        Some((n, k)) => (
            n,
            k.parse()
                .map_err(|_| format!("MEDALLION_FAULT: bad count '{k}'"))?,
        ),
        None => (rest, 1),
    };
    let point = Point::ALL
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| format!("MEDALLION_FAULT: unknown point '{name}'"))?;
    Ok(Fault {
        action,
        point,
        at: at.max(1),
        hits: AtomicU64::new(0),
    })
}

fn fault() -> Option<&'static Fault> {
    static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
    FAULT
        .get_or_init(|| {
            let spec = std::env::var("MEDALLION_FAULT").ok()?;
            match parse(&spec) {
                Ok(f) => {
                    tracing::warn!(fault = spec.as_str(), "fault injection is on");
                    Some(f)
                }
                Err(e) => {
                    tracing::error!("{e}; no fault is injected");
                    None
                }
            }
        })
        .as_ref()
}

/// Marks `point` as reached: kills the process, or returns the injected storage error, when
/// `MEDALLION_FAULT` says so.
pub fn reached(point: Point) -> std::io::Result<()> {
    let Some(f) = fault() else {
        return Ok(());
    };
    if f.point != point {
        return Ok(());
    }
    let hit = f.hits.fetch_add(1, Ordering::Relaxed) + 1;
    match f.action {
        Action::Kill if hit == f.at && point == Point::DuringCheckpoint => {
            // Kill from another thread a moment later, while the caller writes the checkpoint.
            let delay_us = u64::from(std::process::id()).wrapping_mul(7919) % 20_000;
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_micros(delay_us));
                kill_self();
            });
            Ok(())
        }
        Action::Kill if hit == f.at => {
            kill_self();
            Ok(())
        }
        Action::NoSpace if hit >= f.at => Err(std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            "No space left on device (injected by MEDALLION_FAULT)",
        )),
        _ => Ok(()),
    }
}

fn kill_self() {
    // SAFETY: kill(2) on our own pid with a valid signal number.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let f = parse("kill@between_tables:3").unwrap();
        assert_eq!(
            (f.action, f.point, f.at),
            (Action::Kill, Point::BetweenTables, 3)
        );
        let f = parse("enospc@parquet_write").unwrap();
        assert_eq!(
            (f.action, f.point, f.at),
            (Action::NoSpace, Point::ParquetWrite, 1)
        );
        assert!(parse("kill@nowhere").unwrap_err().contains("unknown point"));
        assert!(parse("explode@commit")
            .unwrap_err()
            .contains("unknown action"));
    }
}
