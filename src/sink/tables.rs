//! The output tables and their Arrow schemas: `bronze`, `silver`, `quarantine`, `quality`.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::parse::{event_schema, FIELDS};
use crate::quality::dqx_result_type;

/// One of the output tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TableKind {
    Bronze = 0,
    Silver = 1,
    Quarantine = 2,
    Quality = 3,
}

impl TableKind {
    /// All tables, in commit order.
    pub const ALL: [TableKind; 4] = [
        TableKind::Bronze,
        TableKind::Silver,
        TableKind::Quarantine,
        TableKind::Quality,
    ];

    /// The table's directory name under `--out`.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Bronze => "bronze",
            TableKind::Silver => "silver",
            TableKind::Quarantine => "quarantine",
            TableKind::Quality => "quality",
        }
    }

    pub fn from_u8(v: u8) -> Option<TableKind> {
        TableKind::ALL.get(v as usize).copied()
    }

    /// The table's Arrow schema.
    pub fn schema(self) -> SchemaRef {
        match self {
            TableKind::Bronze => bronze_schema(),
            TableKind::Silver => silver_schema(),
            TableKind::Quarantine => quarantine_schema(),
            TableKind::Quality => quality_schema(),
        }
    }
}

/// Any output table: its name (the directory under `--out`) and schema. The core tables are
/// [`TableKind`]s; views, change feeds and `dataset_checks` are extra tables.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub name: String,
    pub schema: SchemaRef,
}

impl From<TableKind> for TableSpec {
    fn from(kind: TableKind) -> Self {
        TableSpec {
            name: kind.name().to_string(),
            schema: kind.schema(),
        }
    }
}

/// UTC timestamp in microseconds (Delta's `timestamp`).
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn lineage_fields() -> Vec<Field> {
    vec![
        Field::new("partition", DataType::Int32, false),
        Field::new("sequence_number", DataType::Int64, false),
        Field::new("enqueued_time", ts_type(), false),
        Field::new("ingest_time", ts_type(), false),
    ]
}

/// bronze: every body exactly as delivered, with its Event Hubs metadata.
pub fn bronze_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("body", DataType::Binary, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("sequence_number", DataType::Int64, false),
        Field::new("offset", DataType::Utf8, false),
        Field::new("enqueued_time", ts_type(), false),
        Field::new("partition_key", DataType::Utf8, true),
        Field::new("ingest_time", ts_type(), false),
    ]))
}

/// silver: the parsed event, typed (`event_time` a UTC timestamp), `_warnings`, and lineage.
pub fn silver_schema() -> SchemaRef {
    let mut fields: Vec<Field> = event_schema()
        .fields()
        .iter()
        .map(|f| {
            if f.name() == "event_time" {
                Field::new("event_time", ts_type(), true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    fields.push(Field::new("_warnings", dqx_result_type(), true));
    fields.extend(lineage_fields());
    Arc::new(Schema::new(fields))
}

/// quarantine: the raw body, whatever fields parsed (event_time as sent), `_errors`, `_warnings`,
/// and lineage.
pub fn quarantine_schema() -> SchemaRef {
    let mut fields = vec![Field::new("body", DataType::Binary, false)];
    fields.extend(event_schema().fields().iter().map(|f| f.as_ref().clone()));
    fields.push(Field::new("_errors", dqx_result_type(), true));
    fields.push(Field::new("_warnings", dqx_result_type(), true));
    fields.extend(lineage_fields());
    debug_assert_eq!(fields.len(), 1 + FIELDS.len() + 2 + 4);
    Arc::new(Schema::new(fields))
}

/// quality: one row per (rule, event-time window) with the counts evaluated and failed.
pub fn quality_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("rule", DataType::Utf8, false),
        Field::new("criticality", DataType::Utf8, false),
        Field::new("window_start", ts_type(), true),
        Field::new("window_end", ts_type(), true),
        Field::new("evaluated", DataType::Int64, false),
        Field::new("failed", DataType::Int64, false),
    ]))
}
