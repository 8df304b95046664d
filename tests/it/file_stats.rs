//! Per-file Delta statistics as a foreign reader sees them: every data file's `add` action has
//! min/max/nullCount for the event-time, key and window columns of its table, and a reader
//! filtering silver to the last hour of event time opens fewer files than the table has, yet
//! returns every row a full scan finds.

use crate::common::*;
use arrow::array::AsArray;
use medallion::epoch::EpochPolicy;
use medallion::pipeline::{run, ProgressMode, RunConfig, SourceSpec};

#[test]
fn every_add_has_statistics_and_a_reader_skips_files_by_event_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let tools = shared().join("tools");
    // 40 stations reporting every minute: 20,000 events span about 8 hours of event time.
    python(&[
        &tools.join("gen_events.py").display().to_string(),
        "--events",
        "20000",
        "--stations",
        "40",
        "--seed",
        "11",
        "--out",
        &file.display().to_string(),
    ]);
    let out = dir.path().join("out");
    run(RunConfig {
        source: SourceSpec::File(file),
        partitions: 2,
        out: out.clone().into(),
        epoch: EpochPolicy::Events(1000),
        timely: timely::CommunicationConfig::Process(2),
        progress: ProgressMode::Lines,
        ..RunConfig::default()
    })
    .expect("run succeeds");

    let tables = [
        ("silver", "event_time,station_id,partition,sequence_number"),
        ("quarantine", "partition,sequence_number,ingest_time"),
        ("bronze", "partition,sequence_number,enqueued_time"),
        ("quality", "rule,window_start,window_end"),
        ("station_hourly", "station_id,hour"),
        ("station_latest", "station_id,event_time"),
        ("quality_by_window", "rule,window_start"),
    ];
    let report = read_stats(&out, &tables);
    assert_every_file_has(&report, &tables);
    let silver_files = report["silver"]["files"].as_u64().unwrap();
    let last_hour = &report["last_hour"];
    let opened = last_hour["files_opened"].as_u64().unwrap();
    assert!(
        opened < silver_files,
        "a last-hour read opens {opened} of silver's {silver_files} files"
    );
    assert!(last_hour["rows"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(
        last_hour["rows"], last_hour["rows_by_full_scan"],
        "the filtered read returns every row of the last hour"
    );

    // Compaction's merged files carry statistics too.
    let optimized = std::process::Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["optimize", "--min-age", "0s", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        optimized.status.success(),
        "{}",
        combined_output(&optimized)
    );
    let report = read_stats(&out, &tables[..3]);
    assert_every_file_has(&report, &tables[..3]);
    assert!(
        report["silver"]["files"].as_u64().unwrap() < silver_files,
        "optimize merged silver's files: {report}"
    );
}

/// `file_stats.py`'s report on the tables of `out`.
fn read_stats(out: &std::path::Path, tables: &[(&str, &str)]) -> serde_json::Value {
    let args: Vec<String> =
        std::iter::once(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/file_stats.py").to_string())
            .chain(std::iter::once(out.display().to_string()))
            .chain(tables.iter().map(|(t, c)| format!("{t}:{c}")))
            .collect();
    serde_json::from_str(&python(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
    .unwrap()
}

fn assert_every_file_has(report: &serde_json::Value, tables: &[(&str, &str)]) {
    for &(table, cols) in tables {
        let files = report[table]["files"].as_u64().unwrap();
        assert!(files > 0, "{table} has files: {report}");
        for col in cols.split(',') {
            assert_eq!(
                report[table]["with_stats"][col].as_u64(),
                Some(files),
                "every file of {table} has min/max/nullCount of {col}: {report}"
            );
        }
    }
}

/// Every commit of silver records each partition's watermark (`medallionWatermarks` in its
/// `commitInfo`): the newest event time among the silver rows committed up to that version,
/// continued across a restart.
fn assert_watermarks(out: &std::path::Path) {
    use crate::common::views::{commits, read};
    let root = out.join("silver");
    let mut commit_infos = Vec::new();
    let mut logs: Vec<_> = std::fs::read_dir(root.join("_delta_log"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    logs.sort();
    for log in logs {
        for line in std::fs::read_to_string(log).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(info) = v.get("commitInfo") {
                commit_infos.push(info.get("medallionWatermarks").cloned());
            }
        }
    }
    let history = commits(&root);
    assert_eq!(history.len(), commit_infos.len());
    for (commit, marks) in history.iter().zip(&commit_infos) {
        if commit.epoch.is_none() {
            continue; // the table's creation
        }
        let mut newest: std::collections::BTreeMap<String, i64> = Default::default();
        for b in read(&root, &commit.files) {
            let (parts, _) = partition_and_sequence(&b);
            let times = b
                .column_by_name("event_time")
                .unwrap()
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            for i in 0..b.num_rows() {
                if arrow::array::Array::is_valid(times, i) {
                    let e = newest.entry(parts.value(i).to_string()).or_insert(i64::MIN);
                    *e = (*e).max(times.value(i).div_euclid(1000));
                }
            }
        }
        let recorded: std::collections::BTreeMap<String, i64> = marks
            .as_ref()
            .and_then(|m| m.as_object())
            .map(|m| {
                m.iter()
                    .map(|(p, t)| {
                        let t = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
                            .unwrap()
                            .timestamp_millis();
                        (p.clone(), t)
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            recorded, newest,
            "silver version {}: the recorded watermarks are the newest event times committed",
            commit.version
        );
    }
}

/// The `quality` table holds one file per UTC day of windows, and an epoch rewrites only the
/// days it changed; after a restart the committed files are mapped back to their days by their
/// statistics, so the first epoch does not rewrite the whole table either; the counts stay
/// those of the oracle.
#[test]
fn the_quality_table_rewrites_only_the_days_an_epoch_changed() {
    use crate::common::views::commits;
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    let tools = shared().join("tools");
    // 20 stations reporting hourly: 6,000 events span 12.5 days; late arrivals reach back into
    // days already written.
    python(&[
        &tools.join("gen_events.py").display().to_string(),
        "--events",
        "6000",
        "--stations",
        "20",
        "--interval-s",
        "3600",
        "--seed",
        "5",
        "--rate",
        "late_arrival=0.05",
        "--out",
        &full.display().to_string(),
    ]);
    let text = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, lines[..4000].join("\n") + "\n").unwrap();
    // the generator's "now", which the oracle judges future event times against
    std::fs::copy(
        dir.path().join("full.jsonl.meta.json"),
        dir.path().join("events.jsonl.meta.json"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let run_once = || {
        run(RunConfig {
            source: SourceSpec::File(file.clone()),
            partitions: 2,
            out: out.clone().into(),
            epoch: EpochPolicy::Events(250),
            timely: timely::CommunicationConfig::Process(2),
            progress: ProgressMode::Lines,
            // Written at every epoch: each commit shows what one epoch changed.
            view_every: 1,
            ..RunConfig::default()
        })
        .expect("run succeeds")
    };
    run_once();
    assert_watermarks(&out);
    let root = out.join("quality");
    let first = commits(&root);
    let days_of = |files: &std::collections::BTreeSet<String>| -> Vec<usize> {
        files
            .iter()
            .map(|f| {
                let batches =
                    crate::common::views::read(&root, &std::iter::once(f.clone()).collect());
                let mut days = std::collections::BTreeSet::new();
                for b in &batches {
                    let w = b
                        .column_by_name("window_start")
                        .unwrap()
                        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                    days.extend(w.iter().flatten().map(|us| us.div_euclid(86_400_000_000)));
                }
                days.len()
            })
            .collect()
    };
    let last = first.last().unwrap();
    let per_file = days_of(&last.files);
    assert!(per_file.len() >= 8, "one file per day: {per_file:?}");
    assert!(
        per_file.iter().all(|&d| d <= 1),
        "a file per day: {per_file:?}"
    );
    // Epochs touch the newest day (and late rows an older one): most commits keep most files.
    let replaced: Vec<usize> = first
        .windows(2)
        .map(|w| w[0].files.difference(&w[1].files).count())
        .collect();
    let kept_most = first
        .windows(2)
        .zip(&replaced)
        .filter(|(w, &r)| w[0].files.len() >= 4 && r * 2 < w[0].files.len())
        .count();
    assert!(
        kept_most * 2 > replaced.len(),
        "most commits rewrite few of the table's files: replaced per commit {replaced:?}"
    );

    // Restart on the whole file: the first commit after it rewrites only what it changed.
    std::fs::write(&file, &text).unwrap();
    run_once();
    assert_watermarks(&out);
    let after = commits(&root);
    let before_restart = &first.last().unwrap().files;
    let next = &after[first.len()].files;
    let removed = before_restart.difference(next).count();
    assert!(
        removed * 2 < before_restart.len(),
        "the first epoch after the restart replaced {removed} of {} files",
        before_restart.len()
    );
    let reference: serde_json::Value = serde_json::from_str(&python(&[
        &tools.join("reference.py").display().to_string(),
        &full.display().to_string(),
    ]))
    .unwrap();
    assert_matches_oracle(&out, &reference);
}
