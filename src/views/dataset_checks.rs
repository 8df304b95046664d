//! Dataset-level checks on the stream: `is_unique` across every silver row seen, and `is_aggr_*`
//! per group and event-time window, kept current with differential as late rows change an
//! aggregate. The results are the `dataset_checks` table: one row per (check, group, window)
//! with the metric, the limit, pass/fail and DQX's message (for `is_unique`, one row per
//! duplicated value).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef, TimestampMicrosecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use differential_dataflow::difference::{IsZero, Semigroup};
use serde::{Deserialize, Serialize};

use super::exact_sum::add_term;
use super::{least_present, sum_present, ExactSum, OrdF64, SilverView, View};
use crate::quality::dataset_rules::{render_metric, AggrType, DatasetCheck, DatasetKind};
use crate::quality::Criticality;
use crate::sink::tables::ts_type;

/// The `dataset_checks` schema.
pub fn dataset_checks_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("check", DataType::Utf8, false),
        Field::new("criticality", DataType::Utf8, false),
        Field::new("function", DataType::Utf8, false),
        Field::new("group", DataType::Utf8, true),
        Field::new("window_start", ts_type(), true),
        Field::new("window_end", ts_type(), true),
        Field::new("metric", DataType::Float64, true),
        Field::new("limit", DataType::Float64, false),
        Field::new("passed", DataType::Boolean, false),
        Field::new("message", DataType::Utf8, true),
    ]))
}

/// What one batch contributes to one (check, group, window).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DatasetPart {
    /// Rows (`is_unique`, `count` of `*`) or non-null values (`count` of a column).
    pub count: i64,
    pub sum: Option<ExactSum>,
    pub min: Option<OrdF64>,
    pub max: Option<OrdF64>,
    /// Distinct values (`count_distinct` only).
    pub distinct: Vec<String>,
}

/// A result row: the metric and whether it passed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DatasetResult {
    pub metric: Option<OrdF64>,
    pub passed: bool,
}

/// (check position, group values, window start in ms).
pub type DatasetKey = (u32, Vec<Option<String>>, Option<i64>);

/// The dataset checks of a rule set, bound to the silver schema.
pub struct DatasetChecks {
    checks: Vec<DatasetCheck>,
    window_ms: i64,
    /// The silver column that places rows in windows (the event time, or the enqueued time).
    time_column: String,
}

/// Why a dataset check cannot run on silver.
#[derive(Debug, thiserror::Error)]
#[error("checks[{index}] '{name}': {message}")]
pub struct DatasetCheckError {
    pub index: usize,
    pub name: String,
    pub message: String,
}

/// Why the pipeline does not evaluate a kind of dataset check (`None`: it does).
fn not_streamed(kind: &DatasetKind) -> Option<&'static str> {
    match kind {
        DatasetKind::Unique { .. } | DatasetKind::Aggr { .. } => None,
        DatasetKind::Outliers { .. } | DatasetKind::Distribution { .. } => {
            Some("not maintained stream-wide yet")
        }
        DatasetKind::Schema { .. } => Some("silver's schema is fixed"),
        DatasetKind::ForeignKey { .. }
        | DatasetKind::AggrMatches(..)
        | DatasetKind::Compare(..) => Some("the pipeline has no reference data yet"),
        DatasetKind::TimeWindow(..) | DatasetKind::SqlQuery(..) => {
            Some("evaluated by `medallion check --input` only")
        }
    }
}

fn numeric(dt: &DataType) -> bool {
    dt.is_numeric() || matches!(dt, DataType::Timestamp(..))
}

