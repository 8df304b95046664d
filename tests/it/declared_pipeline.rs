//! A second pipeline, different from the weather one, runs end to end from a pipeline file alone
//! (`tests/it/declared_pipeline.py` writes the file and the input: machine sensors with an integer
//! id and key, a boolean, epoch-millisecond times, a nested object, an undeclared field, bad
//! bodies, duplicates and late rows); silver, quarantine and both declared views equal an
//! independent recomputation in Python, also after a kill -9 and a rerun. Options from the
//! environment beat the file's.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/declared_pipeline.py");

fn medallion(dir: &Path, out: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medallion"));
    c.current_dir(dir)
        .args([
            "run",
            "--pipeline",
            "sensors.yml",
            "--workers",
            "2",
            "--out",
            out,
        ])
        .env("MEDALLION_PARTITIONS", "3")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn check(dir: &Path, out: &str) -> serde_json::Value {
    let report = python(&[
        SCRIPT,
        "check",
        &dir.display().to_string(),
        &dir.join(out).display().to_string(),
    ]);
    serde_json::from_str(&report).unwrap()
}

#[test]
fn sensors_pipeline_from_a_file_equals_a_recomputation_also_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    python(&[SCRIPT, "generate", &d.display().to_string(), "12000", "5"]);

    let valid = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .current_dir(d)
        .args(["validate", "--pipeline", "sensors.yml"])
        .output()
        .unwrap();
    assert!(valid.status.success(), "{}", combined_output(&valid));

    let clean = medallion(d, "clean").output().unwrap();
    assert!(clean.status.success(), "{}", combined_output(&clean));
    let report = check(d, "clean");
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert!(report["quarantine"].as_u64().unwrap() > 100, "{report}");
    assert!(report["groups"].as_u64().unwrap() > 100, "{report}");
    // MEDALLION_PARTITIONS=3 beat the file's `partitions: 4`.
    let partitions: std::collections::BTreeSet<i32> =
        lineage(d.join("clean"), medallion::sink::TableKind::Bronze)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
    assert_eq!(partitions, [0, 1, 2].into_iter().collect());

    let mut child = medallion(d, "crashed")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    sigkill_after(&mut child, &d.join("crashed"), 4);
    let rerun = medallion(d, "crashed").output().unwrap();
    assert!(rerun.status.success(), "{}", combined_output(&rerun));
    let report = check(d, "crashed");
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
}

/// `medallion validate` on a file of `text`.
fn validate(file: &Path, text: &str) -> std::process::Output {
    std::fs::write(file, text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["validate", "--pipeline"])
        .arg(file)
        .output()
        .unwrap()
}

/// A dozen kinds of bad pipeline files: `validate` and `run` both exit 2 naming the key.
#[test]
fn bad_pipeline_files_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yml");
    let f = "event: {fields: [{name: a, type: string}, {name: t, type: timestamp}], time: t}\n";
    let cases: &[(String, &str)] = &[
        ("fields: []\n".into(), "fields: unknown key"),
        ("event: {fields: [{name: a, type: text}]}\n".into(), "event.fields[0].type"),
        ("event: {fields: [{name: 1a, type: string}]}\n".into(), "event.fields[0].name"),
        ("event: {fields: [{name: a, type: string, format: epoch_ms}]}\n".into(), "event.fields[0].format"),
        ("event: {fields: [{name: a, type: float}], id: a}\n".into(), "event.id"),
        ("event: {fields: [{name: a, type: string}], time: a}\n".into(), "event.time"),
        ("event: {fields: [{name: a, type: string}], unknown_fields: drop}\n".into(), "event.unknown_fields"),
        (format!("{f}views: [{{name: v, kind: aggregate, window: 7m, aggregates: [{{fn: count}}]}}]\n"), "views[0].window"),
        (format!("{f}views: [{{name: v, kind: aggregate, window: 5m, aggregates: [{{fn: avg, column: a}}]}}]\n"), "views[0].aggregates[0].column"),
        (format!("{f}views: [{{name: v, kind: latest, key: [b]}}]\n"), "views[0].key[0]"),
        (format!("{f}views: [{{name: v, kind: median}}]\n"), "views[0].kind"),
        (format!("{f}checks: [{{criticality: error, check: {{function: is_not_null, arguments: {{column: b}}}}}}]\n"), "checks[0]"),
        (format!("{f}checks: nowhere.yml\n"), "checks: check file"),
        (format!("{f}run: {{max_latency: soon}}\n"), "run.max_latency"),
        (format!("{f}run: {{storage_option: {{azure_storage_account_key: abc}}}}\n"), "run.storage_option"),
    ];
    for (text, key) in cases {
        for command in ["validate", "run"] {
            std::fs::write(&file, text).unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_medallion"))
                .args([command, "--pipeline"])
                .arg(&file)
                .output()
                .unwrap();
            let shown = combined_output(&out);
            assert_eq!(out.status.code(), Some(2), "{command} {text}: {shown}");
            assert!(
                shown.contains(key),
                "{command} {text}: no {key:?} in {shown}"
            );
        }
    }
}

