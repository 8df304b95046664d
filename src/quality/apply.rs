//! Evaluation of a [`RuleSet`] on a `RecordBatch`: per rule the rows its filter lets through and
//! the rows where it fired, counted from the bitmaps; per row whether an `error` rule fired; and
//! the DQX `_errors` / `_warnings` columns. Messages are only built for the rows that fired (the
//! message expressions run on the filtered sub-batch), so passing rows cost nothing beyond the
//! vectorised condition.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::buffer::BooleanBuffer;
use arrow::compute::filter_record_batch;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use super::context::EvalContext;
use super::expr::eval::{Env, Val};
use super::expr::{render, ExprError};
use super::functions::MsgPart;
use super::results::{result_column, Entry};
use super::{Criticality, QualityError, Rule, RuleSet};

/// The outcome of evaluating a rule set on one batch.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Per rule, true where the rule fired (the row fails it); never null.
    pub fired: Vec<BooleanArray>,
    /// Per rule, the rows its filter let through (`None` = all rows). A skipped rule evaluates
    /// no row.
    pub evaluated: Vec<Option<BooleanArray>>,
    /// Per rule, rows evaluated (after the filter).
    pub evaluated_count: Vec<u64>,
    /// Per rule, rows that failed.
    pub failed_count: Vec<u64>,
    /// Per rule, the skipped-check message when the rule could not run on this batch's schema.
    pub skipped: Vec<Option<String>>,
    /// Per row, whether at least one `error` rule fired (skipped checks are not failures).
    pub has_error: BooleanArray,
    /// Per row, whether at least one `warn` rule fired.
    pub has_warning: BooleanArray,
    /// The DQX `_errors` column (null where nothing fired).
    pub errors: ArrayRef,
    /// The DQX `_warnings` column (null where nothing fired).
    pub warnings: ArrayRef,
}

fn to_bool(v: Val, n: usize) -> Result<BooleanArray, ExprError> {
    match v.data_type() {
        DataType::Boolean => Ok(v.into_array(n).as_boolean().clone()),
        DataType::Null => Ok(BooleanArray::new_null(n)),
        other => Err(ExprError::type_mismatch(format!(
            "the condition is not boolean but {other}"
        ))),
    }
}

/// Where `b` is true (null counts as false).
fn true_bits(b: &BooleanArray) -> BooleanBuffer {
    match b.nulls() {
        Some(nulls) => b.values() & nulls.inner(),
        None => b.values().clone(),
    }
}

