//! The pipeline over AMQP: events produced to `medallion emulator` (in process, or the binary on a
//! free port) and read with `--source eventhub`: the tables equal smoke.expected.json, bronze
//! sequence numbers are 0..n-1 per partition, and a run killed with SIGKILL mid-stream, or one
//! whose connections the emulator drops, ends with exactly the tables of an uninterrupted run.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use medallion::emulator::{Emulator, EmulatorConfig, EmulatorHandle, HubSpec};
use medallion::epoch::EpochPolicy;
use medallion::eventhub::BlockingProducer;
use medallion::pipeline::{run, EventHubSpec, ProgressMode, RunConfig, SourceSpec};
use medallion::sink::TableKind;

pub(crate) const PARTITIONS: u32 = 4;

/// The tests here each drive an emulator, a producer and a 2-worker pipeline: on a 2-core machine
/// they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn start_emulator(rt: &tokio::runtime::Runtime) -> EmulatorHandle {
    rt.block_on(Emulator::start(EmulatorConfig {
        port: 0,
        hubs: vec![HubSpec::new("weather", PARTITIONS)],
        ..Default::default()
    }))
    .expect("emulator starts")
}

/// [`start_emulator`] holding the 10,000 smoke events.
pub(crate) fn emulator_with_smoke(rt: &tokio::runtime::Runtime) -> EmulatorHandle {
    let emu = start_emulator(rt);
    assert_eq!(
        produce_file(&emu.connection_string(), &smoke_file()),
        10_000
    );
    emu
}

pub(crate) fn produce_file(connection_string: &str, file: &Path) -> u64 {
    let producer = BlockingProducer::connect(connection_string, Some("weather")).unwrap();
    let (lines, slot) =
        medallion::workload::keyed_lines(file, medallion::workload::KeyScan::Station).unwrap();
    let stats = producer.send_all(lines, None, |_| {}).expect("events sent");
    assert!(slot.lock().unwrap().is_none());
    producer.close();
    stats.events
}

pub(crate) fn eventhub(connection_string: String) -> SourceSpec {
    SourceSpec::EventHub(EventHubSpec {
        connection_string,
        hub: Some("weather".into()),
        stop_when_idle: Some(Duration::from_secs(2)),
        ..Default::default()
    })
}

pub(crate) fn assert_gapless(out: &Path) {
    let lin = lineage(out, TableKind::Bronze);
    for p in 0..PARTITIONS as i32 {
        let seqs: Vec<i64> = lin.iter().filter(|l| l.0 == p).map(|l| l.1).collect();
        assert!(!seqs.is_empty(), "partition {p} has events");
        assert_eq!(
            seqs,
            (0..seqs.len() as i64).collect::<Vec<_>>(),
            "partition {p} gapless"
        );
    }
}

#[test]
fn smoke_through_the_emulator_matches_expected() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = emulator_with_smoke(&rt);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let summary = run(RunConfig {
        source: eventhub(emu.connection_string()),
        out: out.clone().into(),
        now: Some("2026-11-26T12:00:00Z".parse().unwrap()),
        epoch: EpochPolicy::Millis(20),
        timely: timely::CommunicationConfig::Process(2),
        progress: ProgressMode::Lines,
        ..RunConfig::default()
    })
    .expect("run succeeds");
    assert_eq!(summary.events_read, 10_000);
    assert_matches_oracle(&out, &expected_smoke());
    assert_gapless(&out);
    // The bronze rows carry the hub's metadata: every row has a partition key (the station id
    // of its body, as produced) and an enqueued time.
    for b in batches(&out, TableKind::Bronze) {
        let keys = b.column_by_name("partition_key").unwrap();
        assert!(keys.null_count() < b.num_rows());
    }
    rt.block_on(emu.shutdown());
}

