//! Tests of the workload generator and of the generator and file sources.

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

fn cfg(events: u64, stations: u32, seed: u64) -> WorkloadConfig {
    WorkloadConfig {
        events,
        stations,
        seed,
        ..WorkloadConfig::default()
    }
}

fn generate(c: &WorkloadConfig) -> Vec<(GeneratedEvent, Vec<u8>)> {
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
fn read_all(src: &dyn PartitionedSource, max: usize) -> Vec<Vec<RawBatch>> {
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
type Msg = (i64, i64, i64, Option<String>, Vec<u8>);

fn flatten(batches: &[RawBatch]) -> Vec<Msg> {
    let mut v = Vec::new();
    for b in batches {
        assert_eq!(b.body_offsets.len(), b.len() + 1);
        for i in 0..b.len() {
            v.push((
                b.sequence_numbers[i],
                b.offsets[i],
                b.enqueued_time_ms[i],
                b.partition_keys[i].clone(),
                b.body(i).to_vec(),
            ));
        }
    }
    v
}

fn is_station_id(s: &str) -> bool {
    s.len() == 8 && s.starts_with("WS-") && s[3..].bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn generator_is_deterministic_for_a_seed() {
    let a = generate(&cfg(20_000, 300, 7));
    let b = generate(&cfg(20_000, 300, 7));
    assert_eq!(a, b);
    let c = generate(&cfg(20_000, 300, 8));
    assert_ne!(
        a.iter().map(|x| &x.1).collect::<Vec<_>>(),
        c.iter().map(|x| &x.1).collect::<Vec<_>>()
    );
    // random access renders the same line
    let mut g = Generator::new(cfg(20_000, 300, 7));
    for i in [0u64, 1, 17, 9_999, 19_999] {
        let mut buf = Vec::new();
        let ev = g.event_at(i, &mut buf).unwrap();
        assert_eq!((ev, buf), a[i as usize]);
    }
    assert!(g.event_at(20_000, &mut Vec::new()).is_none());
}

#[test]
fn clean_events_follow_the_reference_format_and_timeline() {
    let c = WorkloadConfig {
        rates: FaultRates::zero(),
        ..cfg(5_000, 50, 42)
    };
    let lines = generate(&c);
    let mut last_send = i64::MIN;
    let mut last_by_station: HashMap<String, i64> = HashMap::new();
    let mut ids = HashSet::new();
    for (ev, body) in &lines {
        assert!(ev.faults.is_empty());
        let text = std::str::from_utf8(body).unwrap();
        let v: Value = serde_json::from_str(text).unwrap();
        let o = v.as_object().unwrap();
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        let mut expected = vec![
            "event_id",
            "station_id",
            "event_time",
            "temperature_c",
            "humidity_pct",
            "pressure_hpa",
            "wind_speed_ms",
            "wind_dir_deg",
            "precip_mm",
            "condition",
            "lat",
            "lon",
            "battery_v",
        ];
        // field order as in the README (serde_json's map is sorted: compare the text order)
        let pos: Vec<usize> = expected
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
        expected.sort();
        assert_eq!(keys, expected);
        let id = o["event_id"].as_str().unwrap();
        assert!(
            uuid::Uuid::parse_str(id).unwrap().get_version_num() == 4,
            "{id}"
        );
        assert!(ids.insert(id.to_string()));
        let sid = o["station_id"].as_str().unwrap();
        assert!(is_station_id(sid) && sid[3..].parse::<u32>().unwrap() < 50);
        assert_eq!(ev.station.as_deref(), Some(sid));
        let et = o["event_time"].as_str().unwrap();
        assert!(et.len() == 24 && et.ends_with('Z'), "{et}");
        let t = DateTime::parse_from_rfc3339(et).unwrap().timestamp_millis();
        assert!(
            (0..2000).contains(&(ev.send_time_ms - t)),
            "event time within 2 s before the send"
        );
        assert!(ev.send_time_ms < DEFAULT_NOW_MS);
        assert!(ev.send_time_ms >= last_send, "lines in send order");
        last_send = ev.send_time_ms;
        if let Some(prev) = last_by_station.insert(sid.to_string(), ev.send_time_ms) {
            assert_eq!(
                ev.send_time_ms - prev,
                60_000,
                "one reading a minute per station"
            );
        }
        let num = |k: &str| o[k].as_f64().unwrap();
        assert!((-60.0..=50.0).contains(&num("temperature_c")));
        assert!((2.0..=100.0).contains(&num("humidity_pct")));
        assert!((930.0..=1060.0).contains(&num("pressure_hpa")));
        assert!(num("wind_speed_ms") >= 0.0);
        assert!(o["wind_dir_deg"].as_u64().unwrap() < 360);
        assert!(num("precip_mm") >= 0.0);
        assert!(["clear", "cloudy", "rain", "snow", "fog", "storm"]
            .contains(&o["condition"].as_str().unwrap()));
        assert!((-60.0..=70.0).contains(&num("lat")) && (-180.0..=180.0).contains(&num("lon")));
        assert!((3.2..=4.3).contains(&num("battery_v")));
        // decimals: one for the measures, two for the battery
        for k in [
            "temperature_c",
            "humidity_pct",
            "pressure_hpa",
            "wind_speed_ms",
            "precip_mm",
        ] {
            let s = raw_field(text, k);
            assert_eq!(s.len() - s.find('.').unwrap(), 2, "{k}: {s}");
        }
        assert_eq!(
            raw_field(text, "battery_v")
                .split('.')
                .nth(1)
                .unwrap()
                .len(),
            2
        );
    }
    assert_eq!(last_by_station.len(), 50);
}

/// The JSON text of member `k` of a flat object written without spaces.
fn raw_field<'a>(text: &'a str, k: &str) -> &'a str {
    let at = text.find(&format!("\"{k}\":")).unwrap() + k.len() + 3;
    let rest = &text[at..];
    &rest[..rest.find([',', '}']).unwrap()]
}

const NUMERIC: [&str; 9] = [
    "temperature_c",
    "humidity_pct",
    "pressure_hpa",
    "wind_speed_ms",
    "wind_dir_deg",
    "precip_mm",
    "lat",
    "lon",
    "battery_v",
];

/// Checks that a non-duplicate line shows exactly the faults it claims.
fn check_faults(ev: &GeneratedEvent, body: &[u8], now_ms: i64) {
    use Fault::*;
    let f = ev.faults;
    let parsed: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
    assert_eq!(
        parsed.is_none(),
        f.contains(MalformedBody),
        "{}",
        String::from_utf8_lossy(body)
    );
    assert_eq!(
        ev.station.as_deref(),
        station_key(body).as_deref(),
        "key = station_id as sent"
    );
    let Some(v) = parsed else { return };
    let o = v.as_object().unwrap();
    let ctx = String::from_utf8_lossy(body);
    // station id
    match o.get("station_id") {
        None | Some(Value::Null) => assert!(f.contains(MissingStationId), "{ctx}"),
        Some(Value::String(s)) if s.is_empty() => assert!(f.contains(MissingStationId), "{ctx}"),
        Some(Value::String(s)) => {
            assert!(!f.contains(MissingStationId));
            assert_eq!(!is_station_id(s), f.contains(BadStationId), "{ctx}");
        }
        Some(_) => panic!("station_id of another type: {ctx}"),
    }
    // wrong type: exactly one numeric field written as a string
    let strings: Vec<&str> = NUMERIC
        .iter()
        .copied()
        .filter(|k| o.get(*k).is_some_and(Value::is_string))
        .collect();
    assert_eq!(strings.len(), usize::from(f.contains(WrongType)), "{ctx}");
    let num = |k: &str| -> Option<f64> {
        match o.get(k) {
            Some(Value::String(s)) => s.parse().ok(),
            Some(x) => x.as_f64(),
            None => None,
        }
    };
    // event time
    let et = o["event_time"].as_str().unwrap();
    match DateTime::parse_from_rfc3339(et) {
        Err(_) => assert!(f.contains(BadEventTime), "{ctx}"),
        Ok(t) => {
            assert!(!f.contains(BadEventTime), "{ctx}");
            let t = t.timestamp_millis();
            let before_send = ev.send_time_ms - t;
            if f.contains(FutureEventTime) {
                assert!(
                    t >= now_ms + 3_600_000 && t <= now_ms + 48 * 3_600_000,
                    "{ctx}"
                );
            } else if f.contains(LateArrival) {
                assert!((600_000..=3_600_000).contains(&before_send), "{ctx}");
            } else {
                assert!((0..2000).contains(&before_send), "{ctx}");
            }
        }
    }
    match (o.get("temperature_c"), num("temperature_c")) {
        (None | Some(Value::Null), _) => assert!(f.contains(NullTemperature), "{ctx}"),
        (_, Some(t)) => assert_eq!(
            !(-90.0..=60.0).contains(&t),
            f.contains(TemperatureRange),
            "{ctx}"
        ),
        _ => panic!("{ctx}"),
    }
    let h = num("humidity_pct").unwrap();
    assert_eq!(
        !(0.0..=100.0).contains(&h),
        f.contains(HumidityRange),
        "{ctx}"
    );
    let p = num("pressure_hpa").unwrap();
    assert_eq!(
        !(870.0..=1085.0).contains(&p),
        f.contains(PressureRange),
        "{ctx}"
    );
    assert_eq!(
        num("wind_speed_ms").unwrap() < 0.0,
        f.contains(NegativeWind),
        "{ctx}"
    );
    assert_eq!(
        num("precip_mm").unwrap() < 0.0,
        f.contains(NegativePrecip),
        "{ctx}"
    );
    let cond = o["condition"].as_str().unwrap();
    let known = ["clear", "cloudy", "rain", "snow", "fog", "storm"].contains(&cond);
    assert_eq!(!known, f.contains(UnknownCondition), "{ctx}");
}

#[test]
fn faults_have_their_default_rates_and_semantics() {
    let c = cfg(200_000, 1_000, 42);
    let mut g = Generator::new(c.clone());
    let mut buf = Vec::new();
    let mut bodies: Vec<Vec<u8>> = Vec::with_capacity(200_000);
    let mut with_fault = 0u64;
    let mut ids = HashSet::new();
    while let Some(ev) = g.next_event(&mut buf) {
        let body = std::mem::take(&mut buf);
        if let Some(src) = ev.duplicate_of {
            assert_eq!(ev.faults.len(), 1);
            assert!(ev.faults.contains(Fault::Duplicate));
            assert!(
                src < ev.index && ev.index - src <= 1_000,
                "at once or up to a minute later"
            );
            assert_eq!(body, bodies[src as usize], "the same body again");
            assert_eq!(ev.station.as_deref(), station_key(&body).as_deref());
        } else {
            check_faults(&ev, &body, c.now_ms);
            if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&body) {
                assert!(
                    ids.insert(o["event_id"].as_str().unwrap().to_string()),
                    "event ids unique"
                );
            }
        }
        with_fault += u64::from(!ev.faults.is_empty());
        bodies.push(body);
    }
    let injected = *g.injected();
    let defaults = FaultRates::default();
    for (f, rate) in defaults.iter() {
        let expected = rate * 200_000.0;
        let got = injected.get(f) as f64;
        assert!(
            (got - expected).abs() <= 0.3 * expected,
            "{}: {got} injected, {expected} expected",
            f.name()
        );
    }
    // about 6% of lines carry a fault or are duplicates
    let share = with_fault as f64 / 200_000.0;
    assert!((0.05..0.07).contains(&share), "{share}");
    assert_eq!(with_fault, g.lines_with_any_fault_or_duplicate());
    // duplicate bodies exist, both "at once" and later
    let dups: Vec<_> = (1..bodies.len())
        .filter(|&i| {
            bodies[..i]
                .iter()
                .rev()
                .take(1_000)
                .any(|b| *b == bodies[i])
        })
        .collect();
    assert!(dups.len() as u64 >= injected.duplicate);
    assert!(dups.iter().any(|&i| bodies[i] == bodies[i - 1]));
    assert!(dups.iter().any(|&i| bodies[i] != bodies[i - 1]));
}

