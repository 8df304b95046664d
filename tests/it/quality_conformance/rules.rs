//! Rule-level behaviour: names, filter, metadata, legacy spellings, result struct; skipped checks
//! and strict mode.

use super::*;

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
    assert!(err.to_string().contains("_a_1"), "{err}");
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
