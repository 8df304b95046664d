//! Typed access to a check's arguments, with errors that name the argument, and DQX's
//! conventions for reading a limit or list item as an expression ([`limit`]).

use std::sync::Arc;

use super::super::checks::{ArgValue, Check};
use super::super::expr::{self, datetime, DateTimeFormat, Expr, ExprError, Lit};
use super::{err, FnError};

/// Typed access to a check's arguments, with errors that name the argument.
pub(super) struct Args<'a> {
    pub(super) check: &'a Check,
}

impl<'a> Args<'a> {
    pub(super) fn get(&self, name: &str) -> Option<&'a ArgValue> {
        self.check
            .arg(name)
            .filter(|v| !matches!(v, ArgValue::Null))
    }
    pub(super) fn req(&self, name: &str) -> Result<&'a ArgValue, FnError> {
        self.get(name)
            .ok_or_else(|| err(name, format!("missing required argument '{name}'")))
    }
    pub(super) fn opt_str(&self, name: &str) -> Result<Option<&'a str>, FnError> {
        match self.get(name) {
            None => Ok(None),
            Some(ArgValue::Str(s)) => Ok(Some(s)),
            Some(v) => Err(err(
                name,
                format!("'{name}' must be a string, found {}", v.kind()),
            )),
        }
    }
    pub(super) fn req_str(&self, name: &str) -> Result<&'a str, FnError> {
        self.req(name)?;
        Ok(self.opt_str(name)?.unwrap_or_default())
    }
    pub(super) fn bool(&self, name: &str, default: bool) -> Result<bool, FnError> {
        match self.get(name) {
            None => Ok(default),
            Some(ArgValue::Bool(b)) => Ok(*b),
            Some(ArgValue::Str(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(ArgValue::Str(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(err(
                name,
                format!("'{name}' must be true or false, found {}", v.kind()),
            )),
        }
    }
    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, FnError> {
        match self.get(name) {
            None => Ok(None),
            Some(ArgValue::Int(i)) => Ok(Some(*i)),
            Some(ArgValue::Float(x)) if x.fract() == 0.0 && x.abs() < 9e15 => Ok(Some(*x as i64)),
            Some(ArgValue::Str(s)) if s.trim().parse::<i64>().is_ok() => {
                Ok(s.trim().parse::<i64>().ok())
            }
            Some(v) => Err(err(
                name,
                format!("'{name}' must be an integer, found {}", v.kind()),
            )),
        }
    }
    pub(super) fn non_negative(&self, name: &str) -> Result<f64, FnError> {
        let x = match self.get(name) {
            None => 0.0,
            Some(ArgValue::Int(i)) => *i as f64,
            Some(ArgValue::Float(x)) => *x,
            Some(v) => {
                return Err(err(
                    name,
                    format!("'{name}' must be a number, found {}", v.kind()),
                ))
            }
        };
        if x < 0.0 || x.is_nan() {
            return Err(err(
                name,
                format!("'{name}' must be non-negative, found {x}"),
            ));
        }
        Ok(x)
    }
    pub(super) fn limit(&self, name: &str) -> Result<Expr, FnError> {
        let v = self.req(name)?;
        limit(v).map_err(|e| err(name, e.to_string()))
    }
    pub(super) fn opt_limit(&self, name: &str) -> Result<Option<Expr>, FnError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => limit(v).map(Some).map_err(|e| err(name, e.to_string())),
        }
    }
    pub(super) fn list(&self, name: &str) -> Result<Vec<Expr>, FnError> {
        match self.req(name)? {
            ArgValue::List(items) if items.is_empty() => {
                Err(err(name, format!("'{name}' list must not be empty")))
            }
            ArgValue::List(items) => items
                .iter()
                .map(|i| limit(i).map_err(|e| err(name, format!("item {}: {e}", i.to_text()))))
                .collect(),
            v => Err(err(
                name,
                format!("'{name}' must be a list, found {}", v.kind()),
            )),
        }
    }
    /// A non-empty list of strings.
    pub(super) fn str_list(&self, name: &str) -> Result<Vec<String>, FnError> {
        let bad = || {
            err(
                name,
                format!("'{name}' must be a non-empty list of strings"),
            )
        };
        match self.req(name)? {
            ArgValue::List(items) if !items.is_empty() => items
                .iter()
                .map(|i| match i {
                    ArgValue::Str(s) => Ok(s.clone()),
                    _ => Err(bad()),
                })
                .collect(),
            _ => Err(bad()),
        }
    }
    pub(super) fn format(
        &self,
        name: &str,
    ) -> Result<Option<(String, Arc<DateTimeFormat>)>, FnError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(f) => DateTimeFormat::compile(f)
                .map(|c| Some((f.to_string(), Arc::new(c))))
                .map_err(|e| err(name, e.to_string())),
        }
    }
}