/// Bad pipeline files: exit 2, every problem named by key and line.
#[test]
fn validate_names_each_problem_by_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yml");
    let out = validate(&file, "event:\n  fields:\n    - {name: a, type: strin}\n  id: b\nviews:\n  - {name: v, kind: latest, key: [a], colour: red}\nrun:\n  max_latency: soon\n  no_such_option: 1\n");
    assert_eq!(out.status.code(), Some(2), "{}", combined_output(&out));
    let text = combined_output(&out);
    for want in [
        "line 3: event.fields[0].type: unknown value 'strin'",
        "line 6: views[0].colour: unknown key 'colour'",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // With the shape fixed, the next layer's problems, all at once.
    let out = validate(&file, "event:\n  fields:\n    - {name: a, type: string}\n  id: b\nrun:\n  max_latency: soon\n  no_such_option: 1\n");
    assert_eq!(out.status.code(), Some(2));
    let text = combined_output(&out);
    assert!(
        text.contains("line 4: event.id: no declared field is named 'b'"),
        "{text}"
    );
    let out = validate(&file, "event:\n  fields:\n    - {name: a, type: string}\nrun:\n  max_latency: soon\n  no_such_option: 1\n  connection_string: Endpoint=sb://x\n");
    assert_eq!(out.status.code(), Some(2));
    let text = combined_output(&out);
    for want in [
        "line 5: run.max_latency:",
        "line 6: run.no_such_option: unknown option",
        "line 7: run.connection_string: a secret is not written in a file",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

/// The shipped and the example pipeline files validate against `docs/pipeline.schema.json`, whose
/// `run` settings are exactly `medallion run`'s options, and the reference page describes every
/// key the schema defines.
#[test]
fn pipeline_files_docs_and_options_agree_with_the_json_schema() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    python(&[SCRIPT, "generate", &d.display().to_string(), "10", "1"]);
    let help = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let options: Vec<String> = help
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l
                .strip_prefix("-")
                .filter(|r| r.chars().nth(1) == Some(','))
                .map_or(l, |r| r[2..].trim_start());
            l.strip_prefix("--")
                .map(|r| r.split([' ', '=', ',']).next().unwrap().to_string())
        })
        .collect();
    assert!(options.len() > 30, "{options:?}");
    let repo = env!("CARGO_MANIFEST_DIR");
    let weather = format!("{repo}/pipelines/weather.yml");
    let sensors = d.join("sensors.yml").display().to_string();
    let mut args = vec![SCRIPT, "schema", repo, &weather, &sensors, "--"];
    args.extend(options.iter().map(String::as_str));
    let report: serde_json::Value = serde_json::from_str(&python(&args)).unwrap();
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
}

/// Schema evolution: a field added to the event's declaration is added to the existing tables
/// (older rows read it as null) on the next run; a field removed or retyped is refused, naming it.
#[test]
fn an_added_field_evolves_the_tables_a_removed_or_retyped_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    python(&[SCRIPT, "generate", &d.display().to_string(), "4000", "9"]);
    let full = std::fs::read_to_string(d.join("sensors.yml")).unwrap();
    let full = full.replace(
        "  key: machine\n",
        "  key: machine\n  unknown_fields: ignore\n",
    );
    let lines = std::fs::read_to_string(d.join("sensors.jsonl")).unwrap();
    let half: Vec<&str> = lines.lines().take(2000).collect();
    std::fs::write(d.join("half.jsonl"), half.join("\n") + "\n").unwrap();
    let run = |pipeline: &str, source: &str| {
        std::fs::write(d.join("p.yml"), pipeline).unwrap();
        Command::new(env!("CARGO_BIN_EXE_medallion"))
            .current_dir(d)
            .args([
                "run",
                "--pipeline",
                "p.yml",
                "--workers",
                "2",
                "--out",
                "out",
            ])
            .arg("--source")
            .arg(format!("file:{source}"))
            .output()
            .unwrap()
    };
    let without_site = full.replace("    - {name: site, type: string}\n", "");
    let first = run(&without_site, "half.jsonl");
    assert!(first.status.success(), "{}", combined_output(&first));
    let second = run(&full, "sensors.jsonl");
    assert!(second.status.success(), "{}", combined_output(&second));
    let silver = batches(d.join("out"), medallion::sink::TableKind::Silver);
    // Files of the first run lack the column (Delta readers read it as null); the second run's
    // rows carry it.
    let (mut old_nulls, mut new_sites) = (0, 0);
    for b in &silver {
        match b.column_by_name("site") {
            None => old_nulls += b.num_rows(),
            Some(sites) => new_sites += b.num_rows() - sites.null_count(),
        }
    }
    assert!(new_sites > 100, "new rows carry their site ({new_sites})");
    assert!(
        old_nulls > 100,
        "older rows read site as null ({old_nulls})"
    );
    // A foreign reader sees the evolved table: every row has `site`, the first run's null.
    let nulls = python(&[
        "-c",
        "import sys; from deltalake import DeltaTable; t = DeltaTable(sys.argv[1]).to_pyarrow_table(); print(t.column('site').null_count, t.num_rows, flush=True); import os; os._exit(0)",
        &d.join("out/silver").display().to_string(),
    ]);
    let counts: Vec<usize> = nulls
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        counts[0] >= old_nulls && counts[1] == silver.iter().map(|b| b.num_rows()).sum::<usize>(),
        "{nulls}"
    );
    let latest = medallion::sink::delta::read_named_table(d.join("out"), "machine_latest").unwrap();
    assert!(latest
        .batches
        .iter()
        .all(|b| b.column_by_name("site").is_some()));

    let retyped = run(
        &full.replace(
            "{name: running, type: boolean}",
            "{name: running, type: string}",
        ),
        "sensors.jsonl",
    );
    let text = combined_output(&retyped);
    assert_eq!(retyped.status.code(), Some(2), "{text}");
    assert!(
        text.contains("'running'") && text.contains("retyping"),
        "{text}"
    );
    let removed = run(&full.replace("    - {name: rpm, type: integer}\n", "").replace("      - {fn: sum, column: rpm}\n", "").replace("  - name: rpm_negative\n    criticality: warn\n    check: {function: is_not_less_than, arguments: {column: rpm, limit: 0}}\n", ""), "sensors.jsonl");
    let text = combined_output(&removed);
    assert_eq!(removed.status.code(), Some(2), "{text}");
    assert!(
        text.contains("'rpm'") && text.contains("no longer declared"),
        "{text}"
    );
}

