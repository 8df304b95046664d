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

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Date32Array, Datum, Float64Array,
    Int64Array, NullArray, Scalar, StringArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::kernels::{boolean, cmp, numeric, zip::zip};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::datetime::{self, DateTimeFormat, US_PER_DAY, US_PER_SEC};
use super::render;
use super::{ArithOp, CastTo, CmpOp, Expr, Func, Lit};

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
    fn map(self, f: impl FnOnce(ArrayRef) -> Result<ArrayRef, String>) -> Result<Val, String> {
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

/// The Timestamp type every timestamp is normalised to.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
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

fn safe() -> CastOptions<'static> {
    CastOptions {
        safe: true,
        ..Default::default()
    }
}

fn arrow_cast(a: &ArrayRef, to: &DataType) -> Result<ArrayRef, String> {
    cast_with_options(a, to, &safe())
        .map_err(|e| format!("cannot cast {} to {to}: {e}", a.data_type()))
}

/// Normalises a column's type (see the module docs).
pub fn normalize(a: ArrayRef) -> Result<ArrayRef, String> {
    use DataType as D;
    match a.data_type() {
        D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => {
            arrow_cast(&a, &D::Int64)
        }
        D::Float16 | D::Float32 | D::Decimal128(..) | D::Decimal256(..) => {
            arrow_cast(&a, &D::Float64)
        }
        D::LargeUtf8 | D::Utf8View | D::Dictionary(..) => arrow_cast(&a, &D::Utf8),
        D::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => Ok(a),
        D::Timestamp(..) => arrow_cast(&a, &ts_type()),
        D::Date64 => arrow_cast(&a, &D::Date32),
        _ => Ok(a),
    }
}

fn str_arr(a: &ArrayRef) -> Result<&StringArray, String> {
    a.as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| format!("expected a string, found {}", a.data_type()))
}

/// Maps every non-null string through `f` (a null result is a null row).
fn map_strings<'a, T: 'a>(
    a: &'a StringArray,
    f: impl Fn(&str) -> Option<T> + 'a,
) -> impl Iterator<Item = Option<T>> + 'a {
    a.iter().map(move |v| v.and_then(&f))
}

/// A boolean per non-null string; nulls stay null.
fn test_strings(a: &StringArray, f: impl Fn(&str) -> bool) -> BooleanArray {
    let nulls = a.nulls();
    let buf = BooleanBuffer::collect_bool(a.len(), |i| match nulls {
        Some(n) if n.is_null(i) => false,
        _ => f(a.value(i)),
    });
    BooleanArray::new(buf, nulls.cloned())
}

fn parse_with(fmt: Option<&DateTimeFormat>, s: &str) -> Option<datetime::Parts> {
    match fmt {
        None => datetime::parse_iso(s.as_bytes()),
        Some(f) => f.parse(s.as_bytes()),
    }
}

/// Casts with Spark's non-ANSI semantics (null where a value does not convert).
pub fn cast_to(a: &ArrayRef, to: &DataType) -> Result<ArrayRef, String> {
    use DataType as D;
    let from = a.data_type();
    if from == to {
        return Ok(a.clone());
    }
    match (from, to) {
        (D::Null, _) => Ok(new_null_array(to, a.len())),
        (D::Utf8, D::Timestamp(..)) => {
            let s = str_arr(a)?;
            Ok(ts_array(map_strings(s, |v| {
                datetime::parse_timestamp_us(v.as_bytes())
            })))
        }
        (D::Utf8, D::Date32) => {
            let s = str_arr(a)?;
            Ok(Arc::new(Date32Array::from_iter(map_strings(s, |v| {
                datetime::parse_iso(v.as_bytes())?.date_days()
            }))))
        }
        (D::Utf8, D::Float64 | D::Int64) => {
            let s = str_arr(a)?;
            let f = Float64Array::from_iter(map_strings(s, |v| v.trim().parse::<f64>().ok()));
            if to == &D::Float64 {
                Ok(Arc::new(f))
            } else {
                Ok(Arc::new(Int64Array::from_iter(f.iter().map(|v| {
                    v.filter(|x| x.is_finite() && x.abs() < 9.2e18)
                        .map(|x| x.trunc() as i64)
                }))))
            }
        }
        (D::Float64, D::Utf8) => {
            let f = a.as_primitive::<Float64Type>();
            Ok(Arc::new(StringArray::from_iter(
                f.iter().map(|v| v.map(render::java_double)),
            )))
        }
        (D::Timestamp(..), D::Utf8) | (D::Date32, D::Utf8) => Ok(Arc::new(StringArray::from_iter(
            (0..a.len()).map(|i| render::cell(a.as_ref(), i)),
        ))),
        (D::Timestamp(..), D::Date32) => {
            let t = a.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            Ok(Arc::new(Date32Array::from_iter(
                t.iter()
                    .map(|v| v.map(|us| us.div_euclid(US_PER_DAY) as i32)),
            )))
        }
        (D::Date32, D::Timestamp(..)) => {
            let d = a.as_primitive::<Date32Type>();
            Ok(ts_array(d.iter().map(|v| v.map(|d| d as i64 * US_PER_DAY))))
        }
        _ => arrow_cast(a, to),
    }
}

