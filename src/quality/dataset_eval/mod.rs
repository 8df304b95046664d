//! Dataset-level checks over one whole input, as DQX applies them to a DataFrame (what
//! `medallion check --input` runs): `is_unique` marks every row whose key is shared by another
//! checked row; `is_aggr_*` computes the aggregate over all rows or per `group_by` group and
//! marks each row of a failing group. A check's filter selects the rows that are aggregated and
//! marked, as DQX's `row_filter` does. Each marked row gets DQX's name and message.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

mod compare;
mod sql_query;
mod time_windows;
mod upstream;

use super::dataset_rules::{DatasetCheck, DatasetKind};
use super::expr::eval::Env;
use super::expr::{self, render, ExprError};
use crate::quality::aggregates::{aggregate, AggrType, Value};

/// Why a dataset check could not be evaluated on the input.
#[derive(Debug, thiserror::Error)]
#[error("dataset check '{check}': {message}")]
pub struct DatasetEvalError {
    pub check: String,
    pub message: String,
}

/// One marked row: the check (its position in the dataset checks) and DQX's message (null
/// where a `message_expr` gives null).
pub type Mark = (usize, Option<String>);

/// What the dataset checks found on one input.
#[derive(Debug, Default)]
pub struct DatasetEvaluation {
    /// Per row, the checks that mark it, in check order.
    pub marks: Vec<Vec<Mark>>,
    /// Per check, the rows it looked at (its filter's).
    pub evaluated: Vec<u64>,
    /// Per check, the rows it marked.
    pub failed: Vec<u64>,
    /// The input's column names (a schema check that names none reports them).
    pub input_columns: Vec<String>,
    /// Reference rows no input row pairs with (`compare_datasets` with `check_missing_records`).
    pub missing: Vec<MissingRow>,
}

/// A reference row missing from the input: the check (its position), the row's key as the
/// input's key columns, and DQX's message.
#[derive(Debug, Clone)]
pub struct MissingRow {
    pub check: usize,
    pub key: Vec<(String, Option<Value>)>,
    pub message: String,
}

/// Evaluates `checks` on `batch`.
pub fn evaluate(
    checks: &[DatasetCheck],
    batch: &RecordBatch,
    refs: &HashMap<String, RecordBatch>,
    now_us: i64,
) -> Result<DatasetEvaluation, DatasetEvalError> {
    let mut out = DatasetEvaluation {
        marks: vec![Vec::new(); batch.num_rows()],
        input_columns: batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
        ..Default::default()
    };
    let mut env = Env::new(batch, now_us);
    for (pos, check) in checks.iter().enumerate() {
        let mut one = OneCheck {
            check,
            batch,
            refs,
            now_us,
            env: &mut env,
            missing: Vec::new(),
        };
        let selected = one.selected()?;
        // The rows the check may mark: the check-level filter's, or every row for the checks
        // whose `row_filter` argument only selects what they read.
        let scope = if check.check_filter.is_none() && check.marks_outside_row_filter() {
            vec![true; selected.len()]
        } else {
            selected.clone()
        };
        let found = one.marks(&selected, &scope)?;
        let custom = one.custom_messages()?;
        out.missing
            .extend(one.missing.drain(..).map(|(key, message)| MissingRow {
                check: pos,
                key,
                message,
            }));
        out.evaluated
            .push(selected.iter().filter(|s| **s).count() as u64);
        out.failed.push(found.len() as u64);
        for (row, message) in found {
            let message = match &custom {
                Some(c) => (!c.is_null(row)).then(|| c.as_string::<i32>().value(row).to_string()),
                None => Some(message),
            };
            out.marks[row].push((pos, message));
        }
    }
    Ok(out)
}

/// One check being evaluated on the batch.
struct OneCheck<'c, 'b, 'e> {
    check: &'c DatasetCheck,
    batch: &'b RecordBatch,
    refs: &'c HashMap<String, RecordBatch>,
    now_us: i64,
    env: &'e mut Env<'b>,
    /// What a `compare_datasets` check found missing: key and message.
    missing: Vec<(Vec<(String, Option<Value>)>, String)>,
}

