//! Arithmetic (`+ - * / %`) on numbers, with Spark's coercions and null-on-zero division.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Datum, Float64Array, Int64Array, Scalar};
use arrow::compute::kernels::{cmp, numeric};
use arrow::datatypes::DataType;

use super::super::error::ExprError;
use super::super::ArithOp;
use super::cast::{cast_to, cast_val};
use super::{apply_datum, Val};

/// `l % r` on integers, exactly (through doubles, `9007199254740993 % 2` was 0): null where `r`
/// is 0 (Spark's non-ANSI semantics), and `i64::MIN % -1` is 0 (Java's `%`).
fn int_rem(l: Val, r: Val) -> Result<Val, ExprError> {
    let scalar = l.is_scalar() && r.is_scalar();
    let n = l.inner().len().max(r.inner().len());
    let (la, ra) = (l.into_array(n), r.into_array(n));
    let (la, ra) = (
        la.as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| ExprError::type_mismatch("% on integers".to_string()))?,
        ra.as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| ExprError::type_mismatch("% on integers".to_string()))?,
    );
    let out: Int64Array = la
        .iter()
        .zip(ra.iter())
        .map(|(x, y)| match (x, y) {
            (Some(x), Some(y)) if y != 0 => Some(x.wrapping_rem(y)),
            _ => None,
        })
        .collect();
    let out: ArrayRef = Arc::new(out);
    Ok(if scalar {
        Val::Scalar(out)
    } else {
        Val::Array(out)
    })
}

/// `l op r`: strings and booleans are read as doubles, `/` gives a double, `x / 0` and `x % 0`
/// are null (Spark's non-ANSI semantics), `+ - *` wrap on overflow.
pub(super) fn arith(op: ArithOp, l: Val, r: Val) -> Result<Val, ExprError> {
    use DataType as D;
    let num = |v: Val| -> Result<Val, ExprError> {
        match v.data_type() {
            D::Utf8 | D::Boolean => cast_val(v, &D::Float64),
            D::Null => cast_val(v, &D::Int64),
            D::Int64 | D::Float64 => Ok(v),
            other => Err(ExprError::type_mismatch(format!("arithmetic on {other}"))),
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
    if matches!(op, ArithOp::Mod) && int_result {
        return int_rem(cast_val(l, &D::Int64)?, cast_val(r, &D::Int64)?);
    }
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
        }?;
        let is_zero = if is_zero.len() != res.len() {
            BooleanArray::from(vec![!is_zero.is_null(0) && is_zero.value(0); res.len()])
        } else {
            is_zero
        };
        arrow::compute::nullif(&res, &is_zero)?
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
