//! Helpers shared by the integration tests: paths to the shared workload, reading tables back,
//! and running the Python oracle.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, Int32Array, Int64Array, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use medallion::sink::delta::read_table;
use medallion::sink::TableKind;
use medallion::storage::Output;

pub mod sources;
pub mod views;

pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/workload")
}

pub fn smoke_file() -> PathBuf {
    shared().join("smoke/smoke.jsonl")
}

pub fn expected_smoke() -> serde_json::Value {
    let text = std::fs::read_to_string(shared().join("smoke/smoke.expected.json"))
        .expect("smoke.expected.json");
    serde_json::from_str(&text).expect("valid JSON")
}

pub fn batches(out: impl Into<Output>, kind: TableKind) -> Vec<RecordBatch> {
    read_table(out, kind)
        .unwrap_or_else(|e| panic!("reading {}: {e}", kind.name()))
        .batches
}

pub fn rows(out: impl Into<Output>, kind: TableKind) -> usize {
    batches(out, kind).iter().map(|b| b.num_rows()).sum()
}

/// Failed counts per rule, summed over windows, from the quality table.
pub fn quality_failed(out: impl Into<Output>) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for b in batches(out, TableKind::Quality) {
        let names = b.column(0).as_string::<i32>();
        let failed = b.column(5).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            *m.entry(names.value(i).to_string()).or_insert(0) += failed.value(i);
        }
    }
    m
}

/// Every (partition, sequence_number) of a table, sorted.
pub fn lineage(out: impl Into<Output>, kind: TableKind) -> Vec<(i32, i64)> {
    let mut v = Vec::new();
    for b in batches(out, kind) {
        let (p, s) = partition_and_sequence(&b);
        for i in 0..b.num_rows() {
            v.push((p.value(i), s.value(i)));
        }
    }
    v.sort_unstable();
    v
}

/// Silver's event ids, sorted (with duplicates, if any).
pub fn silver_ids(out: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for b in batches(out, TableKind::Silver) {
        let ids = b
            .column_by_name("event_id")
            .unwrap()
            .as_string::<i32>()
            .clone();
        for i in 0..b.num_rows() {
            if !ids.is_null(i) {
                v.push(ids.value(i).to_string());
            }
        }
    }
    v.sort_unstable();
    v
}

/// Asserts that the run in `out` committed the same bronze and quarantine rows (lineage), silver
/// event ids and quality counts as the run in `reference`.
pub fn assert_same_core_tables(out: &Path, reference: &Path) {
    for kind in [TableKind::Bronze, TableKind::Quarantine] {
        assert_eq!(lineage(out, kind), lineage(reference, kind), "{kind:?}");
    }
    assert_eq!(silver_ids(out), silver_ids(reference));
    assert_eq!(quality_rows(out), quality_rows(reference));
}

/// The quality table as sorted (rule, window_start, evaluated, failed) rows.
pub fn quality_rows(out: &Path) -> Vec<(String, Option<i64>, i64, i64)> {
    let mut v = Vec::new();
    for b in batches(out, TableKind::Quality) {
        let names = b.column(0).as_string::<i32>();
        let start = b
            .column(2)
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let ev = b.column(4).as_primitive::<Int64Type>();
        let f = b.column(5).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            v.push((
                names.value(i).to_string(),
                (!start.is_null(i)).then(|| start.value(i)),
                ev.value(i),
                f.value(i),
            ));
        }
    }
    v.sort();
    v
}

/// The tables under `out` hold what the oracle's summary says: bronze and quarantine row counts,
/// silver deduplicated (its distinct event ids), and per-rule failed counts in the quality table
/// (summed over windows, with parse errors in the `parse` row).
pub fn assert_matches_oracle(out: impl Into<Output>, oracle: &serde_json::Value) {
    let out = &out.into();
    let count = |key: &str| {
        oracle[key]
            .as_u64()
            .unwrap_or_else(|| panic!("oracle has {key}")) as usize
    };
    assert_eq!(
        rows(out, TableKind::Bronze),
        count("bronze_count"),
        "bronze rows"
    );
    assert_eq!(
        rows(out, TableKind::Quarantine),
        count("quarantine_count"),
        "quarantine rows"
    );
    assert_eq!(
        rows(out, TableKind::Silver),
        count("distinct_event_ids_silver"),
        "silver rows"
    );
    let failed = quality_failed(out);
    for (rule, n) in oracle["rule_fail_counts"].as_object().unwrap() {
        assert_eq!(
            failed.get(rule).copied().unwrap_or(0),
            n.as_i64().unwrap(),
            "rule {rule}"
        );
    }
    assert_eq!(
        failed["parse"],
        count("parse_error_count") as i64,
        "parse errors"
    );
}

/// Number of versions in a run's `bronze` Delta log (its commits so far, the table's creation
/// included).
pub fn bronze_log_versions(out: &Path) -> usize {
    std::fs::read_dir(out.join("bronze/_delta_log"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

/// Waits (up to 120 s) until the run writing `out` has `versions` bronze log versions, then kills
/// it with SIGKILL; whether it was still running when killed.
pub fn sigkill_after(child: &mut std::process::Child, out: &Path, versions: usize) -> bool {
    let start = std::time::Instant::now();
    while bronze_log_versions(out) < versions
        && start.elapsed() < std::time::Duration::from_secs(120)
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    still_running
}

/// A finished command's stdout followed by its stderr, as text.
/// Runs `python3 ARGS` and returns its stdout; panics with its output if it fails.
pub fn python(args: &[&str]) -> String {
    let out = std::process::Command::new("python3")
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 {args:?} failed (does `.ci/run`'s install step have what it needs: numpy, \
         pyyaml, azure-eventhub?):\n{}",
        combined_output(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A table batch's `partition` and `sequence_number` columns.
pub fn partition_and_sequence(b: &RecordBatch) -> (Int32Array, Int64Array) {
    let column = |name: &str| {
        b.column_by_name(name)
            .unwrap_or_else(|| panic!("the table has {name}"))
            .clone()
    };
    (
        column("partition").as_primitive::<Int32Type>().clone(),
        column("sequence_number")
            .as_primitive::<Int64Type>()
            .clone(),
    )
}

pub fn combined_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
