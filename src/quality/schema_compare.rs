//! `has_valid_schema`'s comparison of the input's schema with an expected DDL schema, with
//! DQX's wording: permissive (every expected column present with a compatible type: numbers
//! with numbers, text with text, dates with timestamps, containers element by element) or
//! strict (the same columns in the same order, types and nullability equal).

use arrow::datatypes::{DataType, Field};

use super::expr::json_schema::{JsonField, JsonType};

/// An input column as a field of the DDL's type system.
pub fn field_of(f: &Field) -> JsonField {
    JsonField {
        name: f.name().clone(),
        ty: type_of(f.data_type()),
        nullable: f.is_nullable(),
    }
}

pub(super) fn type_of(t: &DataType) -> JsonType {
    match t {
        DataType::Int8 => JsonType::Int(8),
        DataType::Int16 => JsonType::Int(16),
        DataType::Int32 => JsonType::Int(32),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => JsonType::Int(64),
        DataType::Float32 => JsonType::Float,
        DataType::Float64 => JsonType::Double,
        DataType::Boolean => JsonType::Boolean,
        DataType::Decimal128(p, s) => JsonType::Decimal(*p, (*s).max(0) as u8),
        DataType::Date32 | DataType::Date64 => JsonType::Date,
        DataType::Timestamp(..) => JsonType::Timestamp,
        DataType::List(f) | DataType::LargeList(f) => {
            JsonType::Array(Box::new(type_of(f.data_type())))
        }
        DataType::Struct(fields) => JsonType::Struct(fields.iter().map(|f| field_of(f)).collect()),
        _ => JsonType::String,
    }
}

/// PySpark's `DataType.typeName()`.
fn type_name(t: &JsonType) -> &'static str {
    match t {
        JsonType::String => "string",
        JsonType::Int(8) => "byte",
        JsonType::Int(16) => "short",
        JsonType::Int(32) => "integer",
        JsonType::Int(_) => "long",
        JsonType::Double => "double",
        JsonType::Float => "float",
        JsonType::Boolean => "boolean",
        JsonType::Decimal(..) => "decimal",
        JsonType::Date => "date",
        JsonType::Timestamp => "timestamp",
        JsonType::Array(_) => "array",
        JsonType::Map(..) => "map",
        JsonType::Struct(_) => "struct",
    }
}

/// Types equal as Spark compares them (struct fields by name, type and nullability).
fn same(a: &JsonType, b: &JsonType) -> bool {
    a == b
}

fn family(t: &JsonType) -> Option<u8> {
    match t {
        JsonType::Int(_) | JsonType::Decimal(..) | JsonType::Float | JsonType::Double => Some(0),
        JsonType::String => Some(1),
        JsonType::Date | JsonType::Timestamp => Some(2),
        _ => None,
    }
}

/// DQX's `_is_compatible_type`.
fn compatible(actual: &JsonType, expected: &JsonType) -> bool {
    if same(actual, expected) {
        return true;
    }
    match (actual, expected) {
        (JsonType::Array(a), JsonType::Array(e)) => compatible(a, e),
        (JsonType::Map(ak, av), JsonType::Map(ek, ev)) => compatible(ak, ek) && compatible(av, ev),
        (JsonType::Struct(a), JsonType::Struct(e)) => {
            a.len() == e.len()
                && a.iter()
                    .zip(e)
                    .all(|(a, e)| a.name == e.name && compatible(&a.ty, &e.ty))
        }
        (a, e) => family(a).is_some() && family(a) == family(e),
    }
}

/// The differences DQX reports between `actual` and `expected`, in its order and wording.
pub fn compare(actual: &[JsonField], expected: &[JsonField], strict: bool) -> Vec<String> {
    let mut errors = Vec::new();
    if !strict {
        for e in expected {
            match actual.iter().find(|a| a.name == e.name) {
                None => errors.push(format!(
                    "Column '{}' in expected schema not present in checked data",
                    e.name
                )),
                Some(a) if !compatible(&a.ty, &e.ty) => errors.push(format!(
                    "Column '{}' has incompatible type, expected '{}', got '{}'",
                    e.name,
                    type_name(&e.ty),
                    type_name(&a.ty)
                )),
                Some(_) => {}
            }
        }
        return errors;
    }
    let py_bool = |b: bool| if b { "True" } else { "False" };
    for i in 0..actual.len().max(expected.len()) {
        match (actual.get(i), expected.get(i)) {
            (None, Some(e)) => errors.push(format!(
                "Column '{}' in expected schema not present in checked data",
                e.name
            )),
            (Some(a), None) => errors.push(format!(
                "Column '{}' in checked data not present in expected schema",
                a.name
            )),
            (Some(a), Some(e)) => {
                if a.name != e.name {
                    errors.push(format!(
                        "Column with index {i} has incorrect name, expected '{}', got '{}'",
                        e.name, a.name
                    ));
                }
                if !same(&a.ty, &e.ty) {
                    errors.push(format!(
                        "Column '{}' has incorrect type, expected '{}', got '{}'",
                        a.name,
                        type_name(&e.ty),
                        type_name(&a.ty)
                    ));
                }
                if a.nullable != e.nullable {
                    errors.push(format!(
                        "Column '{}' has incorrect nullability, expected '{}', got '{}'",
                        a.name,
                        py_bool(e.nullable),
                        py_bool(a.nullable)
                    ));
                }
            }
            (None, None) => {}
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::expr::json_schema::JsonSchema;

    fn input() -> Vec<JsonField> {
        [
            Field::new("i", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("b", DataType::Boolean, true),
        ]
        .iter()
        .map(field_of)
        .collect()
    }

    #[test]
    fn permissive_and_strict_like_dqx() {
        let e = JsonSchema::parse("i INT, z STRING, b INT").unwrap();
        assert_eq!(
            compare(&input(), &e.fields, false),
            [
                "Column 'z' in expected schema not present in checked data",
                "Column 'b' has incompatible type, expected 'integer', got 'boolean'"
            ]
        );
        let e = JsonSchema::parse("i BIGINT, s STRING NOT NULL").unwrap();
        assert_eq!(
            compare(&input(), &e.fields, true),
            [
                "Column 's' has incorrect nullability, expected 'False', got 'True'",
                "Column 'b' in checked data not present in expected schema"
            ]
        );
        let e = JsonSchema::parse("i DOUBLE, s STRING, b BOOLEAN").unwrap();
        assert!(compare(&input(), &e.fields, false).is_empty());
    }
}
