//! End-to-end tests of the Event Hubs source and producer against the in-process emulator.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use medallion::{
    emulator::{hub, Emulator, EmulatorConfig, EmulatorHandle, HubSpec},
    eventhub::{
        producer::route_key, BlockingProducer, EventHubError, EventHubSource, EventHubSourceConfig,
    },
    source::{PartitionId, PartitionReader, PartitionedSource, SequenceNumber, SourceError},
};
use tokio::runtime::Runtime;

const HUB: &str = "weather";

/// An emulator with `weather:4` on a free port, on its own runtime.
fn emulator() -> (Runtime, EmulatorHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt
        .block_on(Emulator::start(EmulatorConfig {
            port: 0,
            hubs: vec![HubSpec::new(HUB, 4)],
            ..Default::default()
        }))
        .expect("emulator starts");
    (rt, handle)
}

fn key(i: usize, keys: usize) -> String {
    format!("station-{:03}", i % keys)
}

/// `n` events over `keys` keys; the body names the key and a per-key counter, padded to `pad`.
fn events(n: usize, keys: usize, pad: usize) -> Vec<(Option<String>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let k = key(i, keys);
            let mut body =
                format!("{{\"station\":\"{k}\",\"n\":{},\"i\":{i}", i / keys).into_bytes();
            if body.len() + 1 < pad {
                body.extend(std::iter::repeat_n(b' ', pad - body.len() - 1));
            }
            body.push(b'}');
            (Some(k), body)
        })
        .collect()
}

fn produce(
    emu: &EmulatorHandle,
    events: Vec<(Option<String>, Vec<u8>)>,
) -> medallion::eventhub::SendStats {
    let producer =
        BlockingProducer::connect(&emu.connection_string(), Some(HUB)).expect("producer connects");
    let stats = producer
        .send_all(events, None, |_| {})
        .expect("send succeeds");
    producer.close();
    stats
}

fn config(emu: &EmulatorHandle) -> EventHubSourceConfig {
    let mut c = EventHubSourceConfig::new(emu.connection_string(), HUB);
    c.stop_when_idle = Some(Duration::from_secs(1));
    c
}

#[derive(Debug, Clone, PartialEq)]
struct Read {
    seq: i64,
    offset: i64,
    enqueued_ms: i64,
    key: Option<String>,
    body: Vec<u8>,
}

/// Reads `reader` to its end (bounded source), `max` events per batch, calling `each` per batch.
fn drain(reader: &mut dyn PartitionReader, max: usize, mut each: impl FnMut(usize)) -> Vec<Read> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Some(batch) = reader.next_batch(max).expect("next_batch") {
        assert!(Instant::now() < deadline, "reader did not finish");
        assert!(batch.len() <= max);
        assert_eq!(batch.partition, reader.partition().0);
        for i in 0..batch.len() {
            out.push(Read {
                seq: batch.sequence_numbers[i],
                offset: batch.offsets[i],
                enqueued_ms: batch.enqueued_time_ms[i],
                key: batch.partition_keys.get(i).map(str::to_owned),
                body: batch.body(i).to_vec(),
            });
        }
        if !batch.is_empty() {
            each(out.len());
        }
    }
    out
}

fn assert_consecutive(partition: u32, reads: &[Read], from: i64) {
    for (i, r) in reads.iter().enumerate() {
        assert_eq!(
            r.seq,
            from + i as i64,
            "partition {partition}: gap or duplicate at index {i}"
        );
    }
}

