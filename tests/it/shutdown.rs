//! Graceful shutdown: SIGTERM or SIGINT during a run (file, generator and Event Hubs sources, and
//! one process of a 2-process cluster) ends it with exit 0 within the deadline, the summary
//! printed and `_metrics/` written, everything it read committed (no epoch is left to redo); a
//! rerun then completes the tables, which equal the oracle (the generator's: an uninterrupted
//! run).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::eventhub_pipeline::{emulator_process, serial};
use medallion::sink::TableKind;

const EVENTS: u64 = 200_000;
const NOW: &str = "2026-11-26T12:00:00Z";
const STATIONS: &str = "1000";

/// The reference workload's 200K events (seed 42, [`STATIONS`] stations) as a file, and the
/// oracle's summary of it: the generator source makes the same events.
fn workload(dir: &Path) -> (PathBuf, serde_json::Value) {
    let file = dir.join("events.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args([
            "generate",
            "--events",
            &EVENTS.to_string(),
            "--now",
            NOW,
            "--stations",
            STATIONS,
            "--out",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", combined_output(&out));
    let oracle = python(&[
        &shared().join("tools/reference.py").display().to_string(),
        &file.display().to_string(),
    ]);
    (file, serde_json::from_str(&oracle).unwrap())
}

/// `medallion run` with small epochs (so that a run is many commits long) and `args`.
fn run_command(out: &Path, args: &[impl AsRef<std::ffi::OsStr>]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medallion"));
    c.arg("run")
        .args([
            "--workers",
            "2",
            "--epoch-events",
            "1000",
            "--batch-size",
            "500",
        ])
        .args(["--now", NOW, "--plain-progress", "--out"])
        .arg(out)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

/// The generator source's arguments for the test workload, and the same paced at 20,000 events/s.
fn generator_args() -> (Vec<String>, Vec<String>) {
    let events = EVENTS.to_string();
    let args: Vec<String> = [
        "--source",
        "generator",
        "--events",
        &events,
        "--stations",
        STATIONS,
        "--partitions",
        "8",
    ]
    .map(String::from)
    .into();
    let paced = [&args[..], &["--rate".into(), "20000".into()]].concat();
    (args, paced)
}

/// Waits for the run's second bronze commit, sends `signal`, and returns its stdout once it has
/// exited (asserting exit 0 within 60 s: the 30 s deadline and some room).
fn signal_after_commits(child: Child, out: &Path, signal: i32) -> String {
    signal_after_commits_times(child, out, signal, 1)
}

/// [`signal_after_commits`], sending `signal` `times` times, 20 ms apart (so that the run has
/// taken the first before the next comes, as it would under a loaded scheduler).
fn signal_after_commits_times(mut child: Child, out: &Path, signal: i32, times: usize) -> String {
    let start = Instant::now();
    while bronze_log_versions(out) < 3 && start.elapsed() < Duration::from_secs(120) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the signal"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for n in 0..times {
        if n > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    }
    exit_0_within_60_s(
        child,
        &format!("the run sent signal {signal} {times} time(s)"),
    )
}

/// Waits up to 60 s (the 30 s shutdown deadline and some room) for `child` to exit, asserts
/// that it exited 0, and returns its stdout.
fn exit_0_within_60_s(mut child: Child, what: &str) -> String {
    let since = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "{what} still runs after 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(status.success(), "{what}: exit status {status:?}\n{stdout}");
    stdout
}

/// The stopped run printed its summary, wrote `_metrics/` and stopped before the end; returns
/// the events it says it read.
fn assert_stopped(out: &Path, summary: &str) -> usize {
    let read: usize = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("stopped on request after reading "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a summary line saying the run was stopped:\n{summary}"));
    let committed = rows(out, TableKind::Bronze);
    assert!(
        committed > 0 && committed < EVENTS as usize,
        "{committed} events committed"
    );
    assert!(
        out.join("_metrics/summary.json").is_file(),
        "_metrics written"
    );
    read
}

/// [`assert_stopped`] for one process: every event it read is committed (no epoch to redo).
fn assert_stopped_cleanly(out: &Path, summary: &str) {
    let read = assert_stopped(out, summary);
    assert_eq!(
        rows(out, TableKind::Bronze),
        read,
        "every event read is committed"
    );
}

#[test]
fn sigterm_and_sigint_stop_a_run_cleanly_and_a_rerun_completes_it() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (file, oracle) = workload(dir.path());
    let file_source = format!("file:{}", file.display());

    // File source, SIGINT (Ctrl-C).
    let out = dir.path().join("file");
    let args = ["--source", &file_source, "--partitions", "8"];
    let child = run_command(&out, &args).spawn().unwrap();
    assert_stopped_cleanly(&out, &signal_after_commits(child, &out, libc::SIGINT));
    assert!(run_command(&out, &args).status().unwrap().success());
    assert_matches_oracle(&out, &oracle);

    // Generator source, paced, SIGTERM.
    let out = dir.path().join("generator");
    let (args, paced) = generator_args();
    let child = run_command(&out, &paced).spawn().unwrap();
    assert_stopped_cleanly(&out, &signal_after_commits(child, &out, libc::SIGTERM));
    assert!(run_command(&out, &args).status().unwrap().success());
    assert_matches_oracle(&out, &oracle);
}

/// `timeout` sends its signal to the run and again to the run's process group, microseconds
/// apart: one request to stop, not a second signal that exits at once without committing (sent
/// 20 ms apart here, so that without the window the second is always seen as a second).
#[test]
fn a_signal_delivered_twice_at_once_stops_the_run_cleanly() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (_, oracle) = workload(dir.path());
    let out = dir.path().join("generator");
    let (args, paced) = generator_args();
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let _ = std::fs::remove_dir_all(&out);
        let child = run_command(&out, &paced).spawn().unwrap();
        let summary = signal_after_commits_times(child, &out, signal, 2);
        assert_stopped_cleanly(&out, &summary);
    }
    assert!(run_command(&out, &args).status().unwrap().success());
    assert_matches_oracle(&out, &oracle);
}

