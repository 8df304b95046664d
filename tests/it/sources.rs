//! Tests of the generator and file sources: partitioning, resuming, agreement with the written
//! file, the smoke file, odd lines, errors.

use std::collections::HashMap;
use std::path::PathBuf;

use medallion::source::file::FileSource;
use medallion::source::generator::GeneratorSource;
use medallion::source::{PartitionId, PartitionedSource, RawBatch, SequenceNumber, SourceError};
use medallion::workload::{meta_path, station_key, write_jsonl, Generator, Meta, DEFAULT_NOW_MS};
use serde_json::Value;

use crate::common::sources::*;

#[test]
fn generator_source_puts_every_event_in_exactly_one_partition() {
    let c = cfg(30_000, 200, 11);
    let lines = generate(&c);
    let src = GeneratorSource::new(c.clone(), 7).unwrap();
    assert_eq!(
        src.partitions(),
        (0..7).map(PartitionId).collect::<Vec<_>>()
    );
    let parts = read_all(&src, 1_000);
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut station_part: HashMap<String, usize> = HashMap::new();
    for (p, batches) in parts.iter().enumerate() {
        let msgs = flatten(batches);
        assert!(!msgs.is_empty());
        let mut last_enq = i64::MIN;
        for (n, (seq, off, enq, key, body)) in msgs.into_iter().enumerate() {
            assert_eq!(seq, n as i64, "gapless sequence numbers");
            assert_eq!(off, seq);
            assert!(enq >= last_enq, "line order within a partition");
            last_enq = enq;
            assert_eq!(key.as_deref(), station_key(&body).as_deref());
            if let Some(k) = key {
                assert_eq!(
                    *station_part.entry(k).or_insert(p),
                    p,
                    "one station, one partition"
                );
            }
            seen.push(body);
        }
    }
    let mut all: Vec<Vec<u8>> = lines.iter().map(|x| x.1.clone()).collect();
    all.sort();
    seen.sort();
    assert_eq!(seen.len(), all.len());
    assert!(
        seen == all,
        "the partitions hold exactly the generated bodies"
    );
    // partition_of agrees with where each line went
    let first_of_p0 = flatten(&parts[0])[0].4.clone();
    let i = lines.iter().position(|x| x.1 == first_of_p0).unwrap();
    assert_eq!(src.partition_of(i as u64), PartitionId(0));
    // errors
    assert!(matches!(
        src.open(PartitionId(7), SequenceNumber(0)),
        Err(SourceError::NoSuchPartition(7, 7))
    ));
    assert!(GeneratorSource::new(c, 0).is_err());
}

#[test]
fn generator_source_resumes_with_the_same_suffix() {
    let src = GeneratorSource::new(cfg(12_000, 100, 5), 4).unwrap();
    for p in src.partitions() {
        let full = flatten(&read_all_one(&src, p, 0, 333));
        let n = full.len();
        for k in [0, 1, 2, n / 3, n - 1, n] {
            let suffix = flatten(&read_all_one(&src, p, k as i64, 97));
            assert_eq!(suffix, full[k..].to_vec(), "partition {p} from {k}");
        }
        assert!(src.open(p, SequenceNumber(n as i64 + 1)).is_err());
        assert!(src.open(p, SequenceNumber(-1)).is_err());
        // position() follows the batches
        let mut r = src.open(p, SequenceNumber(5)).unwrap();
        assert_eq!(r.position(), SequenceNumber(5));
        let b = r.next_batch(10).unwrap().unwrap();
        assert_eq!(r.position(), SequenceNumber(15));
        assert_eq!(b.sequence_numbers, (5..15).collect::<Vec<_>>());
    }
}

fn read_all_one(
    src: &dyn PartitionedSource,
    p: PartitionId,
    start: i64,
    max: usize,
) -> Vec<RawBatch> {
    let mut r = src.open(p, SequenceNumber(start)).unwrap();
    let mut v = Vec::new();
    while let Some(b) = r.next_batch(max).unwrap() {
        v.push(b);
    }
    v
}

