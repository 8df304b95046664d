//! Delta tables on object stores, against real servers started here as a user would: Azurite
//! (`azurite-blob`, npm `azurite@3.35.0`) for Azure Blob and moto's S3 server (`moto_server`, PyPI
//! `moto[server]`), both on loopback; `.ci/run` installs them. Per store: the smoke file through
//! the pipeline, read back with the Python `deltalake` reader and compared with the oracle (and no
//! secret in any output); kill -9 mid-run and a rerun, exact; `optimize` while a run commits
//! (rows unchanged, far fewer files) and `vacuum` (only expired removed files); refusals (missing
//! container or bucket, wrong credentials, a non-Delta prefix, another schema) with exit code 2
//! and nothing written.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use medallion::sink::TableKind;
use medallion::storage::{runtime, Output};
use object_store::path::Path as StorePath;
use object_store::ObjectStoreExt;

use crate::common::{assert_matches_oracle, combined_output, expected_smoke, lineage, smoke_file};

/// Azurite's documented development account and key.
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The key moto is given; any key works there, so a distinctive one shows if it ever leaks.
const MOTO_SECRET: &str = "medallion-test-secret-8f3a2c";

/// A server process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A store with a container or bucket, and the options that reach it.
struct Store {
    base: String,
    options: Vec<(String, String)>,
    secret: &'static str,
    _server: Server,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(program: &str, args: &[String], port: u16, install: &str) -> Server {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} ({e}); install it with: {install}"));
    let server = Server(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{program} did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    let text = combined_output(&out);
    assert!(out.status.success(), "python failed:\n{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Azurite on a free port with a container `medallion`.
fn azurite() -> Store {
    let port = free_port();
    let args: Vec<String> = [
        "--inMemoryPersistence",
        "--disableTelemetry",
        "--loose",
        "--skipApiVersionCheck",
        "--silent",
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        &port.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = start("azurite-blob", &args, port, "npm install -g azurite@3.35.0");
    let endpoint = format!("http://127.0.0.1:{port}");
    // object_store reaches Azurite with `azure_storage_use_emulator=true`, at the address in
    // AZURITE_BLOB_STORAGE_URL (read when a store is built, here and in the commands).
    static AZURITE_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let url = AZURITE_URL.get_or_init(|| {
        std::env::set_var("AZURITE_BLOB_STORAGE_URL", &endpoint);
        endpoint.clone()
    });
    assert_eq!(url, &endpoint, "one Azurite per test binary");
    let cs = format!(
        "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    );
    python(
        "import sys; from azure.storage.blob import BlobServiceClient as C; C.from_connection_string(sys.argv[1]).create_container('medallion')",
        &[&cs],
    );
    Store {
        base: "az://medallion".into(),
        options: vec![
            ("azure_storage_use_emulator".into(), "true".into()),
            ("azure_storage_account_key".into(), AZURITE_KEY.into()),
        ],
        secret: AZURITE_KEY,
        _server: server,
    }
}

/// moto's S3 server on a free port with a bucket `medallion`.
fn moto() -> Store {
    let port = free_port();
    let args: Vec<String> = ["-H", "127.0.0.1", "-p", &port.to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let server = start("moto_server", &args, port, "pip install 'moto[server]'");
    let endpoint = format!("http://127.0.0.1:{port}");
    python(
        "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='medallion', aws_secret_access_key=sys.argv[2]).create_bucket(Bucket='medallion')",
        &[&endpoint, MOTO_SECRET],
    );
    Store {
        base: "s3://medallion".into(),
        options: vec![
            ("aws_access_key_id".into(), "medallion".into()),
            ("aws_secret_access_key".into(), MOTO_SECRET.into()),
            ("aws_region".into(), "us-east-1".into()),
            ("aws_endpoint".into(), endpoint),
            ("allow_http".into(), "true".into()),
        ],
        secret: MOTO_SECRET,
        _server: server,
    }
}

impl Store {
    fn url(&self, run: &str) -> String {
        format!("{}/{run}", self.base)
    }

    fn output(&self, run: &str) -> Output {
        Output::parse(&self.url(run))
            .unwrap()
            .with_options(self.options.clone())
    }

    /// `medallion COMMAND --out URL(run) --storage-option ...`.
    fn medallion(&self, command: &str, run: &str) -> Command {
        self.medallion_at(command, &self.url(run))
    }

    /// `medallion COMMAND --out URL --storage-option ...`, with no AWS/Azure settings inherited.
    fn medallion_at(&self, command: &str, url: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_medallion"));
        c.arg(command).arg("--out").arg(url);
        for (k, v) in &self.options {
            c.arg("--storage-option").arg(format!("{k}={v}"));
        }
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("AZURE_") {
                c.env_remove(k);
            }
        }
        c
    }

    fn pipeline(&self, run: &str, epoch_events: u64) -> Command {
        self.pipeline_at(&self.url(run), epoch_events)
    }

    fn pipeline_at(&self, url: &str, epoch_events: u64) -> Command {
        let mut c = self.medallion_at("run", url);
        c.arg("--source")
            .arg(format!("file:{}", smoke_file().display()))
            .args(["--workers", "2", "--plain-progress", "--epoch-events"])
            .arg(epoch_events.to_string());
        c
    }

    /// Every object under `run/`: (path, bytes).
    fn objects(&self, run: &str) -> Vec<(String, Vec<u8>)> {
        let store = self.output(run).log_store("").unwrap().object_store(None);
        runtime().block_on(async {
            let metas: Vec<_> = store.list(None).collect().await;
            let mut out = Vec::new();
            for m in metas {
                let m = m.unwrap();
                let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
                out.push((m.location.to_string(), bytes.to_vec()));
            }
            out
        })
    }

    /// Number of commits in `run/bronze`'s Delta log.
    fn bronze_versions(&self, run: &str) -> usize {
        let store = self
            .output(run)
            .log_store("bronze")
            .unwrap()
            .object_store(None);
        let prefix = StorePath::from("_delta_log");
        runtime().block_on(async {
            store
                .list(Some(&prefix))
                .filter(|m| {
                    let json = m
                        .as_ref()
                        .is_ok_and(|m| m.location.as_ref().ends_with(".json"));
                    async move { json }
                })
                .count()
                .await
        })
    }

    /// The Python `deltalake` reader's view of the run (see `cloud_read.py`).
    fn read_with_python(&self, run: &str) -> serde_json::Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/cloud_read.py");
        let options: serde_json::Map<String, serde_json::Value> = self
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        let out = Command::new("python3")
            .arg(script)
            .arg(self.url(run))
            .arg(serde_json::Value::Object(options).to_string())
            .output()
            .expect("python3 runs");
        let text = combined_output(&out);
        assert!(out.status.success(), "cloud_read.py failed:\n{text}");
        serde_json::from_slice(&out.stdout).expect("cloud_read.py prints JSON")
    }
}

fn run_ok(mut c: Command) -> String {
    let out = c.output().expect("medallion runs");
    let text = combined_output(&out);
    assert!(out.status.success(), "{c:?} failed:\n{text}");
    text
}

/// The smoke file through the pipeline; the Python reader sees what the oracle says; the secret
/// is in no output, log entry or summary.
fn smoke_reads_back(store: &Store) {
    let text = run_ok(store.pipeline("smoke", 2000));
    let got = store.read_with_python("smoke");
    let want = expected_smoke();
    assert_eq!(got["rows"]["bronze"], want["bronze_count"], "{got}");
    assert_eq!(got["rows"]["quarantine"], want["quarantine_count"], "{got}");
    assert_eq!(
        got["rows"]["silver"], want["distinct_event_ids_silver"],
        "{got}"
    );
    assert_eq!(
        got["distinct_event_ids_silver"],
        want["distinct_event_ids_silver"]
    );
    for (rule, n) in want["rule_fail_counts"].as_object().unwrap() {
        assert_eq!(got["failed"][rule], *n, "rule {rule}: {got}");
    }
    assert_eq!(got["failed"]["parse"], want["parse_error_count"]);
    assert!(
        !text.contains(store.secret),
        "the secret in the run's output"
    );
    let objects = store.objects("smoke");
    assert!(objects.iter().any(|(p, _)| p == "_metrics/summary.json"));
    for (path, bytes) in objects.iter().filter(|(p, _)| !p.ends_with(".parquet")) {
        let s = String::from_utf8_lossy(bytes);
        assert!(!s.contains(store.secret), "the secret in {path}");
    }
}

/// kill -9 after a few commits, then a rerun: the tables equal the oracle.
fn kill9_and_rerun(store: &Store) {
    let mut child = store
        .pipeline("kill9", 250)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while store.bronze_versions("kill9") < 5 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed_mid_run = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(killed_mid_run, "the run ended before it could be killed");
    run_ok(store.pipeline("kill9", 250));
    assert_matches_oracle(&store.output("kill9"), &expected_smoke());
}

/// `optimize` while the pipeline commits, then once more: rows unchanged, far fewer files; then
/// `vacuum` deletes only files removed from the log longer ago than the retention.
fn optimize_and_vacuum(store: &Store) {
    let run = "maintained";
    let mut child = store
        .pipeline(run, 100)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while store.bronze_versions(run) < 4 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut during = 0;
    while child.try_wait().unwrap().is_none() {
        let mut c = store.medallion("optimize", run);
        c.args(["--min-age", "0s", "--table", "bronze", "--table", "silver"]);
        run_ok(c);
        during += 1;
    }
    let status = child.wait_with_output().unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(during > 0, "no optimize ran while the pipeline did");
    let out = store.output(run);
    let before = lineage(&out, TableKind::Bronze);
    let files_before = store.read_with_python(run)["files"]["bronze"]
        .as_u64()
        .unwrap();
    let mut c = store.medallion("optimize", run);
    c.args(["--min-age", "0s"]);
    let report = run_ok(c);
    assert!(
        report.contains("skipped"),
        "quality is left alone:\n{report}"
    );
    let after = store.read_with_python(run);
    let files_after = after["files"]["bronze"].as_u64().unwrap();
    assert!(
        files_after <= 2,
        "bronze still has {files_after} files (had {files_before})"
    );
    assert_eq!(
        lineage(&out, TableKind::Bronze),
        before,
        "bronze rows changed"
    );
    assert_matches_oracle(&out, &expected_smoke());

    // Vacuum: nothing is an hour old; a short retention is refused unless forced.
    let text = run_ok(store.medallion("vacuum", run));
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(" deleted ")).collect();
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l.ends_with("deleted 0 files")),
        "{text}"
    );
    let mut c = store.medallion("vacuum", run);
    c.args(["--retention", "30m"]);
    let refused = c.output().unwrap();
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        combined_output(&refused)
    );
    assert!(combined_output(&refused).contains("--force"));
    let listed = store.objects(run).len();
    let mut c = store.medallion("vacuum", run);
    c.args([
        "--retention",
        "0s",
        "--force",
        "--dry-run",
        "--table",
        "bronze",
    ]);
    let dry = run_ok(c);
    let to_delete: Vec<&str> = dry.lines().filter_map(|l| l.strip_prefix("  ")).collect();
    assert!(
        to_delete.len() as u64 >= files_before - files_after,
        "{dry}"
    );
    assert_eq!(store.objects(run).len(), listed, "a dry run deleted files");
    let mut c = store.medallion("vacuum", run);
    c.args(["--retention", "0s", "--force", "--table", "bronze"]);
    run_ok(c);
    let left: Vec<String> = store.objects(run).into_iter().map(|o| o.0).collect();
    for f in &to_delete {
        assert!(!left.iter().any(|p| p.ends_with(f)), "{f} was not deleted");
    }
    assert_eq!(
        lineage(&out, TableKind::Bronze),
        before,
        "vacuum changed bronze"
    );
    assert_matches_oracle(&out, &expected_smoke());
}

