//! Monitoring as code (`monitoring/`): the alert rules, their promtool unit tests and the scrape
//! config pass promtool; the Grafana dashboard and the alerts query only metrics that
//! `medallion run --metrics-addr` exports, and every alert is unit-tested both ways; and a real
//! Prometheus scrapes a running pipeline (`medallion emulator` → `medallion produce` →
//! `medallion run`) and sees every event committed. promtool and prometheus come with Debian's
//! `prometheus` package, which `.ci/run` installs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::rows;
use medallion::sink::TableKind;

/// The metrics `medallion run --metrics-addr` exports (histograms by their base name), and `up`,
/// which Prometheus adds for every target.
const EXPORTED: &[&str] = &[
    "medallion_events_read_total",
    "medallion_rows_committed_total",
    "medallion_parse_errors_total",
    "medallion_dq_rows_total",
    "medallion_rule_evaluated_total",
    "medallion_rule_failed_total",
    "medallion_source_reconnects_total",
    "medallion_commit_errors_total",
    "medallion_batch_duration_seconds",
    "medallion_commit_duration_seconds",
    "medallion_end_to_end_latency_seconds",
    "medallion_delta_table_version",
    "medallion_last_commit_timestamp_seconds",
    "medallion_watermark_timestamp_seconds",
    "medallion_consumer_lag_events",
    "medallion_consumer_lag_seconds",
    "medallion_dq_score",
    "process_resident_memory_bytes",
    "up",
];

/// The histograms among [`EXPORTED`]: queried through their `_bucket`, `_sum` and `_count` series.
const HISTOGRAMS: &[&str] = &[
    "medallion_batch_duration_seconds",
    "medallion_commit_duration_seconds",
    "medallion_end_to_end_latency_seconds",
];

/// The alerts of `monitoring/alerts.yml`, in order.
const ALERTS: &[&str] = &[
    "MedallionDown",
    "MedallionNoCommit",
    "MedallionConsumerLagGrowing",
    "MedallionQuarantineRatioHigh",
    "MedallionRuleFailureRateHigh",
    "MedallionCommitErrors",
    "MedallionLatencyP99High",
];

/// Events the end-to-end test produces.
const EVENTS: u64 = 20_000;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs promtool in the crate's root; its output, after asserting that it succeeded.
fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| {
            panic!("running promtool (Debian's `prometheus` package; .ci/run installs it): {e}")
        });
    let text = crate::common::combined_output(&out);
    assert!(
        out.status.success(),
        "promtool {} failed ({}):\n{text}",
        args.join(" "),
        out.status
    );
    text
}

#[test]
fn promtool_checks_and_unit_tests_pass() {
    let rules = promtool(&["check", "rules", "monitoring/alerts.yml"]);
    assert!(
        rules.contains(&format!("{} rules found", ALERTS.len())),
        "{rules}"
    );
    promtool(&["check", "config", "monitoring/prometheus.yml"]);
    promtool(&["test", "rules", "monitoring/alerts_test.yml"]);
}

/// The metric names a PromQL expression queries: its identifiers that start with `medallion_` or
/// `process_`, or are `up` (string literals, so label values and `$variables` in them, skipped).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut code = String::with_capacity(expr.len());
    let mut quote = None;
    let mut escaped = false;
    for c in expr.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                code.push(' ');
            }
            None if matches!(c, '"' | '\'' | '`') => {
                quote = Some(c);
                code.push(' ');
            }
            None => code.push(c),
        }
    }
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.starts_with("medallion_") || t.starts_with("process_") || *t == "up")
        .map(str::to_string)
        .collect()
}

/// Why `name` is not a series medallion exports; None when it is.
fn unexported(name: &str) -> Option<String> {
    if HISTOGRAMS.contains(&name) {
        return Some(format!(
            "{name} is a histogram: query {name}_bucket, _sum or _count"
        ));
    }
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| {
            name.strip_suffix(*suffix)
                .filter(|base| HISTOGRAMS.contains(base))
        })
        .unwrap_or(name);
    (!EXPORTED.contains(&base)).then(|| format!("{name} is not exported"))
}

#[test]
fn metric_names_skip_functions_labels_and_strings() {
    let expr = r#"histogram_quantile(0.99, sum by (le) (rate(medallion_batch_duration_seconds_bucket{instance=~"$instance", x="medallion_nope"}[$__rate_interval]))) / up"#;
    assert_eq!(
        metric_names(expr),
        BTreeSet::from([
            "medallion_batch_duration_seconds_bucket".to_string(),
            "up".to_string()
        ])
    );
    assert_eq!(unexported("medallion_batch_duration_seconds_count"), None);
    assert!(unexported("medallion_batch_duration_seconds").is_some());
    assert!(unexported("medallion_rows_committed").is_some());
    assert!(unexported("medallion_dq_score_sum").is_some());
}

