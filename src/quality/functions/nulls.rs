//! The null and emptiness checks (`is_not_null`, `is_null`, `is_not_empty`, `is_empty`,
//! `is_not_null_and_not_empty`, `is_null_or_empty`, `is_not_null_and_not_empty_array`);
//! emptiness compares the value cast to string (trimmed when `trim_strings` is set) with `''`,
//! or an array's size with 0.

use super::super::expr::{CastTo, CmpOp, Expr, Func};
use super::{cast, text, Body, ColumnCheck, FnError};

/// The null and emptiness checks: `is_not_null`, `is_null`, `is_not_empty`, `is_empty`,
/// `is_not_null_and_not_empty`, `is_not_null_and_not_empty_array` and (any other name)
/// `is_null_or_empty`.
pub(super) fn compile(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (f, c, cs, n) = (col.f, &col.c, col.cs.as_str(), col.n.as_str());
    let as_str = |e: Expr| cast(e, CastTo::String);
    Ok(match f {
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
            as_str(col.trimmed()?).cmp(CmpOp::Eq, Expr::str_lit("")),
            vec![text(format!("Column '{cs}' value is empty"))],
        ),
        "is_empty" => (
            format!("{n}_is_not_empty"),
            as_str(col.trimmed()?).cmp(CmpOp::NotEq, Expr::str_lit("")),
            vec![text(format!("Column '{cs}' value is not empty"))],
        ),
        "is_not_null_and_not_empty" => {
            let t = col.trimmed()?;
            (
                format!("{n}_is_null_or_empty"),
                t.clone()
                    .is_null()
                    .or(as_str(t).cmp(CmpOp::Eq, Expr::str_lit(""))),
                vec![text(format!("Column '{cs}' value is null or empty"))],
            )
        }
        "is_not_null_and_not_empty_array" => (
            format!("{n}_is_null_or_empty_array"),
            c.clone()
                .is_null()
                .or(c.clone().call(Func::Size).cmp(CmpOp::Eq, super::lit_int(0))),
            vec![text(format!("Column '{cs}' is null or empty array"))],
        ),
        _ => {
            let t = col.trimmed()?;
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
    })
}