impl DatasetChecks {
    /// Binds `checks` to `schema` (the silver schema): every column must exist, and `sum`, `avg`,
    /// `min`, `max` need a numeric column.
    pub fn new(
        checks: Vec<DatasetCheck>,
        schema: &Schema,
        time_column: &str,
        window_ms: i64,
    ) -> Result<Self, DatasetCheckError> {
        for c in &checks {
            let fail = |message: String| DatasetCheckError {
                index: c.index,
                name: c.name.clone(),
                message,
            };
            if c.message_expr.is_some() {
                return Err(fail(format!(
                    "message_expr is not supported with the stream-wide dataset check '{}' \
                     (its results are per group, not per row)",
                    c.function
                )));
            }
            if let Some(why) = not_streamed(&c.kind) {
                return Err(fail(format!(
                    "{} is not evaluated in the pipeline ({why}; `medallion check --input` \
                     evaluates it)",
                    c.function
                )));
            }
            if c.filter.is_some() {
                return Err(fail(format!(
                    "a filter is not supported with the stream-wide dataset check '{}' (yet; \
                     `medallion check --input` evaluates it)",
                    c.function
                )));
            }
            let (cols, value_col, aggr) = match &c.kind {
                DatasetKind::Unique {
                    trim_strings: true, ..
                } => {
                    return Err(fail(
                        "trim_strings is not supported with the stream-wide is_unique (yet)".into(),
                    ))
                }
                DatasetKind::Unique { columns, .. } => (columns.clone(), None, None),
                DatasetKind::Aggr {
                    column,
                    group_by,
                    aggr,
                    ..
                } => (group_by.clone(), Some(column.clone()), Some(*aggr)),
                // Refused above.
                _ => continue,
            };
            for col in cols.iter().chain(value_col.iter().filter(|c| *c != "*")) {
                if schema.field_with_name(col).is_err() {
                    return Err(fail(format!("column '{col}' is not a silver column")));
                }
            }
            if let (Some(col), Some(aggr)) = (&value_col, aggr) {
                if !aggr.is_streamed() {
                    return Err(fail(format!(
                        "aggr_type {} is not maintained stream-wide (yet: count, sum, avg, min, \
                         max and count_distinct are; `medallion check --input` evaluates every type)",
                        aggr.as_str()
                    )));
                }
                let needs_number = matches!(
                    aggr,
                    AggrType::Sum | AggrType::Avg | AggrType::Min | AggrType::Max
                );
                if col == "*" && aggr != AggrType::Count {
                    return Err(fail(format!(
                        "aggr_type {} needs a column, not '*'",
                        aggr.as_str()
                    )));
                }
                if needs_number && col != "*" {
                    let dt = schema.field_with_name(col).expect("checked").data_type();
                    if !numeric(dt) {
                        return Err(fail(format!(
                            "aggr_type {} needs a numeric column; '{col}' is {dt}",
                            aggr.as_str()
                        )));
                    }
                }
            }
        }
        Ok(DatasetChecks {
            checks,
            window_ms,
            time_column: time_column.to_string(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }
}

fn rendered(col: &ArrayRef) -> Vec<Option<String>> {
    let opts = FormatOptions::default();
    let f = ArrayFormatter::try_new(col.as_ref(), &opts).expect("silver columns display");
    (0..col.len())
        .map(|i| (!col.is_null(i)).then(|| f.value(i).to_string()))
        .collect()
}

impl View for DatasetChecks {
    type Key = DatasetKey;
    type Row = DatasetResult;
    type Part = DatasetPart;
    fn name(&self) -> &str {
        "dataset_checks"
    }
    fn row(&self, key: &DatasetKey, total: &DatasetPart) -> Option<DatasetResult> {
        let check = &self.checks[key.0 as usize];
        let count = total.count;
        match &check.kind {
            DatasetKind::Unique { .. } => (count > 1).then_some(DatasetResult {
                metric: Some(OrdF64(count as f64)),
                passed: false,
            }),
            DatasetKind::Aggr {
                aggr,
                limit,
                comparison,
                abs_tolerance,
                rel_tolerance,
                ..
            } => {
                let sum = || total.sum.map_or(0.0, |s| s.value());
                let metric = match aggr {
                    AggrType::Count => Some(count as f64),
                    AggrType::CountDistinct => Some(total.distinct.len() as f64),
                    AggrType::Sum => (count > 0).then(sum),
                    AggrType::Avg => (count > 0).then(|| sum() / count as f64),
                    AggrType::Min => total.min.map(|m| m.0),
                    AggrType::Max => total.max.map(|m| m.0),
                    // Not streamed: refused when the checks are bound.
                    _ => None,
                };
                // An aggregate over no values (SQL NULL) fails no comparison, as in DQX.
                let passed = metric.is_none_or(|m| {
                    comparison.passes_within(m, *limit, *abs_tolerance, *rel_tolerance)
                });
                Some(DatasetResult {
                    metric: metric.map(OrdF64),
                    passed,
                })
            }
            // Refused when bound.
            _ => None,
        }
    }
    fn schema(&self) -> SchemaRef {
        dataset_checks_schema()
    }
    fn file_group(&self, key: &DatasetKey) -> u64 {
        match key.2 {
            Some(w) => w.div_euclid(super::WINDOW_FILE_GROUP_MS) as u64,
            None => {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                key.1.hash(&mut h);
                (1 << 40) + h.finish() % 16
            }
        }
    }
    fn to_batch(&self, rows: &[(&DatasetKey, &DatasetResult)]) -> RecordBatch {
        let check = |k: &DatasetKey| &self.checks[k.0 as usize];
        let group_text = |k: &DatasetKey| -> Option<String> {
            let c = check(k);
            let cols = match &c.kind {
                DatasetKind::Unique { columns, .. } => columns,
                DatasetKind::Aggr { group_by, .. } => group_by,
                _ => return None,
            };
            (!cols.is_empty()).then(|| {
                cols.iter()
                    .zip(&k.1)
                    .map(|(c, v)| format!("{c}={}", v.as_deref().unwrap_or("null")))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
        };
        let message = |k: &DatasetKey, r: &DatasetResult| -> Option<String> {
            if r.passed {
                return None;
            }
            let c = check(k);
            match &c.kind {
                DatasetKind::Unique { .. } => {
                    c.unique_message(&k.1, r.metric.map(|m| m.0 as i64).unwrap_or(0))
                }
                DatasetKind::Aggr { aggr, .. } => r
                    .metric
                    .and_then(|m| c.aggr_message(&render_metric(*aggr, m.0))),
                _ => None,
            }
        };
        let limit = |k: &DatasetKey| match &check(k).kind {
            DatasetKind::Aggr { limit, .. } => *limit,
            _ => 1.0,
        };
        let ts = |end: bool| {
            TimestampMicrosecondArray::from_iter(rows.iter().map(|(k, _)| {
                k.2.map(|w| (w + if end { self.window_ms } else { 0 }) * 1000)
            }))
            .with_timezone("UTC")
        };
        RecordBatch::try_new(
            dataset_checks_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|(k, _)| check(k).name.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|(k, _)| {
                    match check(k).criticality {
                        Criticality::Error => "error",
                        Criticality::Warn => "warn",
                    }
                }))),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|(k, _)| check(k).function.as_str()),
                )),
                Arc::new(StringArray::from_iter(
                    rows.iter().map(|(k, _)| group_text(k)),
                )),
                Arc::new(ts(false)),
                Arc::new(ts(true)),
                Arc::new(Float64Array::from_iter(
                    rows.iter().map(|(_, r)| r.metric.map(|m| m.0)),
                )),
                Arc::new(Float64Array::from_iter_values(
                    rows.iter().map(|(k, _)| limit(k)),
                )),
                Arc::new(BooleanArray::from_iter(
                    rows.iter().map(|(_, r)| Some(r.passed)),
                )),
                Arc::new(StringArray::from_iter(
                    rows.iter().map(|(k, r)| message(k, r)),
                )),
            ],
        )
        .expect("dataset_checks rows match the schema")
    }
}