impl RuleSet {
    /// Evaluates every rule on `batch`.
    pub fn evaluate(
        &self,
        batch: &RecordBatch,
        ctx: &EvalContext,
    ) -> Result<Evaluation, QualityError> {
        let n = batch.num_rows();
        let now_us = ctx.now.timestamp_micros();
        let schema = batch.schema();
        let mut env = Env::new(batch, now_us);
        let k = self.rules().len();
        let mut fired_bits: Vec<BooleanBuffer> = Vec::with_capacity(k);
        let mut evaluated = Vec::with_capacity(k);
        let mut evaluated_count = Vec::with_capacity(k);
        let mut failed_count = Vec::with_capacity(k);
        let mut skipped = Vec::with_capacity(k);
        let mut messages: Vec<Vec<Option<String>>> = Vec::with_capacity(k);
        for rule in self.rules() {
            let eval_err = |in_filter: bool| {
                move |error: ExprError| QualityError::Eval {
                    rule: rule.name().to_string(),
                    in_filter,
                    error,
                }
            };
            if let Some(reason) = rule.skip_reason(&schema) {
                if self.is_strict() {
                    return Err(QualityError::Unresolved {
                        rule: rule.name().to_string(),
                        message: reason,
                    });
                }
                let none = BooleanBuffer::new_unset(n);
                fired_bits.push(none.clone());
                evaluated.push(Some(BooleanArray::new(none, None)));
                evaluated_count.push(0);
                failed_count.push(0);
                skipped.push(Some(reason));
                messages.push(Vec::new());
                continue;
            }
            let filter = match &rule.filter_expr {
                Some(fe) => {
                    let v = env.eval(fe).map_err(eval_err(true))?;
                    Some(true_bits(&to_bool(v, n).map_err(eval_err(true))?))
                }
                None => None,
            };
            let cond = env.eval(&rule.condition).map_err(eval_err(false))?;
            let mut bits = true_bits(&to_bool(cond, n).map_err(eval_err(false))?);
            if let Some(f) = &filter {
                bits = &bits & f;
            }
            let failed = bits.count_set_bits() as u64;
            evaluated_count.push(match &filter {
                Some(f) => f.count_set_bits() as u64,
                None => n as u64,
            });
            failed_count.push(failed);
            evaluated.push(filter.map(|f| BooleanArray::new(f, None)));
            messages.push(if failed > 0 {
                render_messages(rule, batch, &bits, now_us).map_err(eval_err(false))?
            } else {
                Vec::new()
            });
            skipped.push(None);
            fired_bits.push(bits);
        }

        let mut has_error = BooleanBuffer::new_unset(n);
        let mut has_warning = BooleanBuffer::new_unset(n);
        for (rule, bits) in self.rules().iter().zip(&fired_bits) {
            match rule.criticality() {
                Criticality::Error => has_error = &has_error | bits,
                Criticality::Warn => has_warning = &has_warning | bits,
            }
        }
        let ctx_ref = ctx;
        let build = |crit: Criticality| -> ArrayRef {
            let mut counts = vec![0u32; n];
            let mut total = 0usize;
            for (i, rule) in self.rules().iter().enumerate() {
                if rule.criticality() != crit {
                    continue;
                }
                if skipped[i].is_some() {
                    counts.iter_mut().for_each(|c| *c += 1);
                    total += n;
                } else if failed_count[i] > 0 {
                    for row in fired_bits[i].set_indices() {
                        counts[row] += 1;
                    }
                    total += failed_count[i] as usize;
                }
            }
            if total == 0 {
                return result_column(&counts, &[], ctx_ref);
            }
            // Place each entry at its row's next free slot, rules in order.
            let mut cursor = Vec::with_capacity(n);
            let mut acc = 0usize;
            for c in &counts {
                cursor.push(acc);
                acc += *c as usize;
            }
            let mut slots: Vec<Option<Entry<'_>>> = (0..total).map(|_| None).collect();
            for (i, rule) in self.rules().iter().enumerate() {
                if rule.criticality() != crit {
                    continue;
                }
                if let Some(reason) = &skipped[i] {
                    for c in cursor.iter_mut() {
                        slots[*c] = Some(entry(rule, Some(reason.as_str()), true));
                        *c += 1;
                    }
                } else if failed_count[i] > 0 {
                    for (j, row) in fired_bits[i].set_indices().enumerate() {
                        slots[cursor[row]] = Some(entry(rule, messages[i][j].as_deref(), false));
                        cursor[row] += 1;
                    }
                }
            }
            let entries: Vec<Entry<'_>> = slots.into_iter().flatten().collect();
            result_column(&counts, &entries, ctx_ref)
        };
        let errors = build(Criticality::Error);
        let warnings = build(Criticality::Warn);
        Ok(Evaluation {
            fired: fired_bits
                .into_iter()
                .map(|b| BooleanArray::new(b, None))
                .collect(),
            evaluated,
            evaluated_count,
            failed_count,
            skipped,
            has_error: BooleanArray::new(has_error, None),
            has_warning: BooleanArray::new(has_warning, None),
            errors,
            warnings,
        })
    }
}

fn entry<'a>(rule: &'a Rule, message: Option<&'a str>, skipped: bool) -> Entry<'a> {
    Entry {
        name: rule.name(),
        message,
        columns: rule.columns(),
        filter: rule.filter(),
        function: rule.function(),
        user_metadata: rule.user_metadata(),
        skipped,
    }
}

