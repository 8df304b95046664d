//! The views against from-scratch recomputations, in the style of differential's
//! `tests/reduce_reference.rs`: for random inputs with many late and duplicate events, every
//! commit of each view's table equals the view recomputed over the silver rows committed up to the
//! same epoch; the change feed replayed up to each epoch equals the table.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::views::*;
use crate::common::*;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use medallion::epoch::EpochPolicy;
use medallion::pipeline::{run, ProgressMode, RunConfig, SourceSpec};
use medallion::views::ViewKind;

fn generate(file: &Path, events: u32, stations: u32, seed: u64) {
    let tools = shared().join("tools");
    let out = Command::new("python3")
        .arg(tools.join("gen_events.py"))
        .args([
            "--events",
            &events.to_string(),
            "--stations",
            &stations.to_string(),
        ])
        .args(["--seed", &seed.to_string(), "--interval-s", "300"])
        .args(["--rate", "late_arrival=0.3", "--rate", "duplicate=0.1"])
        .arg("--out")
        .arg(file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_small(file: &Path, out: &Path, workers: usize) {
    run_cut(file, out, workers, 100, 40)
}

/// `run_small` with epochs of `epoch_events` per worker and batches of `batch_size`.
fn run_cut(file: &Path, out: &Path, workers: usize, epoch_events: u64, batch_size: usize) {
    let checks = out.with_extension("checks.yml");
    let reference = std::fs::read_to_string(shared().join("checks.yml")).unwrap();
    std::fs::write(&checks, format!("{reference}\n{DATASET_CHECKS_YAML}")).unwrap();
    run(RunConfig {
        checks: Some(checks),
        source: SourceSpec::File(file.to_path_buf()),
        partitions: 4,
        out: out.into(),
        // 100 events per worker per epoch: 20–40 epochs, the same on any machine.
        epoch: EpochPolicy::Events(epoch_events),
        batch_size,
        timely: timely::CommunicationConfig::Process(workers),
        progress: ProgressMode::Lines,
        change_feed: true,
        views: ViewKind::ALL.to_vec(),
        ..RunConfig::default()
    })
    .expect("run succeeds");
}

/// Every commit of every view equals the recomputation at that epoch.
fn check_every_commit(out: &Path) -> usize {
    let silver_root = out.join("silver");
    let silver_log = commits(&silver_root);
    let quality_root = out.join("quality");
    let quality_log = commits(&quality_root);
    let mut checked = 0;
    for view in [
        "station_latest",
        "station_hourly",
        "quality_by_window",
        "dataset_checks",
    ] {
        let root = out.join(view);
        for c in commits(&root) {
            let Some(epoch) = c.epoch else { continue };
            let table = read(&root, &c.files);
            let context = format!("{view} version {} (epoch {epoch})", c.version);
            match view {
                "station_latest" => assert_eq!(
                    table_latest(&table),
                    expected_latest(&as_of(&silver_root, &silver_log, epoch)),
                    "{context}"
                ),
                "station_hourly" => assert_hourly_eq(
                    &table_hourly(&table),
                    &expected_hourly(&as_of(&silver_root, &silver_log, epoch)),
                    &context,
                ),
                "dataset_checks" => assert_dataset_eq(
                    &table_dataset(&table),
                    &expected_dataset(&as_of(&silver_root, &silver_log, epoch), 60_000),
                    &context,
                ),
                _ => assert_eq!(
                    quality_counts(&table),
                    quality_counts(&as_of(&quality_root, &quality_log, epoch)),
                    "{context}"
                ),
            }
            checked += 1;
        }
    }
    checked
}

fn render_rows(
    batches: &[RecordBatch],
    key_cols: &[&str],
) -> Vec<(Vec<String>, Vec<String>, String, i64)> {
    let opts = FormatOptions::default().with_null("∅");
    let mut out = Vec::new();
    for b in batches {
        let n = b.num_columns();
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        let key_idx: Vec<usize> = key_cols
            .iter()
            .map(|k| b.schema().index_of(k).unwrap())
            .collect();
        let kinds = b.column(n - 2).as_string::<i32>();
        let epochs = b
            .column(n - 1)
            .as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..b.num_rows() {
            let row: Vec<String> = (0..n - 2).map(|c| fmts[c].value(i).to_string()).collect();
            let key = key_idx.iter().map(|&c| row[c].clone()).collect();
            out.push((key, row, kinds.value(i).to_string(), epochs.value(i)));
        }
    }
    out
}

/// The change feed replayed up to each epoch equals the view's table at that epoch.
fn check_change_feed(out: &Path, view: &str, key_cols: &[&str]) {
    let root = out.join(view);
    let feed_root = out.join(format!("{view}_changes"));
    let feed_log = commits(&feed_root);
    let all = read(&feed_root, &feed_log.last().unwrap().files);
    let mut changes = render_rows(&all, key_cols);
    changes.sort_by_key(|c| c.3);
    assert!(
        changes.iter().any(|c| c.2 == "update"),
        "{view}: the feed has updates"
    );
    let opts = FormatOptions::default().with_null("∅");
    for c in commits(&root) {
        let Some(epoch) = c.epoch else { continue };
        let mut state: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        for (key, row, kind, _) in changes.iter().filter(|c| c.3 as u64 <= epoch) {
            match kind.as_str() {
                "insert" => assert!(
                    state.insert(key.clone(), row.clone()).is_none(),
                    "{view}: insert of an existing key {key:?}"
                ),
                "update" => assert!(
                    state.insert(key.clone(), row.clone()).is_some(),
                    "{view}: update of a missing key {key:?}"
                ),
                "delete" => assert!(
                    state.remove(key).is_some(),
                    "{view}: delete of a missing key"
                ),
                other => panic!("{view}: unknown _change_type {other}"),
            }
        }
        let mut table: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        for b in read(&root, &c.files) {
            let key_idx: Vec<usize> = key_cols
                .iter()
                .map(|k| b.schema().index_of(k).unwrap())
                .collect();
            let fmts: Vec<_> = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
                .collect();
            for i in 0..b.num_rows() {
                let row: Vec<String> = fmts.iter().map(|f| f.value(i).to_string()).collect();
                table.insert(key_idx.iter().map(|&c| row[c].clone()).collect(), row);
            }
        }
        assert_eq!(
            state, table,
            "{view}: change feed replayed to epoch {epoch}"
        );
    }
}

#[test]
fn views_equal_recomputation_after_every_commit() {
    for (seed, workers) in [(1u64, 2usize), (2, 1), (3, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("events.jsonl");
        generate(&file, 4000, 25, seed);
        let out = dir.path().join("out");
        run_small(&file, &out, workers);
        let checked = check_every_commit(&out);
        // Epochs end every 100 events per worker, so their number is fixed by the input; a few
        // per view suffice for the incremental path to matter (the change feeds must also show
        // updates, below).
        assert!(
            checked >= 12,
            "seed {seed}: only {checked} view commits to check"
        );
        let final_checks = table_dataset(&read(
            &out.join("dataset_checks"),
            &commits(&out.join("dataset_checks")).last().unwrap().files,
        ));
        assert!(
            final_checks.values().any(|r| !r.2) && final_checks.values().any(|r| r.2),
            "seed {seed}: dataset checks both pass and fail somewhere"
        );
        check_change_feed(&out, "station_hourly", &["station_id", "hour"]);
        check_change_feed(&out, "station_latest", &["station_id"]);
    }
}

/// The float aggregates are exact sums: the same silver rows give bit-identical view rows
/// whether they came in one epoch on one worker or in dozens of small epochs on two.
#[test]
fn float_aggregates_do_not_depend_on_where_epochs_end() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    generate(&file, 4000, 25, 4);
    let (cut, whole) = (dir.path().join("cut"), dir.path().join("whole"));
    run_cut(&file, &cut, 2, 37, 11);
    run_cut(&file, &whole, 1, 1_000_000, 4096);
    for view in ["station_hourly", "dataset_checks"] {
        let rows = |out: &Path| {
            let batches = medallion::sink::delta::read_named_table(out, view)
                .unwrap()
                .batches;
            let mut rows = Vec::new();
            for b in &batches {
                for i in 0..b.num_rows() {
                    let cells: Vec<String> = b
                        .columns()
                        .iter()
                        .map(
                            |c| match c.as_primitive_opt::<arrow::datatypes::Float64Type>() {
                                Some(f) if f.is_valid(i) => {
                                    format!("{:016x}", f.value(i).to_bits())
                                }
                                _ => arrow::util::display::array_value_to_string(c, i).unwrap(),
                            },
                        )
                        .collect();
                    rows.push(cells);
                }
            }
            rows.sort();
            rows
        };
        let (a, b) = (rows(&cut), rows(&whole));
        assert!(
            a.len() > 100 || view == "dataset_checks",
            "{view}: {} rows",
            a.len()
        );
        assert_eq!(a, b, "{view}: the same rows to the last bit");
    }
}

#[test]
fn views_are_optional_and_selectable() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run(RunConfig {
        source: SourceSpec::File(smoke_file()),
        partitions: 4,
        out: out.clone().into(),
        progress: ProgressMode::Lines,
        views: vec![ViewKind::StationHourly],
        ..RunConfig::default()
    })
    .expect("run succeeds");
    assert!(out.join("station_hourly/_delta_log").is_dir());
    assert!(!out.join("station_latest").exists());
    assert!(!out.join("quality_by_window").exists());
    let silver = batches(&out, medallion::sink::TableKind::Silver);
    let hourly = read(
        &out.join("station_hourly"),
        &commits(&out.join("station_hourly")).last().unwrap().files,
    );
    assert_eq!(silver.iter().map(|b| b.num_rows()).sum::<usize>(), 9660);
    assert_hourly_eq(&table_hourly(&hourly), &expected_hourly(&silver), "smoke");
}