/// `medallion produce --pipeline` keys each event by the key the file declares: every machine's
/// events reach one partition of the hub, and the pipeline read from the hub equals the
/// recomputation.
#[test]
fn produce_keys_events_by_the_declared_key_and_a_run_from_the_hub_equals_the_recomputation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    python(&[SCRIPT, "generate", &d.display().to_string(), "3000", "7"]);
    let (mut emulator, cs) = crate::eventhub_pipeline::emulator_process(4);
    let sent = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .current_dir(d)
        .args(["produce", "--hub", "weather", "--connection-string", &cs])
        .args(["--file", "sensors.jsonl", "--pipeline", "sensors.yml"])
        .output()
        .unwrap();
    assert!(sent.status.success(), "{}", combined_output(&sent));
    // The hub's 4 partitions, not the variable's 3 (which only the file and generator sources use).
    let run = medallion(d, "hub")
        .env_remove("MEDALLION_PARTITIONS")
        .args([
            "--source",
            "eventhub",
            "--hub",
            "weather",
            "--connection-string",
            &cs,
        ])
        .args(["--stop-when-idle", "2"])
        .output()
        .unwrap();
    let _ = emulator.kill();
    assert!(run.status.success(), "{}", combined_output(&run));
    let report = check(d, "hub");
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");

    let mut partitions_of =
        std::collections::BTreeMap::<String, std::collections::BTreeSet<i32>>::new();
    for b in batches(d.join("hub"), medallion::sink::TableKind::Silver) {
        let machine = arrow::compute::cast(
            b.column_by_name("machine").unwrap(),
            &arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let machine = machine
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        let (partition, _) = partition_and_sequence(&b);
        for i in 0..b.num_rows() {
            partitions_of
                .entry(machine.value(i).to_string())
                .or_default()
                .insert(partition.value(i));
        }
    }
    assert!(partitions_of.len() > 3, "{partitions_of:?}");
    let spread: Vec<_> = partitions_of.values().filter(|p| p.len() > 1).collect();
    assert!(
        spread.is_empty(),
        "machines in more than one partition: {partitions_of:?}"
    );
    let used: std::collections::BTreeSet<i32> = partitions_of.values().flatten().copied().collect();
    assert!(
        used.len() > 1,
        "the keys went to one partition only: {partitions_of:?}"
    );
}

/// `medallion produce --pipeline` reads and checks the file before it connects: a bad file exits
/// 2 naming its line and key (the hub here is unreachable, which would fail later).
#[test]
fn produce_refuses_a_bad_pipeline_file_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yml");
    std::fs::write(&file, "event:\n  fields:\n    - {name: a, type: strin}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["produce", "--connection-string"])
        .arg(
            "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=a;SharedAccessKey=b;EntityPath=weather",
        )
        .args(["--file", "events.jsonl", "--pipeline"])
        .arg(&file)
        .output()
        .unwrap();
    let text = combined_output(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("line 3: event.fields[0].type"), "{text}");
    assert!(!text.contains("connect"), "{text}");
}
