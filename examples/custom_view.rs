//! A view of our own, maintained incrementally next to the built-in ones: readings per weather
//! condition per UTC hour. It is a [`View`] (key, row, what adds up per key, schema, file groups)
//! and a [`SilverView`] (what a silver batch contributes); `run` keeps its Delta table equal to
//! the view after every commit, late rows included, and restores it after a restart.
//!
//!     cargo run --release --example custom_view -- [OUT_DIR]

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};
use medallion::pipeline::{run, RunConfig};
use medallion::sink::tables::ts_type;
use medallion::views::station::hour_of;
use medallion::views::{custom_view, CustomViews, SilverView, View};

/// `condition_hourly`: (condition, hour) → readings.
struct ConditionHourly;

impl View for ConditionHourly {
    type Key = (String, i64);
    type Row = i64;
    /// Readings: parts (counts) add up.
    type Part = i64;
    fn name(&self) -> &str {
        "condition_hourly"
    }
    fn row(&self, _key: &(String, i64), readings: &i64) -> Option<i64> {
        (*readings > 0).then_some(*readings)
    }
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("condition", DataType::Utf8, false),
            Field::new("hour", ts_type(), false),
            Field::new("readings", DataType::Int64, false),
        ]))
    }
    fn to_batch(&self, rows: &[(&(String, i64), &i64)]) -> RecordBatch {
        RecordBatch::try_new(
            self.schema(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|(k, _)| &k.0),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.iter().map(|(k, _)| k.1))
                        .with_timezone("UTC"),
                ),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, n)| **n))),
            ],
        )
        .expect("rows match the schema")
    }
}

impl SilverView for ConditionHourly {
    fn parts(&self, silver: &RecordBatch, out: &mut Vec<((String, i64), i64)>) {
        let condition = silver
            .column_by_name("condition")
            .unwrap()
            .as_string::<i32>();
        let time = silver
            .column_by_name("event_time")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let mut counts: HashMap<(String, i64), i64> = HashMap::new();
        for (c, t) in condition.iter().zip(time.iter()) {
            if let (Some(c), Some(t)) = (c, t) {
                *counts.entry((c.to_string(), hour_of(t))).or_default() += 1;
            }
        }
        out.extend(counts);
    }
}

fn main() -> anyhow::Result<()> {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "custom-view-data".into()),
    );
    let _ = std::fs::remove_dir_all(&out);
    let summary = run(RunConfig {
        events: 100_000,
        stations: 500,
        partitions: 4,
        out: out.clone().into(),
        timely: timely::CommunicationConfig::Process(2),
        custom_views: CustomViews(vec![custom_view(ConditionHourly)]),
        ..RunConfig::default()
    })?;
    print!("{}", summary.render());
    let table = medallion::sink::delta::read_named_table(&out, "condition_hourly")?;
    let total: i64 = table
        .batches
        .iter()
        .map(|b| {
            b.column(2)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .iter()
                .sum::<i64>()
        })
        .sum();
    println!(
        "condition_hourly: {} rows at version {}, {total} readings (silver rows with a condition)",
        table.num_rows(),
        table.version
    );
    Ok(())
}
