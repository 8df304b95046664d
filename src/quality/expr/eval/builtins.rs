//! The SQL functions of the subset (`to_timestamp`, `to_date`, `length`, `lower`, `coalesce`,
//! `cast`, …) and the internal ones the DQX check functions are built from (`AddMicros`,
//! `IsValidJson`, …). The per-value ones loop over a string array, writing straight into
//! bitmaps and value buffers.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, NullArray, StringArray,
    TimestampMicrosecondArray,
};
use arrow::buffer::NullBuffer;
use arrow::compute::kernels::{boolean, zip::zip};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};

use super::super::datetime::{self, DateTimeFormat, US_PER_DAY, US_PER_SEC};
use super::super::error::ExprError;
use super::super::spark_cast;
use super::super::{CastTo, CmpOp, Expr, Func};
use super::cast::{cast_to, cast_val, common_type, map_strings, str_arr, test_strings, ts_type};
use super::compare::compare;
use super::{prep_null_mask_filter, ts_array, Env, Val};

impl Env<'_> {
    /// Evaluates the function `f` on `args`.
    pub(super) fn func(&mut self, f: &Func, args: &[Expr]) -> Result<Val, ExprError> {
        let mut vals: Vec<Val> = args
            .iter()
            .map(|a| self.eval(a))
            .collect::<Result<_, _>>()?;
        let arg = |vals: &mut Vec<Val>| -> Result<Val, ExprError> {
            if vals.is_empty() {
                Err(ExprError::Evaluation(
                    "missing function argument".to_string(),
                ))
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
                let today = Some(self.now_us.div_euclid(US_PER_DAY));
                v.map(|a| to_timestamp(&a, fmt.as_deref(), today))
            }
            Func::ToDate(fmt) => {
                let v = arg(&mut vals)?;
                let fmt = fmt.clone();
                v.map(|a| to_date(&a, fmt.as_deref()))
            }
            Func::Size => arg(&mut vals)?.map(|a| {
                let lists = a.as_list_opt::<i32>().ok_or_else(|| {
                    ExprError::TypeMismatch(format!("size() takes an array, got {}", a.data_type()))
                })?;
                Ok(Arc::new(Int64Array::from_iter((0..lists.len()).map(|i| {
                    lists.is_valid(i).then(|| i64::from(lists.value_length(i)))
                }))) as ArrayRef)
            }),
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
                v.map(abs)
            }
            Func::Coalesce | Func::Greatest => self.coalesce_or_greatest(f, vals),
            Func::Concat => self.concat(vals),
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
                    let t = to_timestamp(&a, None, None)?;
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
                    let t = to_timestamp(&a, None, None)?;
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
                    Ok(Arc::new(test_strings(s, super::json::parses_as_spark)) as ArrayRef)
                })
            }
            Func::Text(t) => {
                let v = cast_val(arg(&mut vals)?, &DataType::Utf8)?;
                v.map(|a| super::text::eval(t, str_arr(&a)?))
            }
        }
    }

    /// `concat(…)`: the arguments cast to strings and joined, null where one is null.
    fn concat(&self, vals: Vec<Val>) -> Result<Val, ExprError> {
        let refs: Vec<&Val> = vals.iter().collect();
        let rows = self.len_of(&refs);
        let scalar = refs.iter().all(|v| v.is_scalar());
        let parts: Vec<ArrayRef> = vals
            .into_iter()
            .map(|v| cast_val(v, &DataType::Utf8).map(|v| v.into_array(rows)))
            .collect::<Result<_, _>>()?;
        let strs: Vec<&StringArray> = parts.iter().map(str_arr).collect::<Result<_, _>>()?;
        let out: StringArray = (0..rows)
            .map(|i| {
                let mut s = String::new();
                for a in &strs {
                    if a.is_null(i) {
                        return None;
                    }
                    s.push_str(a.value(i));
                }
                Some(s)
            })
            .collect();
        Ok(self.wrap(Arc::new(out), scalar))
    }

    /// `coalesce(…)` (first non-null) or `greatest(…)` (largest non-null), in the arguments'
    /// common type.
    fn coalesce_or_greatest(&self, f: &Func, vals: Vec<Val>) -> Result<Val, ExprError> {
        if vals.is_empty() {
            return Err(ExprError::invalid("coalesce() needs arguments"));
        }
        let refs: Vec<&Val> = vals.iter().collect();
        let n = self.len_of(&refs);
        let scalar = refs.iter().all(|v| v.is_scalar());
        let mut ty = DataType::Null;
        for v in &vals {
            ty = common_type(&ty, v.data_type()).ok_or_else(|| {
                ExprError::type_mismatch(format!("arguments of types {ty} and {}", v.data_type()))
            })?;
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
                arrow::compute::is_null(acc.as_ref())?
            } else {
                let gt = compare(CmpOp::Gt, Val::Array(next.clone()), Val::Array(acc.clone()))?;
                let gt = prep_null_mask_filter(&self.boolean(gt, n)?);
                let acc_null = arrow::compute::is_null(acc.as_ref())?;
                boolean::or(&gt, &acc_null)?
            };
            acc = zip(&take_next, &next, &acc)?;
        }
        Ok(self.wrap(acc, scalar))
    }
}

/// `to_timestamp(a [, fmt])`: strings parsed (null where they do not parse; without a format as
/// Spark's cast does, a time alone on the date `today`), dates and timestamps cast.
fn to_timestamp(
    a: &ArrayRef,
    fmt: Option<&DateTimeFormat>,
    today: Option<i64>,
) -> Result<ArrayRef, ExprError> {
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
                        spark_cast::spark_timestamp(s.value(i).as_bytes(), today)
                            .and_then(|p| p.timestamp_us())
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
                fmt?.parse(x.as_bytes())?.timestamp_us()
            })))
        }
        DataType::Null | DataType::Date32 | DataType::Timestamp(..) => cast_to(a, &ts_type()),
        other => Err(ExprError::type_mismatch(format!(
            "to_timestamp() needs a string, date or timestamp, found {other}"
        ))),
    }
}

/// `to_date(a [, fmt])`: strings parsed (null where they do not parse), dates and timestamps cast.
fn to_date(a: &ArrayRef, fmt: Option<&DateTimeFormat>) -> Result<ArrayRef, ExprError> {
    match a.data_type() {
        DataType::Utf8 => {
            let s = str_arr(a)?;
            Ok(
                Arc::new(Date32Array::from_iter(map_strings(s, |x| match fmt {
                    None => spark_cast::spark_date(x.as_bytes()),
                    Some(f) => f.parse(x.as_bytes())?.date_days(),
                }))) as ArrayRef,
            )
        }
        DataType::Null | DataType::Date32 | DataType::Timestamp(..) => {
            cast_to(a, &DataType::Date32)
        }
        other => Err(ExprError::type_mismatch(format!(
            "to_date() needs a string, date or timestamp, found {other}"
        ))),
    }
}

/// `abs(a)` of an integer or double array (nulls stay null).
fn abs(a: ArrayRef) -> Result<ArrayRef, ExprError> {
    match a.data_type() {
        DataType::Int64 => Ok(Arc::new(
            a.as_primitive::<Int64Type>()
                .unary::<_, Int64Type>(|x| x.wrapping_abs()),
        ) as ArrayRef),
        DataType::Float64 => Ok(Arc::new(
            a.as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(f64::abs),
        ) as ArrayRef),
        DataType::Null => Ok(a),
        other => Err(ExprError::type_mismatch(format!(
            "abs() needs a number, found {other}"
        ))),
    }
}
