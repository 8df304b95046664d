//! Tests of the workload generator: determinism, the reference format, fault rates and semantics.

use std::collections::{HashMap, HashSet};

use chrono::DateTime;
use medallion::workload::{
    station_key, Fault, FaultRates, GeneratedEvent, Generator, WorkloadConfig, DEFAULT_NOW_MS,
};
use serde_json::Value;

use crate::common::sources::*;

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
