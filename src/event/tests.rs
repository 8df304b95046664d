use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimestampMicrosecondType};

use super::*;

fn sensors(unknown: UnknownFields) -> EventSchema {
    let f = |name: &str, ty, format| FieldDecl {
        name: name.into(),
        ty,
        format,
    };
    EventSchema::new(EventDecl {
        fields: vec![
            f("reading_id", FieldType::Integer, None),
            f("machine", FieldType::String, None),
            f("running", FieldType::Boolean, None),
            f("ts", FieldType::Timestamp, Some(TimeFormat::EpochMillis)),
            f("seen", FieldType::Timestamp, Some(TimeFormat::EpochSeconds)),
            f("day", FieldType::Date, None),
            f("temp", FieldType::Float, None),
            f("detail", FieldType::Json, None),
        ],
        id: Some("reading_id".into()),
        time: Some("ts".into()),
        key: Some("machine".into()),
        unknown_fields: unknown,
    })
    .unwrap()
}

fn parse(schema: &EventSchema, lines: &[&str]) -> ParsedBatch {
    schema.parse(lines.iter().map(|l| l.as_bytes()))
}

#[test]
fn every_type_parses_into_its_column() {
    let s = sensors(UnknownFields::Keep);
    let p = parse(
        &s,
        &[
            r#"{"reading_id":7,"machine":"m-1","running":true,"ts":1795694400123,"seen":1.5,"day":"2026-12-07","temp":3,"detail":{"a":[1,2]},"zz":1,"yy":"q","zz":[2]}"#,
            r#"{"reading_id":null,"detail":null}"#,
        ],
    );
    assert!(p.failures.is_empty(), "{:?}", p.failures);
    let b = &p.batch;
    assert_eq!(b.num_columns(), 9);
    assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 7);
    assert!(b.column(2).as_boolean().value(0));
    let ts = b.column(3).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), 1_795_694_400_123_000);
    assert_eq!(
        b.column(4)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_500_000
    );
    assert_eq!(b.column(5).as_string::<i32>().value(0), "2026-12-07");
    assert_eq!(b.column(6).as_primitive::<Float64Type>().value(0), 3.0);
    assert_eq!(b.column(7).as_string::<i32>().value(0), r#"{"a":[1,2]}"#);
    // Undeclared keys in first-seen order, the last value of a repeated one.
    assert_eq!(
        b.column(8).as_string::<i32>().value(0),
        r#"{"zz":[2],"yy":"q"}"#
    );
    assert!(b.column(0).is_null(1) && b.column(7).is_null(1) && b.column(8).is_null(1));
    let ignoring = parse(&sensors(UnknownFields::Ignore), &[r#"{"zz":1}"#]);
    assert_eq!(ignoring.batch.num_columns(), 8);
}

#[test]
fn wrong_types_name_the_field_and_the_expected_type() {
    let s = sensors(UnknownFields::Keep);
    let p = parse(
        &s,
        &[
            r#"{"reading_id":1.5}"#,
            r#"{"running":"yes"}"#,
            r#"{"ts":1.5}"#,
            r#"{"ts":"2026-12-07T00:00:00Z"}"#,
            r#"{"seen":1e300}"#,
            r#"{"ts":9223372036854775807}"#,
            r#"{"machine":{"a":1}}"#,
            r#"{"temp":[1]}"#,
        ],
    );
    let kinds: Vec<&str> = p.failures.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "field reading_id",
            "field running",
            "field ts",
            "field ts",
            "field seen",
            "field ts",
            "field machine",
            "field temp"
        ]
    );
    assert!(p.failures[1].message.contains("expected a boolean or null"));
    assert!(p.failures[4]
        .message
        .contains("out of range for a timestamp"));
    assert!(p.failures[6].message.contains("expected a string or null"));
    assert_eq!(p.batch.num_rows(), 0);
}

#[test]
fn silver_converts_text_times_and_reports_what_does_not_convert() {
    let weather = EventSchema::weather();
    let p = parse(
        &weather,
        &[
            r#"{"event_time":"2026-11-26T10:00:00.000Z"}"#,
            r#"{"event_time":"yesterday"}"#,
            r#"{}"#,
        ],
    );
    let silver = convert::to_silver(&weather, &p.batch).unwrap();
    assert_eq!(silver.columns[2].data_type(), &timestamp_type());
    assert_eq!(silver.failures.len(), 1);
    assert_eq!(silver.failures[0].0, 1);
    assert!(silver.failures[0].1.contains("event_time"));
    let times = silver.columns[2].as_primitive::<TimestampMicrosecondType>();
    assert_eq!(times.value(0), 1_795_687_200_000_000);
    assert!(times.is_null(1) && times.is_null(2));
}

