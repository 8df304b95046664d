//! Interoperability: Microsoft's Python SDK (`azure-eventhub`, which `.ci/run` installs) sends
//! to and receives from `medallion emulator` with `UseDevelopmentEmulator=true`: batches with a
//! partition key, single events to a partition, hub and partition properties, and every event back
//! with its sequence number, offset, enqueued time, key, properties and body
//! (`tests/it/python_interop.py` does the checking). And the pipeline fed by that SDK the way a
//! device-backlog producer feeds a hub, one batch per station, so that each partition holds its
//! stations one after another with late events and their duplicates side by side: silver equals
//! the oracle. And `medallion produce` read back by that SDK: every event has its own body's
//! partition key, or none (issue 29), and bronze's `partition_key` says the same.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMicrosecondType;

use crate::common::*;
use crate::eventhub_pipeline::{emulator_process, pipeline, serial};
use medallion::sink::TableKind;

#[test]
fn python_sdk_sends_to_and_receives_from_the_emulator() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/python_interop.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_medallion"))
        .arg("emulator")
        .output()
        .expect("python3 runs");
    let text = crate::common::combined_output(&out);
    assert!(
        out.status.success(),
        "the Python SDK interop script failed (is `pip install azure-eventhub` done?):\n{text}"
    );
    assert!(text.contains("ALL CHECKS PASSED"), "{text}");
}

/// Microsoft's Python SDK as a producer and consumer (`send-by-station`, `read`).
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/python_eventhub.py");

/// Copies in bronze that arrive more than `horizon_ms` of event time behind the newest event time
/// among the silver rows their partition had delivered (a duplicate has its first delivery's event
/// time), with their first delivery in the same partition: the late duplicates that a rule keyed
/// on an event's own time forgets.
fn late_copies(out: &Path, horizon_ms: i64) -> usize {
    let mut silver: Vec<(i32, i64, i64)> = Vec::new();
    for b in batches(out, TableKind::Silver) {
        let (p, s) = partition_and_sequence(&b);
        let t = b.column_by_name("event_time").unwrap();
        let t = t.as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            if !t.is_null(i) {
                silver.push((p.value(i), s.value(i), t.value(i) / 1000));
            }
        }
    }
    silver.sort_unstable();
    let mut bronze: Vec<(i32, i64, Option<String>)> = Vec::new();
    for b in batches(out, TableKind::Bronze) {
        let body = b.column_by_name("body").unwrap().as_binary::<i32>().clone();
        let (p, s) = partition_and_sequence(&b);
        for i in 0..b.num_rows() {
            let json: Option<serde_json::Value> = serde_json::from_slice(body.value(i)).ok();
            let id = json
                .as_ref()
                .and_then(|j| Some(j.get("event_id")?.as_str()?.to_string()));
            bronze.push((p.value(i), s.value(i), id));
        }
    }
    bronze.sort_unstable();
    // Each partition's clock, moved by its silver rows in sequence order.
    let mut next = silver.iter().peekable();
    let (mut clock, mut partition) = (i64::MIN, -1);
    let mut first: HashMap<String, (i32, i64)> = HashMap::new();
    let mut late = 0;
    for (p, seq, id) in bronze {
        if p != partition {
            (clock, partition) = (i64::MIN, p);
        }
        while let Some(&&(sp, ss, t)) = next.peek() {
            if (sp, ss) > (p, seq) {
                break;
            }
            if sp == p {
                clock = clock.max(t);
            }
            next.next();
        }
        let Some(id) = id else { continue };
        match first.get(&id) {
            Some(&(q, t)) if q == p && t < clock - horizon_ms => late += 1,
            Some(_) => {}
            None => {
                if let Ok(at) = silver.binary_search_by_key(&(p, seq), |r| (r.0, r.1)) {
                    first.insert(id, (p, silver[at].2));
                }
            }
        }
    }
    late
}

