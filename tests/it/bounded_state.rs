//! State bounded by event time (issue 25): view groups and quality days leave memory once their
//! writer's watermark is past them, late rows read them back from their files, a restart reads
//! only what can still change (views from their own files, deduplication from the silver rows
//! after its anchors), tables from before all this restore once, and a kill -9 while read-back
//! groups are rewritten reruns exactly. Every check compares with a recomputation over silver and
//! with the Python oracle.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::views::*;
use crate::common::*;

/// 6,000 events of 20 stations every 5 minutes (25 hours of event time, across a midnight),
/// 30% late arrivals (10 to 60 minutes late) and 10% duplicates; the first `first` lines in
/// `part`, all in `full`.
fn generate(dir: &Path, first: usize) -> (PathBuf, PathBuf) {
    let full = dir.join("full.jsonl");
    python(&[
        &shared().join("tools/gen_events.py").display().to_string(),
        "--events",
        "6000",
        "--stations",
        "20",
        "--interval-s",
        "300",
        "--seed",
        "7",
        "--rate",
        "late_arrival=0.3",
        "--rate",
        "duplicate=0.1",
        "--out",
        &full.display().to_string(),
    ]);
    let text = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let part = dir.join("events.jsonl");
    std::fs::write(&part, lines[..first].join("\n") + "\n").unwrap();
    std::fs::copy(
        dir.join("full.jsonl.meta.json"),
        dir.join("events.jsonl.meta.json"),
    )
    .unwrap();
    (part, full)
}

/// `medallion run` over `file` into `out` with groups leaving memory as soon as a newer one is
/// seen (`--lateness-min 0`).
fn bounded(file: &Path, out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medallion"));
    c.args(["run", "--workers", "2", "--partitions", "4"])
        .args(["--epoch-events", "100", "--batch-size", "40"])
        .args(["--lateness-min", "0", "--change-feed", "--plain-progress"])
        .arg("--source")
        .arg(format!("file:{}", file.display()))
        .arg("--out")
        .arg(out);
    c
}

/// [`bounded`], run to the end; returns its log (stderr).
fn run_bounded(file: &Path, out: &Path) -> String {
    run_bounded_with(file, out, &[])
}

/// [`run_bounded`] with more options.
fn run_bounded_with(file: &Path, out: &Path, more: &[&str]) -> String {
    let output = bounded(file, out).args(more).output().unwrap();
    let log = combined_output(&output);
    assert!(output.status.success(), "{log}");
    log
}

fn table(out: &Path, name: &str) -> Vec<arrow::array::RecordBatch> {
    medallion::sink::delta::read_named_table(out, name)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .batches
}

/// The views equal their recomputation over the final silver (and quality) tables, and the core
/// tables equal the oracle's over `full`.
fn assert_exact(out: &Path, full: &Path, context: &str) {
    let silver = table(out, "silver");
    assert_eq!(
        table_latest(&table(out, "station_latest")),
        expected_latest(&silver),
        "{context}: station_latest"
    );
    assert_hourly_eq(
        &table_hourly(&table(out, "station_hourly")),
        &expected_hourly(&silver),
        context,
    );
    assert_eq!(
        quality_counts(&table(out, "quality_by_window")),
        quality_counts(&table(out, "quality")),
        "{context}: quality_by_window"
    );
    let reference: serde_json::Value = serde_json::from_str(&python(&[
        &shared().join("tools/reference.py").display().to_string(),
        &full.display().to_string(),
    ]))
    .unwrap();
    assert_matches_oracle(out, &reference);
}

/// `restore read silver: A of B files, R rows` → (A, B).
fn silver_read(log: &str) -> (usize, usize) {
    files_read(log, "restore read silver: ")
}

/// `…MARKER A of B files…` (the first line holding `marker`) → (A, B).
fn files_read(log: &str, marker: &str) -> (usize, usize) {
    let line = log
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no `{marker}` line in:\n{log}"));
    let words: Vec<&str> = line
        .split(marker)
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    (words[0].parse().unwrap(), words[2].parse().unwrap())
}

#[test]
fn late_rows_reach_groups_that_left_memory_and_a_restart_reads_only_what_can_change() {
    let dir = tempfile::tempdir().unwrap();
    let (part, full) = generate(dir.path(), 3000);
    let out = dir.path().join("out");

    let first = run_bounded(&part, &out);
    assert!(
        first.contains("late keys"),
        "late rows read groups back from their files:\n{first}"
    );
    check_change_feeds(&out);

    std::fs::copy(&full, &part).unwrap();
    let second = run_bounded(&part, &out);
    assert!(
        !second.contains("recomputing the view"),
        "every view restarts from its own files:\n{second}"
    );
    let (read, files) = silver_read(&second);
    assert!(
        read < files,
        "the restore reads only silver files after the anchors ({read} of {files})"
    );
    assert!(second.contains("late keys"), "{second}");
    assert_exact(&out, &full, "after a restart with late rows");
    check_change_feeds(&out);
}

