//! The DQX row-level check functions: for each, its arguments (known and required), the
//! condition under which a row *fails* (as an [`Expr`]), the DQX message, and the name DQX
//! generates when a check has none. Semantics and wording follow DQX 0.16/0.17
//! (`databricks.labs.dqx.check_funcs`).

use std::sync::Arc;

use super::checks::{ArgValue, Check};
use super::expr::{self, ArithOp, CastTo, CmpOp, DateTimeFormat, Expr, Func, Lit};

/// One piece of a message; values are rendered as Spark's `cast(… as string)`.
#[derive(Debug, Clone)]
pub enum MsgPart {
    Text(String),
    /// The value, or nothing when null (`concat_ws` skips nulls).
    Value(Expr),
    /// The value, or `null` when null.
    ValueOrNull(Expr),
    /// Values joined with `, ` (nulls skipped).
    Join(Vec<Expr>),
}

/// A check function compiled for one column.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The name DQX would generate.
    pub auto_name: String,
    /// True where the row fails.
    pub condition: Expr,
    pub message: Vec<MsgPart>,
    /// The result's `columns` (the column as written, or sql_expression's `columns`).
    pub columns: Option<Vec<String>>,
    /// Column expressions (as written) with the column names they reference.
    pub check_columns: Vec<(String, Vec<String>)>,
    /// sql_expression's expression text and the columns it references.
    pub expression: Option<(String, Vec<String>)>,
}

/// A compile error: the offending argument (if any) and what is wrong.
pub type FnError = (Option<String>, String);

struct Spec {
    name: &'static str,
    /// Arguments, required ones first and marked by `*`.
    args: &'static [&'static str],
}

const SPECS: &[Spec] = &[
    Spec {
        name: "is_not_null",
        args: &["*column"],
    },
    Spec {
        name: "is_null",
        args: &["*column"],
    },
    Spec {
        name: "is_not_empty",
        args: &["*column", "trim_strings"],
    },
    Spec {
        name: "is_empty",
        args: &["*column", "trim_strings"],
    },
    Spec {
        name: "is_not_null_and_not_empty",
        args: &["*column", "trim_strings"],
    },
    Spec {
        name: "is_null_or_empty",
        args: &["*column", "trim_strings"],
    },
    Spec {
        name: "is_in_list",
        args: &["*column", "*allowed", "case_sensitive"],
    },
    Spec {
        name: "is_not_null_and_is_in_list",
        args: &["*column", "*allowed", "case_sensitive"],
    },
    Spec {
        name: "is_not_in_list",
        args: &["*column", "*forbidden", "case_sensitive"],
    },
    Spec {
        name: "is_in_range",
        args: &["*column", "*min_limit", "*max_limit"],
    },
    Spec {
        name: "is_not_in_range",
        args: &["*column", "*min_limit", "*max_limit"],
    },
    Spec {
        name: "is_not_less_than",
        args: &["*column", "*limit"],
    },
    Spec {
        name: "is_not_greater_than",
        args: &["*column", "*limit"],
    },
    Spec {
        name: "is_equal_to",
        args: &["*column", "*value", "abs_tolerance", "rel_tolerance"],
    },
    Spec {
        name: "is_not_equal_to",
        args: &["*column", "*value", "abs_tolerance", "rel_tolerance"],
    },
    Spec {
        name: "is_valid_date",
        args: &["*column", "date_format"],
    },
    Spec {
        name: "is_valid_timestamp",
        args: &["*column", "timestamp_format"],
    },
    Spec {
        name: "is_not_in_future",
        args: &["*column", "offset", "curr_timestamp"],
    },
    Spec {
        name: "is_not_in_near_future",
        args: &["*column", "offset", "curr_timestamp"],
    },
    Spec {
        name: "is_data_fresh",
        args: &["*column", "*max_age_minutes", "base_timestamp"],
    },
    Spec {
        name: "is_older_than_n_days",
        args: &["*column", "*days", "curr_date", "negate"],
    },
    Spec {
        name: "regex_match",
        args: &["*column", "*regex", "negate"],
    },
    Spec {
        name: "sql_expression",
        args: &["*expression", "msg", "name", "negate", "columns"],
    },
    Spec {
        name: "is_latitude",
        args: &["*column"],
    },
    Spec {
        name: "is_longitude",
        args: &["*column"],
    },
    Spec {
        name: "is_valid_ipv4_address",
        args: &["*column"],
    },
    Spec {
        name: "is_valid_uuid",
        args: &["*column", "strict"],
    },
    Spec {
        name: "is_valid_json",
        args: &["*column"],
    },
];

