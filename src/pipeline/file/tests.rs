use super::*;

/// The example pipeline of your own events (also the integration test's).
const SENSORS: &str = include_str!("../../../pipelines/sensors.yml");

#[test]
fn a_valid_file_reads_whole() {
    let f = PipelineFile::parse(SENSORS, Some(Path::new("."))).unwrap();
    assert_eq!(f.event.fields().len(), 8);
    assert!(matches!(f.checks, Some(ChecksSource::Inline(_))));
    assert_eq!(f.views.len(), 2);
    let names: Vec<&str> = f.run.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["source", "partitions", "epoch_events", "batch_size", "now"]
    );
    let line = SENSORS
        .lines()
        .position(|l| l.trim_start().starts_with("epoch_events:"));
    assert_eq!(f.run[2].2, line.map(|l| l + 1));
    let mut cfg = RunConfig::default();
    f.apply(&mut cfg).unwrap();
    assert!(cfg.views.is_empty());
    assert_eq!(cfg.custom_views.0.len(), 2);
}

#[test]
fn the_builtin_weather_pipeline_is_the_default_run() {
    let f = PipelineFile::weather();
    assert_eq!(f.checks, Some(ChecksSource::Builtin));
    let mut cfg = RunConfig::default();
    f.apply(&mut cfg).unwrap();
    let default = RunConfig::default();
    assert_eq!(cfg.views, default.views);
    assert_eq!(cfg.event, default.event);
    assert!(cfg.custom_views.0.is_empty() && cfg.checks.is_none() && cfg.inline_checks.is_none());
}

/// Each bad file gives its problems, each naming the key and line.
#[test]
fn bad_files_name_every_problem_with_key_and_line() {
    let cases: &[(&str, &str, &str)] = &[
        ("fields: []", "fields", "unknown key 'fields'"),
        ("event: {fields: [{name: a, type: text}]}", "event.fields[0].type", "unknown value 'text'"),
        ("event: {fields: [{name: a, type: string, size: 3}]}", "event.fields[0].size", "unknown key"),
        ("event: {fields: [{name: a, type: string}], id: b}", "event.id", "no declared field is named 'b'"),
        ("event: {fields: [{name: a, type: float}], time: a}", "event.time", "must be a timestamp field"),
        ("event: {fields: [{name: a, type: string}, {name: a, type: string}]}", "event.fields[1].name", "declared twice"),
        ("event: {fields: [{name: a, type: string}]}\nviews: [{name: v, kind: aggregate, window: 7m, aggregates: [{fn: sum, column: a}]}]", "views[0].window", "divides a day"),
        ("event: {fields: [{name: a, type: string}]}\nviews: [{name: v, kind: aggregate, window: 5m, aggregates: [{fn: sum, column: a}]}]", "views[0].aggregates[0].column", "needs an integer or float column"),
        ("event: {fields: [{name: a, type: string}]}\nviews: [{name: v, kind: latest, key: [b]}]", "views[0].key[0]", "silver has no column 'b'"),
        ("event: {fields: [{name: a, type: string}]}\nviews: [{name: silver, kind: latest, key: [a]}]", "views[0].name", "another table"),
        ("event: {fields: [{name: a, type: string}]}\nviews: [{name: station_latest, kind: station_latest}]", "views[0].kind", "lacks 'event_id'"),
        ("event: {fields: [{name: a, type: string}]}\nchecks: [{criticality: error, check: {function: is_not_null, arguments: {column: b}}}]", "checks[0]", "does not resolve"),
        ("event: {fields: [{name: a, type: string}]}\nchecks: missing.yml", "checks", "does not exist"),
        ("event: [", "", "not valid YAML"),
    ];
    for (text, key, message) in cases {
        let problems = PipelineFile::parse(text, Some(Path::new("."))).unwrap_err();
        let hit = problems
            .iter()
            .find(|p| p.key == *key && p.message.contains(message));
        assert!(
            hit.is_some(),
            "{text}: expected {key}: {message}, got {problems:#?}"
        );
        assert!(
            hit.unwrap().line.is_some(),
            "{text}: no line in {problems:#?}"
        );
    }
    // All at once: both unknown keys of one file.
    let problems = PipelineFile::parse(
        "event: {fields: [{name: a, type: string, x: 1}], y: 2}",
        None,
    )
    .unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:#?}");
}
