//! The SQL expression subset of check definitions, compiled to a tree that is evaluated
//! vectorised over Arrow arrays.
//!
//! - [`parse`] turns SQL text into an [`Expr`] (via `sqlparser`), rejecting what is not supported;
//! - [`eval`] evaluates an [`Expr`] on a `RecordBatch` with Arrow compute kernels;
//! - [`javaregex`] gives `rlike` patterns Java's semantics;
//! - [`datetime`] and [`render`] hold the date/time parser and Spark's value-to-string rendering;
//! - [`error`] holds [`ExprError`], what each of them returns when something is wrong.
//!
//! This layer knows nothing of check definitions: DQX's conventions for reading limits and list
//! items as expressions live with the check functions (`quality::functions`).

pub mod codes;
pub mod datetime;
pub mod error;
pub mod eval;
pub mod javaregex;
pub mod json_schema;
pub mod parse;
pub mod render;
pub mod spark_cast;

use std::fmt;
use std::sync::Arc;

pub use datetime::DateTimeFormat;
pub use error::ExprError;
pub use parse::parse;

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Days since the epoch.
    Date(i32),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// Scalar functions (SQL ones, and internal ones the DQX functions are built from).
#[derive(Debug, Clone, PartialEq)]
pub enum Func {
    /// `try_to_timestamp(s [, fmt])`: null where unparseable.
    TryToTimestamp(Option<Arc<DateTimeFormat>>),
    /// `to_timestamp(s [, fmt])` (non-ANSI: null where unparseable).
    ToTimestamp(Option<Arc<DateTimeFormat>>),
    /// `to_date(s [, fmt])`.
    ToDate(Option<Arc<DateTimeFormat>>),
    CurrentTimestamp,
    CurrentDate,
    /// Character length.
    Length,
    /// `size(array)`: the number of elements (null for a null array, as with ANSI on).
    Size,
    Lower,
    Upper,
    /// Removes leading and trailing spaces.
    Trim,
    Abs,
    Coalesce,
    /// Largest non-null argument.
    Greatest,
    /// `cast(x as T)` / `try_cast(x as T)` with Spark's non-ANSI semantics (null on failure).
    Cast(CastTo),
    /// `unix_timestamp(ts)`: whole seconds since the epoch.
    UnixTimestamp,
    /// `from_unixtime(secs)`: the string `yyyy-MM-dd HH:mm:ss` (UTC).
    FromUnixtime,
    /// Adds a constant number of microseconds to a timestamp (dates become timestamps).
    AddMicros(i64),
    /// Adds a constant number of days to a date (`date_add` / `date_sub`).
    AddDays(i64),
    /// Whether a string is valid JSON (null stays null).
    IsValidJson,
    /// A per-value string function of a DQX check (see [`TextFn`]).
    Text(TextFn),
    /// `concat(a, …)`: the arguments as strings, joined; null when one is null.
    Concat,
}

/// Per-value string functions that DQX builds from Spark SQL or Python UDFs, each one function
/// here (evaluated in `eval::text`); nulls stay null.
#[derive(Debug, Clone, PartialEq)]
pub enum TextFn {
    /// The value with the letter case `has_valid_string_case` expects.
    Case(StringCase),
    /// Decimal places of a plain or exponent number, as a double (`has_num_decimal_places`);
    /// null when the text is not such a number.
    DecimalPlaces,
    /// Whether the text is an IPv6 address as Python's `ipaddress.IPv6Address` reads it.
    IsIpv6,
    /// Whether an IPv4 address (DQX's pattern) lies in the network; null when not an address.
    Ipv4InCidr { net: u32, prefix: u8 },
    /// Whether an IPv6 address lies in the network; null when not an address.
    Ipv6InCidr { net: u128, prefix: u8 },
    /// Whether the outermost JSON object has all (`all`) or any of `keys`; null when the text
    /// is not a JSON object.
    JsonHasKeys { keys: Arc<[String]>, all: bool },
    /// The first `n` characters (`substr(s, 1, n)`).
    Prefix(usize),
    /// Whether the text is a code of the list (`lower`: compared lower-cased).
    InCodeList { list: codes::CodeList, lower: bool },
    /// Whether the text is a national identification number of the format.
    NationalId(codes::NationalId),
    /// The text before the first `sep` (`split(s, sep)[0]`), all of it when there is none.
    BeforeFirst(char),
    /// Whether JSON text conforms to the schema (`has_valid_json_schema`; see [`json_schema`]).
    JsonSchema(Arc<json_schema::JsonSchema>),
}