#[test]
fn declarations_are_checked_naming_the_problem() {
    let f = |name: &str, ty| FieldDecl {
        name: name.into(),
        ty,
        format: None,
    };
    let decl = EventDecl {
        fields: vec![
            f("a", FieldType::Float),
            f("a", FieldType::String),
            f("_x", FieldType::String),
            f("partition", FieldType::String),
            FieldDecl {
                name: "b".into(),
                ty: FieldType::String,
                format: Some(TimeFormat::EpochMillis),
            },
        ],
        id: Some("a".into()),
        time: Some("b".into()),
        key: Some("nope".into()),
        unknown_fields: UnknownFields::Keep,
    };
    let errors: Vec<String> = EventSchema::check(&decl)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors.len(), 7, "{errors:#?}");
    assert!(errors[0].contains("fields[1].name: 'a' is declared twice"));
    assert!(errors
        .iter()
        .any(|e| e.contains("event.id: 'a' is a float field")));
    assert!(errors
        .iter()
        .any(|e| e.contains("event.key: no declared field is named 'nope'")));
    assert!(EventSchema::new(decl).is_err());
}

#[test]
fn weather_declares_the_reference_tables_columns() {
    let w = EventSchema::weather();
    assert_eq!(w.id_name(), Some("event_id"));
    assert_eq!(w.time_name(), Some("event_time"));
    assert_eq!(w.key_name(), Some("station_id"));
    assert_eq!(w.columns(), 13);
    assert_eq!(w.silver_fields()[2].data_type(), &timestamp_type());
    assert_eq!(w.parsed_schema().field(2).data_type(), &DataType::Utf8);
}

/// The digit-at-a-time reading it replaced: `to_digit` per character into a `u128`.
fn uuid_by_chars(s: &[u8]) -> Option<u128> {
    if s.len() != 36 || s[8] != b'-' || s[13] != b'-' || s[18] != b'-' || s[23] != b'-' {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in s.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        v = (v << 4) | (c as char).to_digit(16)? as u128;
    }
    Some(v)
}

#[test]
fn dedup_keys_of_uuids_are_their_values_whatever_the_case() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let alphabet = b"0123456789abcdefABCDEF-gxz \xc3";
    for _ in 0..20_000 {
        let mut text: Vec<u8> = (0..36)
            .map(|_| b"0123456789abcdefABCDEF"[rng.random_range(0..22)])
            .collect();
        for at in [8, 13, 18, 23] {
            text[at] = b'-';
        }
        // Now and then a byte that is no hex digit, a misplaced dash or another length.
        if rng.random_bool(0.3) {
            let at = rng.random_range(0..36);
            text[at] = alphabet[rng.random_range(0..alphabet.len())];
        }
        if rng.random_bool(0.05) {
            text.truncate(rng.random_range(0..36));
        }
        assert_eq!(parse_uuid(&text), uuid_by_chars(&text), "{text:?}");
        if let (Ok(id), Some(value)) = (std::str::from_utf8(&text), uuid_by_chars(&text)) {
            assert_eq!(dedup_key(id), value);
        }
    }
    assert_eq!(
        dedup_key("E69CDFDA-B82A-444E-AC44-3A66372567F6"),
        dedup_key("e69cdfda-b82a-444e-ac44-3a66372567f6")
    );
    assert_eq!(
        dedup_key("00000000-0000-0000-0000-0000000000ff"),
        0xff,
        "a UUID's key is its value"
    );
}

/// The batches of `lines` read with and without the flat reader, checked equal: rows, failures
/// and every value (floats by their bits, so that -0.0 and 0.0 differ).
fn same_both_ways(schema: &EventSchema, lines: &[Vec<u8>]) {
    let flat = schema.parse_reading(lines.iter().map(|l| &l[..]), true);
    let serde = schema.parse_reading(lines.iter().map(|l| &l[..]), false);
    let show = |i: usize| String::from_utf8_lossy(&lines[i]).into_owned();
    assert_eq!(flat.rows, serde.rows);
    for (a, b) in flat.failures.iter().zip(&serde.failures) {
        assert_eq!(a, b, "{}", show(a.index as usize));
    }
    assert_eq!(flat.failures.len(), serde.failures.len());
    assert_eq!(flat.batch.schema(), serde.batch.schema());
    for (c, (a, b)) in flat
        .batch
        .columns()
        .iter()
        .zip(serde.batch.columns())
        .enumerate()
    {
        for row in 0..a.len() {
            let line = show(flat.rows[row] as usize);
            assert_eq!(a.is_null(row), b.is_null(row), "column {c}: {line}");
        }
        if let (Some(a), Some(b)) = (
            a.as_primitive_opt::<Float64Type>(),
            b.as_primitive_opt::<Float64Type>(),
        ) {
            for row in (0..a.len()).filter(|&r| a.is_valid(r)) {
                let line = show(flat.rows[row] as usize);
                assert_eq!(a.value(row).to_bits(), b.value(row).to_bits(), "{line}");
            }
        } else {
            assert_eq!(a.to_data(), b.to_data(), "column {c}");
        }
    }
}