fn cast_val(v: Val, to: &DataType) -> Result<Val, String> {
    if v.data_type() == to {
        return Ok(v);
    }
    v.map(|a| cast_to(&a, to))
}

/// The type two operands are compared / combined in, if any.
fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType as D;
    if a == b {
        return Some(a.clone());
    }
    Some(match (a, b) {
        (D::Null, x) | (x, D::Null) => x.clone(),
        (D::Int64, D::Float64) | (D::Float64, D::Int64) => D::Float64,
        (D::Utf8, D::Int64 | D::Float64) | (D::Int64 | D::Float64, D::Utf8) => D::Float64,
        (D::Utf8, D::Timestamp(..)) | (D::Timestamp(..), D::Utf8) => ts_type(),
        (D::Utf8, D::Date32) | (D::Date32, D::Utf8) => D::Date32,
        (D::Date32, D::Timestamp(..)) | (D::Timestamp(..), D::Date32) => ts_type(),
        (D::Utf8, D::Boolean) | (D::Boolean, D::Utf8) => D::Boolean,
        _ => return None,
    })
}

fn coerce(l: Val, r: Val) -> Result<(Val, Val), String> {
    let t = common_type(l.data_type(), r.data_type()).ok_or_else(|| {
        format!(
            "cannot compare or combine {} with {}",
            l.data_type(),
            r.data_type()
        )
    })?;
    Ok((cast_val(l, &t)?, cast_val(r, &t)?))
}

#[inline]
fn spark_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

#[inline]
fn op_holds(op: CmpOp, o: Ordering) -> bool {
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::NotEq => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::LtEq => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::GtEq => o != Ordering::Less,
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::LtEq => CmpOp::GtEq,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::GtEq => CmpOp::LtEq,
        o => o,
    }
}

/// Double comparison with Spark semantics (NaN equals NaN and is greater than anything,
/// -0.0 equals 0.0), which arrow's total-order kernels do not have.
fn float_cmp_scalar(op: CmpOp, a: &Float64Array, s: f64) -> BooleanArray {
    let v = a.values();
    let n = a.len();
    let buf = if s.is_nan() {
        BooleanBuffer::collect_bool(n, |i| op_holds(op, spark_cmp(v[i], s)))
    } else {
        match op {
            CmpOp::Lt => BooleanBuffer::collect_bool(n, |i| v[i] < s),
            CmpOp::LtEq => BooleanBuffer::collect_bool(n, |i| v[i] <= s),
            CmpOp::Gt => BooleanBuffer::collect_bool(n, |i| v[i] > s || v[i].is_nan()),
            CmpOp::GtEq => BooleanBuffer::collect_bool(n, |i| v[i] >= s || v[i].is_nan()),
            CmpOp::Eq => BooleanBuffer::collect_bool(n, |i| v[i] == s),
            CmpOp::NotEq => BooleanBuffer::collect_bool(n, |i| v[i] != s),
        }
    };
    BooleanArray::new(buf, a.nulls().cloned())
}