#[test]
fn written_file_and_generator_source_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.jsonl");
    let c = cfg(8_000, 150, 9);
    let meta: Meta = write_jsonl(&c, &path).unwrap();
    let text = std::fs::read(&path).unwrap();
    assert_eq!(meta.bytes, text.len() as u64);
    let lines = generate(&c);
    let expected: Vec<u8> = lines
        .iter()
        .flat_map(|(_, b)| b.iter().copied().chain([b'\n']))
        .collect();
    assert!(text == expected, "file = bodies, one per line");
    let on_disk: Meta = serde_json::from_slice(&std::fs::read(meta_path(&path)).unwrap()).unwrap();
    assert_eq!(on_disk, meta);
    let mut g = Generator::new(c.clone());
    while g.next_event(&mut Vec::new()).is_some() {}
    assert_eq!(meta.injected, *g.injected());
    assert_eq!(
        (meta.events, meta.stations, meta.seed, meta.now_epoch_ms),
        (8_000, 150, 9, DEFAULT_NOW_MS)
    );
    assert_eq!(meta.now, "2026-11-26T12:00:00.000Z");
    let v: Value = serde_json::from_slice(&std::fs::read(meta_path(&path)).unwrap()).unwrap();
    assert_eq!(v["rates"]["duplicate"], 0.005);
    assert!(v["injected"]["late_arrival"].as_u64().unwrap() > 0);

    let gen_src = GeneratorSource::new(c, 5).unwrap();
    let file_src = FileSource::open_path(&path, 5)
        .unwrap()
        .with_enqueued_base_ms(1_000);
    let a = read_all(&gen_src, 256);
    let b = read_all(&file_src, 256);
    for (pa, pb) in a.iter().zip(&b) {
        let (fa, fb) = (flatten(pa), flatten(pb));
        assert_eq!(fa.len(), fb.len());
        for (x, y) in fa.iter().zip(&fb) {
            assert_eq!(
                (x.0, &x.3, &x.4),
                (y.0, &y.3, &y.4),
                "same seq, key and body"
            );
        }
    }
}

fn smoke_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/workload/smoke/smoke.jsonl"
    ))
}

#[test]
fn file_source_reads_the_smoke_file() {
    let path = smoke_path();
    let file = std::fs::read(&path).unwrap();
    let src = FileSource::from_spec(&format!("file:{}", path.display()), 4).unwrap();
    assert_eq!(src.lines(), 10_000);
    let parts = read_all(&src, 700);
    let mut offsets = Vec::new();
    let mut station_part: HashMap<String, usize> = HashMap::new();
    let mut total = 0;
    for (p, batches) in parts.iter().enumerate() {
        let msgs = flatten(batches);
        assert_eq!(msgs.len() as u64, src.partition_len(PartitionId(p as u32)));
        assert!(msgs.len() > 1_000, "spread over the partitions");
        let mut last_off = -1;
        for (n, (seq, off, _enq, key, body)) in msgs.into_iter().enumerate() {
            assert_eq!(seq, n as i64);
            assert!(off > last_off);
            last_off = off;
            let off = off as usize;
            assert_eq!(&file[off..off + body.len()], &body[..], "line bytes exact");
            assert_eq!(file[off + body.len()], b'\n');
            assert!(off == 0 || file[off - 1] == b'\n');
            assert!(!body.contains(&b'\n'));
            assert_eq!(key.as_deref(), station_key(&body).as_deref());
            if let Some(k) = key {
                assert_eq!(
                    *station_part.entry(k).or_insert(p),
                    p,
                    "one station, one partition"
                );
            }
            offsets.push(off);
            total += 1;
        }
    }
    assert_eq!(total, 10_000);
    let mut line_starts: Vec<usize> = vec![0];
    line_starts.extend(
        file.iter()
            .enumerate()
            .filter(|(i, b)| **b == b'\n' && i + 1 < file.len())
            .map(|(i, _)| i + 1),
    );
    offsets.sort();
    assert_eq!(offsets, line_starts, "every line exactly once");
    assert!(station_part.len() >= 100);
    // resume
    let full = flatten(&read_all_one(&src, PartitionId(2), 0, 1_000));
    let tail = flatten(&read_all_one(&src, PartitionId(2), 1_234, 50));
    assert_eq!(tail, full[1_234..].to_vec());
    // enqueued time = base + line number
    let pinned = src.clone().with_enqueued_base_ms(1_000_000);
    let b = pinned
        .open(PartitionId(0), SequenceNumber(0))
        .unwrap()
        .next_batch(5)
        .unwrap()
        .unwrap();
    for i in 0..b.len() {
        let line = line_starts.binary_search(&(b.offsets[i] as usize)).unwrap();
        assert_eq!(b.enqueued_time_ms[i], 1_000_000 + line as i64);
    }
}

