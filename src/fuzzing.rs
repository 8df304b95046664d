//! The bodies of the fuzz targets: `fuzz/` runs them under libFuzzer (`scripts/fuzz.sh`), and
//! `tests/it/fuzz_replay.rs` replays their seed corpus and random mutations in CI. Each takes
//! arbitrary bytes and must return without panicking, hanging or allocating without bound; the
//! invariants each checks are stated on it (a broken one panics, which the fuzzer reports).

use std::sync::OnceLock;

use arrow::record_batch::RecordBatch;
use chrono::{TimeZone, Utc};

use crate::parse::parse_bodies;
use crate::quality::{EvalContext, LoadOptions, RuleSet};

/// Longest input the targets look at (libFuzzer's `-max_len` is set to the same in fuzz.sh).
pub const MAX_INPUT: usize = 64 * 1024;

fn context() -> EvalContext {
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    EvalContext {
        now,
        run_time: now,
        run_id: "fuzz".into(),
    }
}

/// A few parsed reference events (good, bad and borderline) to evaluate fuzzed rules on.
fn sample_batch() -> &'static RecordBatch {
    static BATCH: OnceLock<RecordBatch> = OnceLock::new();
    BATCH.get_or_init(|| {
        let bodies: [&[u8]; 4] = [
            br#"{"event_id":"b7ff5d2f-6343-48b0-b8ac-4bd923f4981d","station_id":"WS-00064","event_time":"2026-11-26T10:18:58.850Z","temperature_c":21.5,"humidity_pct":65.3,"pressure_hpa":1015.2,"wind_speed_ms":0.9,"wind_dir_deg":65,"precip_mm":1.4,"condition":"storm","lat":22.5134,"lon":19.7469,"battery_v":4.11}"#,
            br#"{"event_id":"x","station_id":"","event_time":"not a time","temperature_c":-999,"condition":"hail","lat":95.0,"lon":-200.0}"#,
            br#"{"event_id":"42b46a6b-c8ca-4419-bfa8-e812054b5a9b","station_id":"WS-00009","event_time":"2030-01-01T00:00:00Z","temperature_c":null,"precip_mm":-1}"#,
            br#"{"station_id":"WS-1","wind_speed_ms":1e308,"wind_dir_deg":-0.0}"#,
        ];
        parse_bodies(bodies).batch
    })
}

/// The JSON body parser: every body becomes exactly one row or one failure, and a row passes
/// the reference rules' evaluation.
pub fn json_body(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    let parsed = parse_bodies([data]);
    assert_eq!(
        parsed.rows.len() + parsed.failures.len(),
        1,
        "a body is a row or a failure"
    );
    assert_eq!(parsed.batch.num_rows(), parsed.rows.len());
    if parsed.batch.num_rows() == 1 {
        let rules = reference_rules();
        let e = rules
            .evaluate(&parsed.batch, &context())
            .expect("the reference rules evaluate any parsed row");
        assert_eq!(e.failed_count.len(), rules.rules().len());
    }
}

fn reference_rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| {
        RuleSet::from_yaml_str(crate::pipeline::DEFAULT_CHECKS, &LoadOptions::default())
            .expect("the reference checks load")
    })
}

/// The check-file loader (YAML/JSON in DQX's format): any text loads or gives an error; what
/// loads evaluates on the sample rows, with one count per rule.
pub fn check_file(data: &[u8]) {
    let text = String::from_utf8_lossy(&data[..data.len().min(MAX_INPUT)]);
    if let Ok(rules) = RuleSet::from_yaml_str(&text, &LoadOptions::default()) {
        evaluate(&rules);
    }
}

/// The SQL expression parser and evaluator, through a `sql_expression` check: any expression
/// is refused with an error or evaluates on the sample rows.
pub fn sql_expression(data: &[u8]) {
    let text = String::from_utf8_lossy(&data[..data.len().min(MAX_INPUT)]);
    let yaml = format!(
        "- criticality: error\n  check:\n    function: sql_expression\n    arguments:\n      expression: {}\n",
        serde_json::to_string(&text).expect("a string serialises")
    );
    if let Ok(rules) = RuleSet::from_yaml_str(&yaml, &LoadOptions::default()) {
        evaluate(&rules);
    }
}

fn evaluate(rules: &RuleSet) {
    let batch = sample_batch();
    if let Ok(e) = rules.evaluate(batch, &context()) {
        assert_eq!(e.failed_count.len(), rules.rules().len());
        for (failed, evaluated) in e.failed_count.iter().zip(&e.evaluated_count) {
            assert!(failed <= evaluated && *evaluated <= batch.num_rows() as u64);
        }
    }
}
