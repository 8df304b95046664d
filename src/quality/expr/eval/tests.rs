//! Unit tests of expression evaluation: three-valued logic, Spark's float semantics,
//! arithmetic and coercion, `CASE`, `coalesce`, `IN`, `LIKE` and the string/date functions.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use super::super::{parse, render};
use super::Env;

fn batch() -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("n", DataType::Int32, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(4)])),
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                None,
                Some(-0.0),
                Some(f64::NAN),
            ])),
            Arc::new(StringArray::from(vec![
                Some("x"),
                Some("2024-01-01"),
                None,
                Some(""),
            ])),
            Arc::new(arrow::array::Int32Array::from(vec![
                Some(1),
                Some(0),
                Some(3),
                None,
            ])),
        ],
    )
    .unwrap()
}

fn run(sql: &str) -> Vec<Option<String>> {
    let b = batch();
    let mut env = Env::new(&b, 0);
    let v = env
        .eval(&parse(sql).unwrap())
        .unwrap()
        .into_array(b.num_rows());
    (0..v.len()).map(|i| render::cell(v.as_ref(), i)).collect()
}

fn s(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|x| x.map(String::from)).collect()
}

#[test]
fn three_valued_logic() {
    assert_eq!(
        run("a > 1 AND b > 0"),
        s(&[Some("false"), None, Some("false"), Some("true")])
    );
    assert_eq!(
        run("a > 1 OR b > 0"),
        s(&[Some("true"), Some("true"), None, Some("true")])
    );
    assert_eq!(
        run("NOT a IS NULL"),
        s(&[Some("true"), Some("true"), Some("false"), Some("true")])
    );
}

#[test]
fn float_semantics_like_spark() {
    // -0.0 is not less than 0; NaN is greater than everything.
    assert_eq!(
        run("b < 0"),
        s(&[Some("false"), None, Some("false"), Some("false")])
    );
    assert_eq!(
        run("b > 1000"),
        s(&[Some("false"), None, Some("false"), Some("true")])
    );
}

#[test]
fn arithmetic_and_coercion() {
    assert_eq!(run("a * 2 + n"), s(&[Some("3"), Some("4"), None, None]));
    assert_eq!(run("a / n"), s(&[Some("1.0"), None, None, None]));
    assert_eq!(run("a % 3"), s(&[Some("1"), Some("2"), None, Some("1")]));
    // Integer remainders are exact (through doubles 2^53 + 1 was even), null by zero, and take
    // the dividend's sign (Java's `%`).
    assert_eq!(run("a % n"), s(&[Some("0"), None, None, None]));
    assert_eq!(run("9007199254740993 % 2"), s(&[Some("1"); 4]));
    assert_eq!(run("-7 % 3"), s(&[Some("-1"); 4]));
    assert_eq!(
        run("s = '2024-01-01'"),
        s(&[Some("false"), Some("true"), None, Some("false")])
    );
}

#[test]
fn case_coalesce_in_like() {
    assert_eq!(
        run("CASE WHEN a > 1 THEN 'big' WHEN a = 1 THEN 'one' END"),
        s(&[Some("one"), Some("big"), None, Some("big")])
    );
    assert_eq!(
        run("coalesce(a, n, 9)"),
        s(&[Some("1"), Some("2"), Some("3"), Some("4")])
    );
    assert_eq!(
        run("a IN (1, 4)"),
        s(&[Some("true"), Some("false"), None, Some("true")])
    );
    assert_eq!(
        run("a NOT IN (1, NULL)"),
        s(&[Some("false"), None, None, None])
    );
    assert_eq!(
        run("s LIKE '20%'"),
        s(&[Some("false"), Some("true"), None, Some("false")])
    );
    assert_eq!(
        run("s IN ('x', '')"),
        s(&[Some("true"), Some("false"), None, Some("true")])
    );
    assert_eq!(
        run("length(upper(s))"),
        s(&[Some("1"), Some("10"), None, Some("0")])
    );
    assert_eq!(
        run("a BETWEEN 2 AND 4"),
        s(&[Some("false"), Some("true"), None, Some("true")])
    );
    assert_eq!(
        run("to_date(s)"),
        s(&[None, Some("2024-01-01"), None, None])
    );
}