/// The change feeds replayed equal the tables (the rows of groups read back are updates of what
/// the table held, not inserts).
fn check_change_feeds(out: &Path) {
    for (view, keys) in [
        ("station_hourly", &["station_id", "hour"][..]),
        ("station_latest", &["station_id"][..]),
    ] {
        let feed = table(out, &format!("{view}_changes"));
        let mut state: std::collections::BTreeSet<Vec<String>> = Default::default();
        let mut changes = Vec::new();
        for b in &feed {
            let kinds = b
                .column_by_name("_change_type")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap();
            let epochs = b
                .column_by_name("_epoch")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap();
            let key_cols: Vec<_> = keys
                .iter()
                .map(|k| {
                    arrow::util::display::ArrayFormatter::try_new(
                        b.column_by_name(k).unwrap().as_ref(),
                        &Default::default(),
                    )
                    .unwrap()
                })
                .collect();
            for i in 0..b.num_rows() {
                let key: Vec<String> = key_cols.iter().map(|f| f.value(i).to_string()).collect();
                changes.push((epochs.value(i), kinds.value(i).to_string(), key));
            }
        }
        // Epochs restart at 1 with each run, so keep the feed's file order within an epoch
        // number only as far as inserts go: every key is inserted exactly once.
        for (_, kind, key) in &changes {
            if kind == "insert" {
                assert!(state.insert(key.clone()), "{view}: {key:?} inserted twice");
            }
        }
        let rows: usize = table(out, view).iter().map(|b| b.num_rows()).sum();
        assert_eq!(state.len(), rows, "{view}: one insert per row of the table");
    }
}

/// Tables written before groups had their own files, before the exact sums were stored and
/// before silver's commits recorded anchors: the restart adds the columns, recomputes the views
/// from silver once, reads the whole of silver once, and the next restart is bounded again.
#[test]
fn tables_from_before_restore_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (part, full) = generate(dir.path(), 3000);
    let out = dir.path().join("out");
    run_bounded(&part, &out);
    make_old(&out);

    let lines = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    std::fs::write(&part, lines[..4500].join("\n") + "\n").unwrap();
    let second = run_bounded(&part, &out);
    assert!(
        second.contains("added the columns temp_count, _temp_sum, _precip_sum"),
        "{second}"
    );
    assert!(
        second.contains("recomputing the view from its input"),
        "{second}"
    );
    let (read, files) = silver_read(&second);
    assert_eq!(read, files, "no anchors: the whole of silver, once");
    let retention = python(&[
        "-c",
        "import sys, deltalake; print(deltalake.DeltaTable(sys.argv[1]).metadata().configuration)",
        &out.join("station_hourly").display().to_string(),
    ]);
    assert!(
        retention.contains("'delta.deletedFileRetentionDuration': 'interval 1 hours'"),
        "a table from before gets the short tombstone retention: {retention}"
    );

    std::fs::copy(&full, &part).unwrap();
    let third = run_bounded(&part, &out);
    assert!(!third.contains("recomputing the view"), "{third}");
    let (read, files) = silver_read(&third);
    assert!(read < files, "bounded again ({read} of {files})");
    assert_exact(&out, &full, "after restoring tables from before");
}

/// Makes the tables under `out` look as an older medallion left them: `station_hourly` and
/// `quality` rewritten by another writer (files not named by group, `station_hourly` without
/// its exact-state columns), and silver's commits without deduplication anchors.
fn make_old(out: &Path) {
    python(&[
        "-c",
        r#"
import sys, deltalake, pyarrow as pa
out = sys.argv[1]
for name, drop in [("station_hourly", ["temp_count", "_temp_sum", "_precip_sum"]), ("quality", [])]:
    t = deltalake.DeltaTable(f"{out}/{name}").to_pyarrow_table()
    t = t.drop_columns(drop)
    deltalake.write_deltalake(f"{out}/{name}", t, mode="overwrite", schema_mode="overwrite")
"#,
        &out.display().to_string(),
    ]);
    rewrite_log(&out.join("silver"), |v| {
        if let Some(info) = v.get_mut("commitInfo").and_then(|i| i.as_object_mut()) {
            info.remove("medallionDedup");
        }
    });
    // Created before medallion set table properties.
    rewrite_log(&out.join("station_hourly"), |v| {
        if let Some(meta) = v.get_mut("metaData") {
            meta["configuration"] = serde_json::json!({});
        }
    });
}