impl<'c> OneCheck<'c, '_, '_> {
    /// The `--ref` dataset given as `name`.
    fn reference(&self, name: &str) -> Result<&'c RecordBatch, DatasetEvalError> {
        self.refs.get(name).ok_or_else(|| {
            self.fail(format!(
                "reference '{name}' not given (medallion check --ref {name}=ROWS.jsonl)"
            ))
        })
    }

    /// A SQL expression evaluated on every row of the `--ref` dataset `name`.
    fn eval_ref(
        &self,
        reference: &RecordBatch,
        name: &str,
        text: &str,
    ) -> Result<ArrayRef, DatasetEvalError> {
        let in_ref = |e: String| self.fail(format!("in reference '{name}': {e}"));
        let e = expr::parse(text).map_err(|e| in_ref(e.to_string()))?;
        let v = Env::new(reference, self.now_us)
            .eval(&e)
            .map_err(|e| in_ref(e.to_string()))?;
        Ok(v.into_array(reference.num_rows()))
    }

    fn fail(&self, message: String) -> DatasetEvalError {
        DatasetEvalError {
            check: self.check.name.clone(),
            message,
        }
    }

    /// A SQL expression (a column, a filter) evaluated on every row.
    fn eval(&mut self, text: &str) -> Result<ArrayRef, DatasetEvalError> {
        let e = expr::parse(text).map_err(|e| self.fail(e.to_string()))?;
        let v = self
            .env
            .eval(&e)
            .map_err(|e: ExprError| self.fail(e.to_string()))?;
        Ok(v.into_array(self.batch.num_rows()))
    }

    /// The rows the check's filter lets through (all without one).
    fn selected(&mut self) -> Result<Vec<bool>, DatasetEvalError> {
        let Some(f) = &self.check.filter else {
            return Ok(vec![true; self.batch.num_rows()]);
        };
        let a = self.eval(f)?;
        let b = a
            .as_boolean_opt()
            .ok_or_else(|| self.fail(format!("filter '{f}' is not a condition")))?;
        Ok((0..b.len()).map(|i| b.is_valid(i) && b.value(i)).collect())
    }

    /// The rows the check marks (within `scope`), with DQX's message; `selected` are the rows
    /// it reads.
    fn marks(
        &mut self,
        selected: &[bool],
        scope: &[bool],
    ) -> Result<Vec<(usize, String)>, DatasetEvalError> {
        let check = self.check;
        Ok(match &check.kind {
            DatasetKind::Unique {
                columns,
                nulls_distinct,
                trim_strings,
            } => {
                let keys = columns
                    .iter()
                    .map(|c| self.eval(c))
                    .collect::<Result<Vec<_>, _>>()?;
                unique(check, &keys, selected, *nulls_distinct, *trim_strings)
            }
            DatasetKind::Schema { .. } => self.schema_marks(selected)?,
            DatasetKind::ForeignKey { .. } => self.foreign_key_marks(selected)?,
            DatasetKind::TimeWindow(c) => self.time_window_marks(c, selected, scope)?,
            DatasetKind::AggrMatches(c) => self.upstream_marks(c, selected, scope)?,
            DatasetKind::SqlQuery(q) => self.sql_query_marks(q, selected, scope)?,
            DatasetKind::Compare(c) => self.compare_marks(c, selected)?,
            DatasetKind::Distribution { column, .. } => {
                let a = self.eval(column)?;
                let supported = matches!(
                    a.data_type(),
                    DataType::Utf8 | DataType::Int64 | DataType::Boolean | DataType::Date32
                );
                if !supported {
                    return Err(self.fail(format!(
                        "Column '{column}' has type '{}' for 'is_in_distribution'; supported are \
                         string, integer, boolean and date columns",
                        super::schema_compare::type_of(a.data_type())
                    )));
                }
                distribution(check, &a, selected, scope)
            }
            DatasetKind::Outliers { column } => {
                let a = self.eval(column)?;
                if !matches!(a.data_type(), DataType::Int64 | DataType::Float64) {
                    return Err(self.fail(format!(
                        "Column '{column}' must be of numeric type to perform outlier detection \
                         using MAD method, but got type '{}' instead.",
                        a.data_type()
                    )));
                }
                outliers(check, &a, selected)
            }
            DatasetKind::Aggr {
                column,
                aggr,
                group_by,
                ..
            } => {
                let groups = group_by
                    .iter()
                    .map(|c| self.eval(c))
                    .collect::<Result<Vec<_>, _>>()?;
                let values = if column == "*" {
                    star_values(self.batch, *aggr)
                } else {
                    let a = self.eval(column)?;
                    typed_values(&a, *aggr).map_err(|m| self.fail(m))?
                };
                aggr_marks(check, &values, &groups, selected, scope)
            }
        })
    }

    /// `has_valid_schema`: every selected row, when the input's schema does not pass.
    fn schema_marks(&self, selected: &[bool]) -> Result<Vec<(usize, String)>, DatasetEvalError> {
        let DatasetKind::Schema {
            expected,
            strict,
            columns,
            exclude,
        } = &self.check.kind
        else {
            return Ok(Vec::new());
        };
        let schema = self.batch.schema();
        let names: Vec<&String> = match columns {
            Some(cs) => cs.iter().collect(),
            None => schema.fields().iter().map(|f| f.name()).collect(),
        };
        let mut actual = Vec::new();
        for name in names.into_iter().filter(|n| !exclude.contains(n)) {
            let field = schema
                .field_with_name(name)
                .map_err(|_| self.fail(format!("column '{name}' is not in the input")))?;
            actual.push(super::schema_compare::field_of(field));
        }
        let errors = super::schema_compare::compare(&actual, &expected.fields, *strict);
        if errors.is_empty() {
            return Ok(Vec::new());
        }
        let message = format!("Schema validation failed: {}", errors.join("; "));
        Ok((0..selected.len())
            .filter(|&i| selected[i])
            .map(|i| (i, message.clone()))
            .collect())
    }

    /// `foreign_key`: selected rows (without a null key part, unless `null_safe`) whose key is
    /// not among (`negate`: is among) the reference rows' keys.
    fn foreign_key_marks(
        &mut self,
        selected: &[bool],
    ) -> Result<Vec<(usize, String)>, DatasetEvalError> {
        let DatasetKind::ForeignKey {
            columns,
            ref_columns,
            ref_name,
            negate,
            null_safe,
        } = &self.check.kind
        else {
            return Ok(Vec::new());
        };
        let reference = self.reference(ref_name)?;
        let ref_keys = ref_columns
            .iter()
            .map(|c| self.eval_ref(reference, ref_name, c))
            .collect::<Result<Vec<_>, _>>()?;
        let known: std::collections::HashSet<Vec<Option<String>>> = (0..reference.num_rows())
            .map(|i| group_key(&ref_keys, i, false))
            .filter(|k| *null_safe || k.iter().all(Option::is_some))
            .collect();
        let keys = columns
            .iter()
            .map(|c| self.eval(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((0..selected.len())
            .filter(|&i| selected[i] && (*null_safe || keys.iter().all(|k| k.is_valid(i))))
            .filter(|&i| known.contains(&group_key(&keys, i, false)) == *negate)
            .filter_map(|i| {
                let shown: Vec<String> = keys
                    .iter()
                    .map(|k| render::cell(k.as_ref(), i).unwrap_or_else(|| "null".into()))
                    .collect();
                let value = match shown.as_slice() {
                    [one] => one.clone(),
                    many => format!("{{{}}}", many.join(", ")),
                };
                self.check.foreign_key_message(&value).map(|m| (i, m))
            })
            .collect())
    }

    /// `message_expr`'s value on every row (first 500 characters), when the check has one.
    fn custom_messages(&mut self) -> Result<Option<ArrayRef>, DatasetEvalError> {
        let Some(text) = &self.check.message_expr else {
            return Ok(None);
        };
        let e = expr::parse(text)
            .map_err(|e| self.fail(e.to_string()))?
            .call(expr::Func::Text(expr::TextFn::Prefix(500)));
        let v = self.env.eval(&e).map_err(|e| self.fail(e.to_string()))?;
        let a = v.into_array(self.batch.num_rows());
        super::expr::eval::cast::cast_to(&a, &DataType::Utf8)
            .map(Some)
            .map_err(|e| self.fail(e.to_string()))
    }
}

/// A cell as an aggregate input (`None` when null).
fn value(a: &dyn Array, i: usize) -> Option<Value> {
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Int64 => Value::Int(a.as_primitive::<arrow::datatypes::Int64Type>().value(i)),
        DataType::Float64 => {
            Value::Float(a.as_primitive::<arrow::datatypes::Float64Type>().value(i))
        }
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        _ => Value::Str(render::cell(a, i)?),
    })
}

