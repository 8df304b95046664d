//! Every other DQX row-level function: nulls, lists, ranges, equality, timestamps, formats, SQL.

use super::*;

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
    assert_eq!(name_of(&yaml), "a_b_case_when_a_1_then_b_else_x_end_x");
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
// DQX 0.17's newer row-level functions (their semantics also in scripts/dqx_diff.py's run
// against DQX itself).

#[test]
fn addresses_and_networks() {
    check(
        &one("is_valid_email", "column: e"),
        vec![S(
            "e",
            vec![
                Some("john.doe@example.com"),
                Some("x@y"),
                Some("\"a.b\"@x.org"),
                None,
            ],
        )],
        &[
            None,
            Some("Value 'x@y' in Column 'e' does not match pattern 'EMAIL_ADDRESS'"),
            None,
            None,
        ],
    );
    check(
        &one("is_valid_url", "column: u"),
        vec![S("u", vec![Some("s3://bucket/key"), Some("example.com")])],
        &[
            None,
            Some("Value 'example.com' in Column 'u' does not match pattern 'URL'"),
        ],
    );
    check(
        &one("is_valid_ipv6_address", "column: ip"),
        vec![S(
            "ip",
            vec![
                Some("fe80::1%eth0"),
                Some("1::2::3"),
                Some("::ffff:1.2.3.4"),
            ],
        )],
        &[
            None,
            Some("Value '1::2::3' in Column 'ip' does not match pattern 'IPV6_ADDRESS'"),
            None,
        ],
    );
    check(
        &one(
            "is_ipv4_address_in_cidr",
            "column: ip, cidr_block: '192.168.1.0/24'",
        ),
        vec![S(
            "ip",
            vec![
                Some("192.168.1.7"),
                Some("192.168.2.7"),
                Some("01.2.3.4"),
                None,
            ],
        )],
        &[
            None,
            Some("Value '192.168.2.7' in Column 'ip' is not in the CIDR block '192.168.1.0/24'"),
            Some("Value '01.2.3.4' in Column 'ip' does not match pattern 'IPV4_ADDRESS'"),
            None,
        ],
    );
    check(
        &one(
            "is_ipv6_address_in_cidr",
            "column: ip, cidr_block: '2001:db8::/32'",
        ),
        vec![S(
            "ip",
            vec![Some("2001:db8::1"), Some("2001:db9::1"), Some("x")],
        )],
        &[
            None,
            Some("Value '2001:db9::1' in Column 'ip' is not in the CIDR block '2001:db8::/32'"),
            Some("Value 'x' in Column 'ip' does not match pattern 'IPV6_ADDRESS'"),
        ],
    );
    let refused = RuleSet::from_yaml_str(
        &one(
            "is_ipv4_address_in_cidr",
            "column: ip, cidr_block: '10.0.0.0/33'",
        ),
        &LoadOptions::default(),
    );
    let e = refused
        .err()
        .expect("an invalid CIDR block is refused")
        .to_string();
    assert!(e.contains("not a valid IPv4 CIDR block"), "{e}");
}

#[test]
fn json_keys_case_decimals_and_dates() {
    check(
        &one("has_json_keys", "column: j, keys: [a, b]"),
        vec![S(
            "j",
            vec![
                Some(r#"{"a": 1, "b": 2}"#),
                Some(r#"{"a": 1}"#),
                Some("[1]"),
                Some("{"),
            ],
        )],
        &[
            None,
            Some(r#"Value '{"a": 1}' in Column 'j' is missing keys in the list: [a, b]"#),
            None,
            Some("Value '{' in Column 'j' is not a valid JSON string"),
        ],
    );
    check(
        &one("has_valid_string_case", "column: s, case: title"),
        vec![S("s", vec![Some("Hello World"), Some("Hello world"), None])],
        &[
            None,
            Some("Value 'Hello world' in Column 's' does not have valid 'title' string case"),
            None,
        ],
    );
    check(
        &one(
            "has_num_decimal_places",
            "column: n, limit: 2, allow_nulls: false",
        ),
        vec![S(
            "n",
            vec![Some("1.250"), Some("1.0E-4"), Some("abc"), None],
        )],
        &[
            None,
            Some("Value '1.0E-4' in Column 'n' has more than 2 decimal places"),
            Some("Value 'abc' in Column 'n' is not numeric"),
            Some("Column 'n' value is null"),
        ],
    );
    assert_eq!(
        name_of(&one(
            "has_num_decimal_places",
            "column: n, limit: 2, allow_nulls: false"
        )),
        "n_is_null_or_num_decimal_places_greater_than_limit"
    );
    check(
        &one(
            "is_not_less_than",
            "column: x, limit: 1, allow_nulls: false",
        ),
        vec![F("x", vec![Some(0.5), Some(2.0), None])],
        &[
            Some("Value '0.5' in Column 'x' is less than limit: 1"),
            None,
            Some("Column 'x' value is null"),
        ],
    );
    check(
        &one("is_older_than_col2_for_n_days", "column1: a, column2: b, days: 1"),
        vec![
            S("a", vec![Some("2026-11-20"), Some("2026-11-26")]),
            S("b", vec![Some("2026-11-26"), Some("2026-11-26")]),
        ],
        &[
            None,
            Some("Value '2026-11-26' in Column 'a' is not less than Value '2026-11-26' in Column 'b' for more than 1 days"),
        ],
    );
}

#[test]
fn message_expr_replaces_the_message() {
    let yaml = "- criticality: error\n  message_expr: \"concat('bad x: ', cast(x as string))\"\n  check:\n    function: is_not_less_than\n    arguments: {column: x, limit: 1}\n";
    check(
        yaml,
        vec![F("x", vec![Some(0.5), Some(2.0)])],
        &[Some("bad x: 0.5"), None],
    );
    // A null value is a null message, as in DQX; the entry is still there.
    let yaml = "- criticality: error\n  message_expr: upper(s)\n  check:\n    function: is_not_null\n    arguments: {column: s}\n";
    let (_, ev) = eval(yaml, vec![S("s", vec![None])]);
    let entries = ev.errors.as_list::<i32>().value(0);
    let message = entries.as_struct().column_by_name("message").unwrap();
    assert_eq!(entries.len(), 1);
    assert!(message.is_null(0));
}