/// Builds the message of every row where `rule` fired, in row order.
fn render_messages(
    rule: &Rule,
    batch: &RecordBatch,
    fired: &BooleanBuffer,
    now_us: i64,
) -> Result<Vec<Option<String>>, ExprError> {
    let mask = BooleanArray::new(fired.clone(), None);
    let needs_values = rule.message.iter().any(|p| !matches!(p, MsgPart::Text(_)));
    let m = fired.count_set_bits();
    if !needs_values {
        let text: String = rule
            .message
            .iter()
            .map(|p| match p {
                MsgPart::Text(t) => t.as_str(),
                _ => "",
            })
            .collect();
        return Ok(vec![Some(text); m]);
    }
    // Only the columns the message needs, and only the rows that fired.
    let mut needed: Vec<usize> = Vec::new();
    for e in rule.message.iter().flat_map(MsgPart::exprs) {
        for c in e.columns() {
            if let Some(i) = Env::column_index(batch.schema_ref(), &c) {
                if !needed.contains(&i) {
                    needed.push(i);
                }
            }
        }
    }
    let projected = batch.project(&needed)?;
    let sub = filter_record_batch(&projected, &mask)?;
    let mut env = Env::new(&sub, now_us);
    let parts = eval_parts(&rule.message, &mut env, m)?;
    let mut out = Vec::with_capacity(m);
    for i in 0..m {
        let mut s = String::new();
        let whole = render_row(&parts, i, &mut s);
        out.push(whole.then_some(s));
    }
    Ok(out)
}

/// A message part evaluated over the fired rows.
enum Part<'a> {
    Text(&'a str),
    Value(ArrayRef, bool),
    Whole(ArrayRef),
    Join(Vec<ArrayRef>),
    When(BooleanArray, Vec<Part<'a>>, Vec<Part<'a>>),
}

fn eval_parts<'a>(
    message: &'a [MsgPart],
    env: &mut Env<'_>,
    m: usize,
) -> Result<Vec<Part<'a>>, ExprError> {
    let mut parts = Vec::with_capacity(message.len());
    for p in message {
        parts.push(match p {
            MsgPart::Text(t) => Part::Text(t),
            MsgPart::Value(e) => Part::Value(env.eval(e)?.into_array(m), false),
            MsgPart::ValueOrNull(e) => Part::Value(env.eval(e)?.into_array(m), true),
            MsgPart::Whole(e) => Part::Whole(env.eval(e)?.into_array(m)),
            MsgPart::Join(es) => Part::Join(
                es.iter()
                    .map(|e| env.eval(e).map(|v| v.into_array(m)))
                    .collect::<Result<_, _>>()?,
            ),
            MsgPart::When {
                cond,
                then,
                otherwise,
            } => {
                let c = to_bool(env.eval(cond)?, m)?;
                Part::When(c, eval_parts(then, env, m)?, eval_parts(otherwise, env, m)?)
            }
        });
    }
    Ok(parts)
}

/// Appends row `i`'s message to `s`; false when the message is null (a null [`MsgPart::Whole`]).
fn render_row(parts: &[Part<'_>], i: usize, s: &mut String) -> bool {
    for p in parts {
        match p {
            Part::Text(t) => s.push_str(t),
            Part::Value(a, or_null) => match render::cell(a.as_ref(), i) {
                Some(v) => s.push_str(&v),
                None if *or_null => s.push_str("null"),
                None => {}
            },
            Part::Whole(a) => match render::cell(a.as_ref(), i) {
                Some(v) => s.push_str(&v),
                None => return false,
            },
            Part::Join(arrs) => {
                let vals: Vec<String> = arrs
                    .iter()
                    .filter_map(|a| render::cell(a.as_ref(), i))
                    .collect();
                s.push_str(&vals.join(", "));
            }
            Part::When(c, then, otherwise) => {
                // Spark's CASE WHEN: a null condition takes the ELSE branch.
                let branch = if c.is_valid(i) && c.value(i) {
                    then
                } else {
                    otherwise
                };
                if !render_row(branch, i, s) {
                    return false;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_sets_are_shareable() {
        fn is<T: Send + Sync>() {}
        is::<RuleSet>();
        is::<Evaluation>();
    }
}
