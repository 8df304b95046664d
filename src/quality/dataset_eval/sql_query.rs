//! `sql_query` ([`crate::quality::sql_query`]) on one input: the compiled query run over the
//! rows its filter selects (WHERE, groups and aggregates, HAVING, the select list), and its
//! condition joined back to the input rows by `merge_columns` (null-safely) or, without them,
//! given to every row.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringArray,
};
use arrow::compute::{filter_record_batch, take};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::{group_key, star_values, typed_values, DatasetEvalError, OneCheck};
use crate::quality::aggregates::{aggregate, Value};
use crate::quality::expr::eval::Env;
use crate::quality::expr::Expr;
use crate::quality::sql_query::{Plan, SqlQuery, AGG_PREFIX};

/// The query's result: its columns by name, and its row count.
struct Output {
    columns: Vec<(String, ArrayRef)>,
    rows: usize,
}

impl Output {
    fn column(&self, name: &str) -> Option<&ArrayRef> {
        self.columns
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, a)| a)
    }
}

impl OneCheck<'_, '_, '_> {
    /// The selected rows whose condition holds (`negate`: is false).
    pub(super) fn sql_query_marks(
        &mut self,
        q: &SqlQuery,
        selected: &[bool],
        scope: &[bool],
    ) -> Result<Vec<(usize, String)>, DatasetEvalError> {
        let view = filter_record_batch(self.batch, &BooleanArray::from(selected.to_vec()))
            .map_err(|e| self.fail(e.to_string()))?;
        let out = run(&q.plan, &view, self.now_us).map_err(|m| self.fail(m))?;
        let cond = out
            .column(&q.condition_column)
            .ok_or_else(|| {
                self.fail(format!(
                    "the query returns no column '{}'",
                    q.condition_column
                ))
            })?
            .clone();
        let cond = match cond.data_type() {
            DataType::Boolean => cond.as_boolean().clone(),
            DataType::Null => BooleanArray::new_null(cond.len()),
            other => {
                return Err(self.fail(format!(
                    "the condition column '{}' is {other}, not a boolean",
                    q.condition_column
                )))
            }
        };
        let value = |i: usize| cond.is_valid(i).then(|| cond.value(i));
        let fails = |c: Option<bool>| c == Some(!q.negate);
        let marked: Vec<usize> = if q.merge_columns.is_empty() {
            let c = match out.rows {
                0 => Some(false),
                1 => value(0),
                n => {
                    return Err(self.fail(format!(
                        "the query returned {n} rows; without merge_columns it must return at \
                         most one"
                    )))
                }
            };
            (0..selected.len())
                .filter(|&i| selected[i] && fails(c))
                .collect()
        } else {
            let mut out_cols = Vec::with_capacity(q.merge_columns.len());
            for m in &q.merge_columns {
                let a = out
                    .column(m)
                    .ok_or_else(|| self.fail(format!("the query returns no column '{m}'")))?;
                out_cols.push(a.clone());
            }
            // Per merge key, the largest condition (true over false; nulls ignored).
            let mut by_key: HashMap<Vec<Option<String>>, Option<bool>> = HashMap::new();
            for r in 0..out.rows {
                let c = by_key.entry(group_key(&out_cols, r, false)).or_default();
                *c = match (*c, value(r)) {
                    (Some(a), Some(b)) => Some(a || b),
                    (a, b) => a.or(b),
                };
            }
            let keys = self.group_keys(&q.merge_columns)?;
            (0..selected.len())
                .filter(|&i| scope[i] && fails(by_key.get(&keys[i]).copied().flatten()))
                .collect()
        };
        Ok(marked.into_iter().map(|i| (i, q.message.clone())).collect())
    }
}

