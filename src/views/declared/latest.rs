//! `latest` views: per key, the silver row with the greatest (event time, sequence number,
//! partition), with the key columns, the chosen columns, and the order it was chosen by
//! (`_time`, `_partition`, `_sequence_number`), from which a restart reads it back. Rows whose key
//! has a null column are left out. Rows are held in Arrow's row format.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use arrow::row::{RowConverter, Rows, SortField};
use differential_dataflow::difference::{IsZero, Semigroup};
use serde::{Deserialize, Serialize};

use super::stable_hash;
use crate::sink::tables::{ts_type, SilverRoles};
use crate::views::station::Shared;
use crate::views::{SilverView, View};

/// Number of files a `latest` view spreads its rows over (by key hash).
const FILE_GROUPS: u64 = 4;

/// A key's newest row: its order, then the view row in Arrow's row format.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Newest {
    /// (time in µs, sequence number, partition).
    pub order: (Option<i64>, i64, i32),
    pub row: Shared<[u8]>,
}

impl IsZero for Newest {
    fn is_zero(&self) -> bool {
        false
    }
}

/// Rows add up to the newest of them.
impl Semigroup for Newest {
    fn plus_equals(&mut self, other: &Newest) {
        if *other > *self {
            *self = other.clone();
        }
    }
}

/// A declared `latest` view.
pub struct LatestView {
    name: String,
    schema: SchemaRef,
    /// Silver columns of the key, then of the other view columns (the hidden ones excluded).
    key_cols: Vec<String>,
    value_cols: Vec<String>,
    time_col: String,
    keys: RowConverter,
    rows: RowConverter,
}

impl LatestView {
    /// The view `name` over silver (`silver`), keyed by `key`, keeping `columns` (default: every
    /// event column).
    pub fn new(
        name: &str,
        key: &[String],
        columns: Option<&[String]>,
        silver: &SchemaRef,
        roles: &SilverRoles,
    ) -> Result<LatestView, String> {
        let field = |c: &str| {
            silver
                .field_with_name(c)
                .map(|f| f.as_ref().clone())
                .map_err(|_| format!("view {name}: silver has no column '{c}'"))
        };
        let event_columns: Vec<String> = silver
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .take_while(|n| n != "_warnings")
            .collect();
        let value_cols: Vec<String> = columns
            .map(<[String]>::to_vec)
            .unwrap_or(event_columns)
            .into_iter()
            .filter(|c| !key.contains(c))
            .collect();
        let mut fields = Vec::new();
        for c in key {
            fields.push(field(c)?.with_nullable(false));
        }
        for c in &value_cols {
            fields.push(field(c)?.with_nullable(true));
        }
        fields.push(Field::new("_time", ts_type(), true));
        fields.push(Field::new("_partition", DataType::Int32, false));
        fields.push(Field::new("_sequence_number", DataType::Int64, false));
        let sort = |fs: &[Field]| -> Result<RowConverter, String> {
            RowConverter::new(
                fs.iter()
                    .map(|f| SortField::new(f.data_type().clone()))
                    .collect(),
            )
            .map_err(|e| format!("view {name}: {e}"))
        };
        Ok(LatestView {
            name: name.to_string(),
            keys: sort(&fields[..key.len()])?,
            rows: sort(&fields)?,
            schema: Arc::new(Schema::new(fields)),
            key_cols: key.to_vec(),
            value_cols,
            time_col: roles.time.clone(),
        })
    }

    /// The key rows of `columns` (the key columns of a batch).
    fn key_rows(&self, columns: &[ArrayRef]) -> Rows {
        self.keys
            .convert_columns(columns)
            .expect("key columns have the key types")
    }
}

/// A batch's columns as the view reads them: keys, values, then time, partition, sequence.
fn view_columns(view: &LatestView, batch: &RecordBatch) -> Vec<ArrayRef> {
    let col = |n: &str| {
        batch
            .column_by_name(n)
            .unwrap_or_else(|| panic!("silver has a {n} column"))
            .clone()
    };
    let mut cols: Vec<ArrayRef> = view.key_cols.iter().map(|c| col(c)).collect();
    cols.extend(view.value_cols.iter().map(|c| col(c)));
    cols.push(col(&view.time_col));
    cols.push(col("partition"));
    cols.push(col("sequence_number"));
    cols
}

