//! Vectorised evaluation of an [`Expr`] on a `RecordBatch`.
//!
//! Every node evaluates to a [`Val`]: a full column, or a one-row scalar (literals and anything
//! computed from literals only, e.g. the `now + offset` limit, are computed once per batch).
//! Comparisons, boolean logic (SQL three-valued), arithmetic, `IS NULL`, `zip` for `CASE` and
//! `coalesce` run on Arrow compute kernels against `Scalar`s where one side is constant. Only
//! functions that are per-value by nature (timestamp and JSON parsing, regex, case mapping) loop
//! over a string array, writing straight into bitmaps and value buffers.
//!
//! Types are normalised on read: integers → Int64, floats/decimals → Float64, any string type →
//! Utf8, any timestamp → Timestamp(µs, UTC), Date64 → Date32. Mixed-type operations coerce like
//! Spark (string vs number → double, string vs timestamp → timestamp, date vs timestamp →
//! timestamp, int vs double → double).
//!
//! Layout: this module holds [`Val`], [`Env`] and the evaluation of each expression node;
//! [`cast`] the types and casts, `compare` the comparisons, `arith` the arithmetic and
//! `builtins` the SQL functions.

mod arith;
mod builtins;
pub mod cast;
mod compare;
mod json;
#[cfg(test)]
mod tests;
pub mod text;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Date32Array, Datum, Float64Array,
    Int64Array, NullArray, Scalar, StringArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::kernels::{boolean, numeric, zip::zip};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use super::error::ExprError;
use super::{CmpOp, Expr, Lit};
use arith::arith;
pub use cast::{cast_to, normalize, ts_type};
use cast::{cast_val, common_type, str_arr, test_strings};
use compare::compare;

/// An evaluated expression: a column of the batch's length, or a single value.
#[derive(Debug, Clone)]
pub enum Val {
    Array(ArrayRef),
    /// A one-element array standing for the same value on every row.
    Scalar(ArrayRef),
}

impl Val {
    pub fn data_type(&self) -> &DataType {
        match self {
            Val::Array(a) | Val::Scalar(a) => a.data_type(),
        }
    }
    pub fn is_scalar(&self) -> bool {
        matches!(self, Val::Scalar(_))
    }
    fn inner(&self) -> &ArrayRef {
        match self {
            Val::Array(a) | Val::Scalar(a) => a,
        }
    }
    fn map(
        self,
        f: impl FnOnce(ArrayRef) -> Result<ArrayRef, ExprError>,
    ) -> Result<Val, ExprError> {
        Ok(match self {
            Val::Array(a) => Val::Array(f(a)?),
            Val::Scalar(a) => Val::Scalar(f(a)?),
        })
    }
    /// The value as an array of `len` rows (scalars are repeated).
    pub fn into_array(self, len: usize) -> ArrayRef {
        match self {
            Val::Array(a) => a,
            Val::Scalar(a) => broadcast(&a, len),
        }
    }
}

fn broadcast(a: &ArrayRef, len: usize) -> ArrayRef {
    if a.len() == len {
        return a.clone();
    }
    if a.is_empty() || a.is_null(0) {
        return new_null_array(a.data_type(), len);
    }
    let idx = UInt32Array::from(vec![0u32; len]);
    arrow::compute::take(a.as_ref(), &idx, None)
        .unwrap_or_else(|_| new_null_array(a.data_type(), len))
}

fn ts_array(values: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(values).with_timezone("UTC"))
}

fn lit_array(l: &Lit) -> ArrayRef {
    match l {
        Lit::Null => Arc::new(NullArray::new(1)),
        Lit::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        Lit::Int(i) => Arc::new(Int64Array::from(vec![*i])),
        Lit::Float(x) => Arc::new(Float64Array::from(vec![*x])),
        Lit::Str(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        Lit::Date(d) => Arc::new(Date32Array::from(vec![*d])),
        Lit::Timestamp(t) => ts_array([Some(*t)]),
    }
}

/// True where `b` is true; null counts as false (a filter mask without nulls).
pub fn prep_null_mask_filter(b: &BooleanArray) -> BooleanArray {
    match b.nulls() {
        Some(n) => BooleanArray::new(b.values() & n.inner(), None),
        None => BooleanArray::new(b.values().clone(), None),
    }
}

/// Evaluation state for one batch: the batch, "now", and the shared sub-expression cache.
pub struct Env<'a> {
    batch: &'a RecordBatch,
    now_us: i64,
    cache: HashMap<Arc<str>, Val>,
}

impl<'a> Env<'a> {
    pub fn new(batch: &'a RecordBatch, now_us: i64) -> Self {
        Env {
            batch,
            now_us,
            cache: HashMap::new(),
        }
    }

    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Finds a column: exact name first, then case-insensitively (Spark's default).
    pub fn column_index(batch_schema: &arrow::datatypes::Schema, name: &str) -> Option<usize> {
        batch_schema.index_of(name).ok().or_else(|| {
            batch_schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(name))
        })
    }