/// A limit, list item or other "value" argument, resolved with DQX's `get_limit_expr`
/// conventions: numbers and booleans are literals; a string of digits is a number; a string that
/// is an ISO date (`2024-01-01`) is a date and an ISO date-time (`2024-01-01 10:00:00`,
/// `2024-01-01T10:00:00Z`) a timestamp; any other string is a SQL expression (so a bare word is a
/// column reference and `'word'` a string literal). `null` is an error (a missing limit).
pub fn limit(value: &ArgValue) -> Result<Expr, ExprError> {
    match value {
        ArgValue::Null => Err(ExprError::InvalidArgument(
            "value is null (a limit must be provided)".into(),
        )),
        ArgValue::Bool(b) => Ok(Expr::lit(Lit::Bool(*b))),
        ArgValue::Int(i) => Ok(Expr::lit(Lit::Int(*i))),
        ArgValue::Float(x) => Ok(Expr::lit(Lit::Float(*x))),
        ArgValue::Str(s) => {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                return match s.parse::<i64>() {
                    Ok(i) => Ok(Expr::lit(Lit::Int(i))),
                    Err(_) => Ok(Expr::lit(Lit::Float(s.parse::<f64>().unwrap_or(f64::NAN)))),
                };
            }
            if let Some(p) = datetime::parse_iso(s.as_bytes()) {
                if s.contains(':') {
                    if let Some(ts) = p.timestamp_us() {
                        return Ok(Expr::lit(Lit::Timestamp(ts)));
                    }
                } else if let Some(d) = p.date_days() {
                    return Ok(Expr::lit(Lit::Date(d)));
                }
            }
            expr::parse(s)
        }
        ArgValue::List(_) | ArgValue::Map(_) => Err(ExprError::InvalidArgument(
            "expected a single value, found a list or mapping".into(),
        )),
    }
}

/// The text Spark prints for a limit given as text that is a SQL decimal literal (`2.50`,
/// `-1.0`, `.5`, `007.5`): the literal's scale kept (`2.50`, `-1.0`, `0.5`, `7.5`); `None` for
/// any other text (integers and exponent numbers are not decimals).
pub fn decimal_literal_text(t: &str) -> Option<String> {
    let (sign, digits) = match t.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.')?;
    let all_digits = |x: &str| x.bytes().all(|c| c.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let zero = int == "0" && frac.bytes().all(|c| c == b'0');
    let sign = if zero { "" } else { sign };
    Some(if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_dqx_conventions() {
        assert!(matches!(
            limit(&ArgValue::Str("3".into())).unwrap(),
            Expr::Literal(Lit::Int(3))
        ));
        assert!(matches!(
            limit(&ArgValue::Str("2024-01-01".into())).unwrap(),
            Expr::Literal(Lit::Date(_))
        ));
        assert!(matches!(
            limit(&ArgValue::Str("2024-01-01 10:00:00".into())).unwrap(),
            Expr::Literal(Lit::Timestamp(_))
        ));
        assert!(matches!(
            limit(&ArgValue::Str("allowed".into())).unwrap(),
            Expr::Column(c) if c == "allowed"
        ));
        assert!(matches!(
            limit(&ArgValue::Str("'clear'".into())).unwrap(),
            Expr::Literal(Lit::Str(s)) if s == "clear"
        ));
        assert!(limit(&ArgValue::Null).is_err());
    }

    #[test]
    fn decimal_literals_keep_their_scale() {
        assert_eq!(decimal_literal_text("2.50").as_deref(), Some("2.50"));
        assert_eq!(decimal_literal_text("-1.0").as_deref(), Some("-1.0"));
        assert_eq!(decimal_literal_text(".5").as_deref(), Some("0.5"));
        assert_eq!(decimal_literal_text("5.").as_deref(), Some("5"));
        assert_eq!(decimal_literal_text("-0.00").as_deref(), Some("0.00"));
        assert_eq!(decimal_literal_text("3"), None);
        assert_eq!(decimal_literal_text("1e3"), None);
        assert_eq!(decimal_literal_text("a.b"), None);
    }
}
