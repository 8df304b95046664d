//! `quality_by_window`: per rule and event-time window, the rows evaluated, failed, the failure
//! rate and the data-quality score (the share of rows without that failure, for dashboards):
//! the same counts as the `quality` table, as a view that library users can compose; and the
//! `quality` table itself ([`QualityTable`]), written the same way. Both keep one file per UTC day
//! of windows, and only the days still open in memory.

use std::sync::Arc;

use super::View;
use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// The view's definition: rule names (rule 0 is `parse`) and the window length.
pub struct QualityByWindow {
    /// (name, criticality) of rule 0, 1, ...
    pub rules: Vec<(String, String)>,
    pub window_ms: i64,
}

/// The `quality_by_window` schema.
pub fn quality_by_window_schema() -> SchemaRef {
    let mut fields: Vec<Field> = crate::sink::tables::quality_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("failure_rate", DataType::Float64, true));
    fields.push(Field::new("dq_score", DataType::Float64, true));
    Arc::new(Schema::new(fields))
}

impl View for QualityByWindow {
    /// (rule, window start in ms; `None` for rows without an event time).
    type Key = (u32, Option<i64>);
    /// (evaluated, failed)
    type Row = (i64, i64);
    /// (evaluated, failed): counts add up.
    type Part = (i64, i64);
    fn name(&self) -> &str {
        "quality_by_window"
    }
    fn row(&self, _key: &(u32, Option<i64>), counts: &(i64, i64)) -> Option<(i64, i64)> {
        (*counts != (0, 0)).then_some(*counts)
    }
    fn schema(&self) -> SchemaRef {
        quality_by_window_schema()
    }
    fn file_group(&self, key: &(u32, Option<i64>)) -> u64 {
        super::window_file_group(key.1)
    }
    fn group_closes_at(&self, group: u64) -> Option<i64> {
        day_closes_at(group)
    }
    fn parts_of_rows(&self, rows: &RecordBatch) -> Option<Vec<((u32, Option<i64>), (i64, i64))>> {
        quality_parts(&self.rules, rows)
    }
    fn to_batch(&self, rows: &[(&(u32, Option<i64>), &(i64, i64))]) -> RecordBatch {
        let unknown = ("unknown".to_string(), "error".to_string());
        let rule = |r: u32| self.rules.get(r as usize).unwrap_or(&unknown);
        let ts = |f: &dyn Fn(i64) -> i64| {
            TimestampMicrosecondArray::from_iter(rows.iter().map(|(k, _)| k.1.map(|w| f(w) * 1000)))
                .with_timezone("UTC")
        };
        RecordBatch::try_new(
            quality_by_window_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|(k, _)| rule(k.0).0.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|(k, _)| rule(k.0).1.as_str()),
                )),
                Arc::new(ts(&|w| w)),
                Arc::new(ts(&|w| w + self.window_ms)),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, r)| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, r)| r.1))),
                Arc::new(Float64Array::from_iter(
                    rows.iter()
                        .map(|(_, r)| (r.0 > 0).then(|| r.1 as f64 / r.0 as f64)),
                )),
                Arc::new(Float64Array::from_iter(
                    rows.iter()
                        .map(|(_, r)| (r.0 > 0).then(|| 1.0 - r.1 as f64 / r.0 as f64)),
                )),
            ],
        )
        .expect("quality_by_window rows match the schema")
    }
}

/// When a day of windows ([`super::window_file_group`]) closes: the end of the day (`None` for
/// group 0, which also holds the rows without an event time: it stays in memory).
pub fn day_closes_at(group: u64) -> Option<i64> {
    let day = group as i64;
    (day != 0).then(|| {
        day.saturating_add(1)
            .saturating_mul(super::WINDOW_FILE_GROUP_MS)
    })
}

/// The counts of quality rows (of the `quality` table or `quality_by_window`) as parts: rule
/// (by its index in `rules`, matched by name) and window → (evaluated, failed). Rows of rules the
/// checks no longer define are dropped (with a warning), as a restart has always done.
pub fn quality_parts(
    rules: &[(String, String)],
    rows: &RecordBatch,
) -> Option<Vec<((u32, Option<i64>), (i64, i64))>> {
    let cols = crate::sink::tables::QualityColumns::of(rows).ok()?;
    let mut out = Vec::with_capacity(rows.num_rows());
    for i in 0..rows.num_rows() {
        let name = cols.rule.value(i);
        let Some(r) = rules.iter().position(|(n, _)| n == name) else {
            tracing::warn!(
                rule = name,
                "the quality counts hold a rule the checks no longer define; its rows are dropped"
            );
            continue;
        };
        out.push((
            (r as u32, cols.window_start_ms(i)),
            (cols.evaluated.value(i), cols.failed.value(i)),
        ));
    }
    Some(out)
}

/// The `quality` table as a view: the counts of `quality_by_window` in the quality table's columns
/// (rule, criticality, window start and end, evaluated, failed), one file per day of windows.
pub struct QualityTable(pub QualityByWindow);

impl View for QualityTable {
    type Key = (u32, Option<i64>);
    type Row = (i64, i64);
    type Part = (i64, i64);
    fn name(&self) -> &str {
        crate::sink::TableKind::Quality.name()
    }
    fn row(&self, key: &(u32, Option<i64>), counts: &(i64, i64)) -> Option<(i64, i64)> {
        self.0.row(key, counts)
    }
    fn schema(&self) -> SchemaRef {
        crate::sink::tables::quality_schema()
    }
    fn file_group(&self, key: &(u32, Option<i64>)) -> u64 {
        self.0.file_group(key)
    }
    fn group_closes_at(&self, group: u64) -> Option<i64> {
        day_closes_at(group)
    }
    fn parts_of_rows(&self, rows: &RecordBatch) -> Option<Vec<((u32, Option<i64>), (i64, i64))>> {
        quality_parts(&self.0.rules, rows)
    }
    fn to_batch(&self, rows: &[(&(u32, Option<i64>), &(i64, i64))]) -> RecordBatch {
        let all = self.0.to_batch(rows);
        let schema = self.schema();
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                all.column_by_name(f.name())
                    .expect("a quality column")
                    .clone()
            })
            .collect();
        RecordBatch::try_new(schema, columns).expect("quality rows match the schema")
    }
}
