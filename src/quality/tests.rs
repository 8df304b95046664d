//! Unit tests of check loading: load errors name the check (index and name) and the argument;
//! dataset-level checks get DQX's names and messages.

use super::*;

fn load_err(yaml: &str) -> (String, Vec<CheckError>) {
    match RuleSet::from_yaml_str(yaml, &LoadOptions::default()) {
        Ok(_) => panic!("expected a load error for\n{yaml}"),
        Err(e) => (e.to_string(), e.check_errors().to_vec()),
    }
}

/// A list whose second check (index 1, named `bad_one`) has the given function and arguments.
fn second(function: &str, args: &str) -> String {
    format!(
        "- name: fine\n  check:\n    function: is_not_null\n    arguments: {{column: a}}\n\
         - name: bad_one\n  criticality: warn\n  check:\n    function: {function}\n    arguments: {{{args}}}\n"
    )
}

fn assert_names(text: &str, errs: &[CheckError], argument: &str) {
    assert_eq!(errs.len(), 1, "{text}");
    let e = &errs[0];
    assert_eq!(e.index, 1, "{text}");
    assert_eq!(e.name.as_deref(), Some("bad_one"), "{text}");
    assert_eq!(e.argument.as_deref(), Some(argument), "{text}");
    assert!(
        text.contains(&format!("checks[1] 'bad_one', argument '{argument}'")),
        "{text}"
    );
}

#[test]
fn unknown_function() {
    let (text, errs) = load_err(&second("is_awesome", "column: a"));
    assert_names(&text, &errs, "function");
    assert!(text.contains("unknown function 'is_awesome'"), "{text}");
}

#[test]
fn unknown_argument() {
    let (text, errs) = load_err(&second("is_not_null", "column: a, colour: blue"));
    assert_names(&text, &errs, "colour");
    assert!(text.contains("unknown argument 'colour'"), "{text}");
}

#[test]
fn missing_required_argument() {
    let (text, errs) = load_err(&second("is_in_range", "column: a, min_limit: 1"));
    assert_names(&text, &errs, "max_limit");
    assert!(
        text.contains("missing required argument 'max_limit'"),
        "{text}"
    );
    let (text, errs) = load_err(&second("is_not_null", ""));
    assert_names(&text, &errs, "column");
}

#[test]
fn bad_regex() {
    let (text, errs) = load_err(&second("regex_match", "column: a, regex: '^(WS-'"));
    assert_names(&text, &errs, "regex");
    assert!(text.contains("invalid regex '^(WS-'"), "{text}");
}

#[test]
fn unsupported_expression() {
    let (text, errs) = load_err(&second("is_not_null", "column: 'frobnicate(a)'"));
    assert_names(&text, &errs, "column");
    assert!(text.contains("function 'frobnicate'"), "{text}");
    let (text, errs) = load_err(&second("sql_expression", "expression: 'a IN (SELECT 1)'"));
    assert_names(&text, &errs, "expression");
    let (text, errs) = load_err(&second("is_not_less_than", "column: a, limit: 'b +'"));
    assert_names(&text, &errs, "limit");
    let (text, errs) = load_err(&second(
        "is_in_list",
        "column: a, allowed: [\"'x'\", 'y z']",
    ));
    assert_names(&text, &errs, "allowed");
    let (text, errs) = load_err(&second(
        "is_valid_date",
        "column: a, date_format: 'yyyy-QQ'",
    ));
    assert_names(&text, &errs, "date_format");
    // A bad filter is reported against the filter.
    let yaml = "- name: fine\n  check:\n    function: is_not_null\n    arguments: {column: a}\n\
                - name: bad_one\n  filter: 'a >'\n  check:\n    function: is_not_null\n    arguments: {column: a}\n";
    let (text, errs) = load_err(yaml);
    assert_names(&text, &errs, "filter");
}

#[test]
fn bad_criticality() {
    let yaml = "- name: fine\n  check:\n    function: is_not_null\n    arguments: {column: a}\n\
                - name: bad_one\n  criticality: fatal\n  check:\n    function: is_not_null\n    arguments: {column: a}\n";
    let (text, errs) = load_err(yaml);
    assert_names(&text, &errs, "criticality");
    assert!(text.contains("invalid criticality 'fatal'"), "{text}");
}

#[test]
fn wrong_argument_types() {
    let (text, errs) = load_err(&second("is_in_list", "column: a, allowed: 'x'"));
    assert_names(&text, &errs, "allowed");
    let (text, errs) = load_err(&second("is_in_list", "column: a, allowed: []"));
    assert_names(&text, &errs, "allowed");
    let (text, errs) = load_err(&second("regex_match", "column: a, regex: x, negate: maybe"));
    assert_names(&text, &errs, "negate");
    let (text, errs) = load_err(&second("is_not_in_future", "column: a, offset: soon"));
    assert_names(&text, &errs, "offset");
    let (text, errs) = load_err(&second(
        "is_equal_to",
        "column: a, value: 1, abs_tolerance: -1",
    ));
    assert_names(&text, &errs, "abs_tolerance");
}

