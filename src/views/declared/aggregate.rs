//! `aggregate` views: per group (the `group_by` columns' values, nulls a group of their own) and
//! tumbling event-time window, `count`, `sum`, `min`, `max`, `avg` and `count_distinct` of chosen
//! columns. Rows without an event time are left out. Sums are exact (integers in 128 bits,
//! floats as [`ExactSum`]), so results do not depend on how rows were cut into batches, epochs or
//! workers. Each row also keeps its aggregate state as JSON (`_state`), from which a restart reads
//! it back; windows are grouped in files by UTC day, and a day leaves memory once the writer's
//! watermark is the lateness past it.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{
    DataType, Date32Type, Field, Float64Type, Int64Type, Schema, SchemaRef,
    TimestampMicrosecondType,
};
use arrow::row::{RowConverter, Rows, SortField};
use differential_dataflow::difference::{IsZero, Semigroup};
use serde::{Deserialize, Serialize};

use super::{AggDecl, AggFn};
use crate::sink::tables::{ts_type, SilverRoles};
use crate::views::station::Shared;
use crate::views::{ExactSum, OrdF64, SilverView, View, WINDOW_FILE_GROUP_MS};

/// A group-window: the group's values in Arrow's row format, and the window start in µs.
pub type GroupKey = (Shared<[u8]>, i64);

/// One value a `min`, `max` or `count_distinct` holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Cell {
    Bool(bool),
    Int(i64),
    Float(OrdF64),
    Text(Shared<str>),
    Time(i64),
    Date(i32),
}

impl Cell {
    /// Row `i` of `col` (`None` when null or of a type no aggregate reads).
    fn of(col: &ArrayRef, i: usize) -> Option<Cell> {
        if col.is_null(i) {
            return None;
        }
        Some(match col.data_type() {
            DataType::Boolean => Cell::Bool(col.as_boolean().value(i)),
            DataType::Int64 => Cell::Int(col.as_primitive::<Int64Type>().value(i)),
            DataType::Float64 => Cell::Float(OrdF64(col.as_primitive::<Float64Type>().value(i))),
            DataType::Utf8 => Cell::Text(Shared(Arc::from(col.as_string::<i32>().value(i)))),
            DataType::Timestamp(_, _) => {
                Cell::Time(col.as_primitive::<TimestampMicrosecondType>().value(i))
            }
            DataType::Date32 => Cell::Date(col.as_primitive::<Date32Type>().value(i)),
            _ => return None,
        })
    }
}

/// The running state of one aggregate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Acc {
    Count(i64),
    /// Values, and their exact sum (integers, or floats).
    Sum(i64, i128, ExactSum),
    Min(Option<Cell>),
    Max(Option<Cell>),
    Distinct(BTreeSet<Cell>),
}

impl Acc {
    fn new(f: AggFn) -> Acc {
        match f {
            AggFn::Count => Acc::Count(0),
            AggFn::Sum | AggFn::Avg => Acc::Sum(0, 0, ExactSum::default()),
            AggFn::Min => Acc::Min(None),
            AggFn::Max => Acc::Max(None),
            AggFn::CountDistinct => Acc::Distinct(BTreeSet::new()),
        }
    }

    /// Adds row `i` of `col` (`None`: a `count` of rows).
    fn add(&mut self, col: Option<&ArrayRef>, i: usize) {
        let Some(col) = col else {
            if let Acc::Count(n) = self {
                *n += 1;
            }
            return;
        };
        if col.is_null(i) {
            return;
        }
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Sum(n, int, float) => {
                *n += 1;
                match col.data_type() {
                    DataType::Int64 => *int += col.as_primitive::<Int64Type>().value(i) as i128,
                    _ => float.add(col.as_primitive::<Float64Type>().value(i)),
                }
            }
            Acc::Min(m) => {
                let c = Cell::of(col, i);
                if m.is_none() || c < *m {
                    *m = c;
                }
            }
            Acc::Max(m) => *m = (*m).clone().max(Cell::of(col, i)),
            Acc::Distinct(set) => {
                set.extend(Cell::of(col, i));
            }
        }
    }

    fn plus(&mut self, other: &Acc) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum(n, i, f), Acc::Sum(n2, i2, f2)) => {
                *n += n2;
                *i += i2;
                f.plus(f2);
            }
            (Acc::Min(a), Acc::Min(b)) => {
                if a.is_none() || (b.is_some() && *b < *a) {
                    *a = b.clone();
                }
            }
            (Acc::Max(a), Acc::Max(b)) => *a = (*a).clone().max(b.clone()),
            (Acc::Distinct(a), Acc::Distinct(b)) => a.extend(b.iter().cloned()),
            _ => unreachable!("a view's aggregates keep their kinds"),
        }
    }
}

/// The state of one group-window: rows, and each aggregate's.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupState {
    pub rows: i64,
    pub accs: Vec<Acc>,
}

impl IsZero for GroupState {
    fn is_zero(&self) -> bool {
        false
    }
}