/// The values an aggregate of a column reads, checked against what the type needs.
fn typed_values(a: &ArrayRef, aggr: AggrType) -> Result<Vec<Option<Value>>, String> {
    let numeric = matches!(a.data_type(), DataType::Int64 | DataType::Float64);
    if aggr.needs_number() && !numeric && a.data_type() != &DataType::Null {
        return Err(format!(
            "aggr_type '{}' needs a numeric column, got {}",
            aggr.as_str(),
            a.data_type()
        ));
    }
    if aggr == AggrType::CountIf && !matches!(a.data_type(), DataType::Boolean | DataType::Null) {
        return Err(format!(
            "aggr_type 'count_if' needs a boolean column, got {}",
            a.data_type()
        ));
    }
    Ok((0..a.len()).map(|i| value(a.as_ref(), i)).collect())
}

/// `count(*)`: one value a row; `count(DISTINCT *)`: the row's values, where none is null.
fn star_values(batch: &RecordBatch, aggr: AggrType) -> Vec<Option<Value>> {
    (0..batch.num_rows())
        .map(|i| {
            if aggr != AggrType::CountDistinct {
                return Some(Value::Int(1));
            }
            let cells: Option<Vec<String>> = batch
                .columns()
                .iter()
                .map(|c| value(c.as_ref(), i).map(|v| v.group_key()))
                .collect();
            cells.map(|c| Value::Str(c.join("\u{1f}")))
        })
        .collect()
}

