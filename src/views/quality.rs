//! `quality_by_window`: per rule and event-time window, the rows evaluated, failed, the failure
//! rate and the data-quality score (the share of rows without that failure, for dashboards):
//! the same counts as the `quality` table, as a view that library users can compose.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::operators::vec::Map;
use timely::dataflow::StreamVec;

use super::View;
use crate::dataflow::QualityChange;
use crate::epoch::Time;

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

/// The per-rule counts per window as a collection.
pub trait QualityByWindowView<'s> {
    /// From the changes of the per-(rule, window, evaluated|failed) totals that
    /// `QualityCounts::quality_counts` emits: each (rule, window) with the change of its
    /// (evaluated, failed) counts as its difference.
    fn quality_by_window(self) -> VecCollection<'s, Time, (u32, Option<i64>), (i64, i64)>;
}

impl<'s> QualityByWindowView<'s> for StreamVec<'s, Time, QualityChange> {
    fn quality_by_window(self) -> VecCollection<'s, Time, (u32, Option<i64>), (i64, i64)> {
        self.flat_map(|(((rule, window, kind), total), t, n)| {
            let change = total as i64 * n as i64;
            let counts = if kind == 0 { (change, 0) } else { (0, change) };
            (change != 0).then_some(((rule, window), t, counts))
        })
        .as_collection()
    }
}