/// Edits every action of the table's log with `edit` (and deletes its checkpoints, which would
/// still hold the actions unedited).
fn rewrite_log(table: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let log = table.join("_delta_log");
    for entry in std::fs::read_dir(&log).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.contains(".checkpoint") || name == "_last_checkpoint" {
            std::fs::remove_file(&path).unwrap();
        } else if path.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<String> = text
                .lines()
                .map(|l| {
                    let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                    edit(&mut v);
                    v.to_string()
                })
                .collect();
            std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        }
    }
}

/// kill -9 while groups read back for late rows are being rewritten (with `--lateness-min 0`
/// nearly every epoch reads some back), then a rerun: the core tables equal an uninterrupted
/// run's and the views their recomputation.
#[test]
fn sigkill_while_groups_are_read_back_then_rerun_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (_, full) = generate(dir.path(), 10);
    let clean = dir.path().join("clean");
    run_bounded(&full, &clean);
    let crashed = dir.path().join("crashed");
    for kill_at in [8, 16, 24] {
        let mut child = bounded(&full, &crashed)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        sigkill_after(&mut child, &crashed, kill_at);
    }
    run_bounded(&full, &crashed);
    assert_same_core_tables(&crashed, &clean);
    assert_exact(&crashed, &full, "after kill -9 and a rerun");
}

/// Views written every 5 epochs, and a run killed before its 13th epoch commits: silver holds
/// epochs 1–12, the views epochs 1–10. The rerun replays into the views the silver rows after
/// their positions (reading only the silver files that may hold them, recomputing nothing), and
/// every table is exact.
#[test]
fn views_written_every_few_epochs_replay_the_silver_rows_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_, full) = generate(dir.path(), 10);
    let out = dir.path().join("out");
    let cadence = ["--view-every", "5"];
    let killed = bounded(&full, &out)
        .args(cadence)
        .env("MEDALLION_FAULT", "kill@before_commit:13")
        .output()
        .unwrap();
    assert!(!killed.status.success(), "{}", combined_output(&killed));
    assert_eq!(
        commit_versions(&out.join("silver")).len(),
        13,
        "silver: epochs 1–12"
    );
    let second = run_bounded_with(&full, &out, &cadence);
    assert!(
        !second.contains("recomputing the view"),
        "the views replay, never recompute:\n{second}"
    );
    let (read, files) = files_read(&second, "restore read silver for the views that lag it: ");
    assert!(
        read > 0 && read < files,
        "the replay reads only the silver files after the views ({read} of {files})"
    );
    assert_exact(
        &out,
        &full,
        "after a kill with views two epochs behind silver",
    );
    check_change_feeds(&out);
}

/// The commit files of a table's log (`_delta_log/<version>.json`), by version.
fn commit_versions(table: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            name.strip_suffix(".json")?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    v
}

/// `medallion vacuum` also deletes the log entries older than its retention (those before a
/// checkpoint); the tables read the same, and a restart from the shortened logs (positions from
/// the checkpoint, anchors and watermarks from the commits after it) is still exact.
#[test]
fn vacuumed_logs_restore_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (part, full) = generate(dir.path(), 3000);
    let out = dir.path().join("out");
    // Views written at every epoch and checkpoints by count: every table has more commits than
    // a checkpoint's worth, and checkpoints.
    run_bounded_with(
        &part,
        &out,
        &["--view-every", "1", "--checkpoint-interval", "0s"],
    );
    let tables: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("_delta_log").is_dir())
        .collect();
    let before: Vec<Vec<u64>> = tables.iter().map(|t| commit_versions(t)).collect();
    let silver_before = rows(out.as_path(), medallion::sink::TableKind::Silver);

    let output = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["vacuum", "--retention", "0s", "--force", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = combined_output(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("log entries"), "{text}");
    for (t, before) in tables.iter().zip(&before) {
        let after = commit_versions(t);
        assert!(
            before.len() > 10 && after.len() < before.len(),
            "{}: {} commit files before, {} after",
            t.display(),
            before.len(),
            after.len()
        );
        assert_eq!(
            after.last(),
            before.last(),
            "{}: the newest commit stays",
            t.display()
        );
    }
    assert_eq!(
        rows(out.as_path(), medallion::sink::TableKind::Silver),
        silver_before
    );

    std::fs::copy(&full, &part).unwrap();
    let second = run_bounded(&part, &out);
    assert!(
        !second.contains("recomputing the view"),
        "every view restarts from its own files:\n{second}"
    );
    assert_exact(&out, &full, "after a restart from vacuumed logs");
    check_change_feeds(&out);
}
