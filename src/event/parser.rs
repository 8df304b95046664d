//! The parser driven by an [`EventSchema`]: raw JSON bodies straight into the Arrow builders of
//! the parsed event's columns, with one [`ParseFailure`] for every body that is not an event.
//!
//! A body parses when it is UTF-8, JSON (no NaN/Infinity), a JSON object, and every declared field
//! is absent, null or of its type: a string for `string`, `date` and RFC 3339 `timestamp`; a JSON
//! integer within 64 bits for `integer` and epoch-millisecond timestamps; any number for `float`
//! and epoch-second timestamps; `true`/`false` for `boolean`; anything for `json`. When a key
//! repeats, the last value wins (as in Python's `json`). Undeclared fields are dropped or kept in
//! `_extra` ([`UnknownFields`]). Nothing per body is allocated but escaped strings and `_extra`.
//!
//! A body of the common flat shape is read by `event::flat` first; serde_json reads every other
//! body, and writes every failure's message, exactly as before (the tests hold both readings to the
//! same rows and failures).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::flat::Scalar;
use super::{EventSchema, FieldType, TimeFormat, UnknownFields};

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
    /// One row per body that parsed, in input order, with [`EventSchema::parsed_schema`].
    pub batch: RecordBatch,
    /// For each row of `batch`, the index of its body in the input.
    pub rows: Vec<u32>,
    /// Every body that did not parse.
    pub failures: Vec<ParseFailure>,
}

/// Microseconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: the timestamps Delta
/// readers take.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_402_300_799_999_999;

/// The kind of value a field's slot holds, and how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    Str,
    Int,
    Num,
    Bool,
    Json,
    EpochSeconds,
    EpochMillis,
}

impl Reader {
    fn of(ty: FieldType, format: TimeFormat) -> Reader {
        match (ty, format) {
            (FieldType::String | FieldType::Date, _) => Reader::Str,
            (FieldType::Timestamp, TimeFormat::Rfc3339) => Reader::Str,
            (FieldType::Timestamp, TimeFormat::EpochSeconds) => Reader::EpochSeconds,
            (FieldType::Timestamp, TimeFormat::EpochMillis) => Reader::EpochMillis,
            (FieldType::Integer, _) => Reader::Int,
            (FieldType::Float, _) => Reader::Num,
            (FieldType::Boolean, _) => Reader::Bool,
            (FieldType::Json, _) => Reader::Json,
        }
    }
}

/// One field's value in the body being parsed.
#[derive(Debug, Clone, Default)]
enum Value<'a> {
    #[default]
    Null,
    Str(Cow<'a, str>),
    Int(i64),
    Num(f64),
    Bool(bool),
}

impl EventSchema {
    /// Parses a batch of bodies. Never fails: every body ends up either as a row or as a failure.
    pub fn parse<'a, I>(&self, bodies: I) -> ParsedBatch
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        self.parse_reading(bodies, true)
    }

    /// [`EventSchema::parse`], with (`flat`) or without the flat reader: the same batch either
    /// way (the tests compare them).
    pub(super) fn parse_reading<'a, I>(&self, bodies: I, flat: bool) -> ParsedBatch
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let readers: Vec<Reader> = self
            .fields()
            .iter()
            .map(|f| Reader::of(f.ty, f.format))
            .collect();
        let mut cols = Columns::new(&readers, self.unknown_fields() == UnknownFields::Keep);
        let mut rows = Vec::new();
        let mut failures = Vec::new();
        let mut event = Event {
            values: vec![Value::Null; readers.len()],
            extra: Vec::new(),
        };
        let parser = BodyParser {
            schema: self,
            readers: &readers,
            names: self.fields().iter().map(|f| f.name.as_str()).collect(),
            next: std::cell::Cell::new(0),
            guesses: self
                .fields()
                .iter()
                .map(|f| f.name.as_str())
                .map(|n| (!n.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20)).then_some(n))
                .collect(),
            flat,
        };
        for (i, body) in bodies.into_iter().enumerate() {
            event.clear();
            parser.next.set(0);
            match parser.parse_one(body, &mut event) {
                Ok(()) => {
                    cols.push(&event);
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
            batch: cols.finish(self),
            rows,
            failures,
        }
    }
}

