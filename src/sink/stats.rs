//! Per-file Delta statistics, derived from the Parquet footer as delta-rs'
//! `writer/stats.rs` does (its functions are crate-private): `numRecords`, and `minValues`,
//! `maxValues` and `nullCount` of every top-level column of a primitive type whose Parquet
//! statistics are on (raw bodies, ids and offsets have none: see `sink::parquet`). A reader
//! (delta-rs, Spark, Polars, DuckDB) skips a file whose range cannot match its filter, and the
//! restore reads only the silver files inside the deduplication horizon.
//!
//! Values are written in the form the Delta protocol defines: numbers as JSON numbers, dates as
//! `YYYY-MM-DD`, timestamps as RFC 3339 UTC text with milliseconds (the minimum rounded down, the
//! maximum rounded up, so the range always holds every value), strings only when Parquet kept
//! them exactly and they are at most [`MAX_STRING_STAT`] characters. A column whose statistics
//! are missing in any row group gets no `minValues`/`maxValues` entry (readers then keep the
//! file), never a wrong one.

use arrow::datatypes::{DataType, Schema, TimeUnit};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use serde_json::{Map, Value};

/// Longest string kept as a min/max statistic (Delta's default prefix length).
pub const MAX_STRING_STAT: usize = 32;

/// The Delta `stats` JSON of a file of `rows` rows with schema `schema` and the row groups
/// `groups` (as the Parquet writer flushed them).
pub fn file_stats(schema: &Schema, groups: &[RowGroupMetaData], rows: u64) -> String {
    let mut min = Map::new();
    let mut max = Map::new();
    let mut nulls = Map::new();
    for field in schema.fields() {
        let Some(leaf) = leaf_of(groups, field.name()) else {
            continue;
        };
        let mut column = ColumnStats::default();
        for g in groups {
            column.add(g.column(leaf).statistics(), g.num_rows() as u64);
        }
        if let Some(n) = column.nulls {
            nulls.insert(field.name().clone(), Value::from(n));
        }
        if let Some((lo, hi)) = column.range.and_then(|r| r.to_json(field.data_type())) {
            min.insert(field.name().clone(), lo);
            max.insert(field.name().clone(), hi);
        }
    }
    let mut stats = Map::new();
    stats.insert("numRecords".into(), Value::from(rows));
    if !min.is_empty() {
        stats.insert("minValues".into(), Value::Object(min));
        stats.insert("maxValues".into(), Value::Object(max));
    }
    if !nulls.is_empty() {
        stats.insert("nullCount".into(), Value::Object(nulls));
    }
    Value::Object(stats).to_string()
}

/// The leaf column of the top-level primitive field `name` (none for nested fields).
fn leaf_of(groups: &[RowGroupMetaData], name: &str) -> Option<usize> {
    let first = groups.first()?;
    first.columns().iter().position(|c| {
        let parts = c.column_path().parts();
        parts.len() == 1 && parts[0] == name
    })
}

/// A column's statistics over the row groups seen so far.
struct ColumnStats {
    /// `None` once a row group lacked a null count.
    nulls: Option<u64>,
    /// The range of the values so far (`None` before any, or once `broken`).
    range: Option<Range>,
    /// A row group with values lacked a usable min/max: the column gets no range.
    broken: bool,
}

impl Default for ColumnStats {
    fn default() -> Self {
        ColumnStats {
            nulls: Some(0),
            range: None,
            broken: false,
        }
    }
}

/// A min/max pair by Parquet physical type.
#[derive(Clone)]
enum Range {
    Str(String, String),
    Bool(bool, bool),
    I32(i32, i32),
    I64(i64, i64),
    F32(f32, f32),
    F64(f64, f64),
}

impl ColumnStats {
    fn add(&mut self, stats: Option<&Statistics>, rows: u64) {
        let Some(s) = stats else {
            self.nulls = None;
            self.broken = true;
            self.range = None;
            return;
        };
        let group_nulls = s.null_count_opt();
        self.nulls = self.nulls.zip(group_nulls).map(|(a, n)| a + n);
        if group_nulls == Some(rows) {
            return; // all null: no values to bound
        }
        let range = match s {
            Statistics::Boolean(v) => pair(v, Range::Bool),
            Statistics::Int32(v) => pair(v, Range::I32),
            Statistics::Int64(v) => pair(v, Range::I64),
            Statistics::Float(v) => pair(v, Range::F32),
            Statistics::Double(v) => pair(v, Range::F64),
            Statistics::ByteArray(v) if v.min_is_exact() && v.max_is_exact() => {
                let text = |b: &parquet::data_type::ByteArray| {
                    b.as_utf8()
                        .ok()
                        .filter(|t| t.chars().count() <= MAX_STRING_STAT)
                        .map(str::to_string)
                };
                v.min_opt()
                    .and_then(text)
                    .zip(v.max_opt().and_then(text))
                    .map(|(a, b)| Range::Str(a, b))
            }
            _ => None,
        };
        let Some(range) = range.filter(|_| !self.broken) else {
            self.broken = true;
            self.range = None;
            return;
        };
        self.range = match self.range.take() {
            None => Some(range),
            Some(old) => old.merge(range),
        };
        if self.range.is_none() {
            self.broken = true;
        }
    }
}