#[test]
fn produce_then_read_all_partitions_round_trips() {
    let (_rt, emu) = emulator();
    let sent = events(20_000, 200, 0);
    let stats = produce(&emu, sent.clone());
    assert_eq!(stats.events, 20_000);

    let source = EventHubSource::connect(config(&emu)).expect("source connects");
    assert_eq!(
        source.partitions(),
        (0..4).map(PartitionId).collect::<Vec<_>>()
    );
    let mut total = 0;
    let mut received: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for p in source.partitions() {
        let mut reader = source.open(p, SequenceNumber(0)).expect("open");
        let reads = drain(reader.as_mut(), 1000, |_| {});
        let stats = emu.partition_stats(HUB, p.0).unwrap();
        assert_eq!(reads.len(), stats.events, "partition {p}");
        assert!(!reads.is_empty(), "partition {p} got no events");
        assert_consecutive(p.0, &reads, 0);
        assert_eq!(reader.position(), SequenceNumber(reads.len() as i64));
        for r in &reads {
            let k = r.key.clone().expect("partition key round-trips");
            assert_eq!(route_key(&k, 4), p.0, "key {k} is in the wrong partition");
            assert!(
                r.enqueued_ms > 1_600_000_000_000,
                "enqueued time {}",
                r.enqueued_ms
            );
            assert!(r.offset >= 0);
            received.entry(k).or_default().push(r.body.clone());
        }
        total += reads.len();
    }
    assert_eq!(total, 20_000);
    // Same bodies per key, in the order they were sent.
    let mut expected: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for (k, b) in sent {
        expected.entry(k.unwrap()).or_default().push(b);
    }
    assert_eq!(received.len(), 200);
    assert_eq!(received, expected);
}

#[test]
fn producer_routes_keys_like_the_emulator() {
    for i in 0..1000 {
        let k = format!("key-{i}");
        for n in [1, 2, 4, 7, 32] {
            assert_eq!(route_key(&k, n), hub::partition_for_key(&k, n));
        }
    }
}

#[test]
fn open_at_a_position_reads_exactly_the_rest() {
    let (_rt, emu) = emulator();
    produce(&emu, events(4_000, 50, 0));
    let source = EventHubSource::connect(config(&emu)).expect("source connects");
    let p = PartitionId(1);
    let all = drain(
        source.open(p, SequenceNumber(0)).unwrap().as_mut(),
        500,
        |_| {},
    );
    let n = all.len() as i64;
    assert!(n > 10);
    for k in [1, n / 2, n - 1] {
        let mut reader = source.open(p, SequenceNumber(k)).unwrap();
        assert_eq!(reader.position(), SequenceNumber(k));
        let rest = drain(reader.as_mut(), 333, |_| {});
        assert_consecutive(p.0, &rest, k);
        assert_eq!(rest, all[k as usize..], "start {k}");
    }
    // At the end: nothing, then the idle stop.
    let rest = drain(
        source.open(p, SequenceNumber(n)).unwrap().as_mut(),
        100,
        |_| {},
    );
    assert!(rest.is_empty());
    // Negative = the configured start (earliest by default; latest: nothing old).
    let earliest = drain(
        source.open(p, SequenceNumber(-1)).unwrap().as_mut(),
        500,
        |_| {},
    );
    assert_eq!(earliest, all);
    let mut latest_cfg = config(&emu);
    latest_cfg.start = medallion::eventhub::StartPosition::Latest;
    let latest = EventHubSource::connect(latest_cfg).unwrap();
    let mut reader = latest.open(p, SequenceNumber(-1)).unwrap();
    assert_eq!(reader.position(), SequenceNumber(n));
    assert!(drain(reader.as_mut(), 100, |_| {}).is_empty());
}

#[test]
fn unbounded_reader_returns_empty_batches_when_idle() {
    let (_rt, emu) = emulator();
    let source =
        EventHubSource::connect(EventHubSourceConfig::new(emu.connection_string(), HUB)).unwrap();
    let mut reader = source.open(PartitionId(0), SequenceNumber(0)).unwrap();
    let started = Instant::now();
    let batch = reader
        .next_batch(10)
        .unwrap()
        .expect("unbounded: never None");
    assert!(batch.is_empty());
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "next_batch blocked for {:?}",
        started.elapsed()
    );
    // Events produced later show up.
    produce(
        &emu,
        (0..40)
            .map(|i| {
                (
                    Some("station-000".to_string()),
                    format!("e{i}").into_bytes(),
                )
            })
            .collect(),
    );
    let p = route_key("station-000", 4);
    let mut reader = source.open(PartitionId(p), SequenceNumber(0)).unwrap();
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while got < 40 && Instant::now() < deadline {
        got += reader.next_batch(7).unwrap().unwrap().len();
    }
    assert_eq!(got, 40);
}

