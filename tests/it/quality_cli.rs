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
