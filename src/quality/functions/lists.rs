//! The list checks (`is_in_list`, `is_not_null_and_is_in_list`, `is_not_in_list`): each list
//! item is a limit (a literal, or an expression such as a column); `case_sensitive: false`
//! compares lower-cased values.

use super::super::expr::{Expr, Func};
use super::{text, Body, ColumnCheck, FnError, MsgPart, Refs};

/// `is_in_list`, `is_not_null_and_is_in_list` and (any other name) `is_not_in_list`.
pub(super) fn compile(col: &ColumnCheck<'_>, refs: &mut Refs) -> Result<Body, FnError> {
    let (f, args, c, cs, n) = (col.f, &col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let arg = if f == "is_not_in_list" {
        "forbidden"
    } else {
        "allowed"
    };
    let items = args.list(arg)?;
    for (i, item) in items.iter().enumerate() {
        refs.add(format!("{arg}[{i}]"), item);
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
    Ok((
        name,
        cond,
        vec![
            text("Value '"),
            MsgPart::ValueOrNull(c.clone()),
            text(format!("' in Column '{cs}' {what}: [")),
            MsgPart::Join(items),
            text("]"),
        ],
    ))
}