/// The values of one body: one per declared field, and the undeclared ones kept.
struct Event<'a> {
    values: Vec<Value<'a>>,
    extra: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl Event<'_> {
    fn clear(&mut self) {
        self.values.iter_mut().for_each(|v| *v = Value::Null);
        self.extra.clear();
    }
}

struct BodyParser<'s> {
    schema: &'s EventSchema,
    readers: &'s [Reader],
    /// The declared names, densely.
    names: Vec<&'s str>,
    /// The field after the last one found: bodies mostly list their keys in one order, so the
    /// next key is most often this one.
    next: std::cell::Cell<usize>,
    /// The declared names as the flat reader's guesses: none for a name with a quote, a
    /// backslash or a control character in it (which a body writes escaped).
    guesses: Vec<Option<&'s str>>,
    /// Whether bodies of the flat shape are read without serde_json ([`super::flat`]); off only
    /// where a test compares both readings.
    flat: bool,
}

impl BodyParser<'_> {
    fn parse_one<'a>(&self, body: &'a [u8], event: &mut Event<'a>) -> Result<(), (String, String)> {
        let text = std::str::from_utf8(body)
            .map_err(|e| ("not UTF-8".to_string(), format!("not UTF-8: {e}")))?;
        if self.read_flat(text, event).is_some() {
            return Ok(());
        }
        event.clear();
        self.next.set(0);
        let mut de = serde_json::Deserializer::from_str(text);
        let mut field_error: Option<(String, String)> = None;
        let result = (&mut de).deserialize_any(EventVisitor {
            parser: self,
            event,
            field_error: &mut field_error,
        });
        match result {
            Ok(true) => match de.end() {
                Ok(()) => Ok(()),
                Err(e) => Err(("malformed JSON".into(), format!("malformed JSON: {e}"))),
            },
            Ok(false) => Err((
                "not a JSON object".into(),
                format!("not a JSON object: {}", top_level_kind(text)),
            )),
            Err(e) => match field_error {
                // A value of the wrong type; a syntax error inside a value is malformed JSON.
                Some(fe) if e.classify() == serde_json::error::Category::Data => Err(fe),
                _ => Err(("malformed JSON".into(), format!("malformed JSON: {e}"))),
            },
        }
    }

    /// Reads a body of the common flat shape ([`super::flat`]) without serde_json. `None`: the
    /// body is left to serde_json (which also names what is wrong with it); the event may hold
    /// some of its values by then.
    fn read_flat<'a>(&self, text: &'a str, event: &mut Event<'a>) -> Option<()> {
        if !self.flat {
            return None;
        }
        let keep_extra = self.schema.unknown_fields() == UnknownFields::Keep;
        let guess = || self.guesses.get(self.next.get()).copied().flatten();
        super::flat::members(text, guess, |key, guessed, value| {
            let field = if guessed {
                // The guess is the declared name at `next`.
                let field = self.next.get();
                self.next.set(field + 1);
                field
            } else {
                let Some(field) = self.field(key) else {
                    return !keep_extra;
                };
                field
            };
            match flat_value(self.readers[field], value) {
                Some(v) => {
                    event.values[field] = v;
                    true
                }
                None => false,
            }
        })
    }

    /// The index of the declared field called `key`.
    fn field(&self, key: &str) -> Option<usize> {
        let guess = self.next.get();
        let found = match self.names.get(guess) {
            Some(n) if *n == key => Some(guess),
            _ => self.names.iter().position(|n| *n == key),
        };
        if let Some(i) = found {
            self.next.set(i + 1);
        }
        found
    }
}

