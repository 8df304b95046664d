//! The DQX row-level check functions: for each, its arguments (known and required), the
//! condition under which a row *fails* (as an [`Expr`]), the DQX message, and the name DQX
//! generates when a check has none. Semantics and wording follow DQX 0.16/0.17
//! (`databricks.labs.dqx.check_funcs`).
//!
//! Layout: this module holds the table of functions and their arguments, the validation every
//! check goes through and the dispatch to the families: `nulls`, `lists`, `comparisons`,
//! `dates`, `formats`, `network`, `strings`, `codes` and `sql_expression`; [`args`] gives typed access to the arguments and
//! reads limits ([`limit`]).

pub mod args;
mod codes;
mod comparisons;
mod dates;
mod formats;
mod lists;
mod network;
mod nulls;
mod sql_expression;
mod strings;

use std::sync::Arc;

use super::checks::{ArgValue, Check};
use super::expr::{self, CastTo, Expr, Func, Lit};
pub use args::limit;
use args::Args;

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
    /// The whole message is this value, null when it is null (a check's `message_expr`).
    Whole(Expr),
    /// `then` where `cond` is true, else `otherwise` (DQX's `F.when(…).otherwise(…)` messages).
    When {
        cond: Expr,
        then: Vec<MsgPart>,
        otherwise: Vec<MsgPart>,
    },
}