/// The min/max of a row group's statistics as a [`Range`] (`None` when either is missing).
fn pair<T: Copy>(
    v: &parquet::file::statistics::ValueStatistics<T>,
    make: fn(T, T) -> Range,
) -> Option<Range> {
    Some(make(*v.min_opt()?, *v.max_opt()?))
}

impl Range {
    fn merge(self, other: Range) -> Option<Range> {
        Some(match (self, other) {
            (Range::Bool(a, b), Range::Bool(c, d)) => Range::Bool(a & c, b | d),
            (Range::I32(a, b), Range::I32(c, d)) => Range::I32(a.min(c), b.max(d)),
            (Range::I64(a, b), Range::I64(c, d)) => Range::I64(a.min(c), b.max(d)),
            (Range::F32(a, b), Range::F32(c, d)) => Range::F32(a.min(c), b.max(d)),
            (Range::F64(a, b), Range::F64(c, d)) => Range::F64(a.min(c), b.max(d)),
            (Range::Str(a, b), Range::Str(c, d)) => Range::Str(a.min(c), b.max(d)),
            _ => return None,
        })
    }

    /// The range as Delta statistics of a column of Arrow type `ty` (`None`: not expressible).
    fn to_json(self, ty: &DataType) -> Option<(Value, Value)> {
        let number = |x: f64| serde_json::Number::from_f64(x).map(Value::Number);
        match (self, ty) {
            (Range::Bool(a, b), DataType::Boolean) => Some((Value::from(a), Value::from(b))),
            (Range::I32(a, b), DataType::Int8 | DataType::Int16 | DataType::Int32) => {
                Some((Value::from(a), Value::from(b)))
            }
            (Range::I32(a, b), DataType::Date32) => Some((date(a)?, date(b)?)),
            (Range::I64(a, b), DataType::Int64) => Some((Value::from(a), Value::from(b))),
            (Range::I64(a, b), DataType::Timestamp(unit, _)) => {
                let per_ms = match unit {
                    TimeUnit::Second => {
                        return Some((
                            timestamp(a.checked_mul(1000)?)?,
                            timestamp(b.checked_mul(1000)?)?,
                        ))
                    }
                    TimeUnit::Millisecond => 1,
                    TimeUnit::Microsecond => 1_000,
                    TimeUnit::Nanosecond => 1_000_000,
                };
                let lo = a.div_euclid(per_ms);
                let hi = b.div_euclid(per_ms) + i64::from(b.rem_euclid(per_ms) != 0);
                Some((timestamp(lo)?, timestamp(hi)?))
            }
            (Range::F32(a, b), DataType::Float32) => Some((number(a as f64)?, number(b as f64)?)),
            (Range::F64(a, b), DataType::Float64) => Some((number(a)?, number(b)?)),
            (Range::Str(a, b), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
                Some((Value::from(a), Value::from(b)))
            }
            _ => None,
        }
    }
}

fn date(days: i32) -> Option<Value> {
    let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
        .checked_add_signed(chrono::Duration::days(days as i64))?;
    Some(Value::from(d.format("%Y-%m-%d").to_string()))
}

fn timestamp(ms: i64) -> Option<Value> {
    timestamp_text(ms).map(Value::from)
}