/// Every panel of a dashboard, those inside (collapsed) rows too; the rows themselves left out.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut stack: Vec<&Value> = dashboard["panels"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    while let Some(panel) = stack.pop() {
        if let Some(inner) = panel["panels"].as_array() {
            stack.extend(inner.iter());
        }
        if panel["type"].as_str() != Some("row") {
            out.push(panel);
        }
    }
    out
}

#[test]
fn dashboard_queries_use_only_exported_metrics() {
    let path = root().join("monitoring/grafana/medallion.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dashboard: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let panels = panels(&dashboard);
    assert!(!panels.is_empty(), "the dashboard has panels");
    let mut wrong = Vec::new();
    for panel in &panels {
        let title = panel["title"].as_str().unwrap_or("?");
        let targets = panel["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert!(!targets.is_empty(), "panel {title:?} has no target");
        for target in targets {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {title:?}: a target without an expr"));
            let names = metric_names(expr);
            assert!(
                !names.is_empty(),
                "panel {title:?} queries no medallion metric: {expr}"
            );
            for name in names {
                if let Some(why) = unexported(&name) {
                    wrong.push(format!("panel {title:?}: {why} in {expr}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn yaml(path: &str) -> serde_yaml::Value {
    let path = root().join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn seq(v: &serde_yaml::Value) -> &[serde_yaml::Value] {
    v.as_sequence().map(Vec::as_slice).unwrap_or_default()
}

/// The alerts query only exported metrics and carry a severity, and `alerts_test.yml` has, for
/// each, a case where it fires and one where it stays silent.
#[test]
fn alerts_use_only_exported_metrics_and_are_tested_both_ways() {
    let rules = yaml("monitoring/alerts.yml");
    let mut names = Vec::new();
    for group in seq(&rules["groups"]) {
        for rule in seq(&group["rules"]) {
            let name = rule["alert"]
                .as_str()
                .expect("only alerting rules")
                .to_string();
            let expr = rule["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} has an expr"));
            let metrics = metric_names(expr);
            assert!(!metrics.is_empty(), "{name} queries no metric: {expr}");
            for metric in metrics {
                assert_eq!(unexported(&metric), None, "alert {name}: {expr}");
            }
            assert!(
                rule["labels"]["severity"].as_str().is_some(),
                "{name} has a severity"
            );
            names.push(name);
        }
    }
    assert_eq!(names, ALERTS);

    // alertname → (fires in some case, silent in some case).
    let mut cases: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for test in seq(&yaml("monitoring/alerts_test.yml")["tests"]) {
        for case in seq(&test["alert_rule_test"]) {
            let name = case["alertname"].as_str().unwrap_or_default().to_string();
            let seen = cases.entry(name).or_default();
            if seq(&case["exp_alerts"]).is_empty() {
                seen.1 = true;
            } else {
                seen.0 = true;
            }
        }
    }
    for name in ALERTS {
        assert_eq!(
            cases.get(*name),
            Some(&(true, true)),
            "alerts_test.yml has a case where {name} fires and one where it does not"
        );
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A plain HTTP/1.0 GET: the status code and the body.
fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not an HTTP response: {text:?}"),
        )
    };
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_string()))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GETs a path of Prometheus' HTTP API; the answer, when its status is `success`.
fn api(prom: &str, path: &str) -> Result<Value, String> {
    let (status, body) = http_get(prom, path).map_err(|e| format!("GET {path}: {e}"))?;
    let v: Value =
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: {status}, {e}: {body}"))?;
    if v["status"].as_str() != Some("success") {
        return Err(format!("GET {path}: {status}, {body}"));
    }
    Ok(v)
}

/// One sample of an instant query's result: its labels and value.
type Sample = (BTreeMap<String, String>, f64);

/// An instant query (at the current time) against Prometheus at `prom`.
fn query(prom: &str, promql: &str) -> Result<Vec<Sample>, String> {
    let v = api(prom, &format!("/api/v1/query?query={}", url_encode(promql)))?;
    let result = v["data"]["result"]
        .as_array()
        .ok_or_else(|| format!("{promql}: no result vector in {v}"))?;
    result
        .iter()
        .map(|r| -> Result<Sample, String> {
            let labels: BTreeMap<String, String> = r["metric"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let value = r["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or_else(|| format!("{promql}: a sample without a value: {r}"))?;
            Ok((labels, value))
        })
        .collect()
}

/// (name, health, last error) of every rule Prometheus loaded; Err until each was evaluated.
fn rule_health(prom: &str) -> Result<Vec<(String, String, String)>, String> {
    let v = api(prom, "/api/v1/rules")?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let rules: Vec<(String, String, String)> = v["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .map(|r| (text(&r["name"]), text(&r["health"]), text(&r["lastError"])))
        .collect();
    if rules.len() < ALERTS.len() || rules.iter().any(|r| r.1 == "unknown") {
        return Err(format!("{rules:?}"));
    }
    Ok(rules)
}

/// A test's child processes, killed (and reaped) when it ends, a failed assertion included. Each
/// writes its output to `<dir>/<name>.log`.
struct Processes {
    dir: PathBuf,
    children: Vec<(&'static str, Child)>,
}

impl Processes {
    /// Starts `command` with its stderr (and stdout, unless `pipe_stdout`) to `<name>.log`.
    fn spawn(&mut self, name: &'static str, mut command: Command, pipe_stdout: bool) -> &mut Child {
        let log = File::create(self.dir.join(format!("{name}.log"))).expect("a log file");
        let stdout = if pipe_stdout {
            Stdio::piped()
        } else {
            Stdio::from(log.try_clone().expect("a log file"))
        };
        command.stdin(Stdio::null()).stdout(stdout).stderr(log);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({:?}): {e}", command.get_program()));
        self.children.push((name, child));
        &mut self.children.last_mut().expect("just pushed").1
    }

    /// The last lines of every child's log, for failure messages.
    fn logs(&self) -> String {
        let mut all = String::new();
        for (name, _) in &self.children {
            let text =
                std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            all.push_str(&format!("--- {name}.log, last 40 lines:\n{tail}\n"));
        }
        all
    }

    /// Err naming a child that has exited.
    fn check_running(&mut self) -> Result<(), String> {
        for (name, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{name} exited ({status})"));
            }
        }
        Ok(())
    }

    /// Calls `f` every 500 ms until it answers Ok, for up to `secs` seconds; panics with its last
    /// answer and the children's logs on time-out, or as soon as a child exits.
    fn wait_for<T>(
        &mut self,
        what: &str,
        secs: u64,
        mut f: impl FnMut() -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let last = match f() {
                Ok(v) => return v,
                Err(e) => e,
            };
            let failed = match self.check_running() {
                Err(exited) => Some(exited),
                Ok(()) if Instant::now() >= deadline => Some(format!("timed out after {secs} s")),
                Ok(()) => None,
            };
            if let Some(why) = failed {
                panic!(
                    "waiting for {what}: {why}; last answer: {last}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `medallion emulator` on a free port with hub `weather` (4 partitions); the connection
/// string it prints.
fn start_emulator(procs: &mut Processes) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medallion"));
    command.args(["emulator", "--port", "0", "--hub", "weather:4"]);
    let child = procs.spawn("emulator", command, true);
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let cs = loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("Endpoint=") => break line,
            Some(Ok(_)) => {}
            _ => panic!(
                "the emulator ended its output before printing a connection string\n{}",
                procs.logs()
            ),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    cs
}

/// Starts `medallion run` reading the hub until killed, serving its metrics on `metrics`.
fn start_pipeline(procs: &mut Processes, cs: &str, metrics: &str, out: &Path) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medallion"));
    command
        .args(["run", "--source", "eventhub", "--hub", "weather"])
        .args([
            "--metrics-addr",
            metrics,
            "--plain-progress",
            "--epoch-ms",
            "200",
        ])
        .arg("--out")
        .arg(out)
        .env("EVENTHUB_CONNECTION_STRING", cs);
    procs.spawn("run", command, false);
}

/// An emulator and a pipeline reading it into `out` with its metrics on a free port, their logs
/// under `dir`: the processes, the connection string and the metrics address.
fn emulator_and_pipeline(dir: &Path, out: &Path) -> (Processes, String, String) {
    let mut procs = Processes {
        dir: dir.to_path_buf(),
        children: Vec::new(),
    };
    let cs = start_emulator(&mut procs);
    let metrics = format!("127.0.0.1:{}", free_port());
    start_pipeline(&mut procs, &cs, &metrics, out);
    (procs, cs, metrics)
}

/// Sends [`EVENTS`] events of the reference workload to the hub, at 4000 a second.
fn produce(procs: &Processes, cs: &str) {
    let events = EVENTS.to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args([
            "produce", "--hub", "weather", "--events", &events, "--rate", "4000",
        ])
        .env("EVENTHUB_CONNECTION_STRING", cs)
        .output()
        .expect("medallion produce runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("sent {EVENTS} events")),
        "medallion produce failed ({}):\n{stdout}{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        procs.logs()
    );
}

/// Starts Prometheus on a free port, scraping `target` every second as job `medallion` and
/// evaluating the alert rules of `monitoring/alerts.yml`; its address.
fn start_prometheus(procs: &mut Processes, target: &str) -> String {
    let config = procs.dir.join("prometheus.yml");
    let rules = root().join("monitoring/alerts.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules:?}\n\
             scrape_configs:\n  - job_name: medallion\n    static_configs:\n      \
             - targets: [\"{target}\"]\n"
        ),
    )
    .expect("the Prometheus config is written");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new("prometheus");
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            procs.dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={addr}"));
    procs.spawn("prometheus", command, false);
    addr
}

/// The whole path with a real Prometheus: emulator, producer and a pipeline serving
/// `--metrics-addr`, scraped every second until Prometheus sees every event committed to bronze;
/// one lag series per partition; the alert rules evaluate without errors on the real series; the
/// endpoint's own /healthz and /metrics; and bronze holds every event.
#[test]
fn prometheus_scrapes_a_running_pipeline() {
    let _serial = crate::eventhub_pipeline::serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (mut procs, cs, metrics) = emulator_and_pipeline(dir.path(), &out);
    produce(&procs, &cs);
    let prom = start_prometheus(&mut procs, &metrics);

    let bronze = r#"sum(medallion_rows_committed_total{table="bronze"})"#;
    procs.wait_for(
        "Prometheus to see every event committed to bronze",
        90,
        || {
            let result = query(&prom, bronze)?;
            match result.first() {
                Some((_, v)) if *v == EVENTS as f64 => Ok(()),
                _ => Err(format!("{bronze} = {result:?}")),
            }
        },
    );
    let lag = procs.wait_for("a lag series per partition", 30, || {
        let lag = query(&prom, "medallion_consumer_lag_events")?;
        let partitions: BTreeSet<&str> = lag
            .iter()
            .filter_map(|(labels, _)| labels.get("partition").map(String::as_str))
            .collect();
        if lag.len() == 4 && partitions == BTreeSet::from(["0", "1", "2", "3"]) {
            Ok(lag.clone())
        } else {
            Err(format!("medallion_consumer_lag_events = {lag:?}"))
        }
    });
    assert!(lag.iter().all(|(_, v)| *v >= 0.0), "{lag:?}");
    let rules = procs.wait_for("the alert rules to be evaluated", 30, || rule_health(&prom));
    for (name, health, error) in &rules {
        assert_eq!(
            health, "ok",
            "rule {name} fails on the real series: {error}"
        );
    }

    let (status, body) = http_get(&metrics, "/healthz")
        .unwrap_or_else(|e| panic!("GET /healthz: {e}\n{}", procs.logs()));
    assert_eq!(status, 200, "GET /healthz: {body}");
    let (status, body) = http_get(&metrics, "/metrics")
        .unwrap_or_else(|e| panic!("GET /metrics: {e}\n{}", procs.logs()));
    assert_eq!(status, 200, "GET /metrics: {body}");
    assert!(body.contains("medallion_rows_committed_total"), "{body}");

    drop(procs); // kills the pipeline, Prometheus and the emulator
    assert_eq!(rows(&out, TableKind::Bronze), EVENTS as usize);
}

#[test]
fn every_known_series_is_exported_at_zero_before_the_first_event() {
    let _serial = crate::eventhub_pipeline::serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // An empty hub: nothing is ever read, committed or failed.
    let (mut procs, _cs, metrics) = emulator_and_pipeline(dir.path(), &out);
    let text = procs.wait_for("the pipeline's /metrics", 60, || {
        match http_get(&metrics, "/metrics") {
            Ok((200, body)) if body.contains("medallion_commit_errors_total{") => Ok(body),
            Ok((status, body)) => Err(format!("{status}: {body}")),
            Err(e) => Err(e.to_string()),
        }
    });
    for table in ["bronze", "silver", "quarantine", "quality"] {
        for metric in [
            "medallion_commit_errors_total",
            "medallion_rows_committed_total",
        ] {
            let series = format!("{metric}{{table=\"{table}\"}} 0");
            assert!(text.contains(&series), "{series} in:\n{text}");
        }
    }
    for p in 0..4 {
        let series = format!("medallion_events_read_total{{partition=\"{p}\"}} 0");
        assert!(text.contains(&series), "{series} in:\n{text}");
    }
    assert!(
        text.contains("medallion_rule_failed_total{rule=\"station_id_is_null_or_empty\""),
        "rule series in:\n{text}"
    );
}