impl SilverView for DatasetChecks {
    fn parts(&self, silver: &RecordBatch, out: &mut Vec<(DatasetKey, DatasetPart)>) {
        let n = silver.num_rows();
        let column = |name: &str| {
            silver
                .column_by_name(name)
                .unwrap_or_else(|| panic!("silver has a {name} column"))
                .clone()
        };
        let times = column(&self.time_column);
        let times = times.as_primitive::<TimestampMicrosecondType>();
        for (pos, check) in self.checks.iter().enumerate() {
            let mut groups: HashMap<(Vec<Option<String>>, Option<i64>), DatasetPart> =
                HashMap::new();
            match &check.kind {
                DatasetKind::Unique {
                    columns,
                    nulls_distinct,
                    ..
                } => {
                    let cols: Vec<Vec<Option<String>>> =
                        columns.iter().map(|c| rendered(&column(c))).collect();
                    for i in 0..n {
                        let key: Vec<Option<String>> = cols.iter().map(|c| c[i].clone()).collect();
                        if *nulls_distinct && key.iter().any(Option::is_none) {
                            continue;
                        }
                        groups.entry((key, None)).or_default().count += 1;
                    }
                }
                DatasetKind::Aggr {
                    column: value_col,
                    aggr,
                    group_by,
                    ..
                } => {
                    let cols: Vec<Vec<Option<String>>> =
                        group_by.iter().map(|c| rendered(&column(c))).collect();
                    let (numbers, texts) = if value_col == "*" {
                        (None, None)
                    } else {
                        let c = column(value_col);
                        let numbers = numeric(c.data_type()).then(|| {
                            arrow::compute::cast(&c, &DataType::Float64)
                                .expect("numeric columns cast to float")
                        });
                        let texts = (*aggr == AggrType::CountDistinct).then(|| rendered(&c));
                        (numbers.map(|a| (a, c.clone())), texts.map(|t| (t, c)))
                    };
                    for i in 0..n {
                        let window = (!times.is_null(i)).then(|| {
                            (times.value(i) / 1000).div_euclid(self.window_ms) * self.window_ms
                        });
                        let key: Vec<Option<String>> = cols.iter().map(|c| c[i].clone()).collect();
                        let part = groups.entry((key, window)).or_default();
                        if value_col == "*" {
                            part.count += 1;
                            continue;
                        }
                        if let Some((texts, _)) = &texts {
                            if let Some(t) = &texts[i] {
                                part.count += 1;
                                part.distinct.push(t.clone());
                            }
                            continue;
                        }
                        let Some((values, raw)) = &numbers else {
                            // count of a non-numeric column: its non-null values
                            if !column(value_col).is_null(i) {
                                part.count += 1;
                            }
                            continue;
                        };
                        if raw.is_null(i) {
                            continue;
                        }
                        let v = values.as_primitive::<Float64Type>().value(i);
                        part.count += 1;
                        part.sum = add_term(part.sum, v);
                        part.min = least_present(part.min, Some(OrdF64(v)));
                        part.max = part.max.max(Some(OrdF64(v)));
                    }
                }
                // Refused when bound.
                _ => {}
            }
            for ((group, window), mut part) in groups {
                if !part.distinct.is_empty() {
                    let set: BTreeSet<String> = part.distinct.drain(..).collect();
                    part.distinct = set.into_iter().collect();
                }
                out.push(((pos as u32, group, window), part));
            }
        }
    }
}

/// Parts add up: counts and sums add, minima and maxima are kept, distinct values are united. A
/// part is never zero: a group that was seen keeps its row, even with a count of 0.
impl IsZero for DatasetPart {
    fn is_zero(&self) -> bool {
        false
    }
}

impl Semigroup for DatasetPart {
    fn plus_equals(&mut self, part: &DatasetPart) {
        self.count += part.count;
        self.sum = sum_present(self.sum, part.sum);
        self.min = least_present(self.min, part.min);
        self.max = self.max.max(part.max);
        if !part.distinct.is_empty() {
            self.distinct.extend(part.distinct.iter().cloned());
            self.distinct.sort();
            self.distinct.dedup();
        }
    }
}