/// A flat member's value as `reader` reads it, exactly as serde_json's reading gives it;
/// `None` where serde_json's reading is needed: the readers of epoch times and raw JSON, and
/// every value a reader refuses (serde_json's error names it).
fn flat_value(reader: Reader, value: Scalar<'_>) -> Option<Value<'_>> {
    Some(match (reader, value) {
        (_, Scalar::Null) => Value::Null,
        (Reader::Str, Scalar::Str(s)) => Value::Str(Cow::Borrowed(s)),
        (Reader::Bool, Scalar::Bool(b)) => Value::Bool(b),
        // A short number's value rounds correctly, as serde_json's (`float_roundtrip`) and
        // `str::parse` do for every number: all three agree.
        (Reader::Num, Scalar::Num { short: Some(x), .. }) => Value::Num(x),
        (Reader::Num, Scalar::Num { text, .. }) => {
            Value::Num(text.parse::<f64>().ok().filter(|x| x.is_finite())?)
        }
        (
            Reader::Int,
            Scalar::Num {
                text,
                integer: true,
                ..
            },
        ) => Value::Int(small_integer(text)?),
        _ => return None,
    })
}

/// A JSON integer within `i64`, as serde_json reads it: `-0` is the float -0.0 there.
fn small_integer(text: &str) -> Option<i64> {
    (text != "-0").then(|| text.parse().ok()).flatten()
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

/// Visits the top-level value: an object fills the event (`true`), anything else is `false`.
struct EventVisitor<'p, 'e, 'a> {
    parser: &'p BodyParser<'p>,
    event: &'e mut Event<'a>,
    field_error: &'e mut Option<(String, String)>,
}

impl<'de> Visitor<'de> for EventVisitor<'_, '_, 'de> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let keep_extra = self.parser.schema.unknown_fields() == UnknownFields::Keep;
        let seed = KeySeed {
            parser: self.parser,
            keep_extra,
        };
        while let Some(key) = map.next_key_seed(seed)? {
            let field = match key {
                Key::Field(field) => field,
                Key::Unknown(Some(key)) => {
                    let raw: &'de RawValue = map.next_value()?;
                    match self.event.extra.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = raw,
                        None => self.event.extra.push((key, raw)),
                    }
                    continue;
                }
                Key::Unknown(None) => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let reader = self.parser.readers[field];
            match map.next_value_seed(ValueSeed(reader)) {
                Ok(v) => self.event.values[field] = v,
                Err(e) => {
                    let name = &self.parser.schema.fields()[field].name;
                    *self.field_error =
                        Some((format!("field {name}"), format!("field {name}: {e}")));
                    return Err(e);
                }
            }
        }
        Ok(true)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// A key: a declared field's index, or an undeclared key (kept only when `_extra` is).
enum Key<'de> {
    Field(usize),
    Unknown(Option<Cow<'de, str>>),
}

/// Maps a key to a declared field without allocating.
#[derive(Clone, Copy)]
struct KeySeed<'p> {
    parser: &'p BodyParser<'p>,
    keep_extra: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(match self.parser.field(v) {
            Some(i) => Key::Field(i),
            None => Key::Unknown(self.keep_extra.then_some(Cow::Borrowed(v))),
        })
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(match self.parser.field(v) {
            Some(i) => Key::Field(i),
            None => Key::Unknown(self.keep_extra.then(|| Cow::Owned(v.to_owned()))),
        })
    }
}

/// One declared field's value, read as its [`Reader`] says.
struct ValueSeed(Reader);

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.0 == Reader::Json {
            let raw: &'de RawValue = de::Deserialize::deserialize(d)?;
            return Ok(match raw.get() {
                "null" => Value::Null,
                text => Value::Str(Cow::Borrowed(text)),
            });
        }
        d.deserialize_any(self)
    }
}