#[test]
fn sigterm_stops_an_event_hubs_run_and_one_process_of_a_cluster_stops_all() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (file, oracle) = workload(dir.path());

    // Event Hubs: read without --stop-when-idle, so only the signal ends the run.
    let (mut emulator, cs) = emulator_process(4);
    let produced = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["produce", "--hub", "weather", "--file"])
        .arg(&file)
        .env("EVENTHUB_CONNECTION_STRING", &cs)
        .output()
        .unwrap();
    assert!(produced.status.success(), "{}", combined_output(&produced));
    let out = dir.path().join("eventhub");
    let args = ["--source", "eventhub", "--hub", "weather"];
    let child = run_command(&out, &args)
        .env("EVENTHUB_CONNECTION_STRING", &cs)
        .spawn()
        .unwrap();
    assert_stopped_cleanly(&out, &signal_after_commits(child, &out, libc::SIGTERM));
    let rerun = run_command(&out, &[&args[..], &["--stop-when-idle", "2"]].concat())
        .env("EVENTHUB_CONNECTION_STRING", &cs)
        .status()
        .unwrap();
    emulator.kill().ok();
    emulator.wait().ok();
    assert!(rerun.success());
    assert_matches_oracle(&out, &oracle);

    // A 2-process cluster: SIGTERM to process 1 stops process 0 too, both exit 0.
    let out = dir.path().join("cluster");
    let hostfile = dir.path().join("hosts");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/loopback_hosts.py");
    std::fs::write(&hostfile, python(&[script.to_str().unwrap(), "2"])).unwrap();
    let file_source = format!("file:{}", file.display());
    let hosts = hostfile.display().to_string();
    // Process `p` of the cluster.
    let process = |p: &str| {
        let args = [
            "--source",
            &file_source,
            "--partitions",
            "8",
            "-n",
            "2",
            "-p",
            p,
            "--hostfile",
            &hosts,
        ];
        run_command(&out, &args).spawn().unwrap()
    };
    let first = process("0");
    let second = process("1");
    signal_after_commits(second, &out, libc::SIGTERM);
    let summary = exit_0_within_60_s(first, "process 0, process 1 stopped,");
    assert_stopped(&out, &summary);
    let (mut a, mut b) = (process("0"), process("1"));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    assert_matches_oracle(&out, &oracle);
}