/// The functions this engine implements.
pub fn function_names() -> impl Iterator<Item = &'static str> {
    SPECS.iter().map(|s| s.name)
}

/// Whether `function` takes a `column` argument (and so supports `for_each_column`).
pub fn takes_column(function: &str) -> bool {
    SPECS
        .iter()
        .find(|s| s.name == function)
        .is_some_and(|s| s.args.contains(&"*column"))
}

/// Lower-cases and turns runs of non-alphanumerics into `_`, dropping trailing ones (DQX's
/// `normalize_col_str`).
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars().take(255) {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

const IPV4: &str = r"\A(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\z";
const UUID: &str =
    r"\A[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\z";
const UUID_STRICT: &str =
    r"\A[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[1-8][0-9A-Fa-f]{3}-[89ABab][0-9A-Fa-f]{3}-[0-9A-Fa-f]{12}\z";

/// Typed access to a check's arguments, with errors that name the argument.
struct Args<'a> {
    check: &'a Check,
}

fn err(arg: &str, msg: impl Into<String>) -> FnError {
    (Some(arg.to_string()), msg.into())
}

impl<'a> Args<'a> {
    fn get(&self, name: &str) -> Option<&'a ArgValue> {
        self.check
            .arg(name)
            .filter(|v| !matches!(v, ArgValue::Null))
    }
    fn req(&self, name: &str) -> Result<&'a ArgValue, FnError> {
        self.get(name)
            .ok_or_else(|| err(name, format!("missing required argument '{name}'")))
    }
    fn opt_str(&self, name: &str) -> Result<Option<&'a str>, FnError> {
        match self.get(name) {
            None => Ok(None),
            Some(ArgValue::Str(s)) => Ok(Some(s)),
            Some(v) => Err(err(
                name,
                format!("'{name}' must be a string, found {}", v.kind()),
            )),
        }
    }
    fn req_str(&self, name: &str) -> Result<&'a str, FnError> {
        self.req(name)?;
        Ok(self.opt_str(name)?.unwrap_or_default())
    }
    fn bool(&self, name: &str, default: bool) -> Result<bool, FnError> {
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
    fn int(&self, name: &str) -> Result<Option<i64>, FnError> {
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
    fn non_negative(&self, name: &str) -> Result<f64, FnError> {
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
    fn limit(&self, name: &str) -> Result<Expr, FnError> {
        let v = self.req(name)?;
        expr::limit(v).map_err(|e| err(name, e.to_string()))
    }
    fn opt_limit(&self, name: &str) -> Result<Option<Expr>, FnError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => expr::limit(v)
                .map(Some)
                .map_err(|e| err(name, e.to_string())),
        }
    }
    fn list(&self, name: &str) -> Result<Vec<Expr>, FnError> {
        match self.req(name)? {
            ArgValue::List(items) if items.is_empty() => {
                Err(err(name, format!("'{name}' list must not be empty")))
            }
            ArgValue::List(items) => items
                .iter()
                .map(|i| {
                    expr::limit(i).map_err(|e| err(name, format!("item {}: {e}", i.to_text())))
                })
                .collect(),
            v => Err(err(
                name,
                format!("'{name}' must be a list, found {}", v.kind()),
            )),
        }
    }
    fn format(&self, name: &str) -> Result<Option<(String, Arc<DateTimeFormat>)>, FnError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(f) => DateTimeFormat::compile(f)
                .map(|c| Some((f.to_string(), Arc::new(c))))
                .map_err(|e| err(name, e.to_string())),
        }
    }
}