impl MsgPart {
    /// The expressions this part evaluates (its condition included).
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            MsgPart::Text(_) => Vec::new(),
            MsgPart::Value(e) | MsgPart::ValueOrNull(e) | MsgPart::Whole(e) => vec![e],
            MsgPart::Join(es) => es.iter().collect(),
            MsgPart::When {
                cond,
                then,
                otherwise,
            } => std::iter::once(cond)
                .chain(then.iter().chain(otherwise).flat_map(MsgPart::exprs))
                .collect(),
        }
    }
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
        name: "is_not_null_and_not_empty_array",
        args: &["*column"],
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
        args: &["*column", "*min_limit", "*max_limit", "allow_nulls"],
    },
    Spec {
        name: "is_not_in_range",
        args: &["*column", "*min_limit", "*max_limit", "allow_nulls"],
    },
    Spec {
        name: "is_not_less_than",
        args: &["*column", "*limit", "allow_nulls"],
    },
    Spec {
        name: "is_not_greater_than",
        args: &["*column", "*limit", "allow_nulls"],
    },
    Spec {
        name: "is_equal_to",
        args: &[
            "*column",
            "*value",
            "abs_tolerance",
            "rel_tolerance",
            "allow_nulls",
        ],
    },
    Spec {
        name: "is_not_equal_to",
        args: &[
            "*column",
            "*value",
            "abs_tolerance",
            "rel_tolerance",
            "allow_nulls",
        ],
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
    Spec {
        name: "has_json_keys",
        args: &["*column", "*keys", "require_all"],
    },
    Spec {
        name: "is_valid_email",
        args: &["*column"],
    },
    Spec {
        name: "is_valid_url",
        args: &["*column"],
    },
    Spec {
        name: "is_valid_ipv6_address",
        args: &["*column"],
    },
    Spec {
        name: "is_ipv4_address_in_cidr",
        args: &["*column", "*cidr_block"],
    },
    Spec {
        name: "is_ipv6_address_in_cidr",
        args: &["*column", "*cidr_block"],
    },
    Spec {
        name: "has_valid_string_case",
        args: &["*column", "*case"],
    },
    Spec {
        name: "has_num_decimal_places",
        args: &["*column", "*limit", "allow_nulls"],
    },
    Spec {
        name: "is_older_than_col2_for_n_days",
        args: &["*column1", "*column2", "days", "negate"],
    },
    Spec {
        name: "is_valid_country_code",
        args: &["*column", "code_format", "case_sensitive"],
    },
    Spec {
        name: "is_valid_currency_code",
        args: &["*column", "code_format", "case_sensitive"],
    },
    Spec {
        name: "is_valid_language_code",
        args: &["*column", "code_format", "case_sensitive"],
    },
    Spec {
        name: "is_valid_subdivision_code",
        args: &["*column", "case_sensitive", "country_column"],
    },
    Spec {
        name: "has_valid_json_schema",
        args: &["*column", "*schema"],
    },
    Spec {
        name: "is_valid_national_id",
        args: &["*column", "country"],
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

/// A column reference without the back-quotes around a single quoted identifier (`` `a b` ``
/// → `a b`, with doubled back-quotes inside undone), as DQX's `unquote_column_name`; anything
/// else (a dotted path of quoted parts, an expression) as it is.
pub fn unquote(name: &str) -> String {
    if name.len() >= 2 && name.starts_with('`') && name.ends_with('`') {
        let inner = &name[1..name.len() - 1];
        if !inner.replace("``", "").contains('`') {
            return inner.replace("``", "`");
        }
    }
    name.to_string()
}

fn err(arg: &str, msg: impl Into<String>) -> FnError {
    (Some(arg.to_string()), msg.into())
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

/// What a column check compiles to: the generated name, the condition under which a row fails,
/// and the message.
type Body = (String, Expr, Vec<MsgPart>);

/// A column check being compiled: its function and arguments, and the checked column.
struct ColumnCheck<'a> {
    /// The function (current spelling).
    f: &'a str,
    args: Args<'a>,
    /// The column as written (trimmed): the result's `columns`, and in messages.
    cs: String,
    /// The column as an expression.
    c: Expr,
    /// The column normalised: generated names start with it.
    n: String,
}

impl ColumnCheck<'_> {
    /// The column, trimmed when the check sets `trim_strings`.
    fn trimmed(&self) -> Result<Expr, FnError> {
        Ok(if self.args.bool("trim_strings", false)? {
            self.c.clone().call(Func::Trim)
        } else {
            self.c.clone()
        })
    }
}

/// The column expressions (as written, or an argument's name) with the columns they reference.
struct Refs(Vec<(String, Vec<String>)>);

impl Refs {
    /// Records the columns `e` references, if any, under `label`.
    fn add(&mut self, label: String, e: &Expr) {
        let refs = e.columns();
        if !refs.is_empty() {
            self.0.push((label, refs));
        }
    }
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
        return sql_expression::compile(&args);
    }
    if f == "is_older_than_col2_for_n_days" {
        return dates::older_than_col2(&args);
    }
    let cs = match column {
        Some(c) => c.to_string(),
        None => args.req_str("column")?.to_string(),
    };
    let cs = cs.trim().to_string();
    let c = expr::parse(&cs).map_err(|e| err("column", e.to_string()))?;
    // DQX names and reports a back-quoted column without its quotes.
    let cs = unquote(&cs);
    let n = normalize(&cs);
    let mut refs = Refs(vec![(cs.clone(), c.columns())]);
    let col = ColumnCheck { f, args, cs, c, n };
    let (name, condition, message) = match f {
        "is_not_null"
        | "is_null"
        | "is_not_empty"
        | "is_empty"
        | "is_not_null_and_not_empty"
        | "is_null_or_empty"
        | "is_not_null_and_not_empty_array" => nulls::compile(&col)?,
        "is_in_list" | "is_not_null_and_is_in_list" | "is_not_in_list" => {
            lists::compile(&col, &mut refs)?
        }
        "is_in_range" | "is_not_in_range" => comparisons::range(&col, &mut refs)?,
        "is_not_less_than" | "is_not_greater_than" => comparisons::limit(&col, &mut refs)?,
        "is_equal_to" | "is_not_equal_to" => comparisons::equal_to(&col, &mut refs)?,
        "is_valid_date" | "is_valid_timestamp" => dates::valid(&col)?,
        "is_not_in_future" | "is_not_in_near_future" => dates::future(&col, &mut refs)?,
        "is_data_fresh" => dates::fresh(&col, &mut refs)?,
        "is_older_than_n_days" => dates::older_than(&col, &mut refs)?,
        "regex_match" => formats::regex_match(&col)?,
        "is_latitude" | "is_longitude" => formats::coordinates(&col)?,
        "is_valid_ipv4_address" | "is_valid_uuid" | "is_valid_email" | "is_valid_url" => {
            formats::pattern(&col)?
        }
        "is_valid_json" => formats::json(&col)?,
        "has_json_keys" => formats::json_keys(&col)?,
        "has_valid_json_schema" => formats::json_schema(&col)?,
        "has_valid_string_case" => strings::string_case(&col)?,
        "has_num_decimal_places" => strings::decimal_places(&col, &mut refs)?,
        "is_valid_ipv6_address" => network::valid_ipv6(&col)?,
        "is_ipv4_address_in_cidr" => network::ipv4_in_cidr(&col)?,
        "is_ipv6_address_in_cidr" => network::ipv6_in_cidr(&col)?,
        "is_valid_country_code" | "is_valid_currency_code" | "is_valid_language_code" => {
            codes::iso_code(&col)?
        }
        "is_valid_subdivision_code" => codes::subdivision(&col, &mut refs)?,
        "is_valid_national_id" => codes::national_id(&col)?,
        other => return Err(err("function", format!("unknown function '{other}'"))),
    };
    // DQX 0.17's `allow_nulls` (comparisons, decimal places): false fails null values too.
    let (name, condition, message) =
        if spec.args.contains(&"allow_nulls") && !col.args.bool("allow_nulls", true)? {
            nulls_fail(&col, (name, condition, message))
        } else {
            (name, condition, message)
        };
    Ok(Compiled {
        auto_name: name,
        condition,
        message,
        columns: Some(vec![col.cs]),
        check_columns: refs.0,
        expression: None,
    })
}

/// DQX's `_make_condition_handling_nulls` with `allow_nulls: false`: a null value fails too,
/// with its own message, and the name says so (`<column>_is_null_or_<what>`).
fn nulls_fail(col: &ColumnCheck<'_>, body: Body) -> Body {
    let (c, cs, n) = (&col.c, col.cs.as_str(), col.n.as_str());
    let (name, cond, message) = body;
    let what = name
        .strip_prefix(n)
        .and_then(|s| s.strip_prefix('_'))
        .unwrap_or(&name)
        .to_string();
    (
        format!("{n}_is_null_or_{what}"),
        c.clone().is_null().or(cond),
        vec![MsgPart::When {
            cond: c.clone().is_null(),
            then: vec![text(format!("Column '{cs}' value is null"))],
            otherwise: message,
        }],
    )
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
        assert_eq!(function_names().count(), 44);
        assert!(takes_column("is_in_range"));
        assert!(!takes_column("sql_expression"));
    }
}