fn compare(op: CmpOp, l: Val, r: Val) -> Result<Val, String> {
    let (l, r) = coerce(l, r)?;
    let scalar = l.is_scalar() && r.is_scalar();
    let wrap = |b: BooleanArray| {
        let a: ArrayRef = Arc::new(b);
        if scalar {
            Val::Scalar(a)
        } else {
            Val::Array(a)
        }
    };
    match l.data_type() {
        DataType::Null => {
            let n = if scalar {
                1
            } else {
                l.inner().len().max(r.inner().len())
            };
            return Ok(wrap(BooleanArray::new_null(n)));
        }
        DataType::Float64 => {
            let la = l.inner().as_primitive::<Float64Type>();
            let ra = r.inner().as_primitive::<Float64Type>();
            let out = match (&l, &r) {
                (Val::Array(_), Val::Scalar(_)) | (Val::Scalar(_), Val::Scalar(_)) => {
                    if ra.is_null(0) {
                        BooleanArray::new_null(la.len())
                    } else {
                        float_cmp_scalar(op, la, ra.value(0))
                    }
                }
                (Val::Scalar(_), Val::Array(_)) => {
                    if la.is_null(0) {
                        BooleanArray::new_null(ra.len())
                    } else {
                        float_cmp_scalar(flip(op), ra, la.value(0))
                    }
                }
                (Val::Array(_), Val::Array(_)) => {
                    let (lv, rv) = (la.values(), ra.values());
                    let buf = BooleanBuffer::collect_bool(la.len(), |i| {
                        op_holds(op, spark_cmp(lv[i], rv[i]))
                    });
                    BooleanArray::new(buf, NullBuffer::union(la.nulls(), ra.nulls()))
                }
            };
            return Ok(wrap(out));
        }
        _ => {}
    }
    let f: fn(&dyn Datum, &dyn Datum) -> Result<BooleanArray, arrow::error::ArrowError> = match op {
        CmpOp::Eq => cmp::eq,
        CmpOp::NotEq => cmp::neq,
        CmpOp::Lt => cmp::lt,
        CmpOp::LtEq => cmp::lt_eq,
        CmpOp::Gt => cmp::gt,
        CmpOp::GtEq => cmp::gt_eq,
    };
    let res = apply_datum(&l, &r, f)?;
    Ok(wrap(res))
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

    fn boolean(&self, v: Val, len: usize) -> Result<BooleanArray, String> {
        match v.data_type() {
            DataType::Boolean => Ok(v.into_array(len).as_boolean().clone()),
            DataType::Null => Ok(BooleanArray::new_null(len)),
            other => Err(format!("expected a boolean, found {other}")),
        }
    }

    /// Evaluates `e` on the batch.
    pub fn eval(&mut self, e: &Expr) -> Result<Val, String> {
        match e {
            Expr::Column(name) => {
                let idx = Self::column_index(self.batch.schema_ref(), name)
                    .ok_or_else(|| format!("column '{name}' does not exist"))?;
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
                Ok(self.wrap(Arc::new(boolean::not(&b).map_err(|e| e.to_string())?), s))
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
                }
                .map_err(|e| e.to_string())?;
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
                v.map(|a| numeric::neg_wrapping(&a).map_err(|e| e.to_string()))
            }
            Expr::IsNull(x) | Expr::IsNotNull(x) => {
                let v = self.eval(x)?;
                let s = v.is_scalar();
                let a = v.inner();
                let r = if matches!(e, Expr::IsNull(_)) {
                    arrow::compute::is_null(a.as_ref())
                } else {
                    arrow::compute::is_not_null(a.as_ref())
                }
                .map_err(|e| e.to_string())?;
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
                let r = boolean::and_kleene(&self.boolean(ge, n)?, &self.boolean(le, n)?)
                    .map_err(|e| e.to_string())?;
                let r = if *negated {
                    boolean::not(&r).map_err(|e| e.to_string())?
                } else {
                    r
                };
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

    fn in_list(&mut self, expr: &Expr, list: &[Expr], negated: bool) -> Result<Val, String> {
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
                    let r = boolean::or_kleene(&self.boolean(prev, n)?, &self.boolean(eq, n)?)
                        .map_err(|e| e.to_string())?;
                    self.wrap(Arc::new(r), s)
                }
            });
        }
        let acc = acc.ok_or("IN list is empty")?;
        if negated {
            let s = acc.is_scalar();
            let n = self.len_of(&[&acc]);
            let b = self.boolean(acc, n)?;
            Ok(self.wrap(Arc::new(boolean::not(&b).map_err(|e| e.to_string())?), s))
        } else {
            Ok(acc)
        }
    }

    fn case(
        &mut self,
        operand: Option<&Expr>,
        whens: &[(Expr, Expr)],
        otherwise: Option<&Expr>,
    ) -> Result<Val, String> {
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
            ty = common_type(&ty, t.data_type())
                .ok_or_else(|| format!("CASE branches of types {ty} and {}", t.data_type()))?;
        }
        let mut result = cast_val(other, &ty)?.into_array(n);
        for (c, t) in conds.into_iter().zip(thens).rev() {
            let mask = prep_null_mask_filter(&self.boolean(c, n)?);
            let t = cast_val(t, &ty)?.into_array(n);
            result = zip(&mask, &t, &result).map_err(|e| e.to_string())?;
        }
        Ok(self.wrap(result, scalar))
    }

    fn func(&mut self, f: &Func, args: &[Expr]) -> Result<Val, String> {
        let mut vals: Vec<Val> = args
            .iter()
            .map(|a| self.eval(a))
            .collect::<Result<_, _>>()?;
        let arg = |vals: &mut Vec<Val>| -> Result<Val, String> {
            if vals.is_empty() {
                Err("missing function argument".to_string())
            } else {
                Ok(vals.remove(0))
            }
        };
        match f {
            Func::CurrentTimestamp => Ok(Val::Scalar(ts_array([Some(self.now_us)]))),
            Func::CurrentDate => Ok(Val::Scalar(Arc::new(Date32Array::from(vec![self
                .now_us
                .div_euclid(US_PER_DAY)
                as i32])))),
            Func::TryToTimestamp(fmt) | Func::ToTimestamp(fmt) => {
                let v = arg(&mut vals)?;
                let fmt = fmt.clone();
                v.map(|a| to_timestamp(&a, fmt.as_deref()))
            }
            Func::ToDate(fmt) => {
                let v = arg(&mut vals)?;
                let fmt = fmt.clone();
                v.map(|a| match a.data_type() {
                    DataType::Utf8 => {
                        let s = str_arr(&a)?;
                        Ok(Arc::new(Date32Array::from_iter(map_strings(s, |x| {
                            parse_with(fmt.as_deref(), x)?.date_days()
                        }))) as ArrayRef)
                    }
                    DataType::Null | DataType::Date32 | DataType::Timestamp(..) => {
                        cast_to(&a, &DataType::Date32)
                    }
                    other => Err(format!(
                        "to_date() needs a string, date or timestamp, found {other}"
                    )),
                })
            }
            Func::Length => {
                let v = cast_val(arg(&mut vals)?, &DataType::Utf8)?;
                v.map(|a| {
                    let s = str_arr(&a)?;
                    Ok(Arc::new(Int64Array::from_iter(
                        s.iter().map(|x| x.map(|x| x.chars().count() as i64)),
                    )) as ArrayRef)
                })
            }
            Func::Lower | Func::Upper | Func::Trim => {
                let v = cast_val(arg(&mut vals)?, &DataType::Utf8)?;
                let f = f.clone();
                v.map(|a| {
                    let s = str_arr(&a)?;
                    let out: StringArray = match f {
                        Func::Lower => s.iter().map(|x| x.map(str::to_lowercase)).collect(),
                        Func::Upper => s.iter().map(|x| x.map(str::to_uppercase)).collect(),
                        _ => s.iter().map(|x| x.map(|x| x.trim_matches(' '))).collect(),
                    };
                    Ok(Arc::new(out) as ArrayRef)
                })
            }
            Func::Abs => {
                let v = arg(&mut vals)?;
                let v = match v.data_type() {
                    DataType::Utf8 => cast_val(v, &DataType::Float64)?,
                    _ => v,
                };
                v.map(|a| match a.data_type() {
                    DataType::Int64 => Ok(Arc::new(
                        a.as_primitive::<Int64Type>()
                            .unary::<_, Int64Type>(|x| x.wrapping_abs()),
                    ) as ArrayRef),
                    DataType::Float64 => Ok(Arc::new(
                        a.as_primitive::<Float64Type>()
                            .unary::<_, Float64Type>(f64::abs),
                    ) as ArrayRef),
                    DataType::Null => Ok(a),
                    other => Err(format!("abs() needs a number, found {other}")),
                })
            }
            Func::Coalesce | Func::Greatest => {
                if vals.is_empty() {
                    return Err("coalesce() needs arguments".into());
                }
                let refs: Vec<&Val> = vals.iter().collect();
                let n = self.len_of(&refs);
                let scalar = refs.iter().all(|v| v.is_scalar());
                let mut ty = DataType::Null;
                for v in &vals {
                    ty = common_type(&ty, v.data_type())
                        .ok_or_else(|| format!("arguments of types {ty} and {}", v.data_type()))?;
                }
                let mut it = vals.into_iter();
                let mut acc = cast_val(
                    it.next()
                        .unwrap_or(Val::Scalar(Arc::new(NullArray::new(1)))),
                    &ty,
                )?
                .into_array(n);
                for v in it {
                    let next = cast_val(v, &ty)?.into_array(n);
                    let take_next = if matches!(f, Func::Coalesce) {
                        arrow::compute::is_null(acc.as_ref()).map_err(|e| e.to_string())?
                    } else {
                        let gt =
                            compare(CmpOp::Gt, Val::Array(next.clone()), Val::Array(acc.clone()))?;
                        let gt = prep_null_mask_filter(&self.boolean(gt, n)?);
                        let acc_null =
                            arrow::compute::is_null(acc.as_ref()).map_err(|e| e.to_string())?;
                        boolean::or(&gt, &acc_null).map_err(|e| e.to_string())?
                    };
                    acc = zip(&take_next, &next, &acc).map_err(|e| e.to_string())?;
                }
                Ok(self.wrap(acc, scalar))
            }
            Func::Cast(to) => {
                let v = arg(&mut vals)?;
                let ty = match to {
                    CastTo::String => DataType::Utf8,
                    CastTo::Double => DataType::Float64,
                    CastTo::Long => DataType::Int64,
                    CastTo::Boolean => DataType::Boolean,
                    CastTo::Date => DataType::Date32,
                    CastTo::Timestamp => ts_type(),
                };
                cast_val(v, &ty)
            }
            Func::UnixTimestamp => {
                let v = arg(&mut vals)?;
                v.map(|a| {
                    let t = to_timestamp(&a, None)?;
                    let t = t.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                    Ok(Arc::new(Int64Array::from_iter(
                        t.iter().map(|x| x.map(|us| us.div_euclid(US_PER_SEC))),
                    )) as ArrayRef)
                })
            }
            Func::FromUnixtime => {
                let v = cast_val(arg(&mut vals)?, &DataType::Int64)?;
                v.map(|a| {
                    let s = a.as_primitive::<Int64Type>();
                    Ok(Arc::new(StringArray::from_iter(s.iter().map(|x| {
                        x.and_then(|secs| secs.checked_mul(US_PER_SEC))
                            .map(datetime::format_timestamp)
                    }))) as ArrayRef)
                })
            }
            Func::AddMicros(d) => {
                let v = arg(&mut vals)?;
                let d = *d;
                v.map(|a| {
                    let t = to_timestamp(&a, None)?;
                    let t = t.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                    Ok(ts_array(
                        t.iter().map(|x| x.and_then(|us| us.checked_add(d))),
                    ))
                })
            }
            Func::AddDays(d) => {
                let v = arg(&mut vals)?;
                let d = *d;
                v.map(|a| {
                    let dates = cast_to(&a, &DataType::Date32)?;
                    let dates = dates.as_primitive::<Date32Type>();
                    Ok(Arc::new(Date32Array::from_iter(
                        dates
                            .iter()
                            .map(|x| x.and_then(|x| i32::try_from(x as i64 + d).ok())),
                    )) as ArrayRef)
                })
            }
            Func::IsValidJson => {
                let v = cast_val(arg(&mut vals)?, &DataType::Utf8)?;
                v.map(|a| {
                    let s = str_arr(&a)?;
                    Ok(Arc::new(test_strings(s, |x| {
                        serde_json::from_str::<serde::de::IgnoredAny>(x).is_ok()
                    })) as ArrayRef)
                })
            }
        }
    }
}

