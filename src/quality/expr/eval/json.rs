//! `is_valid_json` as Spark decides it: DQX tests `try_parse_json(col) IS NOT NULL`, which reads
//! the text with Jackson into a VARIANT. So a value is valid when its first JSON value parses
//! and no object in it repeats a key (a VARIANT cannot hold duplicate keys); text after that
//! value is never read (`{"a": 1} x` is valid), except that a top-level number or literal must
//! end at a separator (Jackson refuses `1x` and `truex`).

use std::collections::HashSet;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Whether Spark's `try_parse_json(text)` is not null (see the module docs).
pub(super) fn parses_as_spark(text: &str) -> bool {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<NoDuplicateKeys>();
    let Some(Ok(_)) = values.next() else {
        return false;
    };
    let end = values.byte_offset();
    let start = text.len() - text.trim_start_matches([' ', '\t', '\r', '\n']).len();
    let first = text.as_bytes().get(start).copied().unwrap_or(b' ');
    let next = text.as_bytes().get(end).copied();
    match next {
        None => true,
        // A number must be followed by white space (Jackson's root-level check); a literal may
        // not run on into a name.
        Some(c) if first == b'-' || first.is_ascii_digit() => {
            matches!(c, b' ' | b'\t' | b'\r' | b'\n')
        }
        Some(c) if matches!(first, b't' | b'f' | b'n') => {
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b'$')
        }
        Some(_) => true,
    }
}

/// A JSON value whose objects repeat no key, at any depth.
struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key) {
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::parses_as_spark;

    #[test]
    fn spark_json_validity() {
        for valid in [
            r#"{"a": 1}"#,
            "[1, 2]",
            "1",
            "\"x\"",
            "null",
            "true",
            r#"{"a": 1} x"#,
            r#"{"a": {"b": 1}, "b": {"b": 2}}"#,
            "1 2",
            " [1]x",
            "\"x\"y",
        ] {
            assert!(parses_as_spark(valid), "{valid} is valid to Spark");
        }
        for invalid in [
            "",
            " ",
            "{",
            r#"{"a": 1, "a": 2}"#,
            r#"[{"a": 1, "a": 2}]"#,
            "1x",
            "truex",
            "nul",
            "{'a': 1}",
            "NaN",
        ] {
            assert!(!parses_as_spark(invalid), "{invalid} is invalid to Spark");
        }
    }
}
