//! Conformance table of the DQX row-level functions: null handling, boundaries, case
//! sensitivity and exact message text, including the vectors of DQX's own tests (numbered as in
//! the quality-engine issue).

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

enum Col {
    S(&'static str, Vec<Option<&'static str>>),
    I(&'static str, Vec<Option<i64>>),
    F(&'static str, Vec<Option<f64>>),
    B(&'static str, Vec<Option<bool>>),
    T(&'static str, Vec<Option<&'static str>>),
}
use Col::*;

fn batch(cols: Vec<Col>) -> RecordBatch {
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

fn now() -> DateTime<Utc> {
    "2026-11-26T12:00:00Z".parse().unwrap()
}

fn load(yaml: &str) -> RuleSet {
    RuleSet::from_yaml_str(yaml, &LoadOptions::default()).unwrap_or_else(|e| panic!("{yaml}\n{e}"))
}

fn eval(yaml: &str, cols: Vec<Col>) -> (RuleSet, Evaluation) {
    let rules = load(yaml);
    let ev = rules
        .evaluate(&batch(cols), &EvalContext::fixed(now()))
        .unwrap();
    (rules, ev)
}

/// Messages of one result column at one row (empty when null).
fn messages(col: &ArrayRef, row: usize) -> Vec<String> {
    field_values(col, row, "message")
}

fn names(col: &ArrayRef, row: usize) -> Vec<String> {
    field_values(col, row, "name")
}

fn field_values(col: &ArrayRef, row: usize, field: &str) -> Vec<String> {
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
fn check(yaml: &str, cols: Vec<Col>, expect: &[Option<&str>]) {
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

fn one(function: &str, args: &str) -> String {
    format!("- criticality: error\n  check:\n    function: {function}\n    arguments: {{{args}}}\n")
}

fn name_of(yaml: &str) -> String {
    load(yaml).rules()[0].name().to_string()
}

// ---------------------------------------------------------------------------------------------
// The 13 numbered vectors of the issue (from DQX's own tests).

#[test]
fn v01_is_not_null_and_not_empty_strings() {
    check(
        &one("is_not_null_and_not_empty", "column: a"),
        vec![S("a", vec![Some("str1"), Some(""), Some(" ")])],
        &[None, Some("Column 'a' value is null or empty"), None],
    );
    check(
        &one("is_not_null_and_not_empty", "column: a, trim_strings: true"),
        vec![S("a", vec![Some("str1"), Some(""), Some(" ")])],
        &[
            None,
            Some("Column 'a' value is null or empty"),
            Some("Column 'a' value is null or empty"),
        ],
    );
}

#[test]
fn v02_is_not_null_and_not_empty_int() {
    check(
        &one("is_not_null_and_not_empty", "column: b"),
        vec![I("b", vec![Some(1), None])],
        &[None, Some("Column 'b' value is null or empty")],
    );
}

#[test]
fn v03_is_not_empty_int_null_passes() {
    check(
        &one("is_not_empty", "column: b"),
        vec![I("b", vec![Some(1), None])],
        &[None, None],
    );
}

#[test]
fn v04_is_not_null_and_is_in_list_int() {
    check(
        &one("is_not_null_and_is_in_list", "column: b, allowed: [3]"),
        vec![I("b", vec![Some(1), None, Some(3)])],
        &[
            Some("Value '1' in Column 'b' is null or not in the allowed list: [3]"),
            Some("Value 'null' in Column 'b' is null or not in the allowed list: [3]"),
            None,
        ],
    );
}

#[test]
fn v05_is_not_null_and_is_in_list_case_insensitive() {
    check(
        &one(
            "is_not_null_and_is_in_list",
            "column: a, allowed: [\"'str1'\"], case_sensitive: false",
        ),
        vec![S("a", vec![Some("STR1"), Some("str2"), Some("str1")])],
        &[
            None,
            Some("Value 'str2' in Column 'a' is null or not in the allowed list: [str1]"),
            None,
        ],
    );
}

#[test]
fn v06_is_in_list_bare_word_is_a_column() {
    check(
        &one("is_in_list", "column: value, allowed: [\"allowed\"]"),
        vec![
            S("value", vec![Some("foo"), Some("bar")]),
            S("allowed", vec![Some("foo"), Some("foo")]),
        ],
        &[
            None,
            Some("Value 'bar' in Column 'value' is not in the allowed list: [foo]"),
        ],
    );
}

#[test]
fn v07_is_in_range_inclusive() {
    check(
        &one("is_in_range", "column: a, min_limit: 1, max_limit: 3"),
        vec![I(
            "a",
            vec![Some(0), Some(1), Some(2), Some(3), Some(4), None],
        )],
        &[
            Some("Value '0' in Column 'a' not in range: [1, 3]"),
            None,
            None,
            None,
            Some("Value '4' in Column 'a' not in range: [1, 3]"),
            None,
        ],
    );
}

#[test]
fn v08_is_not_less_than() {
    check(
        &one("is_not_less_than", "column: a, limit: 2"),
        vec![I("a", vec![Some(1), None, Some(2)])],
        &[
            Some("Value '1' in Column 'a' is less than limit: 2"),
            None,
            None,
        ],
    );
    check(
        &one("is_not_less_than", "column: a, limit: 'b * 2'"),
        vec![
            I("a", vec![Some(2), Some(9)]),
            I("b", vec![Some(4), Some(4)]),
        ],
        &[Some("Value '2' in Column 'a' is less than limit: 8"), None],
    );
}

#[test]
fn v09_is_valid_date() {
    check(
        &one("is_valid_date", "column: a"),
        vec![S("a", vec![Some("2024-01-01"), Some("12/31/2025"), None])],
        &[
            None,
            Some("Value '12/31/2025' in Column 'a' is not a valid date"),
            None,
        ],
    );
    check(
        &one("is_valid_date", "column: a, date_format: 'MM/dd/yyyy'"),
        vec![S("a", vec![Some("2024-01-01"), Some("12/31/2025"), None])],
        &[
            Some("Value '2024-01-01' in Column 'a' is not a valid date with format 'MM/dd/yyyy'"),
            None,
            None,
        ],
    );
}

#[test]
fn v10_regex_match() {
    let re = r"'^\d{4}-(0\d|1[0-2])-([0-2]\d|3[01])$'";
    check(
        &one("regex_match", &format!("column: a, regex: {re}")),
        vec![S("a", vec![Some("2023-01-02"), Some("2023/01/02"), None])],
        &[None, Some("Column 'a' is not matching regex"), None],
    );
    check(
        &one(
            "regex_match",
            &format!("column: a, regex: {re}, negate: true"),
        ),
        vec![S("a", vec![Some("2023-01-02"), Some("2023/01/02"), None])],
        &[Some("Column 'a' is matching regex"), None, None],
    );
}

#[test]
fn v11_is_not_in_future_with_pinned_time() {
    check(
        &one(
            "is_not_in_future",
            "column: a, offset: 2, curr_timestamp: '2023-01-10 11:08:40'",
        ),
        vec![S(
            "a",
            vec![Some("2023-01-10 11:08:37"), Some("2023-01-10 11:08:43"), None],
        )],
        &[
            None,
            Some("Value '2023-01-10 11:08:43' in Column 'a' is greater than time '2023-01-10 11:08:42'"),
            None,
        ],
    );
}

#[test]
fn v12_sql_expression() {
    check(
        &one(
            "sql_expression",
            "expression: 'b < c', msg: 'b is greater or equal c'",
        ),
        vec![
            I("b", vec![Some(1), None, Some(2)]),
            I("c", vec![Some(1), None, Some(3)]),
        ],
        &[Some("b is greater or equal c"), None, None],
    );
    let yaml = one("sql_expression", "expression: \"a = 'str2'\"");
    check(
        &yaml,
        vec![S("a", vec![Some("str1"), Some("str2"), None])],
        &[
            Some("Value is not matching expression: a = 'str2'"),
            None,
            None,
        ],
    );
    assert_eq!(name_of(&yaml), "not_a_str2");
    assert_eq!(
        name_of(&one("sql_expression", "expression: 'b < c'")),
        "not_b_c"
    );
    assert_eq!(
        name_of(&one(
            "sql_expression",
            "expression: 'c is null', negate: true"
        )),
        "c_is_null"
    );
}

#[test]
fn v13_engine_split_into_errors_and_warnings() {
    let yaml = "\
- criticality: warn
  check:
    function: is_not_null_and_not_empty
    for_each_column: [a, c]
- criticality: error
  check:
    function: is_not_null_and_not_empty
    arguments:
      column: b
";
    let (rules, ev) = eval(
        yaml,
        vec![
            I("a", vec![Some(1), Some(2), None, None]),
            I("b", vec![Some(3), None, Some(4), None]),
            I("c", vec![Some(3), Some(4), None, None]),
        ],
    );
    let rule_names: Vec<&str> = rules.rules().iter().map(|r| r.name()).collect();
    assert_eq!(
        rule_names,
        vec![
            "a_is_null_or_empty",
            "c_is_null_or_empty",
            "b_is_null_or_empty"
        ]
    );
    // row 1: nothing
    assert!(ev.errors.is_null(0) && ev.warnings.is_null(0));
    // row 2: _errors = [b], _warnings null
    assert_eq!(names(&ev.errors, 1), vec!["b_is_null_or_empty"]);
    assert!(ev.warnings.is_null(1));
    // row 3: _errors null, _warnings = [a, c]
    assert!(ev.errors.is_null(2));
    assert_eq!(
        names(&ev.warnings, 2),
        vec!["a_is_null_or_empty", "c_is_null_or_empty"]
    );
    assert_eq!(
        messages(&ev.warnings, 2),
        vec![
            "Column 'a' value is null or empty",
            "Column 'c' value is null or empty"
        ]
    );
    // row 4: both
    assert_eq!(names(&ev.errors, 3), vec!["b_is_null_or_empty"]);
    assert_eq!(
        names(&ev.warnings, 3),
        vec!["a_is_null_or_empty", "c_is_null_or_empty"]
    );
    let has_error: Vec<bool> = ev.has_error.iter().map(|b| b.unwrap()).collect();
    assert_eq!(has_error, vec![false, true, false, true]);
    assert_eq!(ev.failed_count, vec![2, 2, 2]);
    assert_eq!(ev.errors.data_type(), &dqx_result_type());
    assert_eq!(ev.warnings.data_type(), &dqx_result_type());
}

// ---------------------------------------------------------------------------------------------
// Every other function.

#[test]
fn null_family() {
    check(
        &one("is_not_null", "column: a"),
        vec![S("a", vec![Some(""), None])],
        &[None, Some("Column 'a' value is null")],
    );
    check(
        &one("is_null", "column: a"),
        vec![F("a", vec![Some(0.0), None])],
        &[Some("Column 'a' value is not null"), None],
    );
    check(
        &one("is_empty", "column: a"),
        vec![S("a", vec![Some(""), Some("x"), None, Some(" ")])],
        &[
            None,
            Some("Column 'a' value is not empty"),
            None,
            Some("Column 'a' value is not empty"),
        ],
    );
    check(
        &one("is_empty", "column: a, trim_strings: true"),
        vec![S("a", vec![Some(" ")])],
        &[None],
    );
    check(
        &one("is_not_empty", "column: a"),
        vec![S("a", vec![Some(""), Some(" "), None])],
        &[Some("Column 'a' value is empty"), None, None],
    );
    check(
        &one("is_null_or_empty", "column: a"),
        vec![S("a", vec![Some(""), Some("x"), None])],
        &[
            None,
            Some("Column 'a' value is not null and not empty"),
            None,
        ],
    );
}

#[test]
fn lists_case_and_nulls() {
    // Case sensitive by default; a null value passes is_in_list.
    check(
        &one(
            "is_in_list",
            "column: a, allowed: [\"'clear'\", \"'rain'\"]",
        ),
        vec![S("a", vec![Some("clear"), Some("CLEAR"), None, Some("")])],
        &[
            None,
            Some("Value 'CLEAR' in Column 'a' is not in the allowed list: [clear, rain]"),
            None,
            Some("Value '' in Column 'a' is not in the allowed list: [clear, rain]"),
        ],
    );
    check(
        &one(
            "is_in_list",
            "column: a, allowed: [\"'clear'\"], case_sensitive: false",
        ),
        vec![S("a", vec![Some("CLEAR"), Some("fog")])],
        &[
            None,
            Some("Value 'fog' in Column 'a' is not in the allowed list: [clear]"),
        ],
    );
    // A string of digits is a number.
    check(
        &one("is_in_list", "column: a, allowed: ['1', 2]"),
        vec![I("a", vec![Some(1), Some(2), Some(3)])],
        &[
            None,
            None,
            Some("Value '3' in Column 'a' is not in the allowed list: [1, 2]"),
        ],
    );
    check(
        &one("is_not_in_list", "column: a, forbidden: [\"'x'\", \"'y'\"]"),
        vec![S("a", vec![Some("x"), Some("X"), None])],
        &[
            Some("Value 'x' in Column 'a' is in the forbidden list: [x, y]"),
            None,
            None,
        ],
    );
    check(
        &one(
            "is_not_in_list",
            "column: a, forbidden: [\"'x'\"], case_sensitive: false",
        ),
        vec![S("a", vec![Some("X")])],
        &[Some(
            "Value 'X' in Column 'a' is in the forbidden list: [x]",
        )],
    );
}

#[test]
fn ranges_and_limits() {
    check(
        &one("is_in_range", "column: t, min_limit: -90, max_limit: 60"),
        vec![F(
            "t",
            vec![
                Some(-90.0),
                Some(60.0),
                Some(60.1),
                Some(-273.0),
                Some(999.9),
                None,
            ],
        )],
        &[
            None,
            None,
            Some("Value '60.1' in Column 't' not in range: [-90, 60]"),
            Some("Value '-273.0' in Column 't' not in range: [-90, 60]"),
            Some("Value '999.9' in Column 't' not in range: [-90, 60]"),
            None,
        ],
    );
    check(
        &one("is_not_in_range", "column: a, min_limit: 1, max_limit: 3"),
        vec![I("a", vec![Some(0), Some(1), Some(3), Some(4), None])],
        &[
            None,
            Some("Value '1' in Column 'a' in range: [1, 3]"),
            Some("Value '3' in Column 'a' in range: [1, 3]"),
            None,
            None,
        ],
    );
    check(
        &one("is_not_greater_than", "column: a, limit: 2.5"),
        vec![F("a", vec![Some(2.5), Some(2.6), None])],
        &[
            None,
            Some("Value '2.6' in Column 'a' is greater than limit: 2.5"),
            None,
        ],
    );
    // -0.0 is not less than 0 (Spark), NaN is greater than any limit.
    check(
        &one("is_not_less_than", "column: a, limit: 0"),
        vec![F("a", vec![Some(-0.0), Some(-0.1), Some(f64::NAN)])],
        &[
            None,
            Some("Value '-0.1' in Column 'a' is less than limit: 0"),
            None,
        ],
    );
    // Date limits: an ISO date string is a date.
    check(
        &one(
            "is_in_range",
            "column: d, min_limit: '2024-01-01', max_limit: '2024-12-31'",
        ),
        vec![S("d", vec![Some("2024-06-01"), Some("2025-01-01")])],
        &[
            None,
            Some("Value '2025-01-01' in Column 'd' not in range: [2024-01-01, 2024-12-31]"),
        ],
    );
}

#[test]
fn equality_with_tolerances() {
    check(
        &one("is_equal_to", "column: a, value: 2"),
        vec![I("a", vec![Some(2), Some(3), None])],
        &[
            None,
            Some("Value '3' in Column 'a' is not equal to value: 2"),
            None,
        ],
    );
    check(
        &one("is_not_equal_to", "column: a, value: \"'x'\""),
        vec![S("a", vec![Some("x"), Some("y")])],
        &[Some("Value 'x' in Column 'a' is equal to value: x"), None],
    );
    check(
        &one("is_equal_to", "column: a, value: 100, abs_tolerance: 0.5"),
        vec![F("a", vec![Some(100.3), Some(101.0), Some(99.5)])],
        &[
            None,
            Some("Value '101.0' in Column 'a' is not equal to value: 100"),
            None,
        ],
    );
    check(
        &one("is_equal_to", "column: a, value: 100, rel_tolerance: 0.01"),
        vec![F("a", vec![Some(101.0), Some(105.0)])],
        &[
            None,
            Some("Value '105.0' in Column 'a' is not equal to value: 100"),
        ],
    );
    check(
        &one(
            "is_not_equal_to",
            "column: a, value: 100, abs_tolerance: 0.5",
        ),
        vec![F("a", vec![Some(100.3), Some(101.0)])],
        &[
            Some("Value '100.3' in Column 'a' is equal to value: 100"),
            None,
        ],
    );
}

#[test]
fn timestamps() {
    check(
        &one("is_valid_timestamp", "column: a"),
        vec![S(
            "a",
            vec![
                Some("2026-11-26T15:21:20.123Z"),
                Some("2026-11-26 15:21:20"),
                Some("2026-13-45T99:00:00Z"),
                Some("yesterday"),
                Some("2026-02-30T00:00:00Z"),
                None,
            ],
        )],
        &[
            None,
            None,
            Some("Value '2026-13-45T99:00:00Z' in Column 'a' is not a valid timestamp"),
            Some("Value 'yesterday' in Column 'a' is not a valid timestamp"),
            Some("Value '2026-02-30T00:00:00Z' in Column 'a' is not a valid timestamp"),
            None,
        ],
    );
    check(
        &one(
            "is_valid_timestamp",
            "column: a, timestamp_format: 'yyyy-MM-dd HH:mm:ss'",
        ),
        vec![S("a", vec![Some("2026-11-26 15:21:20"), Some("2026-11-26T15:21:20Z")])],
        &[
            None,
            Some("Value '2026-11-26T15:21:20Z' in Column 'a' is not a valid timestamp with format 'yyyy-MM-dd HH:mm:ss'"),
        ],
    );
    // Default now (pinned to 2026-11-26 12:00:00) with an expression column.
    check(
        &one("is_not_in_future", "column: try_to_timestamp(t), offset: 300"),
        vec![S(
            "t",
            vec![
                Some("2026-11-26T12:05:00.000Z"),
                Some("2026-11-26T12:05:00.001Z"),
                Some("garbage"),
                None,
            ],
        )],
        &[
            None,
            Some("Value '2026-11-26 12:05:00.001' in Column 'try_to_timestamp(t)' is greater than time '2026-11-26 12:05:00'"),
            None,
            None,
        ],
    );
    assert_eq!(
        name_of(&one(
            "is_not_in_future",
            "column: try_to_timestamp(t), offset: 300"
        )),
        "try_to_timestamp_t_in_future"
    );
    check(
        &one(
            "is_not_in_near_future",
            "column: t, offset: 60, curr_timestamp: '2026-11-26 12:00:00'",
        ),
        vec![T(
            "t",
            vec![
                Some("2026-11-26T12:00:30Z"),
                Some("2026-11-26T12:01:30Z"),
                Some("2026-11-26T11:59:00Z"),
            ],
        )],
        &[
            Some("Value '2026-11-26 12:00:30' in Column 't' is greater than '2026-11-26 12:00:00 and smaller than '2026-11-26 12:01:00'"),
            None,
            None,
        ],
    );
    check(
        &one("is_data_fresh", "column: t, max_age_minutes: 10"),
        vec![T(
            "t",
            vec![Some("2026-11-26T11:55:00Z"), Some("2026-11-26T11:49:59Z"), None],
        )],
        &[
            None,
            Some("Value '2026-11-26 11:49:59' in Column 't' is older than 10 minutes from base timestamp '2026-11-26 12:00:00'"),
            None,
        ],
    );
    check(
        &one("is_older_than_n_days", "column: d, days: 2, curr_date: '2026-11-26'"),
        vec![S("d", vec![Some("2026-11-20"), Some("2026-11-25"), None])],
        &[
            None,
            Some("Value '2026-11-25' in Column 'd' is not less than current date '2026-11-26' for more than 2 days"),
            None,
        ],
    );
    check(
        &one(
            "is_older_than_n_days",
            "column: d, days: 2, curr_date: '2026-11-26', negate: true",
        ),
        vec![S("d", vec![Some("2026-11-20"), Some("2026-11-25")])],
        &[
            Some("Value '2026-11-20' in Column 'd' is less than current date '2026-11-26' for 2 or more days"),
            None,
        ],
    );
}

#[test]
fn geo_network_ids_json() {
    check(
        &one("is_latitude", "column: lat"),
        vec![F("lat", vec![Some(90.0), Some(-90.0), Some(90.5), None])],
        &[
            None,
            None,
            Some(
                "value `90.5` in column `lat` is not a valid latitude (must be between -90 and 90)",
            ),
            None,
        ],
    );
    check(
        &one("is_longitude", "column: lon"),
        vec![F("lon", vec![Some(180.0), Some(-180.1)])],
        &[
            None,
            Some("value `-180.1` in column `lon` is not a valid longitude (must be between -180 and 180)"),
        ],
    );
    check(
        &one("is_valid_ipv4_address", "column: ip"),
        vec![S(
            "ip",
            vec![
                Some("192.168.0.1"),
                Some("256.1.1.1"),
                Some("1.2.3.4\n"),
                None,
            ],
        )],
        &[
            None,
            Some("Value '256.1.1.1' in Column 'ip' does not match pattern 'IPV4_ADDRESS'"),
            Some("Value '1.2.3.4\n' in Column 'ip' does not match pattern 'IPV4_ADDRESS'"),
            None,
        ],
    );
    check(
        &one("is_valid_uuid", "column: id"),
        vec![S(
            "id",
            vec![
                Some("0b6f3c1e-4a0e-4b8e-9a57-1f0c2d3e4f50"),
                Some("00000000-0000-0000-0000-000000000000"),
                Some("not-a-uuid"),
            ],
        )],
        &[
            None,
            None,
            Some("Value 'not-a-uuid' in Column 'id' does not match pattern 'UUID'"),
        ],
    );
    check(
        &one("is_valid_uuid", "column: id, strict: true"),
        vec![S("id", vec![Some("00000000-0000-0000-0000-000000000000")])],
        &[Some(
            "Value '00000000-0000-0000-0000-000000000000' in Column 'id' does not match pattern 'UUID_STRICT'",
        )],
    );
    check(
        &one("is_valid_json", "column: j"),
        vec![S(
            "j",
            vec![Some("{\"a\": 1}"), Some("[1, 2"), Some("3"), None],
        )],
        &[
            None,
            Some("Value '[1, 2' in Column 'j' is not a valid JSON string"),
            None,
            None,
        ],
    );
}

#[test]
fn sql_expression_negate_and_columns() {
    check(
        &one("sql_expression", "expression: 'a > 1', negate: true"),
        vec![I("a", vec![Some(2), Some(1), None])],
        &[Some("Value is matching expression: ~(a > 1)"), None, None],
    );
    let yaml = one(
        "sql_expression",
        "expression: \"CASE WHEN a > 1 THEN b ELSE 'x' END = 'x'\", columns: [a, b]",
    );
    assert_eq!(name_of(&yaml), "a_b_not_case_when_a_1_then_b_else_x_end_x");
    let (rules, _) = eval(&yaml, vec![I("a", vec![Some(1)]), S("b", vec![Some("x")])]);
    assert_eq!(
        rules.rules()[0].columns(),
        Some(&["a".to_string(), "b".to_string()][..])
    );
    check(
        &yaml,
        vec![
            I("a", vec![Some(1), Some(2), Some(2)]),
            S("b", vec![Some("y"), Some("x"), Some("y")]),
        ],
        &[
            None,
            None,
            Some("Value is not matching expression: CASE WHEN a > 1 THEN b ELSE 'x' END = 'x'"),
        ],
    );
    // Expression features: IN, LIKE, BETWEEN, coalesce, length, lower/upper/trim, abs, dates.
    check(
        &one(
            "sql_expression",
            "expression: \"s LIKE 'WS-%' AND length(trim(s)) = 8 AND lower(s) IN ('ws-00001', 'ws-00002') AND abs(coalesce(n, 0)) BETWEEN 0 AND 10 AND to_date(d) <= current_date()\"",
        ),
        vec![
            S("s", vec![Some("WS-00001"), Some("WS-00003"), Some("WS-00002")]),
            I("n", vec![None, Some(-3), Some(-11)]),
            S("d", vec![Some("2026-11-26"), Some("2026-11-01"), Some("2026-01-01")]),
        ],
        &[
            None,
            Some("Value is not matching expression: s LIKE 'WS-%' AND length(trim(s)) = 8 AND lower(s) IN ('ws-00001', 'ws-00002') AND abs(coalesce(n, 0)) BETWEEN 0 AND 10 AND to_date(d) <= current_date()"),
            Some("Value is not matching expression: s LIKE 'WS-%' AND length(trim(s)) = 8 AND lower(s) IN ('ws-00001', 'ws-00002') AND abs(coalesce(n, 0)) BETWEEN 0 AND 10 AND to_date(d) <= current_date()"),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Rule-level behaviour: names, filter, metadata, legacy spellings, result struct.

#[test]
fn generated_names() {
    let cases = [
        ("is_not_null", "column: col1", "col1_is_null"),
        (
            "is_in_range",
            "column: temperature_c, min_limit: 1, max_limit: 2",
            "temperature_c_not_in_range",
        ),
        (
            "is_not_null_and_not_empty",
            "column: Station_ID",
            "station_id_is_null_or_empty",
        ),
        (
            "is_in_list",
            "column: a, allowed: [1]",
            "a_is_not_in_the_list",
        ),
        (
            "is_not_null_and_is_in_list",
            "column: a, allowed: [1]",
            "a_is_null_or_is_not_in_the_list",
        ),
        (
            "is_not_in_list",
            "column: a, forbidden: [1]",
            "a_is_in_the_forbidden_list",
        ),
        (
            "is_not_less_than",
            "column: a, limit: 1",
            "a_less_than_limit",
        ),
        (
            "is_not_greater_than",
            "column: a, limit: 1",
            "a_greater_than_limit",
        ),
        ("is_valid_date", "column: a", "a_is_not_valid_date"),
        (
            "is_valid_timestamp",
            "column: a",
            "a_is_not_valid_timestamp",
        ),
        ("regex_match", "column: a, regex: x", "a_not_matching_regex"),
        (
            "regex_match",
            "column: a, regex: x, negate: true",
            "a_matching_regex",
        ),
        (
            "is_null_or_empty",
            "column: a",
            "a_is_not_null_and_not_empty",
        ),
        ("is_latitude", "column: a", "a_is_not_valid_latitude"),
        (
            "is_valid_ipv4_address",
            "column: a",
            "a_does_not_match_pattern_ipv4_address",
        ),
        ("is_valid_json", "column: a", "a_is_not_valid_json"),
        (
            "is_older_than_n_days",
            "column: a, days: 1",
            "is_col_a_older_than_n_days",
        ),
        (
            "is_data_fresh",
            "column: a, max_age_minutes: 1",
            "a_is_data_fresh",
        ),
    ];
    for (f, args, want) in cases {
        assert_eq!(name_of(&one(f, args)), want, "{f}({args})");
    }
}

#[test]
fn filter_false_or_null_means_no_entry() {
    let yaml = "\
- name: t_not_null_for_ws
  criticality: warn
  filter: \"station LIKE 'WS-%'\"
  user_metadata: {owner: weather, level: 2}
  check:
    function: is_not_null
    arguments:
      column: t
";
    let (rules, ev) = eval(
        yaml,
        vec![
            S(
                "station",
                vec![Some("WS-1"), Some("XX-1"), None, Some("WS-2")],
            ),
            F("t", vec![None, None, None, Some(1.0)]),
        ],
    );
    assert_eq!(rules.rules()[0].filter(), Some("station LIKE 'WS-%'"));
    assert_eq!(ev.failed_count, vec![1]);
    assert_eq!(ev.evaluated_count, vec![2]);
    let evaluated: Vec<bool> = ev.evaluated[0]
        .as_ref()
        .unwrap()
        .iter()
        .map(|b| b.unwrap())
        .collect();
    assert_eq!(evaluated, vec![true, false, false, true]);
    assert_eq!(messages(&ev.warnings, 0), vec!["Column 't' value is null"]);
    assert!(ev.warnings.is_null(1) && ev.warnings.is_null(2) && ev.warnings.is_null(3));
    assert_eq!(ev.has_error.true_count(), 0);

    // The entry carries the rule's fields.
    let entries = ev.warnings.as_list::<i32>().value(0);
    let s = entries.as_struct();
    let get = |f: &str| s.column_by_name(f).unwrap().clone();
    assert_eq!(get("name").as_string::<i32>().value(0), "t_not_null_for_ws");
    assert_eq!(get("function").as_string::<i32>().value(0), "is_not_null");
    assert_eq!(
        get("filter").as_string::<i32>().value(0),
        "station LIKE 'WS-%'"
    );
    let cols = get("columns");
    let cols = cols.as_list::<i32>().value(0);
    assert_eq!(cols.as_string::<i32>().value(0), "t");
    assert_eq!(
        get("run_time")
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        now().timestamp_micros()
    );
    let meta = get("user_metadata");
    let kv = meta.as_map().value(0);
    let keys: Vec<&str> = kv
        .column(0)
        .as_string::<i32>()
        .iter()
        .map(|k| k.unwrap())
        .collect();
    let vals: Vec<&str> = kv
        .column(1)
        .as_string::<i32>()
        .iter()
        .map(|k| k.unwrap())
        .collect();
    assert_eq!(keys, vec!["owner", "level"]);
    assert_eq!(vals, vec!["weather", "2"]);
    assert!(get("skipped").is_null(0));
}

#[test]
fn legacy_spellings() {
    let yaml = "\
- criticality: warn
  check:
    function: value_is_in_list
    arguments: {col_name: a, allowed: [1]}
- check:
    function: value_is_not_null_and_is_in_list
    arguments: {col_name: a, allowed: [1]}
- check:
    function: not_less_than
    arguments: {col_name: a, limit: 1}
- check:
    function: not_greater_than
    arguments: {col_name: a, limit: 1}
- check:
    function: not_in_future
    arguments: {col_name: t, offset: 0}
- check:
    function: not_in_near_future
    arguments: {col_name: t, offset: 60}
- check:
    function: is_not_null
    arguments: {col_names: [a, t]}
";
    let rules = load(yaml);
    let functions: Vec<&str> = rules.rules().iter().map(|r| r.function()).collect();
    assert_eq!(
        functions,
        vec![
            "is_in_list",
            "is_not_null_and_is_in_list",
            "is_not_less_than",
            "is_not_greater_than",
            "is_not_in_future",
            "is_not_in_near_future",
            "is_not_null",
            "is_not_null",
        ]
    );
    assert_eq!(rules.rules()[6].name(), "a_is_null");
    assert_eq!(rules.rules()[7].name(), "t_is_null");
}

// ---------------------------------------------------------------------------------------------
// Skipped checks and strict mode.

const SKIP_YAML: &str = "\
- name: missing_col_check
  criticality: error
  check:
    function: is_not_null
    arguments:
      column: missing_col
- name: bad_filter_check
  criticality: warn
  filter: 'nope > 1'
  check:
    function: is_not_null
    arguments:
      column: a
- name: ok_check
  criticality: error
  check:
    function: is_not_null
    arguments:
      column: a
";

#[test]
fn unresolvable_checks_are_skipped() {
    let (_, ev) = eval(SKIP_YAML, vec![I("a", vec![Some(1), None])]);
    for row in 0..2 {
        let names = names(&ev.errors, row);
        let msgs = messages(&ev.errors, row);
        assert_eq!(names[0], "missing_col_check");
        assert_eq!(
            msgs[0],
            "Check evaluation skipped due to invalid check columns: ['missing_col']"
        );
        assert_eq!(
            messages(&ev.warnings, row),
            vec!["Check evaluation skipped due to invalid check filter: 'nope > 1'"]
        );
        let entries = ev.errors.as_list::<i32>().value(row);
        let skipped = entries
            .as_struct()
            .column_by_name("skipped")
            .unwrap()
            .as_boolean()
            .clone();
        assert!(skipped.value(0));
    }
    // The real failure on row 2 follows the skipped entry; skipped checks are not failures.
    assert_eq!(names(&ev.errors, 1), vec!["missing_col_check", "ok_check"]);
    let has_error: Vec<bool> = ev.has_error.iter().map(|b| b.unwrap()).collect();
    assert_eq!(has_error, vec![false, true]);
    assert_eq!(ev.failed_count, vec![0, 0, 1]);
    assert_eq!(ev.evaluated_count, vec![0, 0, 2]);
    assert!(ev.skipped[0].is_some() && ev.skipped[1].is_some() && ev.skipped[2].is_none());
}

#[test]
fn strict_makes_unresolvable_checks_errors() {
    let b = batch(vec![I("a", vec![Some(1)])]);
    // At load time, when the schema is known.
    let err = RuleSet::from_yaml_str(SKIP_YAML, &LoadOptions::strict_for(b.schema())).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("checks[0] 'missing_col_check', argument 'column'"),
        "{text}"
    );
    assert!(
        text.contains("checks[1] 'bad_filter_check', argument 'filter'"),
        "{text}"
    );
    assert!(!text.contains("ok_check"), "{text}");
    // At evaluation time otherwise.
    let rules = RuleSet::from_yaml_str(
        SKIP_YAML,
        &LoadOptions {
            strict: true,
            schema: None,
        },
    )
    .unwrap();
    match rules.evaluate(&b, &EvalContext::fixed(now())) {
        Err(QualityError::Unresolved { rule, message }) => {
            assert_eq!(rule, "missing_col_check");
            assert!(message.contains("['missing_col']"));
        }
        other => panic!("expected an Unresolved error, got {other:?}"),
    }
}

#[test]
fn evaluation_errors_name_the_rule() {
    let rules = load(&one("sql_expression", "expression: 'a + 1'"));
    let err = rules
        .evaluate(
            &batch(vec![I("a", vec![Some(1)])]),
            &EvalContext::fixed(now()),
        )
        .unwrap_err();
    assert!(err.to_string().contains("not_a_1"), "{err}");
    assert!(err.to_string().contains("boolean"), "{err}");
}

#[test]
fn boolean_columns_and_empty_batches() {
    check(
        &one("sql_expression", "expression: 'ok'"),
        vec![B("ok", vec![Some(true), Some(false), None])],
        &[None, Some("Value is not matching expression: ok"), None],
    );
    let (_, ev) = eval(&one("is_not_null", "column: a"), vec![I("a", vec![])]);
    assert_eq!(ev.errors.len(), 0);
    assert_eq!(ev.failed_count, vec![0]);
}

#[test]
fn regex_match_has_java_rlike_semantics() {
    // Unanchored find; `$` also matches before a final line terminator; `\d` is ASCII-only.
    check(
        &one("regex_match", r"column: s, regex: '^WS-\d{5}$'"),
        vec![S(
            "s",
            vec![
                Some("WS-00042"),
                Some("WS-00042\n"),
                Some("ws42"),
                Some("WS-42"),
                Some("WS-٠٠٠٤٢"),
                Some("xWS-00042"),
            ],
        )],
        &[
            None,
            None,
            Some("Column 's' is not matching regex"),
            Some("Column 's' is not matching regex"),
            Some("Column 's' is not matching regex"),
            Some("Column 's' is not matching regex"),
        ],
    );
    check(
        &one("regex_match", "column: s, regex: 'b+'"),
        vec![S("s", vec![Some("abbc"), Some("ac")])],
        &[None, Some("Column 's' is not matching regex")],
    );
}
