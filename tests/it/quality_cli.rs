//! The `check` command, run as a library function on temporary files.

use std::io::Write;

use medallion::quality::cli::{run_check_command_to, CheckArgs};
use serde_json::Value;

const CHECKS: &str = "\
- name: station_id_is_null_or_empty
  criticality: error
  check:
    function: is_not_null_and_not_empty
    arguments:
      column: station_id
- name: humidity_pct_out_of_range
  criticality: warn
  user_metadata: {team: weather}
  check:
    function: is_in_range
    arguments:
      column: humidity_pct
      min_limit: 0
      max_limit: 100
- criticality: warn
  check:
    function: is_not_in_future
    arguments:
      column: try_to_timestamp(event_time)
      offset: 300
";

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.flush().unwrap();
    f
}

fn run(args: &CheckArgs) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run_check_command_to(args, &mut out, &mut err).unwrap();
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn check_command_on_sample_rows() {
    let checks = file(CHECKS);
    let rows = file(concat!(
        "{\"station_id\":\"WS-00042\",\"event_time\":\"2026-11-26T11:00:00.000Z\",\"humidity_pct\":55.2}\n",
        "{\"station_id\":\"\",\"event_time\":\"2026-11-26T11:00:00.000Z\",\"humidity_pct\":104}\n",
        "\n",
        "{\"station_id\":null,\"event_time\":\"2026-11-27T11:00:00.000Z\",\"humidity_pct\":null}\n",
    ));
    let args = CheckArgs {
        checks: checks.path().to_path_buf(),
        now: Some("2026-11-26T12:00:00Z".into()),
        input: Some(rows.path().to_path_buf()),
        validate: false,
        strict: false,
        refs: Vec::new(),
        schema: None,
    };
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);

    // Row 1 passes everything; the input fields are echoed.
    assert_eq!(lines[0]["station_id"], "WS-00042");
    assert_eq!(lines[0]["humidity_pct"], 55.2);
    assert!(lines[0]["_errors"].is_null() && lines[0]["_warnings"].is_null());

    // Row 2: an error and a warning, with the DQX fields.
    let e = &lines[1]["_errors"][0];
    assert_eq!(e["name"], "station_id_is_null_or_empty");
    assert_eq!(e["message"], "Column 'station_id' value is null or empty");
    assert_eq!(e["columns"], serde_json::json!(["station_id"]));
    assert!(e["filter"].is_null());
    assert_eq!(e["function"], "is_not_null_and_not_empty");
    assert_eq!(e["run_time"], "2026-11-26T12:00:00.000000Z");
    let w = &lines[1]["_warnings"][0];
    assert_eq!(
        w["message"],
        "Value '104.0' in Column 'humidity_pct' not in range: [0, 100]"
    );
    assert_eq!(w["user_metadata"]["team"], "weather");

    // Row 3: null station id is an error; the future time a warning with a generated name.
    assert_eq!(lines[2]["_errors"].as_array().unwrap().len(), 1);
    let w = &lines[2]["_warnings"][0];
    assert_eq!(w["name"], "try_to_timestamp_event_time_in_future");
    assert_eq!(
        w["message"],
        "Value '2026-11-27 11:00:00' in Column 'try_to_timestamp(event_time)' is greater than time '2026-11-26 12:05:00'"
    );

    // Per-rule summary on stderr.
    assert!(
        err.contains("3 row(s), 2 with errors, 2 with warnings"),
        "{err}"
    );
    let summary: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("station_id_is_null_or_empty"))
        .collect();
    assert_eq!(summary.len(), 1, "{err}");
    let cells: Vec<&str> = summary[0].split_whitespace().collect();
    assert_eq!(
        cells,
        vec!["station_id_is_null_or_empty", "error", "3", "2"]
    );
}

