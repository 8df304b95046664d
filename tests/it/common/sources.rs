//! Helpers of the workload and source tests: configurations, generated events, reading every
//! partition of a source.
#![allow(unused_imports)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use chrono::DateTime;
use medallion::source::file::FileSource;
use medallion::source::generator::GeneratorSource;
use medallion::source::{PartitionId, PartitionedSource, RawBatch, SequenceNumber, SourceError};
use medallion::workload::{
    meta_path, station_key, write_jsonl, Fault, FaultRates, GeneratedEvent, Generator, Meta,
    WorkloadConfig, DEFAULT_NOW_MS,
};
use serde_json::Value;

pub fn cfg(events: u64, stations: u32, seed: u64) -> WorkloadConfig {
    WorkloadConfig {
        events,
        stations,
        seed,
        ..WorkloadConfig::default()
    }
}

pub fn generate(c: &WorkloadConfig) -> Vec<(GeneratedEvent, Vec<u8>)> {
    let mut g = Generator::try_new(c.clone()).expect("valid config");
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(ev) = g.next_event(&mut buf) {
        out.push((ev, std::mem::take(&mut buf)));
    }
    assert_eq!(out.len() as u64, c.events);
    out
}

/// Every message of every partition, read with batches of `max`.
pub fn read_all(src: &dyn PartitionedSource, max: usize) -> Vec<Vec<RawBatch>> {
    src.partitions()
        .into_iter()
        .map(|p| {
            let mut r = src.open(p, SequenceNumber(0)).unwrap();
            let mut batches = Vec::new();
            while let Some(b) = r.next_batch(max).unwrap() {
                assert!(b.len() <= max);
                assert_eq!(b.partition, p.0);
                batches.push(b);
            }
            assert!(r.next_batch(max).unwrap().is_none(), "stays exhausted");
            batches
        })
        .collect()
}

/// (seq, offset, enqueued, key, body) of each message of one partition.
pub type Msg = (i64, i64, i64, Option<String>, Vec<u8>);

pub fn flatten(batches: &[RawBatch]) -> Vec<Msg> {
    let mut v = Vec::new();
    for b in batches {
        assert_eq!(b.body_offsets.len(), b.len() + 1);
        for i in 0..b.len() {
            v.push((
                b.sequence_numbers[i],
                b.offsets[i],
                b.enqueued_time_ms[i],
                b.partition_keys.get(i).map(str::to_owned),
                b.body(i).to_vec(),
            ));
        }
    }
    v
}

pub fn is_station_id(s: &str) -> bool {
    s.len() == 8 && s.starts_with("WS-") && s[3..].bytes().all(|b| b.is_ascii_digit())
}
