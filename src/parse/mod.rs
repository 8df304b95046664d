//! Parsing the reference weather event: raw JSON bodies → the typed Arrow columns of a weather
//! event, with a per-row parse error for every body that is not a valid event (the rules of the
//! workload README).
//!
//! The weather event is declared by the shipped `pipelines/weather.yml`
//! ([`EventSchema::weather`]); this module is the short way to its parser and schema. A body
//! parses when it is UTF-8, JSON (no NaN/Infinity), a JSON object, and every known field is
//! absent, null or of its JSON type (string for `event_id`, `station_id`, `event_time`,
//! `condition`; integer for `wind_dir_deg`; any number for the others). Unknown fields are
//! ignored; when a key repeats, the last value wins (as in Python's `json`).

use arrow::datatypes::SchemaRef;

use crate::event::EventSchema;
pub use crate::event::{ParseFailure, ParsedBatch};

/// The JSON type a known field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    String,
    Integer,
    Number,
}

/// The known fields of a weather event, in column order (as `pipelines/weather.yml` declares
/// them; a unit test keeps the two equal).
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

/// Schema of parsed weather events (every column nullable; `event_time` still the string as sent).
pub fn event_schema() -> SchemaRef {
    EventSchema::weather().parsed_schema()
}

/// Parses a batch of weather bodies. Never fails: every body ends up either as a row or as a
/// failure.
pub fn parse_bodies<'a, I>(bodies: I) -> ParsedBatch
where
    I: IntoIterator<Item = &'a [u8]>,
{
    EventSchema::weather().parse(bodies)
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
    fn fields_are_weather_yml_s() {
        let weather = EventSchema::weather();
        let declared: Vec<(&str, arrow::datatypes::DataType)> = weather
            .fields()
            .iter()
            .map(|f| (f.name.as_str(), f.parsed_type()))
            .collect();
        let here: Vec<(&str, arrow::datatypes::DataType)> = FIELDS
            .iter()
            .map(|(n, k)| {
                let dt = match k {
                    FieldKind::String => arrow::datatypes::DataType::Utf8,
                    FieldKind::Integer => arrow::datatypes::DataType::Int64,
                    FieldKind::Number => arrow::datatypes::DataType::Float64,
                };
                (*n, dt)
            })
            .collect();
        assert_eq!(declared, here);
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