/// Bad locations: exit code 2, a message naming the URL (never the secret), nothing written.
fn refusals(store: &Store, missing: &str, wrong: Option<(&str, &str)>) {
    let expect_refused = |mut c: Command, what: &str| {
        let out = c.output().unwrap();
        let text = combined_output(&out);
        assert_eq!(out.status.code(), Some(2), "{what}:\n{text}");
        assert!(
            !text.contains(store.secret),
            "{what}: the secret shows:\n{text}"
        );
        assert!(!text.contains("panicked"), "{what}:\n{text}");
        text
    };
    let url = store
        .url("x")
        .replace("//medallion", &format!("//{missing}"));
    let text = expect_refused(store.pipeline_at(&url, 2000), "a missing container");
    assert!(text.contains(&url), "{text}");

    if let Some((key, value)) = wrong {
        let mut c = store.pipeline("wrongkey", 2000);
        c.arg("--storage-option").arg(format!("{key}={value}"));
        expect_refused(c, "wrong credentials");
        assert!(
            store.objects("wrongkey").is_empty(),
            "written with a wrong key"
        );
    }

    // A prefix that holds other files: refused before any table is created.
    let root = store
        .output("foreign")
        .log_store("")
        .unwrap()
        .object_store(None);
    runtime()
        .block_on(root.put(
            &StorePath::from("silver/notes.txt"),
            b"not a table".to_vec().into(),
        ))
        .unwrap();
    let text = expect_refused(store.pipeline("foreign", 2000), "a non-Delta prefix");
    assert!(
        text.contains("silver") && text.contains("no Delta table"),
        "{text}"
    );
    assert_eq!(store.objects("foreign").len(), 1, "tables were created");
    let text = expect_refused(
        store.pipeline_at("ftp://medallion/x", 2000),
        "an unknown scheme",
    );
    assert!(text.contains("unknown scheme 'ftp'"), "{text}");
}