/// The letter cases of `has_valid_string_case`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringCase {
    Upper,
    Lower,
    /// The first character of every space-separated word upper-cased.
    Title,
    /// The first non-white-space character of every period-separated segment upper-cased.
    Sentence,
}

/// Target types of `cast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CastTo {
    String,
    Double,
    Long,
    Boolean,
    Date,
    Timestamp,
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Column(String),
    Literal(Lit),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    IsNull(Box<Expr>),
    IsNotNull(Box<Expr>),
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// `LIKE` / `ILIKE`, compiled to an anchored regex.
    Like {
        expr: Box<Expr>,
        regex: Arc<regex::Regex>,
        negated: bool,
    },
    /// `rlike`: unanchored regex find (Java `find()`).
    RLike {
        expr: Box<Expr>,
        regex: Arc<regex::Regex>,
    },
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Func(Func, Vec<Expr>),
    /// A sub-expression whose value is computed once per batch and shared by every rule that
    /// contains the same key (e.g. `try_to_timestamp(event_time)`).
    Cached(Arc<str>, Box<Expr>),
}

impl Expr {
    pub fn col(name: &str) -> Expr {
        Expr::Column(name.to_string())
    }
    pub fn lit(l: Lit) -> Expr {
        Expr::Literal(l)
    }
    pub fn str_lit(s: &str) -> Expr {
        Expr::Literal(Lit::Str(s.to_string()))
    }
    pub fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
    pub fn and(self, o: Expr) -> Expr {
        Expr::And(Box::new(self), Box::new(o))
    }
    pub fn or(self, o: Expr) -> Expr {
        Expr::Or(Box::new(self), Box::new(o))
    }
    pub fn cmp(self, op: CmpOp, o: Expr) -> Expr {
        Expr::Cmp(op, Box::new(self), Box::new(o))
    }
    pub fn arith(self, op: ArithOp, o: Expr) -> Expr {
        Expr::Arith(op, Box::new(self), Box::new(o))
    }
    pub fn is_null(self) -> Expr {
        Expr::IsNull(Box::new(self))
    }
    pub fn is_not_null(self) -> Expr {
        Expr::IsNotNull(Box::new(self))
    }
    pub fn func(f: Func, args: Vec<Expr>) -> Expr {
        Expr::Func(f, args)
    }
    pub fn call(self, f: Func) -> Expr {
        Expr::Func(f, vec![self])
    }

    /// Wraps the expression so that its value is shared within one batch evaluation, keyed by
    /// its structure. Only worth it for costly per-row functions.
    pub fn cached(self) -> Expr {
        if matches!(self, Expr::Column(_) | Expr::Literal(_) | Expr::Cached(..)) {
            return self;
        }
        let key: Arc<str> = Arc::from(format!("{self:?}"));
        Expr::Cached(key, Box::new(self))
    }

    /// Every column name the expression references, in first-seen order.
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.visit(&mut |e| {
            if let Expr::Column(c) = e {
                if !out.contains(c) {
                    out.push(c.clone());
                }
            }
        });
        out
    }

    fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Column(_) | Expr::Literal(_) => {}
            Expr::Not(e)
            | Expr::Neg(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::Cached(_, e)
            | Expr::Like { expr: e, .. }
            | Expr::RLike { expr: e, .. } => e.visit(f),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) | Expr::Arith(_, a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::InList { expr, list, .. } => {
                expr.visit(f);
                list.iter().for_each(|e| e.visit(f));
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                expr.visit(f);
                low.visit(f);
                high.visit(f);
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                if let Some(o) = operand {
                    o.visit(f);
                }
                for (w, t) in whens {
                    w.visit(f);
                    t.visit(f);
                }
                if let Some(o) = otherwise {
                    o.visit(f);
                }
            }
            Expr::Func(_, args) => args.iter().for_each(|e| e.visit(f)),
        }
    }
}

impl fmt::Display for Lit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lit::Null => write!(f, "NULL"),
            Lit::Bool(b) => write!(f, "{b}"),
            Lit::Int(i) => write!(f, "{i}"),
            Lit::Float(x) => write!(f, "{}", render::java_double(*x)),
            Lit::Str(s) => write!(f, "'{}'", s.replace('\'', "\\'")),
            Lit::Date(d) => write!(f, "DATE '{}'", datetime::format_date(*d as i64)),
            Lit::Timestamp(t) => write!(f, "TIMESTAMP '{}'", datetime::format_timestamp(*t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_collected() {
        let e = parse("a + b * 2 > coalesce(c, a)").unwrap();
        assert_eq!(e.columns(), vec!["a", "b", "c"]);
    }
}
