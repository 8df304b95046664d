//! Parsing: raw JSON bodies → the typed Arrow columns of a weather event, with a per-row parse
//! error for every body that is not a valid event (the rules of the workload README).
//!
//! A body parses when it is UTF-8, JSON (no NaN/Infinity), a JSON object, and every known field is
//! absent, null or of its JSON type (string for `event_id`, `station_id`, `event_time`,
//! `condition`; integer for `wind_dir_deg`; any number for the others). Unknown fields are
//! ignored; when a key repeats, the last value wins (as in Python's `json`). This module owns
//! nothing else: it neither routes rows nor evaluates rules.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The JSON type a known field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    String,
    Integer,
    Number,
}

/// The known fields of a weather event, in column order.
pub const FIELDS: [(&str, FieldKind); 13] = [
    ("event_id", FieldKind::String),
    ("station_id", FieldKind::String),
    ("event_time", FieldKind::String),
    ("temperature_c", FieldKind::Number),
    ("humidity_pct", FieldKind::Number),
    ("pressure_hpa", FieldKind::Number),
    ("wind_speed_ms", FieldKind::Number),
    ("wind_dir_deg", FieldKind::Integer),
    ("precip_mm", FieldKind::Number),
    ("condition", FieldKind::String),
    ("lat", FieldKind::Number),
    ("lon", FieldKind::Number),
    ("battery_v", FieldKind::Number),
];

/// Schema of parsed events (every column nullable; `event_time` still the string as sent).
pub fn event_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(
                FIELDS
                    .iter()
                    .map(|(name, kind)| {
                        let dt = match kind {
                            FieldKind::String => DataType::Utf8,
                            FieldKind::Integer => DataType::Int64,
                            FieldKind::Number => DataType::Float64,
                        };
                        Field::new(*name, dt, true)
                    })
                    .collect::<Vec<_>>(),
            ))
        })
        .clone()
}

/// Why one body did not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseFailure {
    /// Index of the body in the input.
    pub index: u32,
    /// Short category: `not UTF-8`, `malformed JSON`, `not a JSON object` or `field NAME`.
    pub kind: String,
    /// Full message, e.g. `field temperature_c: invalid type: string "21.4", expected a number`.
    pub message: String,
}

/// The result of parsing a batch of bodies.
#[derive(Debug, Clone)]
pub struct ParsedBatch {
    /// One row per body that parsed, in input order, with [`event_schema`].
    pub batch: RecordBatch,
    /// For each row of `batch`, the index of its body in the input.
    pub rows: Vec<u32>,
    /// Every body that did not parse.
    pub failures: Vec<ParseFailure>,
}

/// Parses a batch of bodies. Never fails: every body ends up either as a row or as a failure.
pub fn parse_bodies<'a, I>(bodies: I) -> ParsedBatch
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut cols = Columns::default();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        match parse_one(body) {
            Ok(ev) => {
                cols.push(&ev);
                rows.push(i as u32);
            }
            Err((kind, message)) => failures.push(ParseFailure {
                index: i as u32,
                kind,
                message,
            }),
        }
    }
    ParsedBatch {
        batch: cols.finish(),
        rows,
        failures,
    }
}

/// A parsed event before it is appended to the columns.
#[derive(Default)]
struct Event<'a> {
    strings: [Option<Cow<'a, str>>; 4],
    numbers: [Option<f64>; 8],
    wind_dir_deg: Option<i64>,
}

/// Position of each field in `Event`: strings 0..4, numbers 0..8, or the integer.
fn slot(field: usize) -> (FieldKind, usize) {
    match field {
        0..=2 => (FieldKind::String, field),
        9 => (FieldKind::String, 3),
        7 => (FieldKind::Integer, 0),
        3..=6 => (FieldKind::Number, field - 3),
        8 => (FieldKind::Number, 4),
        10..=12 => (FieldKind::Number, field - 5),
        _ => unreachable!("13 fields"),
    }
}

fn parse_one(body: &[u8]) -> Result<Event<'_>, (String, String)> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ("not UTF-8".to_string(), format!("not UTF-8: {e}")))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let mut field_error: Option<(String, String)> = None;
    let result = (&mut de).deserialize_any(EventVisitor {
        field_error: &mut field_error,
    });
    match result {
        Ok(Some(ev)) => match de.end() {
            Ok(()) => Ok(ev),
            Err(e) => Err(("malformed JSON".into(), format!("malformed JSON: {e}"))),
        },
        Ok(None) => Err((
            "not a JSON object".into(),
            format!("not a JSON object: {}", top_level_kind(text)),
        )),
        Err(e) => match field_error {
            Some(fe) => Err(fe),
            None => Err(("malformed JSON".into(), format!("malformed JSON: {e}"))),
        },
    }
}

fn top_level_kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't') | Some(b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// Visits the top-level value: an object becomes `Some(Event)`, anything else `None`.
struct EventVisitor<'e> {
    field_error: &'e mut Option<(String, String)>,
}

impl<'de> Visitor<'de> for EventVisitor<'_> {
    type Value = Option<Event<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ev = Event::default();
        while let Some(field) = map.next_key_seed(FieldSeed)? {
            let Some(field) = field else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let name = FIELDS[field].0;
            let (kind, idx) = slot(field);
            let res = match kind {
                FieldKind::String => map.next_value_seed(StrSeed).map(|v| ev.strings[idx] = v),
                FieldKind::Number => map
                    .next_value_seed(NumSeed { integer: false })
                    .map(|v| ev.numbers[idx] = v.map(|n| n.0)),
                FieldKind::Integer => map
                    .next_value_seed(NumSeed { integer: true })
                    .map(|v| ev.wind_dir_deg = v.map(|n| n.1)),
            };
            if let Err(e) = res {
                *self.field_error = Some((format!("field {name}"), format!("field {name}: {e}")));
                return Err(e);
            }
        }
        Ok(Some(ev))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Maps a key to the index of a known field (`None` for unknown keys), without allocating.