/// Runs the plan over `view`.
fn run(plan: &Plan, view: &RecordBatch, now_us: i64) -> Result<Output, String> {
    let eval = |batch: &RecordBatch, e: &Expr| -> Result<ArrayRef, String> {
        let v = Env::new(batch, now_us).eval(e).map_err(|e| e.to_string())?;
        Ok(v.into_array(batch.num_rows()))
    };
    let base = match &plan.filter {
        None => view.clone(),
        Some(f) => {
            let a = eval(view, f)?;
            let b = a
                .as_boolean_opt()
                .ok_or("the WHERE clause is not a condition")?;
            let keep: BooleanArray = (0..b.len())
                .map(|i| Some(b.is_valid(i) && b.value(i)))
                .collect();
            filter_record_batch(view, &keep).map_err(|e| e.to_string())?
        }
    };
    let rows = if plan.aggregates_rows() {
        grouped(plan, &base, now_us)?
    } else {
        base
    };
    let columns = match &plan.items {
        None => rows
            .schema()
            .fields()
            .iter()
            .zip(rows.columns())
            .map(|(f, a)| (f.name().clone(), a.clone()))
            .collect(),
        Some(items) => items
            .iter()
            .map(|(n, e)| Ok((n.clone(), eval(&rows, e)?)))
            .collect::<Result<_, String>>()?,
    };
    Ok(Output {
        columns,
        rows: rows.num_rows(),
    })
}

/// One row per group (all rows one group without GROUP BY, even none): a representative input
/// row's columns and the aggregates as `{AGG_PREFIX}k`, less the groups HAVING drops.
fn grouped(plan: &Plan, base: &RecordBatch, now_us: i64) -> Result<RecordBatch, String> {
    let eval = |e: &Expr| -> Result<ArrayRef, String> {
        let v = Env::new(base, now_us).eval(e).map_err(|e| e.to_string())?;
        Ok(v.into_array(base.num_rows()))
    };
    let keys: Vec<ArrayRef> = plan.group_by.iter().map(eval).collect::<Result<_, _>>()?;
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut index: HashMap<Vec<Option<String>>, usize> = HashMap::new();
    for r in 0..base.num_rows() {
        let g = *index.entry(group_key(&keys, r, false)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(r);
    }
    if plan.group_by.is_empty() && groups.is_empty() {
        groups.push(Vec::new());
    }
    let mut fields: Vec<Field> = base
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let reps: Int64Array = groups
        .iter()
        .map(|g| g.first().map(|&r| r as i64))
        .collect();
    let mut cols: Vec<ArrayRef> = base
        .columns()
        .iter()
        .map(|c| match take(c.as_ref(), &reps, None) {
            Ok(a) => a,
            Err(_) => new_null_array(c.data_type(), groups.len()),
        })
        .collect();
    for (k, agg) in plan.aggregates.iter().enumerate() {
        let inputs = match &agg.arg {
            None => star_values(base, agg.aggr),
            Some(e) => typed_values(&eval(e)?, agg.aggr)?,
        };
        let results: Vec<Option<Value>> = groups
            .iter()
            .map(|g| {
                let vs: Vec<Value> = g.iter().filter_map(|&r| inputs[r].clone()).collect();
                aggregate(agg.aggr, &vs, None)
            })
            .collect();
        let a = values_array(&results);
        fields.push(Field::new(
            format!("{AGG_PREFIX}{k}"),
            a.data_type().clone(),
            true,
        ));
        cols.push(a);
    }
    let opts = RecordBatchOptions::new().with_row_count(Some(groups.len()));
    let batch = RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), cols, &opts)
        .map_err(|e| e.to_string())?;
    let Some(h) = &plan.having else {
        return Ok(batch);
    };
    let v = Env::new(&batch, now_us)
        .eval(h)
        .map_err(|e| e.to_string())?
        .into_array(batch.num_rows());
    let b = v
        .as_boolean_opt()
        .ok_or("the HAVING clause is not a condition")?;
    let keep: BooleanArray = (0..b.len())
        .map(|i| Some(b.is_valid(i) && b.value(i)))
        .collect();
    filter_record_batch(&batch, &keep).map_err(|e| e.to_string())
}

/// Aggregate results as one column, in the type Spark gives them.
fn values_array(values: &[Option<Value>]) -> ArrayRef {
    let any = |f: fn(&Value) -> bool| values.iter().flatten().any(f);
    if any(|v| matches!(v, Value::Str(_))) {
        Arc::new(StringArray::from_iter(
            values.iter().map(|v| v.as_ref().map(Value::render)),
        ))
    } else if any(|v| matches!(v, Value::Float(_))) {
        Arc::new(Float64Array::from_iter(
            values.iter().map(|v| v.as_ref().and_then(Value::as_f64)),
        ))
    } else if any(|v| matches!(v, Value::Bool(_))) {
        Arc::new(BooleanArray::from_iter(values.iter().map(|v| match v {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        })))
    } else {
        Arc::new(Int64Array::from_iter(values.iter().map(|v| match v {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        })))
    }
}