#[test]
fn rates_are_configurable_by_name() {
    let mut r = FaultRates::zero();
    assert!(r.iter().all(|(_, x)| x == 0.0));
    r.set("duplicate", 0.05).unwrap();
    r.set_kv("wrong_type=0.02").unwrap();
    assert_eq!(r.get(Fault::Duplicate), 0.05);
    assert!(matches!(
        r.set("sunny_day", 0.1),
        Err(medallion::workload::WorkloadError::UnknownFault(_))
    ));
    assert!(r.set("duplicate", 1.5).is_err());
    assert!(r.set("duplicate", f64::NAN).is_err());
    assert!(r.set_kv("duplicate").is_err());
    let c = WorkloadConfig {
        rates: r,
        ..cfg(40_000, 400, 3)
    };
    let mut g = Generator::new(c.clone());
    let mut buf = Vec::new();
    while let Some(ev) = g.next_event(&mut buf) {
        assert!(ev
            .faults
            .iter()
            .all(|f| f == Fault::Duplicate || f == Fault::WrongType));
        if ev.duplicate_of.is_none() {
            check_faults(&ev, &buf, c.now_ms);
        }
        buf.clear();
    }
    let inj = g.injected();
    assert!(
        (1_400..=2_600).contains(&inj.duplicate),
        "{}",
        inj.duplicate
    );
    assert!(
        (500..=1_100).contains(&inj.wrong_type),
        "{}",
        inj.wrong_type
    );
    assert_eq!(inj.total(), inj.duplicate + inj.wrong_type);
    // a rate change leaves everything else as it was
    let base = generate(&WorkloadConfig {
        rates: FaultRates::zero(),
        ..cfg(2_000, 100, 3)
    });
    let mut r2 = FaultRates::zero();
    r2.set("negative_wind", 1.0).unwrap();
    let windy = generate(&WorkloadConfig {
        rates: r2,
        ..cfg(2_000, 100, 3)
    });
    for ((_, a), (e, b)) in base.iter().zip(&windy) {
        assert!(e.faults.contains(Fault::NegativeWind));
        let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
        assert_eq!(
            a.split("\"wind_speed_ms\"").next(),
            b.split("\"wind_speed_ms\"").next()
        );
        assert_eq!(
            a.split("\"wind_dir_deg\"").nth(1),
            b.split("\"wind_dir_deg\"").nth(1)
        );
    }
    // out-of-range configurations are refused by try_new, clamped by new
    assert!(Generator::try_new(cfg(10, 0, 1)).is_err());
    assert!(Generator::try_new(cfg(10, 100_001, 1)).is_err());
    assert_eq!(Generator::new(cfg(10, 0, 1)).config().stations, 1);
}

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