#[test]
fn dropped_connections_lose_and_duplicate_nothing() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let cfg = medallion::workload::WorkloadConfig {
        events: 120_000,
        stations: 1000,
        seed: 5,
        now_ms: 1_795_694_400_000,
        ..Default::default()
    };
    medallion::workload::write_jsonl(&cfg, &file).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = start_emulator(&rt);
    produce_file(&emu.connection_string(), &file);
    // The producer is at-least-once (a batch whose acknowledgement was lost is resent), so count
    // what the hub holds.
    let in_hub: u64 = (0..PARTITIONS)
        .map(|p| {
            emu.partition_stats("weather", p)
                .map_or(0, |s| s.events as u64)
        })
        .sum();
    assert!(in_hub >= 120_000);
    let config = |out: &Path, cs: String| RunConfig {
        source: eventhub(cs),
        out: out.into(),
        now: Some("2026-11-26T12:00:00Z".parse().unwrap()),
        epoch: EpochPolicy::Millis(20),
        batch_size: 2000,
        timely: timely::CommunicationConfig::Process(2),
        progress: ProgressMode::Lines,
        ..RunConfig::default()
    };
    let clean = dir.path().join("clean");
    run(config(&clean, emu.connection_string())).unwrap();

    let dropped = dir.path().join("dropped");
    let cs = emu.connection_string();
    let handle = {
        let dropped = dropped.clone();
        std::thread::spawn(move || run(config(&dropped, cs)))
    };
    let mut drops = 0;
    let start = Instant::now();
    while !handle.is_finished() && drops < 3 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(300));
        emu.drop_all_connections();
        drops += 1;
    }
    let summary = handle
        .join()
        .unwrap()
        .expect("the run survives dropped connections");
    assert!(drops >= 1, "connections were dropped while the run read");
    assert_eq!(summary.tables["bronze"], in_hub);
    assert_eq!(
        lineage(&dropped, TableKind::Bronze),
        lineage(&clean, TableKind::Bronze)
    );
    assert_eq!(silver_ids(&dropped), silver_ids(&clean));
    assert_eq!(quality_rows(&dropped), quality_rows(&clean));
    assert_gapless(&dropped);
    rt.block_on(emu.shutdown());
}

/// `medallion emulator` as a child process with hub `weather` of `partitions` partitions; returns
/// it and the connection string it printed.
pub(crate) fn emulator_process(partitions: u32) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args([
            "emulator",
            "--port",
            "0",
            "--hub",
            &format!("weather:{partitions}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let cs = loop {
        let line = lines
            .next()
            .expect("the emulator prints its connection string")
            .unwrap();
        if line.starts_with("Endpoint=") {
            break line;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, cs)
}

pub(crate) fn pipeline(out: &Path, cs: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medallion"));
    c.args([
        "run",
        "--source",
        "eventhub",
        "--hub",
        "weather",
        "--stop-when-idle",
        "2",
    ])
    .args([
        "--workers",
        "2",
        "--epoch-events",
        "2000",
        "--batch-size",
        "1000",
        "--plain-progress",
    ])
    .args(["--now", "2026-11-26T12:00:00Z"])
    .arg("--out")
    .arg(out)
    .env("EVENTHUB_CONNECTION_STRING", cs)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

#[test]
fn sigkill_mid_stream_then_rerun_equals_uninterrupted_run() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (mut emulator, cs) = emulator_process(PARTITIONS);
    let producer = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args([
            "produce",
            "--hub",
            "weather",
            "--events",
            "200000",
            "--stations",
            "1000",
        ])
        .env("EVENTHUB_CONNECTION_STRING", &cs)
        .output()
        .unwrap();
    assert!(
        producer.status.success(),
        "{}",
        String::from_utf8_lossy(&producer.stderr)
    );
    assert!(String::from_utf8_lossy(&producer.stdout).contains("sent 200000 events"));

    let clean = dir.path().join("clean");
    assert!(pipeline(&clean, &cs).status().unwrap().success());
    let crashed = dir.path().join("crashed");
    let mut child = pipeline(&crashed, &cs).spawn().unwrap();
    let still_running = sigkill_after(&mut child, &crashed, 4);
    assert!(
        still_running,
        "the run was killed while it was still running"
    );
    assert!(
        rows(&crashed, TableKind::Bronze) < 200_000,
        "killed mid-way"
    );
    assert!(pipeline(&crashed, &cs).status().unwrap().success());

    assert_same_core_tables(&crashed, &clean);
    assert_gapless(&crashed);
    emulator.kill().unwrap();
    emulator.wait().unwrap();
}

/// `medallion run` with no source: embedded emulator → producer → pipeline, exit code 0, every
/// produced event in bronze; a second run into the same `--out` is refused with a clear message.
#[test]
fn default_run_goes_through_the_embedded_emulator() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_medallion"))
            .args([
                "run",
                "--workers",
                "2",
                "--events",
                "20000",
                "--stations",
                "200",
                "--plain-progress",
            ])
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let first = run();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout.contains("the embedded emulator (20000 events produced"),
        "{stdout}"
    );
    assert_eq!(rows(&out, TableKind::Bronze), 20_000);
    assert_gapless_over(&out, 8);
    let second = run();
    assert_eq!(second.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&second.stderr).contains("already holds the tables"));
}

fn assert_gapless_over(out: &Path, partitions: i32) {
    let lin = lineage(out, TableKind::Bronze);
    for p in 0..partitions {
        let seqs: Vec<i64> = lin.iter().filter(|l| l.0 == p).map(|l| l.1).collect();
        assert_eq!(
            seqs,
            (0..seqs.len() as i64).collect::<Vec<_>>(),
            "partition {p} gapless"
        );
    }
}