/// The grouping key of row `i` (Spark's partitioning: nulls form their own group).
fn group_key(cols: &[ArrayRef], i: usize, trim: bool) -> Vec<Option<String>> {
    cols.iter()
        .map(|c| {
            value(c.as_ref(), i).map(|v| match v {
                Value::Str(s) if trim && c.data_type() == &DataType::Utf8 => {
                    Value::Str(s.trim_matches(' ').to_string()).group_key()
                }
                v => v.group_key(),
            })
        })
        .collect()
}

/// `is_unique`: rows selected (and, with `nulls_distinct`, without a null key part) whose key
/// another selected row shares; the message counts the selected rows of the key.
fn unique(
    check: &DatasetCheck,
    keys: &[ArrayRef],
    selected: &[bool],
    nulls_distinct: bool,
    trim: bool,
) -> Vec<(usize, String)> {
    let n = selected.len();
    let counted: Vec<bool> = (0..n)
        .map(|i| selected[i] && (!nulls_distinct || keys.iter().all(|k| k.is_valid(i))))
        .collect();
    let mut counts: std::collections::HashMap<Vec<Option<String>>, i64> = Default::default();
    let row_keys: Vec<_> = (0..n).map(|i| group_key(keys, i, trim)).collect();
    for i in (0..n).filter(|&i| counted[i]) {
        *counts.entry(row_keys[i].clone()).or_default() += 1;
    }
    (0..n)
        .filter(|&i| counted[i] && counts[&row_keys[i]] > 1)
        .filter_map(|i| {
            let shown: Vec<Option<String>> =
                keys.iter().map(|k| render::cell(k.as_ref(), i)).collect();
            check
                .unique_message(&shown, counts[&row_keys[i]])
                .map(|m| (i, m))
        })
        .collect()
}

