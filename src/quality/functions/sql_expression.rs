//! `sql_expression`: a row fails where the SQL expression is false (or, with `negate`, true).
//! Its name and message are generated from the expression text, as DQX does, and the optional
//! `columns` become the result's `columns`.

use super::super::checks::ArgValue;
use super::super::expr;
use super::args::Args;
use super::{err, normalize, text, Compiled, FnError};

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
