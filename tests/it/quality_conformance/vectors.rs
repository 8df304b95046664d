//! The 13 numbered vectors of the quality-engine issue (from DQX's own tests).

use super::*;

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
    // DQX 0.17 on PySpark 4: the name of PySpark's rendering of the negated condition,
    // `!(a = 'str2')`, normalised (older PySparks rendered `(NOT (a = 'str2'))`).
    assert_eq!(name_of(&yaml), "_a_str2");
    assert_eq!(
        name_of(&one("sql_expression", "expression: 'b < c'")),
        "_b_c"
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