/// The order of row `i` of a batch's view columns.
fn order_of(cols: &[ArrayRef], i: usize) -> (Option<i64>, i64, i32) {
    let n = cols.len();
    let time = cols[n - 3].as_primitive::<TimestampMicrosecondType>();
    (
        (!time.is_null(i)).then(|| time.value(i)),
        cols[n - 1].as_primitive::<Int64Type>().value(i),
        cols[n - 2].as_primitive::<Int32Type>().value(i),
    )
}

impl View for LatestView {
    type Key = Shared<[u8]>;
    type Row = Newest;
    type Part = Newest;
    fn name(&self) -> &str {
        &self.name
    }
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn file_group(&self, key: &Shared<[u8]>) -> u64 {
        stable_hash(key) % FILE_GROUPS
    }
    fn row(&self, _key: &Shared<[u8]>, newest: &Newest) -> Option<Newest> {
        Some(newest.clone())
    }
    /// Rows of a file written before a column was added read it as null.
    fn parts_of_rows(&self, rows: &RecordBatch) -> Option<Vec<(Shared<[u8]>, Newest)>> {
        let rows = &crate::sink::tables::conform(rows, &self.schema).ok()?;
        let cols: Vec<ArrayRef> = self
            .schema
            .fields()
            .iter()
            .map(|f| rows.column_by_name(f.name()).cloned())
            .collect::<Option<_>>()?;
        let keys = self
            .keys
            .convert_columns(&cols[..self.key_cols.len()])
            .ok()?;
        let encoded = self.rows.convert_columns(&cols).ok()?;
        Some(
            (0..rows.num_rows())
                .map(|i| {
                    (
                        Shared(Arc::from(keys.row(i).as_ref())),
                        Newest {
                            order: order_of(&cols, i),
                            row: Shared(Arc::from(encoded.row(i).as_ref())),
                        },
                    )
                })
                .collect(),
        )
    }
    fn to_batch(&self, rows: &[(&Shared<[u8]>, &Newest)]) -> RecordBatch {
        crate::views::decode_rows(
            &self.rows,
            &self.schema,
            rows.iter().map(|(_, r)| &r.row[..]),
        )
    }
}

impl SilverView for LatestView {
    fn parts(&self, silver: &RecordBatch, out: &mut Vec<(Shared<[u8]>, Newest)>) {
        self.epoch_parts(std::slice::from_ref(silver), out)
    }
    /// Finds each key's newest row over all the batches first, and encodes only those.
    fn epoch_parts(&self, silver: &[RecordBatch], out: &mut Vec<(Shared<[u8]>, Newest)>) {
        let k = self.key_cols.len();
        let columns: Vec<Vec<ArrayRef>> = silver.iter().map(|b| view_columns(self, b)).collect();
        let keys: Vec<Rows> = columns.iter().map(|c| self.key_rows(&c[..k])).collect();
        let mut best: ahash::AHashMap<&[u8], (usize, usize)> = ahash::AHashMap::new();
        for (b, cols) in columns.iter().enumerate() {
            for i in 0..silver[b].num_rows() {
                if cols[..k].iter().any(|c| c.is_null(i)) {
                    continue;
                }
                best.entry(keys[b].row(i).data())
                    .and_modify(|w| {
                        if order_of(cols, i) > order_of(&columns[w.0], w.1) {
                            *w = (b, i);
                        }
                    })
                    .or_insert((b, i));
            }
        }
        if best.is_empty() {
            return;
        }
        let winners: Vec<(usize, usize)> = best.values().copied().collect();
        let encoded = crate::views::encode_picked(&self.rows, &columns, &winners);
        for (n, (&key, &(b, i))) in best.iter().enumerate() {
            out.push((
                Shared(Arc::from(key)),
                Newest {
                    order: order_of(&columns[b], i),
                    row: Shared(Arc::from(encoded.row(n).as_ref())),
                },
            ));
        }
    }
}