#[test]
fn file_source_keeps_odd_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.jsonl");
    let content =
        b"not json\n\n{\"station_id\":\"WS-00001\"}\r\n{\"station_id\":\"WS-00001\",\"x\":1}";
    std::fs::write(&path, content).unwrap();
    let src = FileSource::open_path(&path, 3).unwrap();
    assert_eq!(src.lines(), 4);
    let mut msgs: Vec<Msg> = read_all(&src, 10).iter().flat_map(|p| flatten(p)).collect();
    msgs.sort_by_key(|m| m.1);
    let bodies: Vec<&[u8]> = msgs.iter().map(|m| &m.4[..]).collect();
    assert_eq!(
        bodies,
        vec![
            &b"not json"[..],
            b"",
            b"{\"station_id\":\"WS-00001\"}\r",
            b"{\"station_id\":\"WS-00001\",\"x\":1}"
        ]
    );
    assert_eq!(
        msgs.iter().map(|m| m.1).collect::<Vec<_>>(),
        vec![0, 9, 10, 37]
    );
    // keyless lines go round robin by line number; same key, same partition
    assert_eq!(
        src.partition_len(PartitionId(0))
            + src.partition_len(PartitionId(1))
            + src.partition_len(PartitionId(2)),
        4
    );
    let p_of = |off: i64| -> u32 {
        (0..3u32)
            .find(|&p| {
                flatten(&read_all_one(&src, PartitionId(p), 0, 10))
                    .iter()
                    .any(|m| m.1 == off)
            })
            .unwrap()
    };
    assert_eq!(p_of(0), 0);
    assert_eq!(p_of(9), 1);
    assert_eq!(p_of(10), p_of(37));

    // a trailing newline does not add a body; an empty file has none
    std::fs::write(&path, b"a\nb\n").unwrap();
    assert_eq!(FileSource::open_path(&path, 2).unwrap().lines(), 2);
    std::fs::write(&path, b"").unwrap();
    let empty = FileSource::open_path(&path, 2).unwrap();
    assert_eq!(empty.lines(), 0);
    assert!(empty
        .open(PartitionId(1), SequenceNumber(0))
        .unwrap()
        .next_batch(10)
        .unwrap()
        .is_none());
    // lines longer than the read buffer
    let long = format!(
        "{{\"station_id\":\"WS-00007\",\"pad\":\"{}\"}}",
        "x".repeat(9 << 20)
    );
    std::fs::write(&path, format!("{long}\nshort\n{long}")).unwrap();
    let big = FileSource::open_path(&path, 1).unwrap();
    let msgs = flatten(&read_all(&big, 10)[0]);
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0].4, long.as_bytes());
    assert_eq!(msgs[1].4, b"short");
    assert_eq!(msgs[2].4, long.as_bytes());
    assert_eq!(msgs[2].3.as_deref(), Some("WS-00007"));
}

#[test]
fn file_source_errors() {
    let missing = PathBuf::from("/nonexistent/medallion/none.jsonl");
    match FileSource::open_path(&missing, 4) {
        Err(SourceError::Io { path, .. }) => assert!(path.contains("none.jsonl")),
        other => panic!("expected an I/O error, got {:?}", other.map(|s| s.lines())),
    }
    let msg = FileSource::open_path(&missing, 4).unwrap_err().to_string();
    assert!(msg.contains("/nonexistent/medallion/none.jsonl"), "{msg}");
    assert!(matches!(
        FileSource::from_spec("kafka:x", 4),
        Err(SourceError::UnknownSource(_))
    ));
    assert!(matches!(
        FileSource::open_path(env!("CARGO_MANIFEST_DIR"), 4),
        Err(SourceError::Io { .. })
    ));
    let src = FileSource::open_path(smoke_path(), 4).unwrap();
    assert!(matches!(
        src.open(PartitionId(4), SequenceNumber(0)),
        Err(SourceError::NoSuchPartition(4, 4))
    ));
    assert!(src.open(PartitionId(0), SequenceNumber(-1)).is_err());
    assert!(src.open(PartitionId(0), SequenceNumber(1_000_000)).is_err());
    assert!(FileSource::open_path(smoke_path(), 0).is_err());
}

/// The paced generator (`run --rate`): the same messages in the same partitions as unpaced,
/// released no faster than the rate, each with its release time as its enqueued time (line `i`
/// at `i / rate` seconds after the first read: computed, so exact on any machine).
#[test]
fn paced_generator_releases_the_same_events_at_its_rate() {
    let c = cfg(3_000, 50, 5);
    let plain = read_all(&GeneratorSource::new(c.clone(), 3).unwrap(), 500);
    let source = GeneratorSource::new(c, 3)
        .unwrap()
        .with_rate(2_000.0)
        .unwrap();
    let started = std::time::Instant::now();
    let paced = read_all(&source, 500);
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(1_499),
        "3,000 events at 2,000/s took {took:?}"
    );
    let mut enqueued = Vec::new();
    for (a, b) in plain.iter().zip(&paced) {
        let (a, b) = (flatten(a), flatten(b));
        assert_eq!(a.len(), b.len());
        let mut last = i64::MIN;
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.0, x.1, &x.3, &x.4), (y.0, y.1, &y.3, &y.4));
            assert!(y.2 >= last, "release order within a partition");
            last = y.2;
            enqueued.push(y.2);
        }
    }
    let (first, last) = (
        *enqueued.iter().min().unwrap(),
        *enqueued.iter().max().unwrap(),
    );
    // Lines 0 .. 2,999 at 2,000/s: the last is released 1,499.5 ms after the first.
    assert_eq!(last - first, 1_499);
    assert!(GeneratorSource::new(cfg(10, 5, 1), 1)
        .unwrap()
        .with_rate(0.0)
        .is_err());
    // Only the generator is paced by `run`.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args([
            "run",
            "--source",
            "file:/nonexistent.jsonl",
            "--rate",
            "100",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--rate paces the generator source only"),
        "{err}"
    );
}
