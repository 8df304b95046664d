//! Comparisons (`=`, `<>`, `<`, …) of two values after coercion to their common type, with
//! Spark's double semantics (NaN equals NaN and is greater than anything, -0.0 equals 0.0).

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Datum, Float64Array};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::kernels::cmp;
use arrow::datatypes::{DataType, Float64Type};

use super::super::error::ExprError;
use super::super::CmpOp;
use super::cast::coerce;
use super::{apply_datum, Val};

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

/// `l op r` with Spark's coercions; SQL nulls give null.
pub(super) fn compare(op: CmpOp, l: Val, r: Val) -> Result<Val, ExprError> {
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
