//! Reliability under faults, the reduced versions CI runs (the full harness is
//! `scripts/crash.py`): the process killed at every named fault point (`MEDALLION_FAULT`, see
//! `medallion::fault`) and rerun → exactly the tables of an uninterrupted run; storage that fills
//! up mid-run → a clear error naming the table and file, exit code 2, and a rerun after the fault
//! is gone continues exactly; a corrupt Delta log entry → a clear error, nothing written.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use medallion::fault::Point;

use crate::common::*;

/// `medallion run` over the smoke file: 2 workers, an epoch every 100 events per worker (about
/// 50 epochs, so checkpoints are written along the way: every 10th commit).
fn medallion(out: &Path, fault: Option<&str>) -> Command {
    medallion_with(out, fault, 100)
}

/// [`medallion`] with an epoch every `epoch_events` events per worker.
fn medallion_with(out: &Path, fault: Option<&str>, epoch_events: u64) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medallion"));
    c.args([
        "run",
        "--workers",
        "2",
        "--epoch-events",
        &epoch_events.to_string(),
        // Checkpoints by count (every 10 commits), so that a short run has them.
        "--checkpoint-interval",
        "0s",
        "--plain-progress",
    ])
    .arg("--source")
    .arg(format!("file:{}", smoke_file().display()))
    .arg("--out")
    .arg(out);
    match fault {
        Some(f) => c.env("MEDALLION_FAULT", f),
        None => c.env_remove("MEDALLION_FAULT"),
    };
    c
}

/// One uninterrupted run, shared by the tests.
fn reference() -> &'static Path {
    static REFERENCE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &REFERENCE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("reference");
            let status = medallion(&out, None).output().unwrap();
            assert!(status.status.success(), "{}", combined_output(&status));
            (dir, out)
        })
        .1
}

fn bronze_versions(out: &Path) -> usize {
    bronze_log_versions(out)
}

/// A rerun without the fault ends with the oracle's counts and the reference run's rows.
fn rerun_is_exact(out: &Path, fault: &str) {
    let rerun = medallion(out, None).output().unwrap();
    assert!(
        rerun.status.success(),
        "{fault}: {}",
        combined_output(&rerun)
    );
    assert_matches_oracle(out, &expected_smoke());
    assert_same_core_tables(out, reference());
}

#[test]
fn killed_at_every_named_point_then_rerun_is_exact() {
    // (point, which time it is reached): mid-way through the run, and the first checkpoint.
    let cases = [
        (Point::ParquetWrite, 40),
        (Point::BeforeCommit, 10),
        (Point::Commit, 30),
        (Point::BetweenTables, 25),
        (Point::Checkpoint, 1),
        (Point::DuringCheckpoint, 1),
        (Point::AfterCheckpoint, 1),
    ];
    for (point, n) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let fault = format!("kill@{}:{n}", point.name());
        // ~100 epochs: the first checkpoint (the 10th commit) comes early in the run.
        let killed = medallion_with(&out, Some(&fault), 50).output().unwrap();
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "{fault}: the run was not killed:\n{}",
            combined_output(&killed)
        );
        rerun_is_exact(&out, &fault);
    }
}

#[test]
fn storage_full_stops_with_a_clear_error_and_a_rerun_continues() {
    // (point, the hit from which it fails: well into the run, what the message names)
    let cases = [
        (Point::ParquetWrite, 150, ".parquet"),
        (Point::Commit, 30, "commit of epoch"),
    ];
    for (point, n, what) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let fault = format!("enospc@{}:{n}", point.name());
        let failed = medallion(&out, Some(&fault)).output().unwrap();
        let text = combined_output(&failed);
        assert_eq!(failed.status.code(), Some(2), "{fault}:\n{text}");
        assert!(text.contains("No space left on device"), "{fault}:\n{text}");
        assert!(
            text.contains(what) && text.contains(&out.display().to_string()),
            "{fault}:\n{text}"
        );
        assert!(!text.contains("panicked"), "{fault}:\n{text}");
        // The last committed epoch is intact: the tables read, and bronze holds whole epochs.
        let committed = bronze_versions(&out);
        assert!(
            committed >= 2,
            "{fault}: nothing was committed before the fault"
        );
        let bronze = rows(&out, medallion::sink::TableKind::Bronze);
        assert!(bronze < 10_000, "{fault}: the fault came after the end");
        rerun_is_exact(&out, &fault);
    }
}

#[test]
fn a_corrupt_log_entry_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = medallion(&out, None).output().unwrap();
    assert!(first.status.success(), "{}", combined_output(&first));
    let log = out.join("silver/_delta_log");
    let last = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .max()
        .unwrap();
    std::fs::write(&last, "{\"add\": {\"path\": 42, this is not JSON\n").unwrap();
    let before = bronze_versions(&out);
    let refused = medallion(&out, None).output().unwrap();
    let text = combined_output(&refused);
    assert_eq!(refused.status.code(), Some(2), "{text}");
    assert!(
        text.contains("silver"),
        "the message names the table:\n{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(
        bronze_versions(&out),
        before,
        "a table was written after the refusal"
    );
}