#[test]
fn reconnects_after_dropped_connections_without_loss_or_duplicates() {
    let (_rt, emu) = emulator();
    produce(&emu, events(20_000, 200, 0));
    let mut cfg = config(&emu);
    // Small buffers so that most events are still on the broker when the connections drop.
    cfg.prefetch = 50;
    cfg.chunk_events = 20;
    cfg.channel_chunks = 2;
    cfg.stop_when_idle = Some(Duration::from_secs(3));
    let source = EventHubSource::connect(cfg).expect("source connects");
    let mut readers: Vec<_> = source
        .partitions()
        .into_iter()
        .map(|p| source.open(p, SequenceNumber(0)).unwrap())
        .collect();
    let mut reads: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    let mut done = vec![false; readers.len()];
    let (mut total, mut drops) = (0usize, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    while done.iter().any(|d| !d) {
        assert!(Instant::now() < deadline, "readers did not finish");
        for (i, reader) in readers.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            match reader
                .next_batch(50)
                .expect("reader recovers from dropped connections")
            {
                None => done[i] = true,
                Some(b) => {
                    total += b.len();
                    reads
                        .entry(b.partition)
                        .or_default()
                        .extend(&b.sequence_numbers);
                }
            }
        }
        if (drops == 0 && total >= 3_000)
            || (drops == 1 && total >= 9_000)
            || (drops == 2 && total >= 15_000)
        {
            emu.drop_all_connections();
            drops += 1;
        }
    }
    assert_eq!(drops, 3);
    assert_eq!(total, 20_000);
    for (p, seqs) in reads {
        assert_eq!(seqs.len(), emu.partition_stats(HUB, p).unwrap().events);
        assert!(
            seqs.iter().enumerate().all(|(i, s)| *s == i as i64),
            "partition {p}: not exactly once"
        );
    }
}