impl Semigroup for GroupState {
    fn plus_equals(&mut self, other: &GroupState) {
        if self.accs.is_empty() {
            *self = other.clone();
            return;
        }
        self.rows += other.rows;
        for (a, b) in self.accs.iter_mut().zip(&other.accs) {
            a.plus(b);
        }
    }
}

/// One resolved aggregate.
struct Agg {
    function: AggFn,
    column: Option<String>,
    input: Option<DataType>,
}

impl Agg {
    fn output_type(&self) -> DataType {
        match (self.function, &self.input) {
            (AggFn::Count | AggFn::CountDistinct, _) => DataType::Int64,
            (AggFn::Avg, _) => DataType::Float64,
            (_, Some(t)) => t.clone(),
            (_, None) => DataType::Int64,
        }
    }
}

/// A declared `aggregate` view.
pub struct AggregateView {
    name: String,
    schema: SchemaRef,
    group_cols: Vec<String>,
    time_col: String,
    window_us: i64,
    aggs: Vec<Agg>,
    groups: RowConverter,
}

impl AggregateView {
    pub fn new(
        name: &str,
        group_by: &[String],
        window_ms: i64,
        aggregates: &[AggDecl],
        silver: &SchemaRef,
        roles: &SilverRoles,
    ) -> Result<AggregateView, String> {
        let field = |c: &str| {
            silver
                .field_with_name(c)
                .map(|f| f.as_ref().clone())
                .map_err(|_| format!("view {name}: silver has no column '{c}'"))
        };
        let mut fields = Vec::new();
        for c in group_by {
            fields.push(field(c)?.with_nullable(true));
        }
        let groups = RowConverter::new(
            fields
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )
        .map_err(|e| format!("view {name}: {e}"))?;
        fields.push(Field::new("window_start", ts_type(), false));
        fields.push(Field::new("window_end", ts_type(), false));
        let mut aggs = Vec::new();
        for a in aggregates {
            let input = match &a.column {
                Some(c) => Some(field(c)?.data_type().clone()),
                None => None,
            };
            let agg = Agg {
                function: a.function,
                column: a.column.clone(),
                input,
            };
            fields.push(Field::new(a.output_name(), agg.output_type(), true));
            aggs.push(agg);
        }
        fields.push(Field::new("_state", DataType::Utf8, false));
        Ok(AggregateView {
            name: name.to_string(),
            schema: Arc::new(Schema::new(fields)),
            group_cols: group_by.to_vec(),
            time_col: roles.time.clone(),
            window_us: window_ms * 1000,
            aggs,
            groups,
        })
    }

    fn new_state(&self) -> GroupState {
        GroupState {
            rows: 0,
            accs: self.aggs.iter().map(|a| Acc::new(a.function)).collect(),
        }
    }

    /// One aggregate's output column.
    fn output(&self, k: usize, rows: &[(&GroupKey, &GroupState)]) -> ArrayRef {
        let agg = &self.aggs[k];
        let accs = rows.iter().map(|(_, s)| &s.accs[k]);
        let ints = |f: &dyn Fn(&Acc) -> Option<i64>| -> ArrayRef {
            Arc::new(Int64Array::from_iter(accs.clone().map(f)))
        };
        match agg.function {
            AggFn::Count => ints(&|a| match a {
                Acc::Count(n) => Some(*n),
                _ => None,
            }),
            AggFn::CountDistinct => ints(&|a| match a {
                Acc::Distinct(s) => Some(s.len() as i64),
                _ => None,
            }),
            AggFn::Sum if agg.input == Some(DataType::Int64) => ints(&|a| match a {
                Acc::Sum(n, i, _) if *n > 0 => i64::try_from(*i).ok(),
                _ => None,
            }),
            AggFn::Sum | AggFn::Avg => {
                let avg = agg.function == AggFn::Avg;
                Arc::new(Float64Array::from_iter(accs.map(|a| match a {
                    Acc::Sum(n, i, f) if *n > 0 => {
                        let total = if agg.input == Some(DataType::Int64) {
                            *i as f64
                        } else {
                            f.value()
                        };
                        Some(if avg { total / *n as f64 } else { total })
                    }
                    _ => None,
                })))
            }
            AggFn::Min | AggFn::Max => {
                let cells: Vec<Option<&Cell>> = accs
                    .map(|a| match a {
                        Acc::Min(c) | Acc::Max(c) => c.as_ref(),
                        _ => None,
                    })
                    .collect();
                cells_to_array(&cells, agg.input.as_ref().unwrap_or(&DataType::Int64))
            }
        }
    }
}

/// Cells (all of one type) as an array of `ty`.
fn cells_to_array(cells: &[Option<&Cell>], ty: &DataType) -> ArrayRef {
    macro_rules! col {
        ($arr:ty, $variant:ident, $map:expr) => {
            Arc::new(<$arr>::from_iter(cells.iter().map(|c| match c {
                Some(Cell::$variant(v)) => Some($map(v)),
                _ => None,
            })))
        };
    }
    match ty {
        DataType::Boolean => col!(BooleanArray, Bool, |v: &bool| *v),
        DataType::Float64 => col!(Float64Array, Float, |v: &OrdF64| v.0),
        DataType::Utf8 => col!(StringArray, Text, |v: &Shared<str>| v.to_string()),
        DataType::Date32 => col!(Date32Array, Date, |v: &i32| *v),
        DataType::Timestamp(_, _) => Arc::new(
            TimestampMicrosecondArray::from_iter(cells.iter().map(|c| match c {
                Some(Cell::Time(v)) => Some(*v),
                _ => None,
            }))
            .with_timezone("UTC"),
        ),
        _ => col!(Int64Array, Int, |v: &i64| *v),
    }
}