/// A random JSON value, mostly of the shapes bodies have, sometimes not.
fn random_value(rng: &mut impl rand::Rng) -> String {
    fn digits(rng: &mut impl rand::Rng, most: usize) -> String {
        let n = rng.random_range(0..=most);
        (0..n)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect()
    }
    match rng.random_range(0..16) {
        0 => "null".into(),
        1 => "true".into(),
        2 => "false".into(),
        3 => format!("{}", rng.random_range(-10_000_000i64..10_000_000)),
        4 => format!(
            "{:.*}",
            rng.random_range(0..6),
            rng.random_range(-500.0..500.0f64)
        ),
        // Numbers of any length and shape: leading zeros, -0, long fractions, exponents.
        5 => {
            let sign = if rng.random_bool(0.5) { "-" } else { "" };
            let int = format!("{}{}", rng.random_range(0..10), digits(rng, 24));
            let frac = match rng.random_range(0..3) {
                0 => String::new(),
                1 => format!(".{}", digits(rng, 30)),
                _ => format!(".{}e{}", digits(rng, 3), rng.random_range(-400..400)),
            };
            format!("{sign}{int}{frac}")
        }
        6 => [
            "-0",
            "0",
            "-0.0",
            "0.0",
            "1e5",
            "1E-2",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "1.7976931348623157e309",
        ][rng.random_range(0..12)]
        .into(),
        7 => r#""WS-00042""#.into(),
        8 => r#""2026-11-26T15:21:20.123Z""#.into(),
        9 => r#""a\"b\\c\u00e9\n""#.into(),
        10 => "\"tab\there\"".into(),
        11 => r#""é 😀 ü""#.into(),
        12 => r#"{"x":[1,{"y":null}]}"#.into(),
        13 => "[1,2,3]".into(),
        14 => format!("\"{}\"", digits(rng, 8)),
        _ => r#""""#.into(),
    }
}

#[test]
fn the_flat_reader_reads_every_body_as_serde_json_does() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(26);
    let weather = EventSchema::weather();
    let schemas = [
        &*weather,
        &sensors(UnknownFields::Keep),
        &sensors(UnknownFields::Ignore),
    ];
    // The reference workload's own bodies (its faults included), as they are and mutated.
    let dir = std::env::temp_dir().join(format!("medallion-flat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("w.jsonl");
    let cfg = crate::workload::WorkloadConfig {
        events: 20_000,
        ..Default::default()
    };
    crate::workload::write_jsonl(&cfg, &file).unwrap();
    let workload: Vec<Vec<u8>> = std::fs::read(&file)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    let names: Vec<String> = schemas
        .iter()
        .flat_map(|s| s.fields().iter().map(|f| f.name.clone()))
        .chain(["zz".to_string(), String::new(), "é".to_string()])
        .collect();
    let noise: &[u8] = b" \t\n\r{}[]\",:.-+0123456789eEtrufalsn\\\x01\xc3";
    let mut lines = workload.clone();
    for _ in 0..30_000 {
        let mut line = if rng.random_bool(0.5) {
            workload[rng.random_range(0..workload.len())].clone()
        } else {
            // A random object of declared and undeclared keys, repeats included.
            let members: Vec<String> = (0..rng.random_range(0..12))
                .map(|_| {
                    let ws = [" ", "", "\n", "\t "][rng.random_range(0..4)];
                    let key = &names[rng.random_range(0..names.len())];
                    format!("{ws}\"{key}\"{ws}:{ws}{}{ws}", random_value(&mut rng))
                })
                .collect();
            format!("{{{}}}", members.join(",")).into_bytes()
        };
        // Now and then a few bytes inserted, replaced or removed anywhere.
        for _ in 0..rng.random_range(0..3) {
            if rng.random_bool(0.4) && !line.is_empty() {
                let at = rng.random_range(0..line.len());
                match rng.random_range(0..3) {
                    0 => drop(line.remove(at)),
                    1 => line[at] = noise[rng.random_range(0..noise.len())],
                    _ => line.insert(at, noise[rng.random_range(0..noise.len())]),
                }
            }
        }
        lines.push(line);
    }
    for schema in schemas {
        same_both_ways(schema, &lines);
    }
    // The reference bodies are nearly all read by the flat reader (all but the faults).
    let flat = lines[..workload.len()]
        .iter()
        .filter(|l| {
            let text = std::str::from_utf8(l).unwrap_or("");
            super::flat::members(text, || None, |_, _, _| true).is_some()
        })
        .count();
    assert!(
        flat * 10 > workload.len() * 9,
        "{flat} of {}",
        workload.len()
    );
}
