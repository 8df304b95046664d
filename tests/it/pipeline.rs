//! End-to-end tests of the pipeline on the smoke file: table contents read back from Delta equal
//! the oracle's expected counts, with 1, 2 and 4 workers.

use std::collections::BTreeSet;

use crate::common::*;
use medallion::epoch::EpochPolicy;
use medallion::pipeline::{run, ProgressMode, RunConfig, SourceSpec};
use medallion::sink::TableKind;

fn smoke_config(out: &std::path::Path, workers: usize) -> RunConfig {
    RunConfig {
        source: SourceSpec::File(smoke_file()),
        partitions: 4,
        out: out.into(),
        now: Some("2026-11-26T12:00:00Z".parse().unwrap()),
        epoch: EpochPolicy::Millis(20),
        batch_size: 500,
        timely: if workers > 1 {
            timely::CommunicationConfig::Process(workers)
        } else {
            timely::CommunicationConfig::Thread
        },
        progress: ProgressMode::Lines,
        ..RunConfig::default()
    }
}

fn check_smoke(workers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let summary = run(smoke_config(&out, workers)).expect("run succeeds");
    let expected = expected_smoke();
    assert_eq!(summary.events_read, 10_000);

    assert_matches_oracle(&out, &expected);
    let ids = silver_ids(&out);
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "silver holds no duplicate event_id"
    );

    // bronze holds every sequence number of every partition exactly once, with no gap
    let lin = lineage(&out, TableKind::Bronze);
    for p in 0..4 {
        let seqs: Vec<i64> = lin.iter().filter(|l| l.0 == p).map(|l| l.1).collect();
        assert_eq!(
            seqs,
            (0..seqs.len() as i64).collect::<Vec<_>>(),
            "partition {p} gapless"
        );
    }
    // the summary agrees with the tables
    assert_eq!(summary.tables["bronze"], 10_000);
    assert_eq!(
        summary.rules["temperature_c_is_null"].1,
        expected["rule_fail_counts"]["temperature_c_is_null"]
            .as_i64()
            .unwrap()
    );
    assert!(out.join("_metrics/summary.json").is_file());
    assert!(out.join("_metrics/end_to_end_latency_ms.hgrm").is_file());
}

#[test]
fn smoke_one_worker() {
    check_smoke(1);
}

#[test]
fn smoke_two_workers() {
    check_smoke(2);
}

#[test]
fn smoke_four_workers() {
    check_smoke(4);
}

#[test]
fn rerun_on_finished_output_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run(smoke_config(&out, 2)).unwrap();
    let before = (
        lineage(&out, TableKind::Bronze),
        silver_ids(&out),
        quality_rows(&out),
    );
    let again = run(smoke_config(&out, 2)).unwrap();
    assert_eq!(again.tables["bronze"], 0, "nothing new to commit");
    let after = (
        lineage(&out, TableKind::Bronze),
        silver_ids(&out),
        quality_rows(&out),
    );
    assert_eq!(before, after);
}