/// `is_in_distribution`: every selected row, when the total variation distance between the
/// selected non-null values' distribution and the expected one (with its residual bucket)
/// exceeds `distance` (by more than 1e-9), computed in DQX's order of operations.
fn distribution(
    check: &DatasetCheck,
    a: &ArrayRef,
    selected: &[bool],
    scope: &[bool],
) -> Vec<(usize, String)> {
    let DatasetKind::Distribution {
        column,
        distribution,
        distance,
        distance_text,
        case_sensitive,
    } = &check.kind
    else {
        return Vec::new();
    };
    // Keys are compared with the values as Spark prints them (`1`, `true`, `2026-11-26`); only
    // text is case-folded.
    let fold = !*case_sensitive && a.data_type() == &DataType::Utf8;
    let mut counts = vec![0i64; distribution.len()];
    let mut total = 0i64;
    for i in (0..a.len()).filter(|&i| selected[i]) {
        let Some(v) = render::cell(a.as_ref(), i) else {
            continue;
        };
        let v = if fold { v.to_lowercase() } else { v };
        total += 1;
        if let Some(k) = distribution.iter().position(|(key, _)| *key == v) {
            counts[k] += 1;
        }
    }
    if total == 0 {
        return Vec::new();
    }
    let expected_residual = 1.0 - super::aggregates::fsum(distribution.iter().map(|(_, v)| *v));
    let residual = (total - counts.iter().sum::<i64>()) as f64 / total as f64;
    let sum = distribution
        .iter()
        .zip(&counts)
        .map(|((_, e), c)| (e - *c as f64 / total as f64).abs())
        .chain(std::iter::once((expected_residual - residual).abs()))
        .reduce(|a, b| a + b)
        .unwrap_or(0.0);
    let tvd = 0.5 * sum;
    if !(tvd > *distance && (tvd - distance).abs() > 1e-9) {
        return Vec::new();
    }
    let message = format!(
        "Column '{column}' actual distribution deviates from expected by TVD={tvd:.6}, which \
         exceeds the allowed distance={distance_text}."
    );
    (0..scope.len())
        .filter(|&i| scope[i])
        .map(|i| (i, message.clone()))
        .collect()
}

/// Spark's `percentile_approx(v, 0.5)` on fewer values than its summary compresses (all
/// inputs here): the value of rank ⌈n / 2⌉.
fn approx_median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    (n > 0).then(|| sorted[(n as f64 * 0.5).ceil().max(1.0) as usize - 1])
}

/// `has_no_outliers`: selected rows whose value lies outside median ± 3.5 · MAD of the selected
/// values (DQX's `median_absolute_deviation_bounds_df`, with `percentile_approx` medians).
fn outliers(check: &DatasetCheck, a: &ArrayRef, selected: &[bool]) -> Vec<(usize, String)> {
    let x = |i: usize| value(a.as_ref(), i).and_then(|v| v.as_f64());
    let ints = a.data_type() == &DataType::Int64;
    let mut vals: Vec<f64> = (0..a.len())
        .filter(|&i| selected[i])
        .filter_map(x)
        .collect();
    vals.sort_by(f64::total_cmp);
    let Some(median) = approx_median(&vals) else {
        return Vec::new();
    };
    // Integer columns keep integer medians and deviations (Spark's percentile_approx returns
    // the column's type); its summary holds doubles, so the median comes back through one
    // (2^53 + 1 → 2^53).
    let mut devs: Vec<f64> = if ints {
        let mut s: Vec<i64> = (0..a.len())
            .filter(|&i| selected[i])
            .filter_map(|i| match value(a.as_ref(), i) {
                Some(Value::Int(v)) => Some(v),
                _ => None,
            })
            .collect();
        s.sort();
        let m = s[(s.len() as f64 * 0.5).ceil().max(1.0) as usize - 1] as f64 as i64;
        s.iter()
            .map(|v| v.wrapping_sub(m).wrapping_abs() as f64)
            .collect()
    } else {
        vals.iter().map(|v| (v - median).abs()).collect()
    };
    devs.sort_by(f64::total_cmp);
    let Some(mad) = approx_median(&devs) else {
        return Vec::new();
    };
    let (lo, hi) = (median - 3.5 * mad, median + 3.5 * mad);
    (0..a.len())
        .filter(|&i| selected[i] && x(i).is_some_and(|v| v < lo || v > hi))
        .filter_map(|i| {
            let shown = render::cell(a.as_ref(), i)?;
            check.outlier_message(&shown).map(|m| (i, m))
        })
        .collect()
}