fn to_timestamp(a: &ArrayRef, fmt: Option<&DateTimeFormat>) -> Result<ArrayRef, String> {
    match a.data_type() {
        DataType::Utf8 => {
            let s = str_arr(a)?;
            if fmt.is_none() {
                // Hot path: parse straight into the value buffer.
                let nulls = s.nulls();
                let mut valid = arrow::array::BooleanBufferBuilder::new(s.len());
                let mut values = Vec::with_capacity(s.len());
                for i in 0..s.len() {
                    let parsed = if nulls.is_some_and(|n| n.is_null(i)) {
                        None
                    } else {
                        datetime::parse_timestamp_us(s.value(i).as_bytes())
                    };
                    valid.append(parsed.is_some());
                    values.push(parsed.unwrap_or(0));
                }
                let nulls = NullBuffer::new(valid.finish());
                let arr =
                    TimestampMicrosecondArray::new(values.into(), Some(nulls)).with_timezone("UTC");
                return Ok(Arc::new(arr));
            }
            Ok(ts_array(map_strings(s, |x| {
                parse_with(fmt, x)?.timestamp_us()
            })))
        }
        DataType::Null | DataType::Date32 | DataType::Timestamp(..) => cast_to(a, &ts_type()),
        other => Err(format!(
            "to_timestamp() needs a string, date or timestamp, found {other}"
        )),
    }
}