/// `ms` since the Unix epoch as RFC 3339 UTC text with milliseconds, as Delta writes timestamps
/// in statistics (and the commits' watermarks are written).
pub fn timestamp_text(ms: i64) -> Option<String> {
    let t = chrono::DateTime::from_timestamp_millis(ms)?;
    Some(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    };
    use arrow::datatypes::{Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use super::*;

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("x", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("b", DataType::Boolean, true),
        ]))
    }

    /// Writes `rows` rows of pseudo-random data (seed `seed`) in row groups of `group` rows,
    /// returns the stats and the columns.
    fn write(seed: u64, rows: usize, group: usize) -> (Value, RecordBatch) {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        let nulls_in = next() % 4; // 0: no nulls in some column
        let mut id = Vec::new();
        let mut t = Vec::new();
        let mut x = Vec::new();
        let mut s = Vec::new();
        let mut b = Vec::new();
        for _ in 0..rows {
            let null = |n: u64| nulls_in != 0 && n % 5 == 0;
            id.push((!null(next())).then(|| next() as i64 - (1 << 30)));
            t.push((!null(next())).then(|| 1_700_000_000_000_000 + next() as i64 * 7));
            x.push((!null(next())).then(|| (next() as f64 - 1e9) / 3.0));
            let len = (next() % 40) as usize;
            s.push((!null(next())).then(|| {
                (0..len)
                    .map(|_| char::from(b'a' + (next() % 26) as u8))
                    .collect::<String>()
            }));
            b.push((!null(next())).then(|| next() % 2 == 0));
        }
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(id)) as ArrayRef,
                Arc::new(TimestampMicrosecondArray::from(t).with_timezone("UTC")),
                Arc::new(Float64Array::from(x)),
                Arc::new(StringArray::from(s)),
                Arc::new(BooleanArray::from(b)),
            ],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group))
            .build();
        let mut w = ArrowWriter::try_new(Vec::new(), schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.flush().unwrap();
        let stats = file_stats(&schema(), w.flushed_row_groups(), rows as u64);
        w.close().unwrap();
        (serde_json::from_str(&stats).unwrap(), batch)
    }

    #[test]
    fn every_value_lies_inside_the_range_and_nulls_are_counted() {
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
        for seed in 0..40 {
            let rows = 1 + (seed as usize * 37) % 500;
            let (stats, batch) = write(seed, rows, 1 + (seed as usize % 7) * 30);
            assert_eq!(stats["numRecords"], rows as u64, "seed {seed}");
            for (i, f) in schema().fields().iter().enumerate() {
                let col = batch.column(i);
                assert_eq!(
                    stats["nullCount"][f.name()],
                    col.null_count() as u64,
                    "seed {seed} column {}",
                    f.name()
                );
            }
            let ids = batch.column(0).as_primitive::<Int64Type>();
            if ids.null_count() < rows {
                let lo = stats["minValues"]["id"].as_i64().unwrap();
                let hi = stats["maxValues"]["id"].as_i64().unwrap();
                assert_eq!(ids.iter().flatten().min(), Some(lo), "seed {seed}");
                assert_eq!(ids.iter().flatten().max(), Some(hi), "seed {seed}");
            }
            let ts = batch.column(1).as_primitive::<TimestampMicrosecondType>();
            if ts.null_count() < rows {
                let parse = |v: &Value| {
                    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
                        .unwrap()
                        .timestamp_micros()
                };
                let lo = parse(&stats["minValues"]["t"]);
                let hi = parse(&stats["maxValues"]["t"]);
                let (min, max) = (
                    ts.iter().flatten().min().unwrap(),
                    ts.iter().flatten().max().unwrap(),
                );
                assert!(lo <= min && min - lo < 1000, "seed {seed}: {lo} vs {min}");
                assert!(hi >= max && hi - max < 1000, "seed {seed}: {hi} vs {max}");
            }
            let xs = batch.column(2).as_primitive::<Float64Type>();
            if xs.null_count() < rows {
                let lo = stats["minValues"]["x"].as_f64().unwrap();
                let hi = stats["maxValues"]["x"].as_f64().unwrap();
                assert!(
                    xs.iter().flatten().all(|v| lo <= v && v <= hi),
                    "seed {seed}"
                );
                assert!(xs.iter().flatten().any(|v| v == lo), "seed {seed}");
            }
            let ss = batch.column(3).as_string::<i32>();
            let longest = ss.iter().flatten().map(str::len).max().unwrap_or(0);
            match (stats["minValues"].get("s"), stats["maxValues"].get("s")) {
                (Some(lo), Some(hi)) => {
                    let (lo, hi) = (lo.as_str().unwrap(), hi.as_str().unwrap());
                    assert_eq!(ss.iter().flatten().min(), Some(lo), "seed {seed}");
                    assert_eq!(ss.iter().flatten().max(), Some(hi), "seed {seed}");
                }
                (None, None) => assert!(
                    longest > MAX_STRING_STAT || ss.null_count() == rows,
                    "seed {seed}: strings of at most {longest} chars have no range"
                ),
                _ => panic!("seed {seed}: min without max"),
            }
        }
    }

    #[test]
    fn an_all_null_column_has_a_null_count_and_no_range() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Float64Array::from(vec![None, None, None])) as ArrayRef],
        )
        .unwrap();
        let mut w = ArrowWriter::try_new(Vec::new(), schema.clone(), None).unwrap();
        w.write(&batch).unwrap();
        w.flush().unwrap();
        let stats: Value =
            serde_json::from_str(&file_stats(&schema, w.flushed_row_groups(), 3)).unwrap();
        assert_eq!(stats["nullCount"]["x"], 3);
        assert!(stats.get("minValues").is_none(), "{stats}");
    }

    #[test]
    fn timestamps_round_outwards_to_milliseconds() {
        let s = Range::I64(1_500, 2_001).to_json(&DataType::Timestamp(TimeUnit::Microsecond, None));
        let (lo, hi) = s.unwrap();
        assert_eq!(lo, "1970-01-01T00:00:00.001Z");
        assert_eq!(hi, "1970-01-01T00:00:00.003Z");
    }
}
