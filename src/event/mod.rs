//! The declared event: the fields a body carries and their types, which field is the event id
//! (deduplication), which the event time (windows, horizon, watermarks) and which the key
//! (partition key, `latest` views), and what becomes of fields nobody declared.
//!
//! Owns [`EventSchema`] (built from an [`EventDecl`], the `event:` section of a pipeline file),
//! the schema of the *parsed* event (what the checks and quarantine see: values as sent, RFC 3339
//! text still text) and of its *silver* columns (typed: timestamps and dates as such), the parser
//! that fills the parsed columns ([`parser`]) and the conversion of parsed columns to silver ones
//! ([`convert`]). The reference weather event is [`EventSchema::weather`], declared by the
//! shipped `pipelines/weather.yml`.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub mod convert;
mod flat;
pub mod parser;

pub use parser::{ParseFailure, ParsedBatch};

/// The JSON type of a declared field and what it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A JSON string.
    String,
    /// A JSON integer within 64 bits.
    Integer,
    /// Any JSON number, as a 64-bit float.
    Float,
    /// `true` or `false`.
    Boolean,
    /// A point in time: RFC 3339 text, or epoch seconds / milliseconds (see [`TimeFormat`]).
    Timestamp,
    /// A calendar date as `YYYY-MM-DD` text.
    Date,
    /// Any JSON value (objects and arrays included), kept as its JSON text.
    Json,
}

impl FieldType {
    /// The name a pipeline file uses.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Float => "float",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp => "timestamp",
            FieldType::Date => "date",
            FieldType::Json => "json",
        }
    }
}

/// How a timestamp field is written in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// RFC 3339 text (`2026-11-26T10:00:00.000Z`): reaches the checks as the text sent, silver as
    /// a timestamp.
    #[default]
    Rfc3339,
    /// Seconds since 1970-01-01 UTC, any JSON number (fractions kept to the microsecond).
    #[serde(alias = "epoch_s")]
    EpochSeconds,
    /// Milliseconds since 1970-01-01 UTC, a JSON integer.
    #[serde(alias = "epoch_ms")]
    EpochMillis,
}

/// What becomes of body fields the event does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownFields {
    /// Kept, as one JSON object text in the column `_extra` (null when there were none).
    #[default]
    Keep,
    /// Dropped (bronze still holds the body).
    Ignore,
}

/// The column that keeps undeclared fields ([`UnknownFields::Keep`]).
pub const EXTRA_COLUMN: &str = "_extra";

/// One declared field, as a pipeline file writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDecl {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Timestamps only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TimeFormat>,
}

/// The `event:` section of a pipeline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDecl {
    /// The declared fields, in column order.
    pub fields: Vec<FieldDecl>,
    /// The event id (string or integer): events repeating one are deduplicated; absent → none are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The event time (a timestamp field): windows, horizon, watermarks; absent → enqueued time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The key (`latest` views group by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub unknown_fields: UnknownFields,
}

/// Why an event declaration is not usable.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EventError {
    #[error("event.fields: an event declares at least one field")]
    NoFields,
    #[error("event.fields[{index}].name: '{name}' {why}")]
    BadName {
        index: usize,
        name: String,
        why: &'static str,
    },
    #[error(
        "event.fields[{index}].format: only a timestamp field has a format ('{name}' is a {ty})"
    )]
    FormatOnNonTimestamp {
        index: usize,
        name: String,
        ty: &'static str,
    },
    #[error("event.{role}: no declared field is named '{name}'")]
    UnknownRoleField { role: &'static str, name: String },
    #[error("event.{role}: '{name}' is a {ty} field; {role} must be {expected}")]
    RoleType {
        role: &'static str,
        name: String,
        ty: &'static str,
        expected: &'static str,
    },
}

/// A declared field, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct EventField {
    pub name: String,
    pub ty: FieldType,
    pub format: TimeFormat,
}

impl EventField {
    /// The column type the checks and quarantine see: values as sent (RFC 3339 timestamps and
    /// dates still text; epoch timestamps already timestamps; JSON as its text).
    pub fn parsed_type(&self) -> DataType {
        match (self.ty, self.format) {
            (FieldType::String | FieldType::Json | FieldType::Date, _) => DataType::Utf8,
            (FieldType::Timestamp, TimeFormat::Rfc3339) => DataType::Utf8,
            (FieldType::Timestamp, _) => timestamp_type(),
            (FieldType::Integer, _) => DataType::Int64,
            (FieldType::Float, _) => DataType::Float64,
            (FieldType::Boolean, _) => DataType::Boolean,
        }
    }