#[test]
fn validate_exit_codes() {
    let good = file(CHECKS);
    let args = CheckArgs {
        checks: good.path().to_path_buf(),
        validate: true,
        ..Default::default()
    };
    let (code, out, _) = run(&args);
    assert_eq!(code, 0);
    assert!(out.contains("3 check(s), 3 rule(s), valid"), "{out}");

    let bad = file("- name: broken\n  check:\n    function: regex_match\n    arguments: {column: a, regex: '('}\n");
    let args = CheckArgs {
        checks: bad.path().to_path_buf(),
        validate: true,
        ..Default::default()
    };
    let (code, _, err) = run(&args);
    assert_eq!(code, 2);
    assert!(
        err.contains("checks[0] 'broken', argument 'regex'"),
        "{err}"
    );
}

#[test]
fn strict_input_with_missing_column_is_invalid() {
    let checks = file(CHECKS);
    let rows = file("{\"event_time\":\"2026-11-26T11:00:00Z\",\"humidity_pct\":1}\n");
    let mut args = CheckArgs {
        checks: checks.path().to_path_buf(),
        now: Some("2026-11-26T12:00:00Z".into()),
        input: Some(rows.path().to_path_buf()),
        validate: false,
        strict: true,
        refs: Vec::new(),
        schema: None,
    };
    let (code, _, err) = run(&args);
    assert_eq!(code, 2);
    assert!(
        err.contains("'station_id_is_null_or_empty', argument 'column'"),
        "{err}"
    );
    // Without --strict the check is skipped and reported on every row.
    args.strict = false;
    let (code, out, err) = run(&args);
    assert_eq!(code, 0);
    let row: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        row["_errors"][0]["message"],
        "Check evaluation skipped due to invalid check columns: ['station_id']"
    );
    assert_eq!(row["_errors"][0]["skipped"], true);
    assert!(err.contains("skipped: Check evaluation skipped"), "{err}");
}

