//! The Event Hubs path under faults an operator meets: a proxy that cuts every connection
//! several times mid-stream, SAS tokens that expire unless refreshed, and an emulator restarted
//! on the same `--data-dir` while the pipeline reads. Each ends with exactly the tables the
//! oracle (or an uninterrupted run) gives, and bronze sequence numbers gapless per partition.
//! Cuts are driven by bytes forwarded, not by the clock.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

use crate::common::*;
use crate::eventhub_pipeline::{
    assert_gapless, emulator_with_smoke, eventhub, pipeline, produce_file, serial, PARTITIONS,
};
use medallion::emulator::{Emulator, EmulatorConfig, EmulatorHandle, HubSpec};
use medallion::epoch::EpochPolicy;
use medallion::eventhub::{BlockingProducer, EventHubSource, EventHubSourceConfig};
use medallion::pipeline::{run, ProgressMode, RunConfig};
use medallion::source::{PartitionedSource, SequenceNumber};

/// A loopback TCP proxy to `upstream` that, each time another `every` bytes went from upstream
/// to the clients, cuts every open connection (or, with `stall`, stops forwarding on it but
/// keeps it open: a half-dead connection), at most `max_cuts` times. With `pace`, downstream
/// bytes go in chunks of 8 KiB with that pause after each: a slow link.
struct CuttingProxy {
    addr: SocketAddr,
    cuts: Arc<AtomicUsize>,
}

impl CuttingProxy {
    async fn start(
        upstream: SocketAddr,
        every: u64,
        max_cuts: usize,
        stall: bool,
        pace: Option<Duration>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cuts = Arc::new(AtomicUsize::new(0));
        let (cut_tx, cut_rx) = watch::channel(0usize);
        let cut_tx = Arc::new(cut_tx);
        let downstream = Arc::new(AtomicU64::new(0));
        let state = (cuts.clone(), cut_tx, downstream);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (cuts, cut_tx, downstream) = state.clone();
                let mut cut = cut_rx.clone();
                cut.mark_unchanged();
                tokio::spawn(async move {
                    let (mut client_rd, mut client_wr) = client.into_split();
                    let (mut server_rd, mut server_wr) = server.into_split();
                    let up = tokio::io::copy(&mut client_rd, &mut server_wr);
                    let down = async {
                        let mut buf = vec![0u8; if pace.is_some() { 8 * 1024 } else { 64 * 1024 }];
                        loop {
                            let n = match server_rd.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if client_wr.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                            if let Some(pause) = pace {
                                tokio::time::sleep(pause).await;
                            }
                            let total =
                                downstream.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                            let done = cuts.load(Ordering::Relaxed);
                            if done < max_cuts
                                && total >= every * (done as u64 + 1)
                                && cuts
                                    .compare_exchange(
                                        done,
                                        done + 1,
                                        Ordering::Relaxed,
                                        Ordering::Relaxed,
                                    )
                                    .is_ok()
                            {
                                cut_tx.send_replace(done + 1);
                            }
                        }
                    };
                    let cut = tokio::select! {
                        _ = up => false,
                        _ = down => false,
                        _ = cut.changed() => true,
                    };
                    if cut && stall {
                        // Hold both sockets open, forwarding nothing, until the test ends.
                        let _held = (client_rd, client_wr, server_rd, server_wr);
                        std::future::pending::<()>().await;
                    }
                    // Dropping both sockets cuts the connection on both sides.
                });
            }
        });
        CuttingProxy { addr, cuts }
    }

    fn cuts(&self) -> usize {
        self.cuts.load(Ordering::Relaxed)
    }
}