#[test]
fn azure_blob_on_azurite() {
    let store = azurite();
    smoke_reads_back(&store);
    kill9_and_rerun(&store);
    optimize_and_vacuum(&store);
    // ADLS Gen2's URL form reaches the same container.
    let abfss = "abfss://medallion@devstoreaccount1.dfs.core.windows.net/gen2";
    run_ok(store.pipeline_at(abfss, 2000));
    let out = Output::parse(abfss)
        .unwrap()
        .with_options(store.options.clone());
    assert_matches_oracle(&out, &expected_smoke());
    assert!(
        !store.objects("gen2").is_empty(),
        "abfss:// wrote elsewhere"
    );
    refusals(
        &store,
        "nosuchcontainer",
        Some(("azure_storage_account_key", "d3JvbmcK")),
    );
}

#[test]
fn s3_on_moto() {
    let store = moto();
    smoke_reads_back(&store);
    kill9_and_rerun(&store);
    optimize_and_vacuum(&store);
    // moto accepts any credentials (it has no accounts), so wrong ones cannot be refused there.
    refusals(&store, "nosuchbucket", None);
}

/// `run --compact-every`: while a pipeline idles on a hub after the smoke events, its own
/// compactor merges bronze's and silver's files; the tables still equal the oracle.
#[test]
fn run_compacts_its_tables_on_a_timer() {
    let _serial = crate::eventhub_pipeline::serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = crate::eventhub_pipeline::emulator_with_smoke(&rt);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut c = Command::new(env!("CARGO_BIN_EXE_medallion"));
    c.args([
        "run",
        "--source",
        "eventhub",
        "--hub",
        "weather",
        "--stop-when-idle",
        "6",
    ])
    .args([
        "--workers",
        "2",
        "--epoch-events",
        "1000",
        "--plain-progress",
    ])
    .args([
        "--now",
        "2026-11-26T12:00:00Z",
        "--compact-every",
        "1s",
        "--out",
    ])
    .arg(&out)
    .env("EVENTHUB_CONNECTION_STRING", emu.connection_string());
    let text = run_ok(c);
    let log = |table: &str| -> Vec<serde_json::Value> {
        let mut entries = Vec::new();
        for e in std::fs::read_dir(out.join(table).join("_delta_log")).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "json") {
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    entries.push(serde_json::from_str(line).unwrap());
                }
            }
        }
        entries
    };
    for table in ["bronze", "silver"] {
        let entries = log(table);
        let optimized = entries.iter().any(|e| {
            e.pointer("/commitInfo/operation").and_then(|o| o.as_str()) == Some("OPTIMIZE")
        });
        assert!(optimized, "no compaction of {table}:\n{text}");
        let appended = entries
            .iter()
            .filter(|e| e.pointer("/add/dataChange") == Some(&serde_json::Value::Bool(true)))
            .count();
        let live = medallion::sink::delta::read_named_table(&out, table)
            .unwrap()
            .files;
        assert!(
            live < appended,
            "{table}: {live} files live of {appended} appended"
        );
    }
    assert!(
        text.contains("compacted"),
        "the compaction is logged:\n{text}"
    );
    assert_matches_oracle(&out, &expected_smoke());
}

/// A table of another schema at `--out` (here written by the Python deltalake writer): exit code
/// 2, the table and the difference named, no other table created.
#[test]
fn another_schema_at_out_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    python(
        "import sys, pyarrow as pa; from deltalake import write_deltalake; write_deltalake(sys.argv[1], pa.table({'station': ['a'], 'reading': [1.5]})); import os; os._exit(0)",
        &[&out.join("silver").display().to_string()],
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_medallion"));
    c.args(["run", "--source"])
        .arg(format!("file:{}", smoke_file().display()))
        .arg("--out")
        .arg(&out);
    let result = c.output().unwrap();
    let text = combined_output(&result);
    assert_eq!(result.status.code(), Some(2), "{text}");
    assert!(
        text.contains("silver") && text.contains("another schema"),
        "{text}"
    );
    assert!(!out.join("bronze").exists(), "bronze was created:\n{text}");
}