#[test]
fn one_batch_per_station_from_the_python_sdk_deduplicates_like_the_oracle() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let tools = shared().join("tools");
    let file_arg = file.display().to_string();
    python(&[
        &tools.join("gen_events.py").display().to_string(),
        "--events",
        "60000",
        "--stations",
        "600",
        "--seed",
        "2",
        "--rate",
        "duplicate=0.02",
        "--rate",
        "malformed_body=0.01",
        "--out",
        &file_arg,
    ]);
    let oracle: serde_json::Value = serde_json::from_str(&python(&[
        &tools.join("reference.py").display().to_string(),
        &file_arg,
    ]))
    .unwrap();

    let (mut emulator, cs) = emulator_process(8);
    let sent = python(&[SCRIPT, "send-by-station", &cs, "weather", &file_arg]);
    assert!(sent.contains("SENT 60000"), "{sent}");

    let out = dir.path().join("out");
    let status = pipeline(&out, &cs).status().unwrap();
    emulator.kill().ok();
    emulator.wait().ok();
    assert!(status.success(), "the pipeline run failed");

    // The input holds what this test is about (the default horizon is 120 minutes).
    let late = late_copies(&out, 120 * 60_000);
    assert!(
        late > 0,
        "no duplicate arrives beyond the horizon behind its partition"
    );
    eprintln!("{late} copies arrive more than the horizon behind their partition's newest event");
    assert_matches_oracle(&out, &oracle);
    let ids = silver_ids(&out);
    let mut distinct = ids.clone();
    distinct.dedup();
    assert_eq!(
        ids.len(),
        distinct.len(),
        "silver holds duplicate event ids"
    );
}

/// What the Python SDK read back: (partition, sequence number, partition key, body).
fn read_back(cs: &str, count: usize, dir: &Path) -> Vec<(i32, i64, Option<String>, Vec<u8>)> {
    let file = dir.join("read.jsonl");
    let n = count.to_string();
    python(&[
        SCRIPT,
        "read",
        cs,
        "weather",
        &n,
        &file.display().to_string(),
    ]);
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let mut events: Vec<_> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["partition"].as_i64().unwrap() as i32,
                v["sequence_number"].as_i64().unwrap(),
                v["partition_key"].as_str().map(String::from),
                hex(v["body"].as_str().unwrap()),
            )
        })
        .collect();
    events.sort();
    events
}

/// The partition key a body should travel with: its `station_id` when that is a non-empty
/// string; for a body that is not JSON (truncated), the string after its `"station_id":` if
/// that is complete (`medallion::workload::station_key`, which `produce` keys by).
fn own_key(body: &[u8]) -> Option<String> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v
            .get("station_id")
            .and_then(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .map(String::from),
        Err(_) => medallion::workload::station_key(body).map(|k| k.into_owned()),
    }
}

#[test]
fn events_produced_by_medallion_keep_their_own_partition_key() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (mut emulator, cs) = emulator_process(crate::eventhub_pipeline::PARTITIONS);
    let produced = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["produce", "--hub", "weather", "--file"])
        .arg(smoke_file())
        .env("EVENTHUB_CONNECTION_STRING", &cs)
        .output()
        .unwrap();
    assert!(produced.status.success(), "{}", combined_output(&produced));
    let events = read_back(&cs, 10_000, dir.path());
    assert_eq!(events.len(), 10_000);
    let keyed: std::collections::HashSet<i32> = events
        .iter()
        .filter(|e| e.2.is_some())
        .map(|e| e.0)
        .collect();
    let mut unkeyed_beside_keyed = 0;
    for (p, seq, key, body) in &events {
        assert_eq!(
            key.as_deref(),
            own_key(body).as_deref(),
            "partition {p} seq {seq}: {}",
            String::from_utf8_lossy(body)
        );
        if key.is_none() && keyed.contains(p) {
            unkeyed_beside_keyed += 1;
        }
    }
    assert!(
        unkeyed_beside_keyed > 0,
        "the input has unkeyed events in partitions with keyed ones"
    );

    let out = dir.path().join("out");
    let status = pipeline(&out, &cs).status().unwrap();
    emulator.kill().ok();
    emulator.wait().ok();
    assert!(status.success(), "the pipeline run failed");
    let mut bronze = Vec::new();
    for b in batches(&out, TableKind::Bronze) {
        let (p, s) = partition_and_sequence(&b);
        let keys = b
            .column_by_name("partition_key")
            .unwrap()
            .as_string::<i32>()
            .clone();
        for i in 0..b.num_rows() {
            let key = (!keys.is_null(i)).then(|| keys.value(i).to_string());
            bronze.push((p.value(i), s.value(i), key));
        }
    }
    bronze.sort();
    let read: Vec<_> = events.into_iter().map(|(p, s, k, _)| (p, s, k)).collect();
    assert_eq!(bronze, read, "bronze's partition_key, row by row");
}
