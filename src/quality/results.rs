//! The DQX result columns `_errors` / `_warnings`:
//! `list<struct<name, message, columns: list<utf8>, filter, function, run_time: timestamp(µs, UTC),
//! run_id, user_metadata: map<utf8, utf8>, skipped: bool>>`, one list per row, null (not an
//! empty list) where nothing fired, entries in rule order.
//!
//! `skipped` is true on the entries of a check that could not run on the input (its column or
//! filter does not resolve) and null otherwise, as in DQX.

use std::sync::Arc;

use arrow::array::{
    new_null_array, ArrayRef, BooleanArray, ListArray, ListBuilder, MapArray, StringArray,
    StringBuilder, StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit};

use super::context::EvalContext;

fn map_entries_field() -> FieldRef {
    Arc::new(Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    ))
}

/// The fields of one result entry.
pub fn dqx_result_fields() -> Fields {
    Fields::from(vec![
        Field::new("name", DataType::Utf8, true),
        Field::new("message", DataType::Utf8, true),
        Field::new(
            "columns",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new("filter", DataType::Utf8, true),
        Field::new("function", DataType::Utf8, true),
        Field::new(
            "run_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("run_id", DataType::Utf8, true),
        Field::new(
            "user_metadata",
            DataType::Map(map_entries_field(), false),
            true,
        ),
        Field::new("skipped", DataType::Boolean, true),
    ])
}

fn item_field() -> FieldRef {
    Arc::new(Field::new(
        "item",
        DataType::Struct(dqx_result_fields()),
        true,
    ))
}

/// The type of the `_errors` / `_warnings` columns.
pub fn dqx_result_type() -> DataType {
    DataType::List(item_field())
}

/// One result entry.
pub(crate) struct Entry<'a> {
    pub name: &'a str,
    /// Null only where a `message_expr` gave null.
    pub message: Option<&'a str>,
    pub columns: Option<&'a [String]>,
    pub filter: Option<&'a str>,
    pub function: &'a str,
    pub user_metadata: &'a [(String, String)],
    pub skipped: bool,
}

fn entries_array(entries: &[Entry<'_>], ctx: &EvalContext) -> StructArray {
    let n = entries.len();
    let name = StringArray::from_iter_values(entries.iter().map(|e| e.name));
    let message = StringArray::from_iter(entries.iter().map(|e| e.message));
    let mut cols = ListBuilder::new(StringBuilder::new());
    for e in entries {
        match e.columns {
            Some(cs) => {
                for c in cs {
                    cols.values().append_value(c);
                }
                cols.append(true);
            }
            None => cols.append(false),
        }
    }
    let columns = cols.finish();
    let filter = StringArray::from_iter(entries.iter().map(|e| e.filter));
    let function = StringArray::from_iter_values(entries.iter().map(|e| e.function));
    let run_time = TimestampMicrosecondArray::from(vec![ctx.run_time.timestamp_micros(); n])
        .with_timezone("UTC");
    let run_id = StringArray::from_iter_values(std::iter::repeat_n(ctx.run_id.as_str(), n));
    // user_metadata: map<utf8, utf8>, an empty map when none (as DQX's create_map()).
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0i32);
    let mut keys = Vec::new();
    let mut values = Vec::new();
    for e in entries {
        for (k, v) in e.user_metadata {
            keys.push(k.as_str());
            values.push(v.as_str());
        }
        offsets.push(keys.len() as i32);
    }
    let DataType::Struct(kv_fields) = map_entries_field().data_type().clone() else {
        unreachable!("map entries are a struct")
    };
    let kv = StructArray::new(
        kv_fields,
        vec![
            Arc::new(StringArray::from(keys)) as ArrayRef,
            Arc::new(StringArray::from(values)) as ArrayRef,
        ],
        None,
    );
    let user_metadata = MapArray::new(
        map_entries_field(),
        OffsetBuffer::new(offsets.into()),
        kv,
        None,
        false,
    );
    let skipped = BooleanArray::from_iter(entries.iter().map(|e| e.skipped.then_some(true)));
    StructArray::new(
        dqx_result_fields(),
        vec![
            Arc::new(name),
            Arc::new(message),
            Arc::new(columns),
            Arc::new(filter),
            Arc::new(function),
            Arc::new(run_time),
            Arc::new(run_id),
            Arc::new(user_metadata),
            Arc::new(skipped),
        ],
        None,
    )
}

/// Builds a result column from per-row entry counts (`counts[row]` entries, in order, in
/// `entries`); rows with none are null.
pub(crate) fn result_column(counts: &[u32], entries: &[Entry<'_>], ctx: &EvalContext) -> ArrayRef {
    let n = counts.len();
    if entries.is_empty() {
        return new_null_array(&dqx_result_type(), n);
    }
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0i32);
    let mut acc = 0i32;
    for c in counts {
        acc += *c as i32;
        offsets.push(acc);
    }
    let valid = BooleanBuffer::collect_bool(n, |i| counts[i] > 0);
    Arc::new(ListArray::new(
        item_field(),
        OffsetBuffer::new(offsets.into()),
        Arc::new(entries_array(entries, ctx)),
        Some(NullBuffer::new(valid)),
    ))
}

/// Builds an `_errors`-typed column for rows that failed before any rule ran (parse errors):
/// each row gets a single entry named `parse_error` with the given message, function `parse`,
/// no columns and no filter.
pub fn single_error_column(messages: &[&str], ctx: &EvalContext) -> ArrayRef {
    let entries: Vec<Entry<'_>> = messages
        .iter()
        .map(|m| Entry {
            name: "parse_error",
            message: Some(m),
            columns: None,
            filter: None,
            function: "parse",
            user_metadata: &[],
            skipped: false,
        })
        .collect();
    let counts = vec![1u32; messages.len()];
    result_column(&counts, &entries, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    #[test]
    fn parse_error_column_has_the_result_type() {
        let ctx = EvalContext::fixed("2026-11-26T12:00:00Z".parse().unwrap());
        let col = single_error_column(&["malformed JSON", "field lat"], &ctx);
        assert_eq!(col.data_type(), &dqx_result_type());
        assert_eq!(col.len(), 2);
        assert_eq!(col.null_count(), 0);
        let list = col.as_list::<i32>();
        let first = list.value(1);
        let s = first.as_struct();
        assert_eq!(
            s.column_by_name("name")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "parse_error"
        );
        assert_eq!(
            s.column_by_name("message")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "field lat"
        );
        assert_eq!(
            s.column_by_name("function")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "parse"
        );
    }

    #[test]
    fn empty_is_all_null() {
        let ctx = EvalContext::fixed("2026-11-26T12:00:00Z".parse().unwrap());
        let col = result_column(&[0, 0, 0], &[], &ctx);
        assert_eq!(col.null_count(), 3);
        assert_eq!(col.data_type(), &dqx_result_type());
    }
}