fn text(s: impl Into<String>) -> MsgPart {
    MsgPart::Text(s.into())
}

fn value_in(c: &Expr, cs: &str, rest: &str) -> Vec<MsgPart> {
    vec![
        text("Value '"),
        MsgPart::Value(c.clone()),
        text(format!("' in Column '{cs}' {rest}")),
    ]
}

fn regex(pattern: &str, arg: &str) -> Result<Arc<regex::Regex>, FnError> {
    expr::javaregex::compile(pattern)
        .map(Arc::new)
        .map_err(|e| err(arg, format!("invalid regex '{pattern}': {e}")))
}

fn cast(e: Expr, to: CastTo) -> Expr {
    Expr::func(Func::Cast(to), vec![e])
}

fn lit_int(i: i64) -> Expr {
    Expr::lit(Lit::Int(i))
}

fn lit_float(x: f64) -> Expr {
    Expr::lit(Lit::Float(x))
}

/// Validates the arguments of `check` and compiles it; `column` is the for_each_column item
/// when expanding one.
pub fn compile(check: &Check, column: Option<&str>) -> Result<Compiled, FnError> {
    let f = check.function.as_str();
    let spec = SPECS.iter().find(|s| s.name == f).ok_or_else(|| {
        err(
            "function",
            format!(
                "unknown function '{f}' (supported: {})",
                function_names().collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let known = |a: &str| spec.args.iter().any(|s| s.trim_start_matches('*') == a);
    for (a, _) in &check.arguments {
        if !known(a) {
            return Err(err(
                a,
                format!(
                    "unknown argument '{a}' for function '{f}' (expected: {})",
                    spec.args
                        .iter()
                        .map(|s| s.trim_start_matches('*'))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if column.is_some() && check.arg("column").is_some() {
        return Err(err(
            "column",
            "'column' cannot be given together with for_each_column",
        ));
    }
    for req in spec.args.iter().filter_map(|a| a.strip_prefix('*')) {
        let given = if req == "column" && column.is_some() {
            true
        } else {
            check.arg(req).is_some_and(|v| !matches!(v, ArgValue::Null))
        };
        if !given {
            return Err(err(
                req,
                format!("missing required argument '{req}' for function '{f}'"),
            ));
        }
    }
    let args = Args { check };
    if f == "sql_expression" {
        return sql_expression(&args);
    }
    let cs = match column {
        Some(c) => c.to_string(),
        None => args.req_str("column")?.to_string(),
    };
    let cs = cs.trim().to_string();
    let c = expr::parse(&cs).map_err(|e| err("column", e.to_string()))?;
    let n = normalize(&cs);
    let mut check_columns = vec![(cs.clone(), c.columns())];
    let mut add_refs = |label: String, e: &Expr| {
        let refs = e.columns();
        if !refs.is_empty() {
            check_columns.push((label, refs));
        }
    };

    let trimmed = |c: &Expr| -> Result<Expr, FnError> {
        Ok(if args.bool("trim_strings", false)? {
            c.clone().call(Func::Trim)
        } else {
            c.clone()
        })
    };
    let as_str = |e: Expr| cast(e, CastTo::String);

    let (name, condition, message) = match f {
        "is_not_null" => (
            format!("{n}_is_null"),
            c.clone().is_null(),
            vec![text(format!("Column '{cs}' value is null"))],
        ),
        "is_null" => (
            format!("{n}_is_not_null"),
            c.clone().is_not_null(),
            vec![text(format!("Column '{cs}' value is not null"))],
        ),
        "is_not_empty" => (
            format!("{n}_is_empty"),
            as_str(trimmed(&c)?).cmp(CmpOp::Eq, Expr::str_lit("")),
            vec![text(format!("Column '{cs}' value is empty"))],
        ),
        "is_empty" => (
            format!("{n}_is_not_empty"),
            as_str(trimmed(&c)?).cmp(CmpOp::NotEq, Expr::str_lit("")),
            vec![text(format!("Column '{cs}' value is not empty"))],
        ),
        "is_not_null_and_not_empty" => {
            let t = trimmed(&c)?;
            (
                format!("{n}_is_null_or_empty"),
                t.clone()
                    .is_null()
                    .or(as_str(t).cmp(CmpOp::Eq, Expr::str_lit(""))),
                vec![text(format!("Column '{cs}' value is null or empty"))],
            )
        }
        "is_null_or_empty" => {
            let t = trimmed(&c)?;
            (
                format!("{n}_is_not_null_and_not_empty"),
                t.clone()
                    .is_not_null()
                    .and(as_str(t).cmp(CmpOp::NotEq, Expr::str_lit(""))),
                vec![text(format!(
                    "Column '{cs}' value is not null and not empty"
                ))],
            )
        }
        "is_in_list" | "is_not_null_and_is_in_list" | "is_not_in_list" => {
            let arg = if f == "is_not_in_list" {
                "forbidden"
            } else {
                "allowed"
            };
            let items = args.list(arg)?;
            for (i, item) in items.iter().enumerate() {
                add_refs(format!("{arg}[{i}]"), item);
            }
            let ci = !args.bool("case_sensitive", true)?;
            let (cc, cmp_items) = if ci {
                (
                    c.clone().call(Func::Lower),
                    items.iter().map(|i| i.clone().call(Func::Lower)).collect(),
                )
            } else {
                (c.clone(), items.clone())
            };
            let in_list = Expr::InList {
                expr: Box::new(cc),
                list: cmp_items,
                negated: false,
            };
            let (name, cond, what) = match f {
                "is_in_list" => (
                    format!("{n}_is_not_in_the_list"),
                    in_list.not(),
                    "is not in the allowed list",
                ),
                "is_not_null_and_is_in_list" => (
                    format!("{n}_is_null_or_is_not_in_the_list"),
                    c.clone().is_null().or(in_list.not()),
                    "is null or not in the allowed list",
                ),
                _ => (
                    format!("{n}_is_in_the_forbidden_list"),
                    in_list,
                    "is in the forbidden list",
                ),
            };
            (
                name,
                cond,
                vec![
                    text("Value '"),
                    MsgPart::ValueOrNull(c.clone()),
                    text(format!("' in Column '{cs}' {what}: [")),
                    MsgPart::Join(items),
                    text("]"),
                ],
            )
        }
        "is_in_range" | "is_not_in_range" => {
            let lo = args.limit("min_limit")?;
            let hi = args.limit("max_limit")?;
            add_refs("min_limit".into(), &lo);
            add_refs("max_limit".into(), &hi);
            let (name, cond, what) = if f == "is_in_range" {
                (
                    format!("{n}_not_in_range"),
                    c.clone()
                        .cmp(CmpOp::Lt, lo.clone())
                        .or(c.clone().cmp(CmpOp::Gt, hi.clone())),
                    "not in range: [",
                )
            } else {
                (
                    format!("{n}_in_range"),
                    c.clone()
                        .cmp(CmpOp::GtEq, lo.clone())
                        .and(c.clone().cmp(CmpOp::LtEq, hi.clone())),
                    "in range: [",
                )
            };
            let mut msg = value_in(&c, &cs, what);
            msg.extend([
                MsgPart::Value(lo),
                text(", "),
                MsgPart::Value(hi),
                text("]"),
            ]);
            (name, cond, msg)
        }
        "is_not_less_than" | "is_not_greater_than" => {
            let lim = args.limit("limit")?;
            add_refs("limit".into(), &lim);
            let (name, op, what) = if f == "is_not_less_than" {
                (
                    format!("{n}_less_than_limit"),
                    CmpOp::Lt,
                    "is less than limit: ",
                )
            } else {
                (
                    format!("{n}_greater_than_limit"),
                    CmpOp::Gt,
                    "is greater than limit: ",
                )
            };
            let mut msg = value_in(&c, &cs, what);
            msg.push(MsgPart::Value(lim.clone()));
            (name, c.clone().cmp(op, lim), msg)
        }
        "is_equal_to" | "is_not_equal_to" => {
            let v = args.limit("value")?;
            add_refs("value".into(), &v);
            let abs_tol = args.non_negative("abs_tolerance")?;
            let rel_tol = args.non_negative("rel_tolerance")?;
            let numeric = matches!(
                args.get("value"),
                Some(ArgValue::Int(_) | ArgValue::Float(_))
            );
            let tol_match = if numeric && (abs_tol > 0.0 || rel_tol > 0.0) {
                let diff = c.clone().arith(ArithOp::Sub, v.clone()).call(Func::Abs);
                let rel = lit_float(rel_tol).arith(
                    ArithOp::Mul,
                    Expr::func(
                        Func::Greatest,
                        vec![c.clone().call(Func::Abs), v.clone().call(Func::Abs)],
                    ),
                );
                Some(
                    diff.clone()
                        .cmp(CmpOp::LtEq, lit_float(abs_tol))
                        .or(diff.cmp(CmpOp::LtEq, rel)),
                )
            } else {
                None
            };
            let (name, cond, what) = if f == "is_equal_to" {
                (
                    format!("{n}_not_equal_to_value"),
                    match tol_match {
                        Some(m) => m.not(),
                        None => c.clone().cmp(CmpOp::NotEq, v.clone()),
                    },
                    "is not equal to value: ",
                )
            } else {
                (
                    format!("{n}_equal_to_value"),
                    match tol_match {
                        Some(m) => m,
                        None => c.clone().cmp(CmpOp::Eq, v.clone()),
                    },
                    "is equal to value: ",
                )
            };
            let mut msg = value_in(&c, &cs, what);
            msg.push(MsgPart::Value(v));
            (name, cond, msg)
        }
        "is_valid_date" | "is_valid_timestamp" => {
            let (arg, kind) = if f == "is_valid_date" {
                ("date_format", "date")
            } else {
                ("timestamp_format", "timestamp")
            };
            let fmt = args.format(arg)?;
            let parsed = Expr::func(
                Func::TryToTimestamp(fmt.as_ref().map(|(_, f)| f.clone())),
                vec![c.clone()],
            )
            .cached();
            let mut what = format!("is not a valid {kind}");
            if let Some((f, _)) = &fmt {
                what.push_str(&format!(" with format '{f}'"));
            }
            (
                format!("{n}_is_not_valid_{kind}"),
                c.clone().is_not_null().and(parsed.is_null()),
                value_in(&c, &cs, &what),
            )
        }
        "is_not_in_future" | "is_not_in_near_future" => {
            let offset = args.int("offset")?.unwrap_or(0);
            let curr = args
                .opt_limit("curr_timestamp")?
                .unwrap_or_else(|| Expr::func(Func::CurrentTimestamp, vec![]));
            add_refs("curr_timestamp".into(), &curr);
            let limit = curr
                .clone()
                .call(Func::UnixTimestamp)
                .arith(ArithOp::Add, lit_int(offset))
                .call(Func::FromUnixtime);
            if f == "is_not_in_future" {
                let mut msg = value_in(&c, &cs, "is greater than time '");
                msg.extend([MsgPart::Value(limit.clone()), text("'")]);
                (
                    format!("{n}_in_future"),
                    c.clone().cmp(CmpOp::Gt, limit),
                    msg,
                )
            } else {
                let mut msg = value_in(&c, &cs, "is greater than '");
                msg.extend([
                    MsgPart::Value(cast(curr.clone(), CastTo::String)),
                    text(" and smaller than '"),
                    MsgPart::Value(limit.clone()),
                    text("'"),
                ]);
                (
                    format!("{n}_in_near_future"),
                    c.clone()
                        .cmp(CmpOp::Gt, curr)
                        .and(c.clone().cmp(CmpOp::Lt, limit)),
                    msg,
                )
            }
        }
        "is_data_fresh" => {
            let minutes = args.int("max_age_minutes")?.unwrap_or(0);
            let base = args
                .opt_limit("base_timestamp")?
                .unwrap_or_else(|| Expr::func(Func::CurrentTimestamp, vec![]));
            add_refs("base_timestamp".into(), &base);
            let threshold = base
                .clone()
                .call(Func::AddMicros(-minutes.saturating_mul(60_000_000)));
            let mut msg = value_in(
                &c,
                &cs,
                &format!("is older than {minutes} minutes from base timestamp '"),
            );
            msg.extend([MsgPart::Value(cast(base, CastTo::String)), text("'")]);
            (
                format!("{n}_is_data_fresh"),
                c.clone().cmp(CmpOp::Lt, threshold),
                msg,
            )
        }
        "is_older_than_n_days" => {
            let days = args.int("days")?.unwrap_or(0);
            let negate = args.bool("negate", false)?;
            let curr = args
                .opt_limit("curr_date")?
                .unwrap_or_else(|| Expr::func(Func::CurrentDate, vec![]));
            add_refs("curr_date".into(), &curr);
            let col_date = Expr::func(Func::ToDate(None), vec![c.clone()]).cached();
            let curr_date = Expr::func(Func::ToDate(None), vec![curr]);
            let cond = col_date
                .clone()
                .cmp(CmpOp::GtEq, curr_date.clone().call(Func::AddDays(-days)));
            let (name, cond, what, tail) = if negate {
                (
                    format!("is_col_{n}_not_older_than_n_days"),
                    cond.not(),
                    "is less than current date '",
                    format!("' for {days} or more days"),
                )
            } else {
                (
                    format!("is_col_{n}_older_than_n_days"),
                    cond,
                    "is not less than current date '",
                    format!("' for more than {days} days"),
                )
            };
            let msg = vec![
                text("Value '"),
                MsgPart::Value(col_date),
                text(format!("' in Column '{cs}' {what}")),
                MsgPart::Value(curr_date),
                text(tail),
            ];
            (name, cond, msg)
        }
        "regex_match" => {
            let pattern = args.req_str("regex")?;
            let re = regex(pattern, "regex")?;
            let negate = args.bool("negate", false)?;
            let m = Expr::RLike {
                expr: Box::new(c.clone()),
                regex: re,
            };
            if negate {
                (
                    format!("{n}_matching_regex"),
                    m,
                    vec![text(format!("Column '{cs}' is matching regex"))],
                )
            } else {
                (
                    format!("{n}_not_matching_regex"),
                    m.not(),
                    vec![text(format!("Column '{cs}' is not matching regex"))],
                )
            }
        }
        "is_latitude" | "is_longitude" => {
            let (kind, lim) = if f == "is_latitude" {
                ("latitude", 90.0)
            } else {
                ("longitude", 180.0)
            };
            let cond = Expr::Between {
                expr: Box::new(cast(c.clone(), CastTo::Double)),
                low: Box::new(lit_float(-lim)),
                high: Box::new(lit_float(lim)),
                negated: false,
            }
            .not();
            (
                format!("{n}_is_not_valid_{kind}"),
                cond,
                vec![
                    text("value `"),
                    MsgPart::Value(c.clone()),
                    text(format!(
                        "` in column `{cs}` is not a valid {kind} (must be between -{lim} and {lim})"
                    )),
                ],
            )
        }
        "is_valid_ipv4_address" | "is_valid_uuid" => {
            let (pattern, pname) = if f == "is_valid_ipv4_address" {
                (IPV4, "IPV4_ADDRESS")
            } else if args.bool("strict", false)? {
                (UUID_STRICT, "UUID_STRICT")
            } else {
                (UUID, "UUID")
            };
            let re = regex(pattern, "pattern")?;
            let m = Expr::RLike {
                expr: Box::new(cast(c.clone(), CastTo::String)),
                regex: re,
            };
            (
                format!("{n}_does_not_match_pattern_{}", pname.to_ascii_lowercase()),
                c.clone().is_not_null().and(m.not()),
                value_in(&c, &cs, &format!("does not match pattern '{pname}'")),
            )
        }
        "is_valid_json" => (
            format!("{n}_is_not_valid_json"),
            c.clone().call(Func::IsValidJson).not(),
            value_in(&c, &cs, "is not a valid JSON string"),
        ),
        other => return Err(err("function", format!("unknown function '{other}'"))),
    };
    Ok(Compiled {
        auto_name: name,
        condition,
        message,
        columns: Some(vec![cs]),
        check_columns,
        expression: None,
    })
}

fn sql_expression(args: &Args<'_>) -> Result<Compiled, FnError> {
    let text_expr = args.req_str("expression")?;
    let e = expr::parse(text_expr).map_err(|e| err("expression", e.to_string()))?;
    let negate = args.bool("negate", false)?;
    let msg = args.opt_str("msg")?;
    let columns = match args.get("columns") {
        None => None,
        Some(ArgValue::List(items)) if items.is_empty() => {
            return Err(err("columns", "'columns' cannot be empty"))
        }
        Some(ArgValue::List(items)) => Some(
            items
                .iter()
                .map(|i| match i {
                    ArgValue::Str(s) => Ok(s.clone()),
                    v => Err(err(
                        "columns",
                        format!("'columns' items must be strings, found {}", v.kind()),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(v) => {
            return Err(err(
                "columns",
                format!("'columns' must be a list, found {}", v.kind()),
            ))
        }
    };
    let mut check_columns = Vec::new();
    for c in columns.iter().flatten() {
        let ce = expr::parse(c).map_err(|e| err("columns", e.to_string()))?;
        check_columns.push((c.clone(), ce.columns()));
    }
    let (cond, default_msg, base) = if negate {
        (
            e.clone(),
            format!("Value is matching expression: ~({text_expr})"),
            text_expr.to_string(),
        )
    } else {
        (
            e.clone().not(),
            format!("Value is not matching expression: {text_expr}"),
            format!("not {text_expr}"),
        )
    };
    let mut name = match args.opt_str("name")? {
        Some(n) if !n.trim().is_empty() => n.to_string(),
        _ => normalize(&base).trim_start_matches('_').to_string(),
    };
    if args.opt_str("name")?.is_none() {
        if let Some(cols) = &columns {
            let prefix: Vec<String> = cols.iter().map(|c| normalize(c)).collect();
            name = normalize(&format!("{}_{name}", prefix.join("_")))
                .trim_start_matches('_')
                .to_string();
        }
    }
    Ok(Compiled {
        auto_name: name,
        condition: cond,
        message: vec![text(msg.map(str::to_string).unwrap_or(default_msg))],
        columns,
        check_columns,
        expression: Some((text_expr.to_string(), e.columns())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_like_dqx() {
        assert_eq!(
            normalize("try_to_timestamp(event_time)"),
            "try_to_timestamp_event_time"
        );
        assert_eq!(normalize("Col1"), "col1");
        assert_eq!(normalize("a.b"), "a_b");
        assert_eq!(normalize("not a = 'str2'"), "not_a_str2");
    }

    #[test]
    fn every_function_is_known() {
        assert_eq!(function_names().count(), 28);
        assert!(takes_column("is_in_range"));
        assert!(!takes_column("sql_expression"));
    }
}