struct FieldSeed;
impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(FieldSeed)
    }
}
impl<'de> Visitor<'de> for FieldSeed {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(FIELDS.iter().position(|(n, _)| *n == v))
    }
}

/// A string field: `null` or a string, borrowed from the body where it has no escapes.
struct StrSeed;
impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(StrSeed)
    }
}
impl<'de> Visitor<'de> for StrSeed {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A numeric field: `null` or a number; with `integer`, only a JSON integer.
struct NumSeed {
    integer: bool,
}
impl<'de> DeserializeSeed<'de> for NumSeed {
    type Value = Option<(f64, i64)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}
impl<'de> Visitor<'de> for NumSeed {
    type Value = Option<(f64, i64)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.integer {
            "an integer or null"
        } else {
            "a number or null"
        })
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some((v as f64, v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(Some((v as f64, i))),
            Err(_) if !self.integer => Ok(Some((v as f64, 0))),
            Err(_) => Err(E::invalid_value(
                de::Unexpected::Unsigned(v),
                &"a 64-bit signed integer",
            )),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if self.integer {
            Err(E::invalid_type(de::Unexpected::Float(v), &self))
        } else {
            Ok(Some((v, 0)))
        }
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Column builders for parsed events.
struct Columns {
    strings: [StringBuilder; 4],
    numbers: [Float64Builder; 8],
    wind_dir_deg: Int64Builder,
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            strings: std::array::from_fn(|_| StringBuilder::new()),
            numbers: std::array::from_fn(|_| Float64Builder::new()),
            wind_dir_deg: Int64Builder::new(),
        }
    }
}

impl Columns {
    fn push(&mut self, ev: &Event<'_>) {
        for (b, v) in self.strings.iter_mut().zip(ev.strings.iter()) {
            b.append_option(v.as_deref());
        }
        for (b, v) in self.numbers.iter_mut().zip(ev.numbers.iter()) {
            b.append_option(*v);
        }
        self.wind_dir_deg.append_option(ev.wind_dir_deg);
    }

    fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = (0..FIELDS.len())
            .map(|f| -> ArrayRef {
                match slot(f) {
                    (FieldKind::String, i) => Arc::new(self.strings[i].finish()),
                    (FieldKind::Number, i) => Arc::new(self.numbers[i].finish()),
                    (FieldKind::Integer, _) => Arc::new(self.wind_dir_deg.finish()),
                }
            })
            .collect();
        RecordBatch::try_new(event_schema(), columns).expect("columns match the event schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type};

    fn parse(lines: &[&str]) -> ParsedBatch {
        parse_bodies(lines.iter().map(|l| l.as_bytes()))
    }

    #[test]
    fn valid_event_becomes_typed_row() {
        let p = parse(&[
            r#"{"event_id":"e1","station_id":"WS-00001","event_time":"2026-11-26T10:00:00.000Z","temperature_c":21,"wind_dir_deg":270,"extra":{"x":[1,2]},"condition":"cl\u0065ar"}"#,
        ]);
        assert!(p.failures.is_empty(), "{:?}", p.failures);
        assert_eq!(p.rows, vec![0]);
        let b = &p.batch;
        assert_eq!(b.column(1).as_string::<i32>().value(0), "WS-00001");
        assert_eq!(b.column(3).as_primitive::<Float64Type>().value(0), 21.0);
        assert_eq!(b.column(7).as_primitive::<Int64Type>().value(0), 270);
        assert_eq!(b.column(9).as_string::<i32>().value(0), "clear");
        assert!(b.column(4).is_null(0));
    }

    #[test]
    fn wrong_types_and_bad_json_are_failures_naming_the_cause() {
        let p = parse(&[
            r#"{"temperature_c":"21.4"}"#,
            r#"{"wind_dir_deg":12.0}"#,
            r#"{"station_id":42}"#,
            r#"{"temperature_c":true}"#,
            r#"{"event_id":"x","#,
            "station offline",
            "[1,2]",
            r#"{"temperature_c":NaN}"#,
            r#"{"lat":null,"event_id":null}"#,
        ]);
        let kinds: Vec<_> = p
            .failures
            .iter()
            .map(|f| (f.index, f.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (0, "field temperature_c"),
                (1, "field wind_dir_deg"),
                (2, "field station_id"),
                (3, "field temperature_c"),
                (4, "malformed JSON"),
                (5, "malformed JSON"),
                (6, "not a JSON object"),
                (7, "malformed JSON"),
            ]
        );
        assert!(
            p.failures[0].message.contains("21.4"),
            "{}",
            p.failures[0].message
        );
        assert_eq!(p.rows, vec![8]);
        assert!(p.batch.column(10).is_null(0));
    }

    #[test]
    fn invalid_utf8_is_a_failure() {
        let bodies: Vec<&[u8]> = vec![b"{\"event_id\":\"\xff\"}"];
        let p = parse_bodies(bodies);
        assert_eq!(p.failures[0].kind, "not UTF-8");
    }

    #[test]
    fn last_duplicate_key_wins() {
        let p = parse(&[r#"{"temperature_c":1,"temperature_c":2}"#]);
        assert_eq!(
            p.batch.column(3).as_primitive::<Float64Type>().value(0),
            2.0
        );
    }
}