fn arith(op: ArithOp, l: Val, r: Val) -> Result<Val, String> {
    use DataType as D;
    let num = |v: Val| -> Result<Val, String> {
        match v.data_type() {
            D::Utf8 | D::Boolean => cast_val(v, &D::Float64),
            D::Null => cast_val(v, &D::Int64),
            D::Int64 | D::Float64 => Ok(v),
            other => Err(format!("arithmetic on {other}")),
        }
    };
    let (l, r) = (num(l)?, num(r)?);
    let ty = if matches!(op, ArithOp::Div)
        || l.data_type() == &D::Float64
        || r.data_type() == &D::Float64
    {
        D::Float64
    } else {
        D::Int64
    };
    let int_result = ty == D::Int64;
    let (l, r) = if matches!(op, ArithOp::Mod) {
        (cast_val(l, &D::Float64)?, cast_val(r, &D::Float64)?)
    } else {
        (cast_val(l, &ty)?, cast_val(r, &ty)?)
    };
    let scalar = l.is_scalar() && r.is_scalar();
    let f: fn(&dyn Datum, &dyn Datum) -> Result<ArrayRef, arrow::error::ArrowError> = match op {
        ArithOp::Add => numeric::add_wrapping,
        ArithOp::Sub => numeric::sub_wrapping,
        ArithOp::Mul => numeric::mul_wrapping,
        ArithOp::Div => numeric::div,
        ArithOp::Mod => numeric::rem,
    };
    let res = apply_datum(&l, &r, f)?;
    // Spark: x / 0 and x % 0 are null.
    let res = if matches!(op, ArithOp::Div | ArithOp::Mod) {
        let zero: ArrayRef = Arc::new(Float64Array::from(vec![0.0]));
        let is_zero = match &r {
            Val::Array(b) => cmp::eq(b, &Scalar::new(zero)),
            Val::Scalar(b) => cmp::eq(b, &Scalar::new(zero)),
        }
        .map_err(|e| e.to_string())?;
        let is_zero = if is_zero.len() != res.len() {
            BooleanArray::from(vec![!is_zero.is_null(0) && is_zero.value(0); res.len()])
        } else {
            is_zero
        };
        arrow::compute::nullif(&res, &is_zero).map_err(|e| e.to_string())?
    } else {
        res
    };
    let res = if matches!(op, ArithOp::Mod) && int_result {
        cast_to(&res, &D::Int64)?
    } else {
        res
    };
    Ok(if scalar {
        Val::Scalar(res)
    } else {
        Val::Array(res)
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use arrow::datatypes::{Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int32, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(4)])),
                Arc::new(Float64Array::from(vec![
                    Some(1.5),
                    None,
                    Some(-0.0),
                    Some(f64::NAN),
                ])),
                Arc::new(StringArray::from(vec![
                    Some("x"),
                    Some("2024-01-01"),
                    None,
                    Some(""),
                ])),
                Arc::new(arrow::array::Int32Array::from(vec![
                    Some(1),
                    Some(0),
                    Some(3),
                    None,
                ])),
            ],
        )
        .unwrap()
    }

    fn run(sql: &str) -> Vec<Option<String>> {
        let b = batch();
        let mut env = Env::new(&b, 0);
        let v = env
            .eval(&parse(sql).unwrap())
            .unwrap()
            .into_array(b.num_rows());
        (0..v.len()).map(|i| render::cell(v.as_ref(), i)).collect()
    }

    fn s(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|x| x.map(String::from)).collect()
    }

    #[test]
    fn three_valued_logic() {
        assert_eq!(
            run("a > 1 AND b > 0"),
            s(&[Some("false"), None, Some("false"), Some("true")])
        );
        assert_eq!(
            run("a > 1 OR b > 0"),
            s(&[Some("true"), Some("true"), None, Some("true")])
        );
        assert_eq!(
            run("NOT a IS NULL"),
            s(&[Some("true"), Some("true"), Some("false"), Some("true")])
        );
    }

    #[test]
    fn float_semantics_like_spark() {
        // -0.0 is not less than 0; NaN is greater than everything.
        assert_eq!(
            run("b < 0"),
            s(&[Some("false"), None, Some("false"), Some("false")])
        );
        assert_eq!(
            run("b > 1000"),
            s(&[Some("false"), None, Some("false"), Some("true")])
        );
    }

    #[test]
    fn arithmetic_and_coercion() {
        assert_eq!(run("a * 2 + n"), s(&[Some("3"), Some("4"), None, None]));
        assert_eq!(run("a / n"), s(&[Some("1.0"), None, None, None]));
        assert_eq!(run("a % 3"), s(&[Some("1"), Some("2"), None, Some("1")]));
        assert_eq!(
            run("s = '2024-01-01'"),
            s(&[Some("false"), Some("true"), None, Some("false")])
        );
    }

    #[test]
    fn case_coalesce_in_like() {
        assert_eq!(
            run("CASE WHEN a > 1 THEN 'big' WHEN a = 1 THEN 'one' END"),
            s(&[Some("one"), Some("big"), None, Some("big")])
        );
        assert_eq!(
            run("coalesce(a, n, 9)"),
            s(&[Some("1"), Some("2"), Some("3"), Some("4")])
        );
        assert_eq!(
            run("a IN (1, 4)"),
            s(&[Some("true"), Some("false"), None, Some("true")])
        );
        assert_eq!(
            run("a NOT IN (1, NULL)"),
            s(&[Some("false"), None, None, None])
        );
        assert_eq!(
            run("s LIKE '20%'"),
            s(&[Some("false"), Some("true"), None, Some("false")])
        );
        assert_eq!(
            run("s IN ('x', '')"),
            s(&[Some("true"), Some("false"), None, Some("true")])
        );
        assert_eq!(
            run("length(upper(s))"),
            s(&[Some("1"), Some("10"), None, Some("0")])
        );
        assert_eq!(
            run("a BETWEEN 2 AND 4"),
            s(&[Some("false"), Some("true"), None, Some("true")])
        );
        assert_eq!(
            run("to_date(s)"),
            s(&[None, Some("2024-01-01"), None, None])
        );
    }
}

/// Applies a binary Arrow kernel that takes `Datum`s to two values, wrapping a scalar side as an
/// Arrow `Scalar` so the kernel broadcasts it.
fn apply_datum<T>(
    l: &Val,
    r: &Val,
    f: fn(&dyn Datum, &dyn Datum) -> Result<T, arrow::error::ArrowError>,
) -> Result<T, String> {
    match (l, r) {
        (Val::Array(a), Val::Array(b)) => f(a, b),
        (Val::Array(a), Val::Scalar(b)) => f(a, &Scalar::new(b.clone())),
        (Val::Scalar(a), Val::Array(b)) => f(&Scalar::new(a.clone()), b),
        (Val::Scalar(a), Val::Scalar(b)) => f(a, b),
    }
    .map_err(|e| e.to_string())
}