    fn len_of(&self, vals: &[&Val]) -> usize {
        if vals.iter().all(|v| v.is_scalar()) {
            1
        } else {
            self.rows()
        }
    }

    fn wrap(&self, a: ArrayRef, scalar: bool) -> Val {
        if scalar {
            Val::Scalar(a)
        } else {
            Val::Array(a)
        }
    }

    fn boolean(&self, v: Val, len: usize) -> Result<BooleanArray, ExprError> {
        match v.data_type() {
            DataType::Boolean => Ok(v.into_array(len).as_boolean().clone()),
            DataType::Null => Ok(BooleanArray::new_null(len)),
            other => Err(ExprError::type_mismatch(format!(
                "expected a boolean, found {other}"
            ))),
        }
    }

    /// Evaluates `e` on the batch.
    pub fn eval(&mut self, e: &Expr) -> Result<Val, ExprError> {
        match e {
            Expr::Column(name) => {
                let idx = Self::column_index(self.batch.schema_ref(), name)
                    .ok_or_else(|| ExprError::UnknownColumn(name.clone()))?;
                Ok(Val::Array(normalize(self.batch.column(idx).clone())?))
            }
            Expr::Literal(l) => Ok(Val::Scalar(lit_array(l))),
            Expr::Cached(key, inner) => {
                if let Some(v) = self.cache.get(key) {
                    return Ok(v.clone());
                }
                let v = self.eval(inner)?;
                self.cache.insert(key.clone(), v.clone());
                Ok(v)
            }
            Expr::Not(x) => {
                let v = self.eval(x)?;
                let s = v.is_scalar();
                let n = self.len_of(&[&v]);
                let b = self.boolean(v, n)?;
                Ok(self.wrap(Arc::new(boolean::not(&b)?), s))
            }
            Expr::And(a, b) | Expr::Or(a, b) => {
                let is_and = matches!(e, Expr::And(..));
                let va = self.eval(a)?;
                let vb = self.eval(b)?;
                let n = self.len_of(&[&va, &vb]);
                let s = va.is_scalar() && vb.is_scalar();
                let ba = self.boolean(va, n)?;
                let bb = self.boolean(vb, n)?;
                let r = if is_and {
                    boolean::and_kleene(&ba, &bb)
                } else {
                    boolean::or_kleene(&ba, &bb)
                }?;
                Ok(self.wrap(Arc::new(r), s))
            }
            Expr::Cmp(op, a, b) => {
                let va = self.eval(a)?;
                let vb = self.eval(b)?;
                compare(*op, va, vb)
            }
            Expr::Arith(op, a, b) => {
                let va = self.eval(a)?;
                let vb = self.eval(b)?;
                arith(*op, va, vb)
            }
            Expr::Neg(x) => {
                let v = self.eval(x)?;
                let v = match v.data_type() {
                    DataType::Utf8 => cast_val(v, &DataType::Float64)?,
                    _ => v,
                };
                v.map(|a| Ok(numeric::neg_wrapping(&a)?))
            }
            Expr::IsNull(x) | Expr::IsNotNull(x) => {
                let v = self.eval(x)?;
                let s = v.is_scalar();
                let a = v.inner();
                let r = if matches!(e, Expr::IsNull(_)) {
                    arrow::compute::is_null(a.as_ref())
                } else {
                    arrow::compute::is_not_null(a.as_ref())
                }?;
                Ok(self.wrap(Arc::new(r), s))
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => self.in_list(expr, list, *negated),
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let v = self.eval(expr)?;
                let lo = self.eval(low)?;
                let hi = self.eval(high)?;
                let (v1, v2) = (v.clone(), v);
                let ge = compare(CmpOp::GtEq, v1, lo)?;
                let le = compare(CmpOp::LtEq, v2, hi)?;
                let n = self.len_of(&[&ge, &le]);
                let s = ge.is_scalar() && le.is_scalar();
                let r = boolean::and_kleene(&self.boolean(ge, n)?, &self.boolean(le, n)?)?;
                let r = if *negated { boolean::not(&r)? } else { r };
                Ok(self.wrap(Arc::new(r), s))
            }
            Expr::Like {
                expr,
                regex,
                negated,
            } => {
                let v = cast_val(self.eval(expr)?, &DataType::Utf8)?;
                let neg = *negated;
                v.map(|a| {
                    let s = str_arr(&a)?;
                    Ok(Arc::new(test_strings(s, |x| regex.is_match(x) != neg)) as ArrayRef)
                })
            }
            Expr::RLike { expr, regex } => {
                let v = cast_val(self.eval(expr)?, &DataType::Utf8)?;
                v.map(|a| {
                    let s = str_arr(&a)?;
                    Ok(Arc::new(test_strings(s, |x| regex.is_match(x))) as ArrayRef)
                })
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => self.case(operand.as_deref(), whens, otherwise.as_deref()),
            Expr::Func(f, args) => self.func(f, args),
        }
    }

    fn in_list(&mut self, expr: &Expr, list: &[Expr], negated: bool) -> Result<Val, ExprError> {
        let v = self.eval(expr)?;
        let items: Vec<Val> = list
            .iter()
            .map(|e| self.eval(e))
            .collect::<Result<_, _>>()?;
        // Fast path: a string column against string literals, tested row by row against a small
        // set instead of one comparison kernel per item.
        if let Val::Array(a) = &v {
            if a.data_type() == &DataType::Utf8
                && items.iter().all(|i| {
                    i.is_scalar() && i.data_type() == &DataType::Utf8 && !i.inner().is_null(0)
                })
            {
                let s = str_arr(a)?;
                let set: Vec<String> = items
                    .iter()
                    .map(|i| str_arr(i.inner()).map(|x| x.value(0).to_string()))
                    .collect::<Result<_, _>>()?;
                let r = test_strings(s, |x| set.iter().any(|w| w == x) != negated);
                return Ok(Val::Array(Arc::new(r)));
            }
        }
        let mut acc: Option<Val> = None;
        for item in items {
            let (a, b) = (v.clone(), item);
            let eq = compare(CmpOp::Eq, a, b)?;
            acc = Some(match acc {
                None => eq,
                Some(prev) => {
                    let n = self.len_of(&[&prev, &eq]);
                    let s = prev.is_scalar() && eq.is_scalar();
                    let r = boolean::or_kleene(&self.boolean(prev, n)?, &self.boolean(eq, n)?)?;
                    self.wrap(Arc::new(r), s)
                }
            });
        }
        let acc = acc.ok_or_else(|| ExprError::Evaluation("IN list is empty".to_string()))?;
        if negated {
            let s = acc.is_scalar();
            let n = self.len_of(&[&acc]);
            let b = self.boolean(acc, n)?;
            Ok(self.wrap(Arc::new(boolean::not(&b)?), s))
        } else {
            Ok(acc)
        }
    }

    fn case(
        &mut self,
        operand: Option<&Expr>,
        whens: &[(Expr, Expr)],
        otherwise: Option<&Expr>,
    ) -> Result<Val, ExprError> {
        let op = operand.map(|o| self.eval(o)).transpose()?;
        let mut conds = Vec::with_capacity(whens.len());
        let mut thens = Vec::with_capacity(whens.len());
        for (w, t) in whens {
            let c = self.eval(w)?;
            let c = match &op {
                Some(o) => {
                    let (a, b) = (o.clone(), c);
                    compare(CmpOp::Eq, a, b)?
                }
                None => c,
            };
            conds.push(c);
            thens.push(self.eval(t)?);
        }
        let other = match otherwise {
            Some(o) => self.eval(o)?,
            None => Val::Scalar(Arc::new(NullArray::new(1))),
        };
        let mut all: Vec<&Val> = conds.iter().chain(thens.iter()).collect();
        all.push(&other);
        if let Some(o) = &op {
            all.push(o);
        }
        let scalar = all.iter().all(|v| v.is_scalar());
        let n = self.len_of(&all);
        let mut ty = other.data_type().clone();
        for t in &thens {
            ty = common_type(&ty, t.data_type()).ok_or_else(|| {
                ExprError::type_mismatch(format!(
                    "CASE branches of types {ty} and {}",
                    t.data_type()
                ))
            })?;
        }
        let mut result = cast_val(other, &ty)?.into_array(n);
        for (c, t) in conds.into_iter().zip(thens).rev() {
            let mask = prep_null_mask_filter(&self.boolean(c, n)?);
            let t = cast_val(t, &ty)?.into_array(n);
            result = zip(&mask, &t, &result)?;
        }
        Ok(self.wrap(result, scalar))
    }
}

/// Applies a binary Arrow kernel that takes `Datum`s to two values, wrapping a scalar side as an
/// Arrow `Scalar` so the kernel broadcasts it.
fn apply_datum<T>(
    l: &Val,
    r: &Val,
    f: fn(&dyn Datum, &dyn Datum) -> Result<T, arrow::error::ArrowError>,
) -> Result<T, ExprError> {
    match (l, r) {
        (Val::Array(a), Val::Array(b)) => f(a, b),
        (Val::Array(a), Val::Scalar(b)) => f(a, &Scalar::new(b.clone())),
        (Val::Scalar(a), Val::Array(b)) => f(&Scalar::new(a.clone()), b),
        (Val::Scalar(a), Val::Scalar(b)) => f(a, b),
    }
    .map_err(ExprError::from)
}