    /// The column type in silver: timestamps as UTC microseconds, dates as dates.
    pub fn silver_type(&self) -> DataType {
        match self.ty {
            FieldType::Timestamp => timestamp_type(),
            FieldType::Date => DataType::Date32,
            _ => self.parsed_type(),
        }
    }

    /// Whether silver holds this field converted from text ([`convert`]).
    pub fn converted_in_silver(&self) -> bool {
        self.parsed_type() != self.silver_type()
    }
}

/// UTC timestamp in microseconds (Delta's `timestamp`).
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A resolved event declaration: the fields, the roles, and the schemas they make.
#[derive(Debug, Clone)]
pub struct EventSchema {
    fields: Vec<EventField>,
    id: Option<usize>,
    time: Option<usize>,
    key: Option<usize>,
    unknown: UnknownFields,
    parsed: SchemaRef,
    silver: Vec<Field>,
    decl: EventDecl,
}

impl PartialEq for EventSchema {
    fn eq(&self, other: &Self) -> bool {
        self.decl == other.decl
    }
}

/// The shipped declaration of the reference weather pipeline.
pub const WEATHER_PIPELINE: &str = include_str!("../../pipelines/weather.yml");

impl EventSchema {
    /// Resolves a declaration; `Err` names the first problem and where it is.
    pub fn new(decl: EventDecl) -> Result<EventSchema, EventError> {
        Self::check(&decl).into_iter().next().map_or(Ok(()), Err)?;
        let fields: Vec<EventField> = decl
            .fields
            .iter()
            .map(|f| EventField {
                name: f.name.clone(),
                ty: f.ty,
                format: f.format.unwrap_or_default(),
            })
            .collect();
        let find = |name: &Option<String>| {
            name.as_ref()
                .and_then(|n| fields.iter().position(|f| &f.name == n))
        };
        let (id, time, key) = (find(&decl.id), find(&decl.time), find(&decl.key));
        let mut parsed: Vec<Field> = fields
            .iter()
            .map(|f| Field::new(&f.name, f.parsed_type(), true))
            .collect();
        let mut silver: Vec<Field> = fields
            .iter()
            .map(|f| Field::new(&f.name, f.silver_type(), true))
            .collect();
        if decl.unknown_fields == UnknownFields::Keep {
            parsed.push(Field::new(EXTRA_COLUMN, DataType::Utf8, true));
            silver.push(Field::new(EXTRA_COLUMN, DataType::Utf8, true));
        }
        Ok(EventSchema {
            fields,
            id,
            time,
            key,
            unknown: decl.unknown_fields,
            parsed: Arc::new(Schema::new(parsed)),
            silver,
            decl,
        })
    }

    /// Every problem of a declaration (empty: it resolves).
    pub fn check(decl: &EventDecl) -> Vec<EventError> {
        let mut errors = Vec::new();
        if decl.fields.is_empty() {
            errors.push(EventError::NoFields);
        }
        for (index, f) in decl.fields.iter().enumerate() {
            let bad = |why| EventError::BadName {
                index,
                name: f.name.clone(),
                why,
            };
            if f.name.is_empty() {
                errors.push(bad("is empty"));
            } else if f.name.starts_with('_') {
                errors.push(bad("starts with '_', which medallion's own columns use"));
            } else if !f
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                || f.name.starts_with(|c: char| c.is_ascii_digit())
            {
                errors.push(bad(
                    "is not a column name (letters, digits and '_', not starting with a digit)",
                ));
            } else if LINEAGE_COLUMNS.contains(&f.name.as_str()) || f.name == "body" {
                errors.push(bad("is one of medallion's lineage columns"));
            } else if decl.fields[..index].iter().any(|g| g.name == f.name) {
                errors.push(bad("is declared twice"));
            }
            if f.format.is_some() && f.ty != FieldType::Timestamp {
                errors.push(EventError::FormatOnNonTimestamp {
                    index,
                    name: f.name.clone(),
                    ty: f.ty.name(),
                });
            }
        }
        let roles: [(&'static str, &Option<String>, &[FieldType], &'static str); 3] = [
            (
                "id",
                &decl.id,
                &[FieldType::String, FieldType::Integer],
                "a string or integer field",
            ),
            (
                "time",
                &decl.time,
                &[FieldType::Timestamp],
                "a timestamp field",
            ),
            (
                "key",
                &decl.key,
                &[FieldType::String, FieldType::Integer, FieldType::Boolean],
                "a string, integer or boolean field",
            ),
        ];
        for (role, name, allowed, expected) in roles {
            let Some(name) = name else { continue };
            match decl.fields.iter().find(|f| &f.name == name) {
                None => errors.push(EventError::UnknownRoleField {
                    role,
                    name: name.clone(),
                }),
                Some(f) if !allowed.contains(&f.ty) => errors.push(EventError::RoleType {
                    role,
                    name: name.clone(),
                    ty: f.ty.name(),
                    expected,
                }),
                Some(_) => {}
            }
        }
        errors
    }