/// The connection string of `emulator_cs` pointed at `addr` instead.
fn via(emulator_cs: &str, addr: SocketAddr) -> String {
    emulator_cs
        .split(';')
        .map(|part| match part.split_once('=') {
            Some(("Endpoint", _)) => format!("Endpoint=sb://127.0.0.1:{}", addr.port()),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// An emulator (hub `weather`) that checks SAS tokens against `key`, as the service does.
fn emulator_with_key(rt: &tokio::runtime::Runtime, partitions: u32, key: &str) -> EmulatorHandle {
    rt.block_on(Emulator::start(EmulatorConfig {
        port: 0,
        hubs: vec![HubSpec::new("weather", partitions)],
        sas_key: Some(key.into()),
        ..Default::default()
    }))
    .unwrap()
}

/// Reads every partition of `source` from its start to its end (a bounded source), asserting
/// consecutive sequence numbers and no error; returns the events read.
fn read_all_gapless(source: &EventHubSource) -> usize {
    let mut read = 0;
    for partition in source.partitions() {
        let mut reader = source.open(partition, SequenceNumber(0)).unwrap();
        let mut next = 0i64;
        while let Some(batch) = reader.next_batch(500).expect("no error while reading") {
            for seq in batch.sequence_numbers.iter().copied() {
                assert_eq!(seq, next, "partition {partition} gapless");
                next += 1;
            }
            read += batch.len();
        }
    }
    read
}

fn config(out: &std::path::Path, cs: String) -> RunConfig {
    RunConfig {
        source: eventhub(cs),
        out: out.into(),
        now: Some("2026-11-26T12:00:00Z".parse().unwrap()),
        epoch: EpochPolicy::Millis(20),
        batch_size: 500,
        timely: timely::CommunicationConfig::Process(2),
        progress: ProgressMode::Lines,
        ..RunConfig::default()
    }
}

/// The smoke events read through a [`CuttingProxy`] (`every`, `max_cuts`, `pace`): at least
/// `min_cuts` cuts happen, and the tables equal the oracle, gapless.
fn exact_through_proxy(every: u64, max_cuts: usize, pace: Option<Duration>, min_cuts: usize) {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = emulator_with_smoke(&rt);
    let proxy = rt.block_on(CuttingProxy::start(
        emu.local_addr(),
        every,
        max_cuts,
        false,
        pace,
    ));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let summary = run(config(&out, via(&emu.connection_string(), proxy.addr)))
        .expect("the run survives the proxy");
    assert!(
        proxy.cuts() >= min_cuts,
        "only {} cuts happened",
        proxy.cuts()
    );
    assert_eq!(summary.events_read, 10_000);
    assert_matches_oracle(&out, &expected_smoke());
    assert_gapless(&out);
    rt.block_on(emu.shutdown());
}

#[test]
fn a_proxy_cutting_connections_mid_stream_changes_nothing() {
    // The smoke events are ~3 MB on the wire: a cut after every 400 KB, five in all.
    exact_through_proxy(400_000, 5, None, 3);
}

/// A slow link (8 KiB per 10 ms, about 0.8 MB/s, so the smoke events take seconds to arrive)
/// that also cuts the connection twice.
#[test]
fn a_slow_link_with_cuts_changes_nothing() {
    exact_through_proxy(1_000_000, 2, Some(Duration::from_millis(10)), 1);
}

#[test]
fn an_emulator_restarted_on_its_data_dir_is_read_to_the_end_exactly() {
    let _serial = serial();
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let emulator_config = || EmulatorConfig {
        port,
        hubs: vec![HubSpec::new("weather", PARTITIONS)],
        data_dir: Some(data.path().to_path_buf()),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(Emulator::start(emulator_config())).unwrap();
    let cs = emu.connection_string();
    assert_eq!(produce_file(&cs, &smoke_file()), 10_000);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let reading = {
        let (out, cs) = (out.clone(), cs.clone());
        std::thread::spawn(move || {
            run(RunConfig {
                batch_size: 200,
                ..config(&out, cs)
            })
        })
    };
    // Restart once the first epoch is committed (the run is mid-stream).
    let deadline = Instant::now() + Duration::from_secs(60);
    while bronze_log_versions(&out) < 2 && !reading.is_finished() {
        assert!(Instant::now() < deadline, "the run committed nothing");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!reading.is_finished(), "the run ended before the restart");
    rt.block_on(emu.shutdown());
    let emu = rt.block_on(Emulator::start(emulator_config())).unwrap();
    let summary = reading
        .join()
        .unwrap()
        .expect("the run survives the restart");
    assert_eq!(summary.events_read, 10_000);
    assert_matches_oracle(&out, &expected_smoke());
    assert_gapless(&out);
    rt.block_on(emu.shutdown());
}

#[test]
fn short_lived_tokens_are_refreshed_without_a_gap() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = emulator_with_key(&rt, 2, "s3cret");
    let cs = emu.connection_string();
    let lifetime = Duration::from_secs(3);
    let mut source_config = EventHubSourceConfig::new(cs.clone(), "weather");
    source_config.token_lifetime = lifetime;
    source_config.stop_when_idle = Some(Duration::from_secs(2));
    let source = EventHubSource::connect(source_config).expect("source connects");
    // The producer sends 6,000 events at 1,000 events/s (at least 6 s: two token lifetimes)
    // while the readers read.
    let producing = {
        let cs = cs.clone();
        std::thread::spawn(move || {
            let producer = BlockingProducer::connect(&cs, Some("weather")).unwrap();
            let events = (0..6_000).map(|i| {
                (
                    Some(format!("s{}", i % 50)),
                    format!("{{\"n\":{i}}}").into_bytes(),
                )
            });
            let stats = producer.send_all(events, Some(1_000.0), |_| {}).unwrap();
            producer.close();
            stats
        })
    };
    let started = Instant::now();
    let read = read_all_gapless(&source);
    let stats = producing.join().unwrap();
    assert_eq!(stats.events, 6_000);
    assert_eq!(read, 6_000);
    assert!(
        started.elapsed() > lifetime * 2,
        "the read outlived two token lifetimes"
    );
    rt.block_on(emu.shutdown());
}

#[test]
fn a_refused_key_is_a_clear_error_naming_the_hub_not_a_hang() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = emulator_with_key(&rt, 2, "s3cret");
    let wrong = emu
        .connection_string()
        .replace("SharedAccessKey=s3cret", "SharedAccessKey=not-the-key");
    let error = EventHubSource::connect(EventHubSourceConfig::new(wrong.clone(), "weather"))
        .expect_err("a wrong key is refused");
    let text = error.to_string();
    assert!(
        text.contains("refused access to hub 'weather'") && !text.contains("not-the-key"),
        "{text}"
    );
    let producer = BlockingProducer::connect(&wrong, Some("weather"));
    let text = producer
        .expect_err("the producer is refused too")
        .to_string();
    assert!(text.contains("refused access to hub 'weather'"), "{text}");
    rt.block_on(emu.shutdown());
}

#[test]
fn a_stalled_connection_is_dropped_after_the_idle_timeout_and_reading_resumes() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = emulator_with_smoke(&rt);
    // After ~1 MB every open connection goes silent (twice); the reader must notice within its
    // idle timeout and reconnect.
    let proxy = rt.block_on(CuttingProxy::start(
        emu.local_addr(),
        1_000_000,
        2,
        true,
        None,
    ));
    let mut config =
        EventHubSourceConfig::new(via(&emu.connection_string(), proxy.addr), "weather");
    config.idle_timeout = Duration::from_secs(2);
    config.stop_when_idle = Some(Duration::from_secs(4));
    let source = EventHubSource::connect(config).expect("source connects");
    let read = read_all_gapless(&source);
    assert!(proxy.cuts() >= 1, "the proxy never stalled");
    assert_eq!(read, 10_000);
    rt.block_on(emu.shutdown());
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_shared_access_key_appears_in_no_log_error_summary_or_table() {
    let _serial = serial();
    const KEY: &str = "Zq9sEcReTkEy4711xYz";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = emulator_with_key(&rt, PARTITIONS, KEY);
    let cs = emu.connection_string();
    assert!(cs.contains(KEY));
    assert_eq!(produce_file(&cs, &smoke_file()), 10_000);
    let dir = tempfile::tempdir().unwrap();
    // The pipeline's usual command, with every log line (debug, JSON) captured.
    let run = |cs: &str, out: &std::path::Path| {
        pipeline(out, cs)
            .args(["--log-format", "json"])
            .env("RUST_LOG", "debug")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap()
    };
    let out = dir.path().join("out");
    let ok = run(&cs, &out);
    assert!(ok.status.success(), "{}", combined_output(&ok));
    let wrong = cs.replace(KEY, "WrOnGkEy0815");
    let refused = run(&wrong, &dir.path().join("refused"));
    assert_eq!(refused.status.code(), Some(2));
    let refused_text = combined_output(&refused);
    assert!(
        refused_text.contains("refused access to hub 'weather'"),
        "{refused_text}"
    );
    for (what, text) in [("run", combined_output(&ok)), ("refused run", refused_text)] {
        assert!(
            !text.contains(KEY) && !text.contains("WrOnGkEy0815"),
            "{what} printed the key"
        );
    }
    let files = files_under(&out);
    assert!(files.iter().any(|f| f.ends_with("summary.json")));
    assert!(files
        .iter()
        .any(|f| f.to_string_lossy().contains("_delta_log")));
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "{} holds the key",
            file.display()
        );
    }
    rt.block_on(emu.shutdown());
}