/// The emulator listens on loopback unless told otherwise (`--bind`).
#[test]
fn the_emulator_binds_loopback_by_default() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt
        .block_on(medallion::emulator::Emulator::start(
            medallion::emulator::EmulatorConfig {
                port: 0,
                ..Default::default()
            },
        ))
        .unwrap();
    assert!(emu.local_addr().ip().is_loopback(), "{}", emu.local_addr());
    rt.block_on(emu.shutdown());
    let help = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["emulator", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("[default: 127.0.0.1]"));
}

/// Regression (found by the soak): the committer's in-memory Delta snapshots grew with every
/// commit (~170 KB each) until the process ran out of memory on a long run. The smoke file in
/// ~500 epochs (about 3,500 commits) needed 296 MB more than in 2 epochs before the fix, 71 MB
/// after it (and ran 2.7× faster): the bound is 150 MB.
#[test]
fn memory_does_not_grow_with_the_number_of_commits() {
    let peak = |epoch_events: u64| -> f64 {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let run = medallion_with(&out, None, epoch_events).output().unwrap();
        assert!(run.status.success(), "{}", combined_output(&run));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("_metrics/summary.json")).unwrap())
                .unwrap();
        summary["peak_rss_bytes"]
            .as_f64()
            .expect("peak RSS is measured")
            / 1e6
    };
    let (few, many) = (peak(5000), peak(10));
    assert!(
        many < few + 150.0,
        "peak RSS {many:.0} MB with ~500 epochs against {few:.0} MB with 2"
    );
}

/// Regression (found by fuzzing `emulator_frames`): fe2o3 trusted the sizes a frame declares, so
/// an unauthenticated peer's 32-byte frame declaring a 3 GB string made the emulator allocate
/// 3 GB, and an array of 4 billion zero-width values would keep it decoding. Now such frames close
/// the connection, the process stays small, and it goes on serving; every connection's tasks end
/// once the peers are gone.
#[test]
fn frames_that_lie_about_their_sizes_close_the_connection() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["emulator", "--port", "0", "--hub", "weather:2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut emulator = Kill(child);
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .split_whitespace()
        .find_map(|w| w.parse::<std::net::SocketAddr>().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    std::thread::spawn(move || for _ in lines {});

    let amqp = b"AMQP\x00\x01\x00\x00";
    let str32_3gb: &[u8] = &[
        0, 0, 0, 0x20, 2, 0, 0, 0, 0xb1, 0xc0, 0x13, 0x10, 0x05, 0x53, 0x04, 0, 0, 0, 0, 0x08,
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0, 0,
    ];
    let four_billion_trues: &[u8] = &[
        0, 0, 0, 21, 2, 0, 0, 0, 0x00, 0x53, 0x10, 0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x41,
    ];
    for frame in [str32_3gb, four_billion_trues] {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        s.write_all(amqp).unwrap();
        s.write_all(frame).unwrap();
        // The emulator answers the header and closes; the peer keeps its side open, so the
        // close is the emulator's own.
        let mut got = Vec::new();
        s.read_to_end(&mut got)
            .expect("the emulator closes the connection (no read timeout)");
        assert!(got.starts_with(b"AMQP"), "{got:x?}");
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", emulator.0.id())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    assert!(
        peak_kb < 512 * 1024,
        "the emulator's peak RSS reached {peak_kb} kB"
    );
    // Still serving: a new connection's SASL header is answered.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"AMQP\x03\x01\x00\x00").unwrap();
    let mut answer = [0u8; 8];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"AMQP\x03\x01\x00\x00");
    drop(s);
    emulator.0.kill().unwrap();
}

/// Connections the peer abandons mid-handshake (a failed SASL exchange, garbage, a bare header)
/// release every task: the count of open connections returns to zero.
#[test]
fn abandoned_connections_release_their_tasks() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let emu = medallion::emulator::Emulator::start(medallion::emulator::EmulatorConfig {
            port: 0,
            ..Default::default()
        })
        .await
        .unwrap();
        let inputs: [&[u8]; 4] = [
            b"AMQP\x03\x01\x00\x00\x00\x00\x00\x01\xda\xff\xff\xf8\x02\x00\x01\x08zz\x00Q",
            b"AMQP\x03\x01\x00\x00",
            b"AMQP\x00\x01\x00\x00\x00\x00\x00\x05\xda",
            b"GET / HTTP/1.1\r\n\r\n",
        ];
        for _ in 0..25 {
            for input in inputs {
                let mut s = tokio::net::TcpStream::connect(emu.local_addr())
                    .await
                    .unwrap();
                s.write_all(input).await.unwrap();
                s.shutdown().await.unwrap();
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink).await;
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while emu.open_connections() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{} connections still open 30 s after their peers closed",
                emu.open_connections()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        emu.shutdown().await;
    });
}
