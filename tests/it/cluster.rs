//! Cluster mode: 2 processes × 2 workers on loopback (started by scripts/launch-cluster.sh)
//! produce the same table contents as 1 process × 1 worker, on the smoke file and on a
//! 200,000-event file; still one Delta commit per table per epoch for the whole cluster.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use medallion::sink::TableKind;

fn run_args(file: &Path, out: &Path) -> Vec<String> {
    vec![
        "--source".into(),
        format!("file:{}", file.display()),
        "--partitions".into(),
        "8".into(),
        "--out".into(),
        out.display().to_string(),
        "--now".into(),
        "2026-11-26T12:00:00Z".into(),
        "--epoch-ms".into(),
        "50".into(),
        "--plain-progress".into(),
    ]
}

fn cluster(file: &Path, out: &Path, processes: usize, workers: usize) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/launch-cluster.sh");
    let output = Command::new("bash")
        .arg(script)
        .args([
            "--processes",
            &processes.to_string(),
            "--workers",
            &workers.to_string(),
            "--",
        ])
        .args(run_args(file, out))
        .env("MEDALLION_BIN", env!("CARGO_BIN_EXE_medallion"))
        .output()
        .expect("launch-cluster.sh runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cluster run failed:\n{text}");
    text
}

fn commits_per_epoch_are_single(out: &Path) {
    // Every version after the table's creation is one epoch's commit: no two commits of the same
    // table carry the same epoch.
    for kind in TableKind::ALL {
        let mut epochs = Vec::new();
        for entry in std::fs::read_dir(out.join(kind.name()).join("_delta_log")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                if let Some(i) = text.find("\"epochId\":") {
                    let rest = text[i + 10..].trim_start_matches('"');
                    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap();
                    assert!(end > 0, "an epoch id in {}", path.display());
                    epochs.push(rest[..end].to_string());
                }
            }
        }
        let n = epochs.len();
        epochs.sort();
        epochs.dedup();
        assert_eq!(epochs.len(), n, "{}: one commit per epoch", kind.name());
        assert!(n > 0, "{}: committed", kind.name());
    }
}

/// The cluster tests pick free loopback ports; running them one at a time keeps two clusters
/// from ever racing for the same port.
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn compare(file: &Path) {
    let _guard = ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    let multi = dir.path().join("multi");
    cluster(file, &single, 1, 1);
    let text = cluster(file, &multi, 2, 2);
    assert!(
        text.contains("[p0] medallion run:"),
        "process 0 prints the summary:\n{text}"
    );
    assert!(
        !text.contains("[p1] medallion run:"),
        "only process 0 prints the summary:\n{text}"
    );
    assert_same_core_tables(&multi, &single);
    commits_per_epoch_are_single(&multi);
}

#[test]
fn two_by_two_equals_one_by_one_on_smoke() {
    compare(&smoke_file());
}

#[test]
fn two_by_two_equals_one_by_one_on_200k() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let cfg = medallion::workload::WorkloadConfig {
        events: 200_000,
        stations: 2000,
        seed: 5,
        now_ms: 1_795_694_400_000,
        ..Default::default()
    };
    medallion::workload::write_jsonl(&cfg, &file).expect("generate");
    compare(&file);
}