    /// The reference weather event (`pipelines/weather.yml`).
    pub fn weather() -> Arc<EventSchema> {
        static WEATHER: OnceLock<Arc<EventSchema>> = OnceLock::new();
        WEATHER
            .get_or_init(|| {
                let file: serde_yaml::Value =
                    serde_yaml::from_str(WEATHER_PIPELINE).expect("weather.yml is YAML");
                let decl: EventDecl = serde_yaml::from_value(file["event"].clone())
                    .expect("weather.yml's event section is valid");
                Arc::new(EventSchema::new(decl).expect("weather.yml's event resolves"))
            })
            .clone()
    }

    /// The declared fields, in column order.
    pub fn fields(&self) -> &[EventField] {
        &self.fields
    }

    /// Index of the event-id field.
    pub fn id(&self) -> Option<usize> {
        self.id
    }

    /// Index of the event-time field.
    pub fn time(&self) -> Option<usize> {
        self.time
    }

    /// Index of the key field.
    pub fn key(&self) -> Option<usize> {
        self.key
    }

    /// The event-id field's name.
    pub fn id_name(&self) -> Option<&str> {
        self.id.map(|i| self.fields[i].name.as_str())
    }

    /// The event-time field's name.
    pub fn time_name(&self) -> Option<&str> {
        self.time.map(|i| self.fields[i].name.as_str())
    }

    /// The key field's name.
    pub fn key_name(&self) -> Option<&str> {
        self.key.map(|i| self.fields[i].name.as_str())
    }

    pub fn unknown_fields(&self) -> UnknownFields {
        self.unknown
    }

    /// The parsed event's schema (the checks' input; quarantine's event columns).
    pub fn parsed_schema(&self) -> SchemaRef {
        self.parsed.clone()
    }

    /// Silver's event columns (typed), in order; `_extra` last when kept.
    pub fn silver_fields(&self) -> &[Field] {
        &self.silver
    }

    /// Number of event columns (declared fields, plus `_extra` when kept).
    pub fn columns(&self) -> usize {
        self.parsed.fields().len()
    }
}

/// A key identifying an event for deduplication: the UUID of its id as a number, or a 128-bit
/// hash of any other id text (an integer id: of its decimal text).
pub type DedupKey = u128;

/// The dedup key of an `event_id`: its UUID value when it is one, else a 128-bit FNV-1a hash of
/// the text (a collision with another id is as unlikely as a UUID collision).
pub fn dedup_key(event_id: &str) -> DedupKey {
    if let Some(u) = parse_uuid(event_id.as_bytes()) {
        return u;
    }
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in event_id.as_bytes() {
        h ^= *b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}

/// The dedup key of an integer event id: the key of its decimal text, so that `7` and `"7"`
/// are one id (as they are to anyone reading the ids back as text).
pub fn dedup_key_of_integer(event_id: i64) -> DedupKey {
    let mut buf = [0u8; 20];
    let mut w = std::io::Cursor::new(&mut buf[..]);
    std::io::Write::write_fmt(&mut w, format_args!("{event_id}")).expect("20 bytes hold an i64");
    let n = w.position() as usize;
    dedup_key(std::str::from_utf8(&buf[..n]).expect("digits are UTF-8"))
}

/// Each byte's value as a hex digit, or [`NOT_HEX`].
const HEX: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};
const NOT_HEX: u8 = 0xff;

/// The 128-bit value of a UUID's text (`8-4-4-4-12` hex digits, either case), read a digit at a
/// time by table into two 64-bit halves (a key is made for every event).
fn parse_uuid(s: &[u8]) -> Option<u128> {
    if s.len() != 36 || s[8] != b'-' || s[13] != b'-' || s[18] != b'-' || s[23] != b'-' {
        return None;
    }
    fn half<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Option<u64> {
        parts
            .into_iter()
            .flatten()
            .try_fold(0u64, |v, &c| match HEX[c as usize] {
                NOT_HEX => None,
                d => Some((v << 4) | u64::from(d)),
            })
    }
    // 8-4-4 | 4-12: the first 16 digits and the last 16.
    let high = half([&s[..8], &s[9..13], &s[14..18]])?;
    let low = half([&s[19..23], &s[24..]])?;
    Some((u128::from(high) << 64) | u128::from(low))
}

/// Columns every row-level table adds after the event's: no field may take their names.
pub const LINEAGE_COLUMNS: [&str; 8] = [
    "partition",
    "sequence_number",
    "enqueued_time",
    "ingest_time",
    "offset",
    "partition_key",
    "_errors",
    "_warnings",
];

#[cfg(test)]
mod tests;