/// `is_aggr_*`: the aggregate of the selected rows' values, over all rows or per group; every
/// selected row of a failing group is marked.
fn aggr_marks(
    check: &DatasetCheck,
    values: &[Option<Value>],
    groups: &[ArrayRef],
    selected: &[bool],
    scope: &[bool],
) -> Vec<(usize, String)> {
    let DatasetKind::Aggr {
        aggr, percentile, ..
    } = &check.kind
    else {
        return Vec::new();
    };
    let n = selected.len();
    let row_keys: Vec<_> = (0..n).map(|i| group_key(groups, i, false)).collect();
    let mut inputs: std::collections::HashMap<&Vec<Option<String>>, Vec<Value>> =
        Default::default();
    for i in 0..n {
        let group = inputs.entry(&row_keys[i]).or_default();
        if let (true, Some(v)) = (selected[i], &values[i]) {
            group.push(v.clone());
        }
    }
    let p = percentile.as_ref().map(|(p, _)| *p);
    let metrics: std::collections::HashMap<&Vec<Option<String>>, Option<Value>> = inputs
        .iter()
        .map(|(k, vs)| (*k, aggregate(*aggr, vs, p)))
        .collect();
    (0..n)
        .filter(|&i| scope[i])
        .filter_map(|i| {
            let metric = metrics[&row_keys[i]].as_ref();
            if !check.aggr_fails(metric) {
                return None;
            }
            check.aggr_message(&metric?.render()).map(|m| (i, m))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::quality::{LoadOptions, RuleSet};

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let schema = Schema::new(
            cols.iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|c| c.1).collect()).unwrap()
    }

    fn marks(
        yaml: &str,
        input: &RecordBatch,
        refs: &HashMap<String, RecordBatch>,
    ) -> Vec<Vec<String>> {
        let rules = RuleSet::from_yaml_str(yaml, &LoadOptions::default()).unwrap();
        let ev = evaluate(rules.dataset_checks(), input, refs, 0).unwrap();
        ev.marks
            .into_iter()
            .map(|m| m.into_iter().filter_map(|(_, msg)| msg).collect())
            .collect()
    }

    #[test]
    fn foreign_keys_distributions_and_outliers_mark_rows_as_dqx_does() {
        let input = batch(vec![
            (
                "i",
                Arc::new(Int64Array::from(vec![
                    Some(1),
                    Some(2),
                    None,
                    Some(1),
                    Some(100),
                ])),
            ),
            (
                "s",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("A"),
                    Some("b"),
                    None,
                    Some("a"),
                ])),
            ),
        ]);
        let refs = HashMap::from([(
            "r".to_string(),
            batch(vec![(
                "k",
                Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
            )]),
        )]);
        let fk = "- check:\n    function: foreign_key\n    arguments: {columns: [i], ref_columns: [k], ref_df_name: r}\n";
        let got = marks(fk, &input, &refs);
        assert_eq!(
            got[1],
            ["Value '2' in column 'i' not found in reference column 'k'"]
        );
        assert!(got[0].is_empty() && got[2].is_empty() && got[3].is_empty());
        assert_eq!(got[4].len(), 1);
        // a: 2 of 4 non-null values (0.5 against 0.5); A and b fall in the residual (0.5
        // against 0.5): TVD 0 — within any distance; case-insensitively a is 3 of 4.
        let dist = |cs: bool, d: f64| {
            format!("- check:\n    function: is_in_distribution\n    arguments: {{column: s, distribution: {{a: 0.5}}, distance: {d}, case_sensitive: {cs}}}\n")
        };
        assert!(marks(&dist(true, 0.0), &input, &refs)
            .iter()
            .all(Vec::is_empty));
        let got = marks(&dist(false, 0.2), &input, &refs);
        assert_eq!(
            got[0],
            ["Column 's' actual distribution deviates from expected by TVD=0.250000, which exceeds the allowed distance=0.2."]
        );
        assert_eq!(got.iter().filter(|m| !m.is_empty()).count(), 5);
        let out = "- check:\n    function: has_no_outliers\n    arguments: {column: i}\n";
        // Median 1 (rank 2 of 1, 1, 2, 100), MAD 0 (rank 2 of 0, 0, 1, 99): 2 and 100 are out.
        let got = marks(out, &input, &refs);
        assert_eq!(
            got[4],
            ["Value '100' in Column 'i' is an outlier as per MAD."]
        );
        assert_eq!(
            got[1],
            ["Value '2' in Column 'i' is an outlier as per MAD."]
        );
        assert_eq!(got.iter().filter(|m| !m.is_empty()).count(), 2);
    }
}
