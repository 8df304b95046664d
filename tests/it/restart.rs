//! Exactly-once: a run killed with SIGKILL mid-way and rerun with the same `--out` ends with
//! exactly the rows of an uninterrupted run.

use std::process::{Command, Stdio};

use crate::common::*;
use medallion::sink::TableKind;

fn medallion(out: &std::path::Path, file: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medallion"));
    c.args([
        "run",
        "--workers",
        "2",
        "--partitions",
        "4",
        "--epoch-events",
        "5000",
        "--batch-size",
        "1000",
        "--plain-progress",
    ])
    .arg("--source")
    .arg(format!("file:{}", file.display()))
    .arg("--out")
    .arg(out)
    .args(["--now", "2026-11-26T12:00:00Z"])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

#[test]
fn sigkill_mid_run_then_rerun_equals_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let cfg = medallion::workload::WorkloadConfig {
        events: 400_000,
        stations: 1000,
        seed: 11,
        now_ms: 1_795_694_400_000,
        ..Default::default()
    };
    medallion::workload::write_jsonl(&cfg, &file).expect("generate");

    let clean = dir.path().join("clean");
    assert!(medallion(&clean, &file).status().unwrap().success());

    let crashed = dir.path().join("crashed");
    let mut child = medallion(&crashed, &file).spawn().unwrap();
    let still_running = sigkill_after(&mut child, &crashed, 4);
    assert!(
        still_running,
        "the run was killed while it was still running"
    );
    let partial = rows(&crashed, TableKind::Bronze);
    assert!(
        partial < 400_000,
        "killed mid-way ({partial} rows committed)"
    );

    assert!(medallion(&crashed, &file).status().unwrap().success());
    assert_same_core_tables(&crashed, &clean);

    // The views restart from committed silver and equal those of the uninterrupted run.
    let view = |out: &std::path::Path, name: &str| {
        medallion::sink::delta::read_named_table(out, name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .batches
    };
    use crate::common::views::*;
    // Rows equal but for what records the run itself: `_warnings` (run_id, run_time) and
    // `ingest_time` (when each run read the event).
    let schema = medallion::sink::tables::silver_schema();
    let run_specific = [
        schema.index_of("_warnings").unwrap(),
        schema.index_of("ingest_time").unwrap(),
    ];
    let without_ingest_time = |t: std::collections::BTreeMap<String, Vec<String>>| {
        t.into_iter()
            .map(|(k, row)| {
                let row: Vec<String> = row
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !run_specific.contains(i))
                    .map(|(_, v)| v)
                    .collect();
                (k, row)
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(
        without_ingest_time(table_latest(&view(&crashed, "station_latest"))),
        without_ingest_time(table_latest(&view(&clean, "station_latest")))
    );
    assert_hourly_eq(
        &table_hourly(&view(&crashed, "station_hourly")),
        &table_hourly(&view(&clean, "station_hourly")),
        "after restart",
    );
    assert_eq!(
        quality_counts(&view(&crashed, "quality_by_window")),
        quality_counts(&view(&clean, "quality_by_window"))
    );
}
