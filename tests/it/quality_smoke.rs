//! Acceptance: the workload's checks.yml, loaded unchanged, applied to the parsed rows of the
//! smoke file with now = 2026-11-26T12:00:00Z, gives exactly the reference per-rule fail counts.
//!
//! The rows are parsed here with a minimal serde_json parser following the workload README
//! (a line that is not a UTF-8 JSON object, or where a known field has the wrong JSON type, is a
//! parse error and is not evaluated), so this test does not depend on `crate::parse`.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use medallion::quality::{EvalContext, LoadOptions, RuleSet};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Int,
    Num,
}

const FIELDS: [(&str, Kind); 13] = [
    ("event_id", Kind::Str),
    ("station_id", Kind::Str),
    ("event_time", Kind::Str),
    ("temperature_c", Kind::Num),
    ("humidity_pct", Kind::Num),
    ("pressure_hpa", Kind::Num),
    ("wind_speed_ms", Kind::Num),
    ("wind_dir_deg", Kind::Int),
    ("precip_mm", Kind::Num),
    ("condition", Kind::Str),
    ("lat", Kind::Num),
    ("lon", Kind::Num),
    ("battery_v", Kind::Num),
];

fn workload() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/workload")
}

/// A parsed event, or `None` for a parse error.
fn parse_line(raw: &[u8]) -> Option<serde_json::Map<String, Value>> {
    let text = std::str::from_utf8(raw).ok()?;
    // serde_json rejects NaN/Infinity, as the README requires.
    let Value::Object(obj) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    for (name, kind) in FIELDS {
        match obj.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(_)) if kind == Kind::Str => {}
            Some(Value::Number(n)) if kind == Kind::Int && (n.is_i64() || n.is_u64()) => {}
            Some(Value::Number(_)) if kind == Kind::Num => {}
            Some(_) => return None,
        }
    }
    Some(obj)
}

fn to_batch(rows: &[serde_json::Map<String, Value>]) -> RecordBatch {
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (name, kind) in FIELDS {
        let get =
            |r: &serde_json::Map<String, Value>| r.get(name).filter(|v| !v.is_null()).cloned();
        match kind {
            Kind::Str => {
                let mut b = StringBuilder::new();
                for r in rows {
                    b.append_option(get(r).and_then(|v| v.as_str().map(String::from)));
                }
                fields.push(Field::new(name, DataType::Utf8, true));
                cols.push(Arc::new(b.finish()));
            }
            Kind::Int => {
                let mut b = Int64Builder::new();
                for r in rows {
                    b.append_option(get(r).and_then(|v| v.as_i64()));
                }
                fields.push(Field::new(name, DataType::Int64, true));
                cols.push(Arc::new(b.finish()));
            }
            Kind::Num => {
                let mut b = Float64Builder::new();
                for r in rows {
                    b.append_option(get(r).and_then(|v| v.as_f64()));
                }
                fields.push(Field::new(name, DataType::Float64, true));
                cols.push(Arc::new(b.finish()));
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

#[test]
fn smoke_rule_fail_counts_match_the_reference() {
    let dir = workload();
    let rules = RuleSet::from_path(&dir.join("checks.yml"), &LoadOptions::default()).unwrap();
    assert_eq!(rules.rules().len(), 14);

    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("smoke/smoke.expected.json")).unwrap(),
    )
    .unwrap();
    let now = expected["now"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        now,
        "2026-11-26T12:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    );

    let data = std::fs::read(dir.join("smoke/smoke.jsonl")).unwrap();
    let mut lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let parsed: Vec<_> = lines.iter().filter_map(|l| parse_line(l)).collect();
    assert_eq!(
        lines.len() as u64,
        expected["bronze_count"].as_u64().unwrap()
    );
    assert_eq!(
        parsed.len() as u64,
        expected["parsed_count"].as_u64().unwrap()
    );

    let ctx = EvalContext::fixed(now);
    let mut failed = vec![0u64; rules.rules().len()];
    let mut evaluated = vec![0u64; rules.rules().len()];
    let mut with_error = 0u64;
    // In batches, as the pipeline will feed them.
    for chunk in parsed.chunks(4096) {
        let batch = to_batch(chunk);
        let ev = rules.evaluate(&batch, &ctx).unwrap();
        for i in 0..failed.len() {
            failed[i] += ev.failed_count[i];
            evaluated[i] += ev.evaluated_count[i];
            assert_eq!(ev.fired[i].true_count() as u64, ev.failed_count[i]);
        }
        with_error += ev.has_error.true_count() as u64;
    }
    let want = expected["rule_fail_counts"].as_object().unwrap();
    assert_eq!(want.len(), rules.rules().len());
    for (i, rule) in rules.rules().iter().enumerate() {
        assert_eq!(
            failed[i],
            want[rule.name()].as_u64().unwrap(),
            "fail count of {}",
            rule.name()
        );
        assert_eq!(
            evaluated[i],
            parsed.len() as u64,
            "rows evaluated by {}",
            rule.name()
        );
    }
    assert_eq!(
        with_error,
        expected["quarantine_rule_error_count"].as_u64().unwrap()
    );
}
