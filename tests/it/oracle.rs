//! The pipeline against the Python oracle (`shared/workload/tools/reference.py`) on a
//! 200,000-event file generated with another seed and doubled fault rates (late arrivals and
//! duplicates included); on the same run, `station_hourly` and `station_latest` equal a
//! recomputation over the final silver table.

use crate::common::*;
use medallion::epoch::EpochPolicy;
use medallion::pipeline::{run, ProgressMode, RunConfig, SourceSpec};

const FAULTS: [(&str, f64); 15] = [
    ("malformed_body", 0.002),
    ("missing_station_id", 0.003),
    ("bad_station_id", 0.003),
    ("bad_event_time", 0.003),
    ("future_event_time", 0.003),
    ("null_temperature", 0.010),
    ("temperature_range", 0.005),
    ("humidity_range", 0.005),
    ("pressure_range", 0.003),
    ("negative_wind", 0.003),
    ("unknown_condition", 0.005),
    ("negative_precip", 0.003),
    ("wrong_type", 0.002),
    ("duplicate", 0.005),
    ("late_arrival", 0.010),
];

#[test]
fn doubled_faults_200k_match_reference() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let tools = shared().join("tools");
    let mut args: Vec<String> = vec![
        tools.join("gen_events.py").display().to_string(),
        "--events".into(),
        "200000".into(),
        "--stations".into(),
        "2000".into(),
        "--seed".into(),
        "7".into(),
        "--out".into(),
        file.display().to_string(),
    ];
    for (k, v) in FAULTS {
        args.push("--rate".into());
        args.push(format!("{k}={}", v * 2.0));
    }
    python(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let reference: serde_json::Value = serde_json::from_str(&python(&[
        &tools.join("reference.py").display().to_string(),
        &file.display().to_string(),
    ]))
    .unwrap();

    let out = dir.path().join("out");
    let cfg = RunConfig {
        source: SourceSpec::File(file.clone()),
        partitions: 8,
        out: out.clone().into(),
        epoch: EpochPolicy::Millis(50),
        timely: timely::CommunicationConfig::Process(2),
        progress: ProgressMode::Lines,
        ..RunConfig::default()
    };
    run(cfg).expect("run succeeds");
    assert_matches_oracle(&out, &reference);

    let silver = batches(&out, medallion::sink::TableKind::Silver);
    let view = |name: &str| {
        medallion::sink::delta::read_named_table(&out, name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .batches
    };
    let hourly = crate::common::views::table_hourly(&view("station_hourly"));
    assert!(hourly.len() > 2000, "{} station-hours", hourly.len());
    crate::common::views::assert_hourly_eq(
        &hourly,
        &crate::common::views::expected_hourly(&silver),
        "200K",
    );
    assert_eq!(
        crate::common::views::table_latest(&view("station_latest")),
        crate::common::views::expected_latest(&silver)
    );
}
