//! Types and casts: the normalised column types, Spark's non-ANSI casts, the common type two
//! operands are coerced to, and the string-array helpers the per-value functions share.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array,
    StringArray,
};
use arrow::buffer::BooleanBuffer;
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Date32Type, Float64Type, TimeUnit};

use super::super::datetime::US_PER_DAY;
use super::super::error::ExprError;
use super::super::render;
use super::super::spark_cast;
use super::{ts_array, Val};

/// The Timestamp type every timestamp is normalised to.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn safe() -> CastOptions<'static> {
    CastOptions {
        safe: true,
        ..Default::default()
    }
}

fn arrow_cast(a: &ArrayRef, to: &DataType) -> Result<ArrayRef, ExprError> {
    cast_with_options(a, to, &safe()).map_err(|error| ExprError::Cast {
        from: a.data_type().clone(),
        to: to.clone(),
        error,
    })
}

/// Normalises a column's type (see the module docs of [`super`]).
pub fn normalize(a: ArrayRef) -> Result<ArrayRef, ExprError> {
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

/// The array as a string array (it must be one: callers cast to Utf8 first).
pub(super) fn str_arr(a: &ArrayRef) -> Result<&StringArray, ExprError> {
    a.as_any().downcast_ref::<StringArray>().ok_or_else(|| {
        ExprError::type_mismatch(format!("expected a string, found {}", a.data_type()))
    })
}

/// Maps every non-null string through `f` (a null result is a null row).
pub(super) fn map_strings<'a, T: 'a>(
    a: &'a StringArray,
    f: impl Fn(&str) -> Option<T> + 'a,
) -> impl Iterator<Item = Option<T>> + 'a {
    a.iter().map(move |v| v.and_then(&f))
}

/// A boolean per non-null string; nulls stay null.
pub(super) fn test_strings(a: &StringArray, f: impl Fn(&str) -> bool) -> BooleanArray {
    let nulls = a.nulls();
    let buf = BooleanBuffer::collect_bool(a.len(), |i| match nulls {
        Some(n) if n.is_null(i) => false,
        _ => f(a.value(i)),
    });
    BooleanArray::new(buf, nulls.cloned())
}

/// Casts with Spark's non-ANSI semantics (null where a value does not convert).
pub fn cast_to(a: &ArrayRef, to: &DataType) -> Result<ArrayRef, ExprError> {
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
                spark_cast::spark_timestamp(v.as_bytes(), None)?.timestamp_us()
            })))
        }
        (D::Utf8, D::Date32) => {
            let s = str_arr(a)?;
            Ok(Arc::new(Date32Array::from_iter(map_strings(s, |v| {
                spark_cast::spark_date(v.as_bytes())
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

/// [`cast_to`] on a value (a no-op when it already has the type).
pub(super) fn cast_val(v: Val, to: &DataType) -> Result<Val, ExprError> {
    if v.data_type() == to {
        return Ok(v);
    }
    v.map(|a| cast_to(&a, to))
}

/// The type two operands are compared / combined in, if any.
pub(super) fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
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

/// Casts both operands to their [`common_type`].
pub(super) fn coerce(l: Val, r: Val) -> Result<(Val, Val), ExprError> {
    let t = common_type(l.data_type(), r.data_type()).ok_or_else(|| {
        ExprError::type_mismatch(format!(
            "cannot compare or combine {} with {}",
            l.data_type(),
            r.data_type()
        ))
    })?;
    Ok((cast_val(l, &t)?, cast_val(r, &t)?))
}