impl View for AggregateView {
    type Key = GroupKey;
    type Row = GroupState;
    type Part = GroupState;
    fn name(&self) -> &str {
        &self.name
    }
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn file_group(&self, key: &GroupKey) -> u64 {
        crate::views::window_file_group(Some(key.1.div_euclid(1000)))
    }
    /// A day's windows close at its end, or at the end of a window longer than a day.
    fn group_closes_at(&self, group: u64) -> Option<i64> {
        let start = (group as i64).saturating_mul(WINDOW_FILE_GROUP_MS);
        Some(start.saturating_add(WINDOW_FILE_GROUP_MS.max(self.window_us / 1000)))
    }
    fn row(&self, _key: &GroupKey, total: &GroupState) -> Option<GroupState> {
        (total.rows > 0).then(|| total.clone())
    }
    fn parts_of_rows(&self, rows: &RecordBatch) -> Option<Vec<(GroupKey, GroupState)>> {
        let groups: Vec<ArrayRef> = self
            .group_cols
            .iter()
            .map(|c| rows.column_by_name(c).cloned())
            .collect::<Option<_>>()?;
        let keys = self.groups.convert_columns(&groups).ok()?;
        let starts = rows
            .column_by_name("window_start")?
            .as_primitive_opt::<TimestampMicrosecondType>()?;
        let states = rows.column_by_name("_state")?.as_string_opt::<i32>()?;
        (0..rows.num_rows())
            .map(|i| {
                let state: GroupState = serde_json::from_str(states.value(i)).ok()?;
                (state.accs.len() == self.aggs.len()).then(|| {
                    (
                        (Shared(Arc::from(keys.row(i).as_ref())), starts.value(i)),
                        state,
                    )
                })
            })
            .collect()
    }
    fn to_batch(&self, rows: &[(&GroupKey, &GroupState)]) -> RecordBatch {
        let parser = self.groups.parser();
        let mut columns = self
            .groups
            .convert_rows(rows.iter().map(|((k, _), _)| parser.parse(k)))
            .expect("groups were encoded by this converter");
        let times = |f: &dyn Fn(i64) -> i64| -> ArrayRef {
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|((_, w), _)| f(*w)))
                    .with_timezone("UTC"),
            )
        };
        columns.push(times(&|w| w));
        columns.push(times(&|w| w + self.window_us));
        for k in 0..self.aggs.len() {
            columns.push(self.output(k, rows));
        }
        columns.push(Arc::new(StringArray::from_iter_values(rows.iter().map(
            |(_, s)| serde_json::to_string(s).expect("a group state serializes"),
        ))));
        RecordBatch::try_new(self.schema.clone(), columns).expect("aggregate rows match the schema")
    }
}

impl SilverView for AggregateView {
    fn parts(&self, silver: &RecordBatch, out: &mut Vec<(GroupKey, GroupState)>) {
        self.epoch_parts(std::slice::from_ref(silver), out)
    }
    /// One state per group-window over all the batches.
    fn epoch_parts(&self, silver: &[RecordBatch], out: &mut Vec<(GroupKey, GroupState)>) {
        let col = |b: &RecordBatch, n: &str| -> ArrayRef {
            b.column_by_name(n)
                .unwrap_or_else(|| panic!("silver has a {n} column"))
                .clone()
        };
        let keys: Vec<Rows> = silver
            .iter()
            .map(|b| {
                let cols: Vec<ArrayRef> = self.group_cols.iter().map(|c| col(b, c)).collect();
                self.groups
                    .convert_columns(&cols)
                    .expect("group columns have the view's types")
            })
            .collect();
        let mut states: ahash::AHashMap<(&[u8], i64), GroupState> = ahash::AHashMap::new();
        for (b, batch) in silver.iter().enumerate() {
            let time = col(batch, &self.time_col);
            let time = time.as_primitive::<TimestampMicrosecondType>();
            let inputs: Vec<Option<ArrayRef>> = self
                .aggs
                .iter()
                .map(|a| a.column.as_deref().map(|c| col(batch, c)))
                .collect();
            for i in 0..batch.num_rows() {
                if time.is_null(i) {
                    continue;
                }
                let window = time.value(i).div_euclid(self.window_us) * self.window_us;
                let state = states
                    .entry((keys[b].row(i).data(), window))
                    .or_insert_with(|| self.new_state());
                state.rows += 1;
                for (acc, input) in state.accs.iter_mut().zip(&inputs) {
                    acc.add(input.as_ref(), i);
                }
            }
        }
        out.extend(
            states
                .into_iter()
                .map(|((k, w), s)| ((Shared(Arc::from(k)), w), s)),
        );
    }
}