#[test]
fn every_invalid_check_is_reported() {
    let yaml = "- name: one\n  check:\n    function: nope\n\
                - name: two\n  check:\n    function: is_not_null\n    arguments: {column: a}\n\
                - name: three\n  criticality: fatal\n  check:\n    function: is_not_null\n    arguments: {column: a}\n";
    let (text, errs) = load_err(yaml);
    assert_eq!(errs.iter().map(|e| e.index).collect::<Vec<_>>(), vec![0, 2]);
    assert!(text.starts_with("2 invalid check definitions"), "{text}");
}

#[test]
fn structure_errors() {
    let (text, _) = load_err("a: 1");
    assert!(text.contains("must be a list"), "{text}");
    let (text, _) = load_err("- [unclosed");
    assert!(text.contains("not valid YAML"), "{text}");
    let (text, errs) = load_err("- name: x\n  criticality: warn\n");
    assert_eq!(errs[0].argument.as_deref(), Some("check"), "{text}");
    let (text, errs) =
        load_err("- name: x\n  check:\n    function: sql_expression\n    for_each_column: [a]\n    arguments: {expression: 'a > 1'}\n");
    assert_eq!(
        errs[0].argument.as_deref(),
        Some("for_each_column"),
        "{text}"
    );
}

#[test]
fn workload_checks_load_unchanged() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/workload/checks.yml");
    let rules = RuleSet::from_path(&path, &LoadOptions::default()).unwrap();
    let names: Vec<&str> = rules.rules().iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), 14);
    assert_eq!(names[0], "station_id_is_null_or_empty");
    assert_eq!(names[13], "lon_out_of_range");
    assert_eq!(
        rules.rules()[3].columns(),
        Some(&["try_to_timestamp(event_time)".to_string()][..])
    );
    assert_eq!(rules.rules()[6].criticality(), Criticality::Warn);
}

/// Dataset-level check definitions: DQX's names, messages and argument errors.
mod dataset_rules {
    use crate::quality::{LoadOptions, QualityError, RuleSet};

    fn load(yaml: &str) -> Result<RuleSet, QualityError> {
        RuleSet::from_yaml_str(yaml, &LoadOptions::default())
    }

    #[test]
    fn dataset_checks_load_with_dqx_names() {
        let rules = load(
            "- criticality: error\n  check:\n    function: is_unique\n    arguments: {columns: [a, b]}\n\
             - criticality: warn\n  check:\n    function: is_aggr_not_greater_than\n    arguments: {column: a, limit: 1}\n\
             - criticality: warn\n  check:\n    function: is_aggr_equal\n    arguments: {column: x, aggr_type: avg, group_by: [g], limit: 2.5}\n",
        )
        .unwrap();
        assert!(rules.rules().is_empty());
        let names: Vec<&str> = rules
            .dataset_checks()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "struct_a_b_is_not_unique",
                "a_count_greater_than_limit",
                "x_avg_group_by_g_not_equal_to_limit"
            ]
        );
        assert_eq!(
            rules.dataset_checks()[1].aggr_message("3").unwrap(),
            "Count value 3 in column 'a' is greater than limit: 1"
        );
        assert_eq!(
            rules.dataset_checks()[2].aggr_message("3.0").unwrap(),
            "Average value 3.0 in column 'x' per group of columns 'g' is not equal to limit: 2.5"
        );
    }

    #[test]
    fn bad_dataset_checks_are_reported_with_their_argument() {
        for (yaml, needle) in [
            ("function: is_unique\n    arguments: {}", "'columns'"),
            (
                "function: is_unique\n    arguments: {columns: [a], nulls_distinct: 3}",
                "nulls_distinct",
            ),
            (
                "function: is_aggr_not_less_than\n    arguments: {column: a}",
                "'limit'",
            ),
            (
                "function: is_aggr_not_less_than\n    arguments: {column: a, limit: x}",
                "'limit' must be a number",
            ),
            (
                "function: is_aggr_equal\n    arguments: {column: a, limit: 1, aggr_type: medium}",
                "unknown aggr_type 'medium'",
            ),
            (
                "function: is_aggr_equal\n    arguments: {limit: 1}",
                "'column'",
            ),
            (
                "function: is_unique\n    arguments: {columns: [a], bogus: 1}",
                "unknown argument 'bogus'",
            ),
            (
                "function: is_aggr_equal\n    arguments: {column: a, limit: 1, trim_strings: true}",
                "unknown argument 'trim_strings'",
            ),
            (
                "function: is_aggr_equal\n    arguments: {column: a, limit: 1, aggr_type: percentile}",
                "requires aggr_params with 'percentile'",
            ),
            (
                "function: is_aggr_equal\n    arguments: {column: a, limit: 1, abs_tolerance: -1}",
                "must be non-negative",
            ),
            (
                "function: is_aggr_not_less_than\n    arguments: {column: a, limit: 1, abs_tolerance: 1}",
                "unknown argument 'abs_tolerance'",
            ),
            (
                "function: is_aggr_equal\n    arguments: {column: '*', limit: 1, aggr_type: sum}",
                "Column '*' is only supported with 'count' or 'count_distinct'",
            ),
        ] {
            let text = format!("- criticality: error\n  check:\n    {yaml}\n");
            let e = load(&text).unwrap_err().to_string();
            assert!(e.contains(needle), "{yaml}: {e}");
            assert!(e.contains("checks[0]"), "{yaml}: {e}");
        }
    }
}
