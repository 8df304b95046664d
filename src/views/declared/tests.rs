use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};

use super::aggregate::AggregateView;
use super::latest::LatestView;
use super::*;
use crate::views::SilverView;

fn silver_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("machine", DataType::Utf8, true),
        Field::new("ts", crate::sink::tables::ts_type(), true),
        Field::new("temp", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
        Field::new("_warnings", DataType::Utf8, true),
        Field::new("partition", DataType::Int32, false),
        Field::new("sequence_number", DataType::Int64, false),
    ]))
}

fn roles() -> SilverRoles {
    SilverRoles {
        id: None,
        time: "ts".into(),
        key: Some("machine".into()),
    }
}

/// A row: machine, ts µs, temp, n, sequence number.
type Row<'a> = (Option<&'a str>, Option<i64>, Option<f64>, Option<i64>, i64);

/// Rows, all in partition 0.
fn batch(rows: &[Row]) -> RecordBatch {
    RecordBatch::try_new(
        silver_schema(),
        vec![
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter(rows.iter().map(|r| r.1)).with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.2))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.3))),
            Arc::new(StringArray::from_iter(rows.iter().map(|_| None::<&str>))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|_| 0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.4))),
        ],
    )
    .unwrap()
}

/// A view's rows after adding up the parts of `batches` fed one at a time (any cut gives the same
/// state), and after a round trip through its own table.
fn accumulate<V: SilverView>(view: &V, batches: &[RecordBatch]) -> RecordBatch {
    let mut state: std::collections::BTreeMap<V::Key, V::Part> = Default::default();
    for b in batches {
        let mut parts = Vec::new();
        view.parts(b, &mut parts);
        for (k, p) in parts {
            match state.get_mut(&k) {
                Some(s) => differential_dataflow::difference::Semigroup::plus_equals(s, &p),
                None => {
                    state.insert(k, p);
                }
            }
        }
    }
    let rows: Vec<(V::Key, V::Row)> = state
        .iter()
        .filter_map(|(k, p)| view.row(k, p).map(|r| (k.clone(), r)))
        .collect();
    let refs: Vec<(&V::Key, &V::Row)> = rows.iter().map(|(k, r)| (k, r)).collect();
    let table = view.to_batch(&refs);
    // Read back: the same rows again.
    let restored = view.parts_of_rows(&table).expect("restorable");
    let rows2: Vec<(V::Key, V::Row)> = restored
        .iter()
        .filter_map(|(k, p)| view.row(k, p).map(|r| (k.clone(), r)))
        .collect();
    let refs2: Vec<(&V::Key, &V::Row)> = rows2.iter().map(|(k, r)| (k, r)).collect();
    assert_eq!(view.to_batch(&refs2), table);
    table
}

const MIN: i64 = 60_000_000;

#[test]
fn latest_keeps_each_keys_newest_row_whatever_the_order() {
    let view = LatestView::new("l", &["machine".into()], None, &silver_schema(), &roles()).unwrap();
    let rows = [
        (Some("a"), Some(5 * MIN), Some(1.0), Some(1), 0),
        (Some("a"), Some(3 * MIN), Some(2.0), Some(2), 1),
        (Some("b"), None, Some(3.0), None, 2),
        (None, Some(9 * MIN), Some(4.0), None, 3),
        (Some("b"), Some(MIN), Some(5.0), None, 4),
    ];
    let forward = accumulate(&view, &[batch(&rows[..2]), batch(&rows[2..])]);
    let mut reversed = rows;
    reversed.reverse();
    let backward = accumulate(&view, &[batch(&reversed)]);
    assert_eq!(forward.num_rows(), 2);
    let temp = |b: &RecordBatch, m: &str| {
        let keys = b.column(0).as_string::<i32>();
        let i = (0..b.num_rows()).find(|&i| keys.value(i) == m).unwrap();
        b.column_by_name("temp")
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(i)
    };
    for b in [&forward, &backward] {
        assert_eq!(temp(b, "a"), 1.0);
        assert_eq!(temp(b, "b"), 5.0);
    }
}

#[test]
fn aggregate_sums_counts_and_extremes_per_group_and_window() {
    let aggs = vec![
        AggDecl {
            function: AggFn::Count,
            column: None,
            alias: None,
        },
        AggDecl {
            function: AggFn::Sum,
            column: Some("n".into()),
            alias: None,
        },
        AggDecl {
            function: AggFn::Avg,
            column: Some("temp".into()),
            alias: None,
        },
        AggDecl {
            function: AggFn::Max,
            column: Some("temp".into()),
            alias: None,
        },
        AggDecl {
            function: AggFn::CountDistinct,
            column: Some("n".into()),
            alias: Some("ns".into()),
        },
    ];
    let view = AggregateView::new(
        "g",
        &["machine".into()],
        5 * 60_000,
        &aggs,
        &silver_schema(),
        &roles(),
    )
    .unwrap();
    let rows = [
        (Some("a"), Some(MIN), Some(1.0), Some(1), 0),
        (Some("a"), Some(4 * MIN), Some(2.0), Some(1), 1),
        (Some("a"), Some(6 * MIN), Some(3.0), Some(7), 2),
        (None, Some(MIN), None, None, 3),
        (Some("b"), None, Some(9.0), Some(1), 4),
    ];
    let one = accumulate(&view, &[batch(&rows)]);
    let split = accumulate(
        &view,
        &[batch(&rows[..1]), batch(&rows[1..3]), batch(&rows[3..])],
    );
    assert_eq!(one, split);
    assert_eq!(one.num_rows(), 3);
    let schema = one.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "machine",
            "window_start",
            "window_end",
            "count",
            "sum_n",
            "avg_temp",
            "max_temp",
            "ns",
            "_state"
        ]
    );
    let machine = one.column(0).as_string::<i32>();
    let start = one
        .column(1)
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    let i = (0..3)
        .find(|&i| !machine.is_null(i) && machine.value(i) == "a" && start.value(i) == 0)
        .unwrap();
    assert_eq!(one.column(3).as_primitive::<Int64Type>().value(i), 2);
    assert_eq!(one.column(4).as_primitive::<Int64Type>().value(i), 2);
    assert_eq!(one.column(5).as_primitive::<Float64Type>().value(i), 1.5);
    assert_eq!(one.column(6).as_primitive::<Float64Type>().value(i), 2.0);
    assert_eq!(one.column(7).as_primitive::<Int64Type>().value(i), 1);
    let null_group = (0..3).find(|&i| machine.is_null(i)).unwrap();
    assert!(one.column(5).is_null(null_group));
}

#[test]
fn windows_must_align_with_days() {
    assert_eq!(window_ms("5m"), Ok(300_000));
    assert_eq!(window_ms("2d"), Ok(172_800_000));
    assert!(window_ms("7m").is_err());
    assert!(window_ms("500ms").is_err());
    assert!(window_ms("five").is_err());
}
