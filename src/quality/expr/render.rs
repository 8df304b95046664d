//! Spark's `cast(value as string)`, used to put values into DQX messages exactly as DQX prints
//! them: doubles in Java's `Double.toString` style (`1.0`, `21.4`, `1.0E10`), timestamps as
//! `yyyy-MM-dd HH:mm:ss[.fff]`, dates as `yyyy-MM-dd`, booleans as `true`/`false`.

use arrow::array::{
    Array, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::datetime::{format_date, format_timestamp};

/// Java's `Double.toString` (what Spark prints for a double): plain notation with at least one
/// fractional digit for 1e-3 <= |x| < 1e7, scientific (`1.0E10`, `1.5E-5`) otherwise.
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let a = x.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    } else {
        // Rust's `{:e}` gives the shortest round-trip mantissa: `1e10`, `1.5e-5`.
        let s = format!("{x:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = if mant.contains('.') {
            mant.to_string()
        } else {
            format!("{mant}.0")
        };
        format!("{mant}E{exp}")
    }
}

/// The Spark string of row `i` of `arr`, or `None` when it is null.
pub fn cell(arr: &dyn Array, i: usize) -> Option<String> {
    if arr.is_null(i) {
        return None;
    }
    Some(match arr.data_type() {
        DataType::Utf8 => arr
            .as_any()
            .downcast_ref::<StringArray>()
            .map(|a| a.value(i).to_string())
            .unwrap_or_default(),
        DataType::Int64 => arr
            .as_any()
            .downcast_ref::<Int64Array>()
            .map(|a| a.value(i).to_string())
            .unwrap_or_default(),
        DataType::Float64 => arr
            .as_any()
            .downcast_ref::<Float64Array>()
            .map(|a| java_double(a.value(i)))
            .unwrap_or_default(),
        DataType::Boolean => arr
            .as_any()
            .downcast_ref::<BooleanArray>()
            .map(|a| a.value(i).to_string())
            .unwrap_or_default(),
        DataType::Date32 => arr
            .as_any()
            .downcast_ref::<Date32Array>()
            .map(|a| format_date(a.value(i) as i64))
            .unwrap_or_default(),
        DataType::Timestamp(_, _) => arr
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .map(|a| format_timestamp(a.value(i)))
            .unwrap_or_default(),
        DataType::LargeUtf8 => arr.as_string::<i64>().value(i).to_string(),
        _ => {
            let opts = FormatOptions::default();
            match ArrayFormatter::try_new(arr, &opts) {
                Ok(f) => f.value(i).to_string(),
                Err(_) => String::new(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_like_java() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(21.4), "21.4");
        assert_eq!(java_double(-273.0), "-273.0");
        assert_eq!(java_double(999.9), "999.9");
        assert_eq!(java_double(1e10), "1.0E10");
        assert_eq!(java_double(1.5e-5), "1.5E-5");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(1234567.0), "1234567.0");
        assert_eq!(java_double(12345678.0), "1.2345678E7");
        assert_eq!(java_double(0.0), "0.0");
    }
}
