//! The output tables: the run's [`Catalog`] (which issues every table its [`TableId`]), the core
//! tables' Arrow schemas (`bronze`, `silver`, `quarantine`, `quality`), and named access to the
//! columns that restarts and tools read back ([`QualityColumns`], [`SilverKeyColumns`]).

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{
    DataType, Field, Int32Type, Int64Type, Schema, SchemaRef, TimestampMicrosecondType,
};
use serde::{Deserialize, Serialize};

use crate::event::EventSchema;
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

    /// The table's id: the core tables come first in every [`Catalog`].
    pub fn id(self) -> TableId {
        TableId(self as u16)
    }

    /// The table's Arrow schema for the reference weather event.
    pub fn schema(self) -> SchemaRef {
        self.schema_for(&EventSchema::weather())
    }

    /// The table's Arrow schema for `event`.
    pub fn schema_for(self, event: &EventSchema) -> SchemaRef {
        match self {
            TableKind::Bronze => bronze_schema(),
            TableKind::Silver => silver_schema_for(event),
            TableKind::Quarantine => quarantine_schema_for(event),
            TableKind::Quality => quality_schema(),
        }
    }
}

/// Tables whose rows only grow (bronze, silver, quarantine and the views' change feeds): the
/// ones compaction rewrites. The others (quality, views, dataset checks) are rewritten in place
/// by the pipeline every epoch, so they hold few files and their old files are vacuum's work.
pub fn is_append_only(table: &str) -> bool {
    matches!(table, "bronze" | "silver" | "quarantine") || table.ends_with("_changes")
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

/// A table of a run, as its [`Catalog`] issued it: the four core tables are always ids 0–3
/// ([`TableKind::id`]); views, change feeds and dataset checks follow in the order they were added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TableId(u16);

impl TableId {
    /// The table's position in its catalog.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl From<TableKind> for TableId {
    fn from(kind: TableKind) -> Self {
        kind.id()
    }
}

/// The tables of one run, each with the [`TableId`] that writers and the committer use for it:
/// the core tables first, then every extra table (views, change feeds, dataset checks, a library
/// user's views) as it is added. Names are unique.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    specs: Vec<TableSpec>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

impl Catalog {
    /// The four core tables of the reference weather event.
    pub fn new() -> Catalog {
        Catalog::for_event(&EventSchema::weather())
    }

    /// The four core tables of `event`.
    pub fn for_event(event: &EventSchema) -> Catalog {
        Catalog {
            specs: TableKind::ALL
                .iter()
                .map(|k| TableSpec {
                    name: k.name().to_string(),
                    schema: k.schema_for(event),
                })
                .collect(),
        }
    }

    /// Adds a table; `Err` names the table when one of that name is already there.
    pub fn add(&mut self, spec: TableSpec) -> Result<TableId, String> {
        if self.id_of(&spec.name).is_some() {
            return Err(format!("two tables are named '{}'", spec.name));
        }
        self.specs.push(spec);
        Ok(TableId((self.specs.len() - 1) as u16))
    }

    /// The table's name and schema.
    pub fn spec(&self, id: TableId) -> &TableSpec {
        &self.specs[id.index()]
    }

    /// The id of the table called `name`.
    pub fn id_of(&self, name: &str) -> Option<TableId> {
        self.specs
            .iter()
            .position(|s| s.name == name)
            .map(|i| TableId(i as u16))
    }

    /// Every table, in commit order.
    pub fn iter(&self) -> impl Iterator<Item = (TableId, &TableSpec)> {
        self.specs
            .iter()
            .enumerate()
            .map(|(i, s)| (TableId(i as u16), s))
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

/// UTC timestamp in microseconds (Delta's `timestamp`).
pub fn ts_type() -> DataType {
    crate::event::timestamp_type()
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

/// silver of the reference weather event.
pub fn silver_schema() -> SchemaRef {
    silver_schema_for(&EventSchema::weather())
}

/// silver: the parsed event, typed (timestamps and dates as such), `_warnings`, and lineage.
pub fn silver_schema_for(event: &EventSchema) -> SchemaRef {
    let mut fields: Vec<Field> = event.silver_fields().to_vec();
    fields.push(Field::new("_warnings", dqx_result_type(), true));
    fields.extend(lineage_fields());
    Arc::new(Schema::new(fields))
}

/// quarantine of the reference weather event.
pub fn quarantine_schema() -> SchemaRef {
    quarantine_schema_for(&EventSchema::weather())
}

/// quarantine: the raw body, whatever fields parsed (as sent: RFC 3339 times as text), `_errors`,
/// `_warnings`, and lineage.
pub fn quarantine_schema_for(event: &EventSchema) -> SchemaRef {
    let mut fields = vec![Field::new("body", DataType::Binary, false)];
    fields.extend(
        event
            .parsed_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone()),
    );
    fields.push(Field::new("_errors", dqx_result_type(), true));
    fields.push(Field::new("_warnings", dqx_result_type(), true));
    fields.extend(lineage_fields());
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

/// `batch` with the columns of `schema`, by name: a column the batch lacks (read from a file
/// written before the column was added to its table) is all null.
pub fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => arrow::compute::cast(c, f.data_type()),
            None => Ok(arrow::array::new_null_array(
                f.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// The `quality` table's columns, by name.
pub struct QualityColumns<'a> {
    pub rule: &'a StringArray,
    pub criticality: &'a StringArray,
    pub window_start: &'a TimestampMicrosecondArray,
    pub evaluated: &'a Int64Array,
    pub failed: &'a Int64Array,
}

impl<'a> QualityColumns<'a> {
    /// The columns of a batch of the `quality` table; `Err` names a missing or mistyped column.
    pub fn of(batch: &'a RecordBatch) -> Result<Self, String> {
        Ok(QualityColumns {
            rule: string_column(batch, "rule")?,
            criticality: string_column(batch, "criticality")?,
            window_start: timestamp_column(batch, "window_start")?,
            evaluated: int64_column(batch, "evaluated")?,
            failed: int64_column(batch, "failed")?,
        })
    }

    /// Row `i`'s window start in ms (`None`: events without a valid event time).
    pub fn window_start_ms(&self, i: usize) -> Option<i64> {
        (!self.window_start.is_null(i)).then(|| self.window_start.value(i) / 1000)
    }
}

/// Which silver columns play the event's roles: the event id (none: no deduplication), the
/// event time (the enqueued time when the event declares none) and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilverRoles {
    pub id: Option<String>,
    pub time: String,
    /// The event's key (`latest` views' default key).
    pub key: Option<String>,
}

impl SilverRoles {
    /// The roles of `event`'s silver columns.
    pub fn of(event: &EventSchema) -> SilverRoles {
        SilverRoles {
            id: event.id_name().map(String::from),
            time: event.time_name().unwrap_or("enqueued_time").to_string(),
            key: event.key_name().map(String::from),
        }
    }

    /// The silver columns deduplication restarts from.
    pub fn key_columns(&self) -> Vec<&str> {
        let mut cols: Vec<&str> = self.id.iter().map(String::as_str).collect();
        for c in [
            self.time.as_str(),
            "partition",
            "sequence_number",
            "ingest_time",
        ] {
            if !cols.contains(&c) {
                cols.push(c);
            }
        }
        cols
    }
}

/// An event-id column: text, or an integer.
#[derive(Debug, Clone, Copy)]
pub enum IdColumn<'a> {
    Text(&'a StringArray),
    Integer(&'a Int64Array),
}

impl<'a> IdColumn<'a> {
    /// The id column `name` of `batch`; `Err` names a missing or mistyped column.
    pub fn of(batch: &'a RecordBatch, name: &str) -> Result<Self, String> {
        let col = column(batch, name)?;
        if let Some(s) = col.as_string_opt::<i32>() {
            return Ok(IdColumn::Text(s));
        }
        col.as_primitive_opt::<Int64Type>()
            .map(IdColumn::Integer)
            .ok_or_else(|| format!("column '{name}' is neither a string nor an integer column"))
    }

    pub fn is_null(&self, i: usize) -> bool {
        match self {
            IdColumn::Text(a) => a.is_null(i),
            IdColumn::Integer(a) => a.is_null(i),
        }
    }

    /// Row `i`'s deduplication key (`None`: no id).
    pub fn key(&self, i: usize) -> Option<crate::event::DedupKey> {
        use crate::event::{dedup_key, dedup_key_of_integer};
        match self {
            _ if self.is_null(i) => None,
            IdColumn::Text(a) => Some(dedup_key(a.value(i))),
            IdColumn::Integer(a) => Some(dedup_key_of_integer(a.value(i))),
        }
    }
}

/// The `silver` columns deduplication restarts from.
pub struct SilverKeyColumns<'a> {
    /// `None`: the event has no id (nothing is deduplicated).
    pub event_id: Option<IdColumn<'a>>,
    pub event_time: &'a TimestampMicrosecondArray,
    pub partition: &'a Int32Array,
    pub sequence_number: &'a Int64Array,
    pub ingest_time: &'a TimestampMicrosecondArray,
}

impl<'a> SilverKeyColumns<'a> {
    /// The columns of a batch of the `silver` table; `Err` names a missing or mistyped column.
    pub fn of(batch: &'a RecordBatch, roles: &SilverRoles) -> Result<Self, String> {
        let (partition, sequence_number) = lineage_positions(batch)?;
        Ok(SilverKeyColumns {
            event_id: roles
                .id
                .as_deref()
                .map(|id| IdColumn::of(batch, id))
                .transpose()?,
            event_time: timestamp_column(batch, &roles.time)?,
            partition,
            sequence_number,
            ingest_time: timestamp_column(batch, "ingest_time")?,
        })
    }

    /// Row `i`'s deduplication key (`None`: it has no id, or the event declares none).
    pub fn key(&self, i: usize) -> Option<crate::event::DedupKey> {
        self.event_id.as_ref().and_then(|c| c.key(i))
    }

    /// Row `i`'s event time in ms (`None` when it has none).
    pub fn event_time_ms(&self, i: usize) -> Option<i64> {
        (!self.event_time.is_null(i)).then(|| self.event_time.value(i) / 1000)
    }

    /// Row `i`'s ingest time in ms.
    pub fn ingest_time_ms(&self, i: usize) -> i64 {
        self.ingest_time.value(i) / 1000
    }
}

/// A silver (or bronze) batch's `partition` and `sequence_number` columns: where each row was
/// read; `Err` names a missing or mistyped column.
pub fn lineage_positions(batch: &RecordBatch) -> Result<(&Int32Array, &Int64Array), String> {
    let partition = column(batch, "partition")?
        .as_primitive_opt::<Int32Type>()
        .ok_or("column 'partition' is not a 32-bit integer column")?;
    Ok((partition, int64_column(batch, "sequence_number")?))
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::ArrayRef, String> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column '{name}'"))
}

fn string_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, String> {
    column(batch, name)?
        .as_string_opt::<i32>()
        .ok_or_else(|| format!("column '{name}' is not a string column"))
}

fn int64_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Int64Array, String> {
    column(batch, name)?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| format!("column '{name}' is not a 64-bit integer column"))
}

fn timestamp_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a TimestampMicrosecondArray, String> {
    column(batch, name)?
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| format!("column '{name}' is not a microsecond timestamp column"))
}

/// Windowed views keep the rows of one UTC day of windows in one file: a stream touches few days
/// per epoch (now, plus the odd late or future-dated event), so an epoch rewrites few files.
pub const WINDOW_FILE_GROUP_MS: i64 = 86_400_000;

/// The file group of rows of the window starting at `window_ms` (`None`: rows without an event
/// time, kept with the first day's): the UTC day of the window. The `quality` table and
/// `quality_by_window` both spread their rows so.
pub fn window_file_group(window_ms: Option<i64>) -> u64 {
    window_ms
        .map(|w| w.div_euclid(WINDOW_FILE_GROUP_MS) as u64)
        .unwrap_or(0)
}
