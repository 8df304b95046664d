//! Conformance table of the DQX row-level functions: null handling, boundaries, case
//! sensitivity and exact message text, including the vectors of DQX's own tests (numbered as in
//! the quality-engine issue).
//!
//! The helpers are here; `vectors`: the 13 numbered vectors; `functions`: every other
//! function; `rules`: rule-level behaviour, skipped checks and strict mode.

mod functions;
mod rules;
mod vectors;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use medallion::quality::{
    dqx_result_type, Criticality, EvalContext, Evaluation, LoadOptions, QualityError, RuleSet,
};

// ---------------------------------------------------------------------------------------------
// helpers

pub(super) enum Col {
    S(&'static str, Vec<Option<&'static str>>),
    I(&'static str, Vec<Option<i64>>),
    F(&'static str, Vec<Option<f64>>),
    B(&'static str, Vec<Option<bool>>),
    T(&'static str, Vec<Option<&'static str>>),
}
use Col::*;

pub(super) fn batch(cols: Vec<Col>) -> RecordBatch {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for c in cols {
        let (name, ty, arr): (&str, DataType, ArrayRef) = match c {
            S(n, v) => (n, DataType::Utf8, Arc::new(StringArray::from(v))),
            I(n, v) => (n, DataType::Int64, Arc::new(Int64Array::from(v))),
            F(n, v) => (n, DataType::Float64, Arc::new(Float64Array::from(v))),
            B(n, v) => (n, DataType::Boolean, Arc::new(BooleanArray::from(v))),
            T(n, v) => {
                let us: Vec<Option<i64>> = v
                    .iter()
                    .map(|s| s.map(|s| s.parse::<DateTime<Utc>>().unwrap().timestamp_micros()))
                    .collect();
                (
                    n,
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    Arc::new(TimestampMicrosecondArray::from(us).with_timezone("UTC")),
                )
            }
        };
        fields.push(Field::new(name, ty, true));
        arrays.push(arr);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

pub(super) fn now() -> DateTime<Utc> {
    "2026-11-26T12:00:00Z".parse().unwrap()
}

pub(super) fn load(yaml: &str) -> RuleSet {
    RuleSet::from_yaml_str(yaml, &LoadOptions::default()).unwrap_or_else(|e| panic!("{yaml}\n{e}"))
}

pub(super) fn eval(yaml: &str, cols: Vec<Col>) -> (RuleSet, Evaluation) {
    let rules = load(yaml);
    let ev = rules
        .evaluate(&batch(cols), &EvalContext::fixed(now()))
        .unwrap();
    (rules, ev)
}

/// Messages of one result column at one row (empty when null).
pub(super) fn messages(col: &ArrayRef, row: usize) -> Vec<String> {
    field_values(col, row, "message")
}

pub(super) fn names(col: &ArrayRef, row: usize) -> Vec<String> {
    field_values(col, row, "name")
}

pub(super) fn field_values(col: &ArrayRef, row: usize, field: &str) -> Vec<String> {
    if col.is_null(row) {
        return Vec::new();
    }
    let entries = col.as_list::<i32>().value(row);
    let s = entries.as_struct();
    let f = s.column_by_name(field).unwrap().as_string::<i32>();
    (0..s.len()).map(|j| f.value(j).to_string()).collect()
}

/// Runs a single-check list; checks each row's single message (`None` = passes), from
/// `_errors` or `_warnings` per the check's criticality.
pub(super) fn check(yaml: &str, cols: Vec<Col>, expect: &[Option<&str>]) {
    let (rules, ev) = eval(yaml, cols);
    assert_eq!(rules.rules().len(), 1, "{yaml}");
    let (col, other) = match rules.rules()[0].criticality() {
        Criticality::Error => (&ev.errors, &ev.warnings),
        Criticality::Warn => (&ev.warnings, &ev.errors),
    };
    assert_eq!(col.len(), expect.len());
    for (row, want) in expect.iter().enumerate() {
        let got = messages(col, row);
        match want {
            None => {
                assert!(
                    col.is_null(row),
                    "{yaml}\nrow {row} should pass, got {got:?}"
                );
                assert!(!ev.fired[0].value(row));
            }
            Some(m) => {
                assert_eq!(got, vec![m.to_string()], "{yaml}\nrow {row}");
                assert!(ev.fired[0].value(row));
            }
        }
        assert!(other.is_null(row));
    }
    let fails = expect.iter().filter(|e| e.is_some()).count() as u64;
    assert_eq!(ev.failed_count[0], fails);
}

pub(super) fn one(function: &str, args: &str) -> String {
    format!("- criticality: error\n  check:\n    function: {function}\n    arguments: {{{args}}}\n")
}

pub(super) fn name_of(yaml: &str) -> String {
    load(yaml).rules()[0].name().to_string()
}