/// Runs `checks` on `rows` with `--schema`; the error, or each row's `_errors` messages.
fn run_typed(checks: &str, rows: &str, schema: &str) -> Result<Vec<Vec<String>>, String> {
    let (c, r) = (file(checks), file(rows));
    let args = CheckArgs {
        checks: c.path().to_path_buf(),
        input: Some(r.path().to_path_buf()),
        schema: Some(schema.to_string()),
        now: Some("2026-11-26T12:00:00Z".into()),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    run_check_command_to(&args, &mut out, &mut err).map_err(|e| format!("{e:#}"))?;
    Ok(String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["_errors"]
                .as_array()
                .map(|es| {
                    es.iter()
                        .map(|e| e["message"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect())
}

#[test]
fn declared_timestamps_feed_the_time_series_checks() {
    // Windows of an hour: 09:00 holds 2 rows, 10:00 none, 11:00 one, 12:00 (after now) one.
    let rows = [
        r#"{"ts": "2026-11-26 09:10:00", "v": 1}"#,
        r#"{"ts": "2026-11-26 09:50:00", "v": 2}"#,
        r#"{"ts": "2026-11-26 11:05:30", "v": 3}"#,
        r#"{"ts": "2026-11-26 12:30:00", "v": 4}"#,
        r#"{"ts": null, "v": 5}"#,
    ]
    .join("\n");
    let fresh = "- criticality: error\n  check:\n    function: is_data_fresh_per_time_window\n    arguments: {column: ts, window_minutes: 60, min_records_per_window: 2}\n";
    let got = run_typed(fresh, &rows, "ts TIMESTAMP").unwrap();
    assert_eq!(
        got[2],
        [
            "Data arrival completeness check failed: only 1 records found in 60-minute interval \
          starting at 2026-11-26 11:00:00 and ending at 2026-11-26 12:00:00, expected at least 2 \
          records"
        ]
    );
    // 09:00 has 2; 12:30 is after now; a null time is never marked.
    assert!(got[0].is_empty() && got[1].is_empty() && got[3].is_empty() && got[4].is_empty());

    let gaps = "- criticality: error\n  check:\n    function: has_no_gaps_per_time_window\n    arguments: {column: ts, window_minutes: 60}\n";
    let got = run_typed(gaps, &rows, "ts TIMESTAMP").unwrap();
    let gap = "Gap in time series: no data between the window starting at 2026-11-26 09:00:00 \
               and the next present window starting at 2026-11-26 11:00:00";
    assert_eq!(got[0], [gap]);
    assert_eq!(got[1], [gap]);
    assert!(got[2..].iter().all(Vec::is_empty), "{got:?}");

    // Hourly sums: 4 (12:00, the latest grain), then 3 (11:00), 3 (09:00) and 5 (the null
    // grain, ordered last): baseline 3.667, stddev 0.943, |4 - 3.667| within 1 stddev.
    let outliers = "- criticality: error\n  check:\n    function: has_no_aggr_outliers\n    arguments: {column: v, aggr_type: sum, time_column: ts, time_interval: hour, lookback_num_intervals: 3, warmup_num_intervals: 2, sigma: 1}\n";
    let got = run_typed(outliers, &rows, "ts TIMESTAMP").unwrap();
    assert!(got.iter().all(Vec::is_empty), "{got:?}");
    let more = format!("{rows}\n{}", r#"{"ts": "2026-11-26 08:00:00", "v": 1}"#);
    // With 08:00 (sum 1) the history is 3, 3, 1 (the null grain now beyond the lookback):
    // mean 2.333…, stddev 0.9428…; |4 - 2.333| > 1 · 0.9428.
    let got = run_typed(outliers, &more, "ts TIMESTAMP").unwrap();
    assert_eq!(
        got[0],
        [
            "sum(v): current=4, baseline=2.3333333333333335, stddev=0.9428090415820634, \
          delta=1.6666666666666665 exceeds 1 x stddev (lookback=3 intervals)"
        ]
    );
    assert!(
        got.iter().all(|m| m.len() == 1),
        "every row of the one group: {got:?}"
    );

    // Without --schema the column is text: bucketing by it is refused, naming the column.
    let e = run_typed(outliers, &rows, "v BIGINT").unwrap_err();
    assert!(
        e.contains("Column 'ts' must be of date or timestamp type") && e.contains("'string'"),
        "{e}"
    );
    // A value that is not a timestamp is an error naming its row and column.
    let bad = rows.replace("2026-11-26 11:05:30", "2026-11-26 25:00:00");
    let e = run_typed(fresh, &bad, "ts TIMESTAMP").unwrap_err();
    assert!(
        e.contains("row 3") && e.contains("column 'ts'") && e.contains("25:00:00"),
        "{e}"
    );
}

#[test]
fn aggregates_are_compared_with_a_reference_given_by_name() {
    let checks = "- criticality: error\n  check:\n    function: aggr_matches_dataset\n    arguments: {column: v, aggr_type: sum, ref_table: upstream, ref_column: w, group_by: [g]}\n";
    let rows = "{\"g\": \"a\", \"v\": 1}\n{\"g\": \"a\", \"v\": 2}\n{\"g\": \"b\", \"v\": 5}\n{\"g\": null, \"v\": 7}\n";
    let refs =
        file("{\"g\": \"a\", \"w\": 3}\n{\"g\": \"b\", \"w\": 4}\n{\"g\": \"b\", \"w\": 2}\n");
    let (c, r) = (file(checks), file(rows));
    let args = CheckArgs {
        checks: c.path().to_path_buf(),
        input: Some(r.path().to_path_buf()),
        refs: vec![format!("upstream={}", refs.path().display())],
        now: Some("2026-11-26T12:00:00Z".into()),
        ..Default::default()
    };
    let (code, out, _) = run(&args);
    assert_eq!(code, 0);
    let msgs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["_errors"].clone())
        .collect();
    // a: 3 = 3 passes; b: 5 against 6; the null group has no reference group.
    assert!(msgs[0].is_null() && msgs[1].is_null(), "{msgs:?}");
    assert_eq!(
        msgs[2][0]["message"],
        "Sum value 5 in column 'v' per group of columns 'g' is not equal to table 'upstream' \
         column 'w' limit: 6"
    );
    assert_eq!(
        msgs[3][0]["message"],
        "Sum value 7 in column 'v' per group of columns 'g' is not equal to table 'upstream' \
         column 'w' limit: "
    );
    assert_eq!(
        msgs[2][0]["name"],
        "v_sum_group_by_g_not_equal_to_upstream_limit"
    );
}

#[test]
fn sql_queries_mark_rows_by_merge_key_or_all_rows() {
    let rows = "{\"g\": \"a\", \"v\": 1}\n{\"g\": \"a\", \"v\": 2}\n{\"g\": \"b\", \"v\": 5}\n{\"g\": null, \"v\": 9}\n";
    let by_group = "- criticality: error\n  check:\n    function: sql_query\n    arguments:\n      query: SELECT t.g, sum(t.v) > 4 AS condition FROM {{ input_view }} AS t GROUP BY t.g\n      merge_columns: [g]\n";
    let got = run_typed(by_group, rows, "v BIGINT").unwrap();
    let msg = "Value is not matching query: 'SELECT t.g, sum(t.v) > 4 AS condition FROM {{ input_view }} AS t GROUP BY t.g'";
    // a: 3; b: 5; the null group (matched null-safely): 9.
    assert_eq!(
        got,
        [vec![], vec![], vec![msg.to_string()], vec![msg.to_string()]]
    );

    // Without merge_columns one value for every row; negate fails the rows when it is false.
    let whole = "- criticality: error\n  check:\n    function: sql_query\n    arguments: {query: 'SELECT count(*) > 5 AS bad FROM {{ src }} WHERE v < 9', condition_column: bad, input_placeholder: src, negate: true, msg: too few}\n";
    let got = run_typed(whole, rows, "v BIGINT").unwrap();
    assert!(got.iter().all(|m| m == &["too few".to_string()]), "{got:?}");

    // A query beyond the single-table subset is refused when the checks load, naming why.
    let join = "- criticality: error\n  check:\n    function: sql_query\n    arguments: {query: 'SELECT g, true AS condition FROM {{ input_view }} JOIN other', merge_columns: [g]}\n";
    let (c, r) = (file(join), file(rows));
    let args = CheckArgs {
        checks: c.path().to_path_buf(),
        input: Some(r.path().to_path_buf()),
        ..Default::default()
    };
    let (code, _, err) = run(&args);
    assert_eq!(code, 2);
    assert!(
        err.contains("argument 'query': JOIN is not supported"),
        "{err}"
    );
}

#[test]
fn datasets_are_compared_row_by_row_with_missing_records_after_the_input() {
    let rows = "{\"id\": 1, \"v\": 10, \"w\": \"a\"}\n{\"id\": 2, \"v\": 20, \"w\": \"b\"}\n{\"id\": 2, \"v\": 21, \"w\": \"b\"}\n{\"id\": null, \"v\": 5, \"w\": \"z\"}\n";
    let refs = file("{\"id\": 1, \"v\": 10.0, \"w\": \"a\"}\n{\"id\": 2, \"v\": 20.5, \"w\": \"b\"}\n{\"id\": 3, \"v\": 1, \"w\": \"c\"}\n{\"id\": null, \"v\": 5, \"w\": \"z\"}\n");
    let compare = |extra: &str| {
        format!("- criticality: error\n  check:\n    function: compare_datasets\n    arguments: {{columns: [id], ref_columns: [id], ref_df_name: r{extra}}}\n")
    };
    let run_with = |checks: &str| {
        let (c, r) = (file(checks), file(rows));
        let args = CheckArgs {
            checks: c.path().to_path_buf(),
            input: Some(r.path().to_path_buf()),
            refs: vec![format!("r={}", refs.path().display())],
            now: Some("2026-11-26T12:00:00Z".into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        run_check_command_to(&args, &mut out, &mut err)
            .map(|_| String::from_utf8(out).unwrap())
            .map_err(|e| format!("{e:#}"))
    };
    let out = run_with(&compare(", check_missing_records: true")).unwrap();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let message = |v: &Value| v["_errors"][0]["message"].as_str().map(str::to_string);
    // Key 1 equal (10 and 10.0 are equal numbers); key 2's rows pair in the order of their
    // values: 20 with 20.5, 21 with nothing; the null keys match.
    assert_eq!(message(&lines[0]), None);
    assert_eq!(
        message(&lines[1]).unwrap(),
        r#"{"row_missing":false,"row_extra":false,"changed":{"v":{"df":"20","ref":"20.5"}}}"#
    );
    assert_eq!(
        message(&lines[2]).unwrap(),
        r#"{"row_missing":false,"row_extra":true,"changed":{"v":{"df":"21"},"w":{"df":"b"}}}"#
    );
    assert_eq!(message(&lines[3]), None);
    // The reference's key 3 is missing from the input: a line of its own after the input rows.
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[4]["id"], 3);
    assert_eq!(
        message(&lines[4]).unwrap(),
        r#"{"row_missing":true,"row_extra":false,"changed":{"v":{"ref":"1.0"},"w":{"ref":"c"}}}"#
    );
    assert_eq!(lines[4]["_errors"][0]["name"], "datasets_diff_pk_id_ref_id");

    // raise_on_duplicate_keys refuses the input's repeated key 2, naming the key columns.
    let e = run_with(&compare(", raise_on_duplicate_keys: true")).unwrap_err();
    assert!(
        e.contains("The source dataset contains duplicate matching keys for columns: id."),
        "{e}"
    );
}

#[test]
fn a_row_filter_argument_selects_what_is_read_and_a_filter_what_is_marked() {
    let rows = "{\"g\": \"a\", \"v\": 1}\n{\"g\": \"a\", \"v\": 2}\n{\"g\": \"b\", \"v\": 0}\n";
    let entries = |checks: &str| -> Vec<Value> {
        let (c, r) = (file(checks), file(rows));
        let args = CheckArgs {
            checks: c.path().to_path_buf(),
            input: Some(r.path().to_path_buf()),
            now: Some("2026-11-26T12:00:00Z".into()),
            ..Default::default()
        };
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["_errors"].clone())
            .collect()
    };
    // Group a's sum over v >= 2 is 2 > 1: as in DQX, the argument only selects what the sum
    // reads, so both rows of group a are marked, and the entry has no filter.
    let arg = "- criticality: error\n  check:\n    function: is_aggr_not_greater_than\n    arguments: {column: v, aggr_type: sum, group_by: [g], limit: 1, row_filter: 'v >= 2'}\n";
    let got = entries(arg);
    assert!(
        got[0].is_array() && got[1].is_array() && got[2].is_null(),
        "{got:?}"
    );
    assert_eq!(got[0][0]["filter"], Value::Null);
    // A check-level filter also selects the rows that may be marked, and is reported.
    let filtered = "- criticality: error\n  filter: v >= 2\n  check:\n    function: is_aggr_not_greater_than\n    arguments: {column: v, aggr_type: sum, group_by: [g], limit: 1}\n";
    let got = entries(filtered);
    assert!(
        got[0].is_null() && got[1].is_array() && got[2].is_null(),
        "{got:?}"
    );
    assert_eq!(got[1][0]["filter"], "v >= 2");
    // is_unique counts and marks only the rows of its row_filter: a's v = 1 row is not read,
    // so a is not duplicated.
    let unique = "- criticality: error\n  check:\n    function: is_unique\n    arguments: {columns: [g], row_filter: 'v >= 2'}\n";
    assert!(entries(unique).iter().all(Value::is_null));
    let unique_all = unique.replace("v >= 2", "v >= 0");
    let got = entries(&unique_all);
    assert!(
        got[0].is_array() && got[1].is_array() && got[2].is_null(),
        "{got:?}"
    );
}
