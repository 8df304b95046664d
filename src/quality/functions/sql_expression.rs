//! `sql_expression`: a row fails where the SQL expression is false (or, with `negate`, true).
//! Its name and message are generated from the expression text, as DQX does, and the optional
//! `columns` become the result's `columns`.

use super::super::checks::ArgValue;
use super::super::expr;
use super::args::Args;
use super::{err, normalize, text, unquote, Compiled, FnError};

/// Compiles a `sql_expression` check.
pub(super) fn compile(args: &Args<'_>) -> Result<Compiled, FnError> {
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
    // DQX names the check after PySpark's rendering of its condition column: the expression
    // text as written, inside `!(…)` when the condition is its negation (PySpark 4), so
    // `i > 0` gives `_i_0` and, negated, `i_0`; a trailing `AS alias` is taken as the name.
    let (cond, default_msg, rendered) = if negate {
        (
            e.clone(),
            format!("Value is matching expression: ~({text_expr})"),
            text_expr.to_string(),
        )
    } else {
        (
            e.clone().not(),
            format!("Value is not matching expression: {text_expr}"),
            format!("!({text_expr})"),
        )
    };
    // DQX: `if not name` (an empty name is no name) and `msg or message` (likewise).
    let given_name = args.opt_str("name")?.filter(|n| !n.is_empty());
    let name = match given_name {
        Some(n) => n.to_string(),
        None => {
            let own = column_alias(&rendered).unwrap_or_else(|| normalize(&rendered));
            match &columns {
                Some(cols) => {
                    let prefix: Vec<String> = cols.iter().map(|c| normalize(&unquote(c))).collect();
                    normalize(&format!("{}_{own}", prefix.join("_")))
                }
                None => own,
            }
        }
    };
    let msg = msg.filter(|m| !m.is_empty());
    Ok(Compiled {
        auto_name: name,
        condition: cond,
        message: vec![text(msg.map(str::to_string).unwrap_or(default_msg))],
        columns: columns.map(|cols| cols.iter().map(|c| unquote(c)).collect()),
        check_columns,
        expression: Some((text_expr.to_string(), e.columns())),
    })
}

/// The alias DQX reads off a column's rendering (`… AS name`, a word at the very end), if any.
fn column_alias(rendered: &str) -> Option<String> {
    let (_, alias) = rendered.rsplit_once(" AS ")?;
    (!alias.is_empty() && alias.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .then(|| alias.to_string())
}