#[test]
fn higher_owner_level_takes_over_a_partition() {
    let (_rt, emu) = emulator();
    produce(&emu, events(8_000, 40, 0));
    let p = PartitionId(2);
    let n = emu.partition_stats(HUB, p.0).unwrap().events;
    let small = |owner: i64| {
        let mut c = config(&emu);
        c.owner_level = Some(owner);
        c.prefetch = 20;
        c.chunk_events = 10;
        c.channel_chunks = 1;
        c
    };
    let old = EventHubSource::connect(small(100)).unwrap();
    assert_eq!(old.owner_level(), 100);
    let mut zombie = old.open(p, SequenceNumber(0)).unwrap();
    let mut zombie_read = 0;
    while zombie_read < 100 {
        zombie_read += zombie.next_batch(50).unwrap().unwrap().len();
    }
    // A restarted pipeline (higher owner level) resumes at the zombie's position.
    let new = EventHubSource::connect(small(200)).unwrap();
    let mut reader = new.open(p, zombie.position()).unwrap();
    let start = zombie.position().0;
    let rest = drain(reader.as_mut(), 500, |_| {});
    assert_consecutive(p.0, &rest, start);
    assert_eq!(start as usize + rest.len(), n);
    // The zombie hands out what it had buffered, then reports the takeover on every call.
    let deadline = Instant::now() + Duration::from_secs(30);
    let err = loop {
        assert!(Instant::now() < deadline, "zombie was never displaced");
        match zombie.next_batch(50) {
            Ok(Some(b)) => assert!(b.len() <= 40, "zombie kept reading after the takeover"),
            Ok(None) => panic!("zombie ended instead of reporting the takeover"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, SourceError::PartitionTakenOver { partition: 2, .. }),
        "{err}"
    );
    assert!(matches!(
        zombie.next_batch(1),
        Err(SourceError::PartitionTakenOver { .. })
    ));
}

#[test]
fn bad_connection_strings_name_the_field() {
    let err = |cs: &str| {
        EventHubSource::connect(EventHubSourceConfig::new(cs, HUB))
            .unwrap_err()
            .to_string()
    };
    assert!(err("SharedAccessKeyName=a;SharedAccessKey=b").contains("`Endpoint`"));
    assert!(
        err("Endpoint=sb://localhost:1;SharedAccessKey=secret").contains("`SharedAccessKeyName`")
    );
    let e = err("Endpoint=sb://localhost:1;SharedAccessKeyName=a;SharedAccessKey=secret;UseDevelopmentEmulator=yes");
    assert!(
        e.contains("`UseDevelopmentEmulator`") && !e.contains("secret"),
        "{e}"
    );
    assert!(
        err("Endpoint=ftp://localhost;SharedAccessKeyName=a;SharedAccessKey=b")
            .contains("`Endpoint`")
    );
    let no_hub = EventHubSourceConfig {
        hub: None,
        ..EventHubSourceConfig::new(
            "Endpoint=sb://h;SharedAccessKeyName=a;SharedAccessKey=b",
            "",
        )
    };
    assert!(matches!(
        EventHubSource::connect(no_hub),
        Err(EventHubError::HubName(_))
    ));
    let producer_err =
        BlockingProducer::connect("Endpoint=sb://h;SharedAccessKey=b", Some(HUB)).unwrap_err();
    assert!(
        producer_err.to_string().contains("`SharedAccessKeyName`"),
        "{producer_err}"
    );
}

/// 200K events of ~250 bytes: produce, then consume with 2 threads (2 partitions each, like 2
/// timely workers). Prints events/s.
#[test]
fn throughput_200k_events() {
    let (_rt, emu) = emulator();
    let n = 200_000;
    let sent = events(n, 1_000, 250);
    let bytes: usize = sent.iter().map(|(_, b)| b.len()).sum();
    let stats = produce(&emu, sent);
    assert_eq!(stats.events, n as u64);
    println!(
        "produce: {} events, {:.1} MB in {:.3} s = {:.0} events/s",
        stats.events,
        bytes as f64 / 1e6,
        stats.seconds,
        stats.events_per_sec
    );

    let mut cfg = EventHubSourceConfig::new(emu.connection_string(), HUB);
    cfg.stop_when_idle = Some(Duration::from_millis(300));
    // Tuning knobs for experiments: EH_PREFETCH, EH_CHUNK (events per chunk).
    if let Some(v) = std::env::var("EH_PREFETCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.prefetch = v;
    }
    if let Some(v) = std::env::var("EH_CHUNK").ok().and_then(|v| v.parse().ok()) {
        cfg.chunk_events = v;
    }
    let source = EventHubSource::connect(cfg).unwrap();
    let started = Instant::now();
    let counts: Vec<(usize, Duration)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let source = &source;
                s.spawn(move || {
                    let mut readers: Vec<_> = source
                        .partitions()
                        .into_iter()
                        .filter(|p| p.0 as usize % 2 == w)
                        .map(|p| source.open(p, SequenceNumber(0)).unwrap())
                        .collect();
                    let (mut count, mut last) = (0, Duration::ZERO);
                    let mut open = readers.len();
                    let mut next = vec![0i64; readers.len()];
                    while open > 0 {
                        open = 0;
                        for (i, r) in readers.iter_mut().enumerate() {
                            if let Some(b) = r.next_batch(4096).unwrap() {
                                open += 1;
                                if let Some(first) = b.sequence_numbers.first() {
                                    assert_eq!(*first, next[i]);
                                    next[i] += b.len() as i64;
                                    count += b.len();
                                    last = started.elapsed();
                                }
                            }
                        }
                    }
                    (count, last)
                })
            })
            .collect();
        workers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total: usize = counts.iter().map(|c| c.0).sum();
    let elapsed = counts.iter().map(|c| c.1).max().unwrap();
    assert_eq!(total, n);
    println!(
        "consume: {total} events with 2 reader threads in {:.3} s (until the last event) = {:.0} events/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
}