impl ValueSeed {
    fn epoch_micros<E: de::Error>(
        self,
        micros: Option<i64>,
        shown: &dyn fmt::Display,
    ) -> Result<Value<'static>, E> {
        match micros.filter(|m| (MIN_MICROS..=MAX_MICROS).contains(m)) {
            Some(m) => Ok(Value::Int(m)),
            None => Err(E::custom(format_args!(
                "{shown} is out of range for a timestamp (years 1 to 9999)"
            ))),
        }
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self.0 {
            Reader::Str => "a string or null",
            Reader::Int => "an integer or null",
            Reader::Num => "a number or null",
            Reader::Bool => "a boolean or null",
            Reader::Json => "any JSON value",
            Reader::EpochSeconds => "a number of seconds since 1970-01-01 UTC, or null",
            Reader::EpochMillis => {
                "an integer number of milliseconds since 1970-01-01 UTC, or null"
            }
        })
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        match self.0 {
            Reader::Str => Ok(Value::Str(Cow::Borrowed(v))),
            _ => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match self.0 {
            Reader::Str => Ok(Value::Str(Cow::Owned(v.to_owned()))),
            _ => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        match self.0 {
            Reader::Bool => Ok(Value::Bool(v)),
            _ => Err(E::invalid_type(de::Unexpected::Bool(v), &self)),
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        match self.0 {
            Reader::Int => Ok(Value::Int(v)),
            Reader::Num => Ok(Value::Num(v as f64)),
            Reader::EpochMillis => self.epoch_micros(v.checked_mul(1000), &v),
            Reader::EpochSeconds => self.epoch_micros(v.checked_mul(1_000_000), &v),
            _ => Err(E::invalid_type(de::Unexpected::Signed(v), &self)),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        match (self.0, i64::try_from(v)) {
            (Reader::Num, _) => Ok(Value::Num(v as f64)),
            (Reader::Int, Err(_)) => Err(E::invalid_value(
                de::Unexpected::Unsigned(v),
                &"a 64-bit signed integer",
            )),
            (_, Ok(i)) => self.visit_i64(i),
            (Reader::EpochMillis | Reader::EpochSeconds, Err(_)) => self.epoch_micros(None, &v),
            _ => Err(E::invalid_type(de::Unexpected::Unsigned(v), &self)),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        match self.0 {
            Reader::Num => Ok(Value::Num(v)),
            Reader::EpochSeconds => {
                let micros = (v * 1e6).round();
                let fits = micros >= MIN_MICROS as f64 && micros <= MAX_MICROS as f64;
                self.epoch_micros(fits.then_some(micros as i64), &v)
            }
            _ => Err(E::invalid_type(de::Unexpected::Float(v), &self)),
        }
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::invalid_type(de::Unexpected::Map, &self))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::invalid_type(de::Unexpected::Seq, &self))
    }
}

/// One column's builder.
enum Builder {
    Str(StringBuilder),
    Int(Int64Builder),
    Num(Float64Builder),
    Bool(BooleanBuilder),
    Time(TimestampMicrosecondBuilder),
}

impl Builder {
    fn push(&mut self, v: &Value<'_>) {
        match (self, v) {
            (Builder::Str(b), Value::Str(s)) => b.append_value(s),
            (Builder::Int(b), Value::Int(i)) => b.append_value(*i),
            (Builder::Time(b), Value::Int(i)) => b.append_value(*i),
            (Builder::Num(b), Value::Num(x)) => b.append_value(*x),
            (Builder::Bool(b), Value::Bool(x)) => b.append_value(*x),
            (Builder::Str(b), _) => b.append_null(),
            (Builder::Int(b), _) => b.append_null(),
            (Builder::Time(b), _) => b.append_null(),
            (Builder::Num(b), _) => b.append_null(),
            (Builder::Bool(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Num(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish().with_timezone("UTC")),
        }
    }
}

/// Column builders for parsed events.
struct Columns {
    fields: Vec<Builder>,
    extra: Option<(StringBuilder, String)>,
}

impl Columns {
    fn new(readers: &[Reader], keep_extra: bool) -> Columns {
        let fields = readers
            .iter()
            .map(|r| match r {
                Reader::Str | Reader::Json => Builder::Str(StringBuilder::new()),
                Reader::Int => Builder::Int(Int64Builder::new()),
                Reader::Num => Builder::Num(Float64Builder::new()),
                Reader::Bool => Builder::Bool(BooleanBuilder::new()),
                Reader::EpochSeconds | Reader::EpochMillis => {
                    Builder::Time(TimestampMicrosecondBuilder::new())
                }
            })
            .collect();
        Columns {
            fields,
            extra: keep_extra.then(|| (StringBuilder::new(), String::new())),
        }
    }

    fn push(&mut self, ev: &Event<'_>) {
        for (b, v) in self.fields.iter_mut().zip(&ev.values) {
            b.push(v);
        }
        if let Some((b, text)) = &mut self.extra {
            if ev.extra.is_empty() {
                b.append_null();
            } else {
                text.clear();
                text.push('{');
                for (i, (k, raw)) in ev.extra.iter().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    text.push_str(&serde_json::to_string(k.as_ref()).expect("a str serializes"));
                    text.push(':');
                    text.push_str(raw.get().trim());
                }
                text.push('}');
                b.append_value(text.as_str());
            }
        }
    }

    fn finish(mut self, schema: &EventSchema) -> RecordBatch {
        let mut columns: Vec<ArrayRef> = self.fields.iter_mut().map(Builder::finish).collect();
        if let Some((b, _)) = &mut self.extra {
            columns.push(Arc::new(b.finish()));
        }
        RecordBatch::try_new(schema.parsed_schema(), columns)
            .expect("columns match the parsed schema")
    }
}
