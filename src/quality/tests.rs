//! Unit tests of load errors: each names the check (index and name) and the argument.

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
