//! The comparison checks: ranges (`is_in_range`, `is_not_in_range`), one-sided limits
//! (`is_not_less_than`, `is_not_greater_than`) and equality with tolerances (`is_equal_to`,
//! `is_not_equal_to`). Limits follow DQX's conventions (see [`super::args::limit`]).

use super::super::checks::ArgValue;
use super::super::expr::{ArithOp, CmpOp, Expr, Func};
use super::{lit_float, text, value_in, Body, ColumnCheck, FnError, MsgPart, Refs};

/// A limit in a message: its value as Spark prints it, except that a limit given as decimal
/// text (`'2.50'`) is a SQL decimal literal to DQX, printed with its scale.
fn shown(col: &ColumnCheck<'_>, arg: &str, e: Expr) -> MsgPart {
    match col.args.get(arg) {
        Some(ArgValue::Str(s)) => match super::args::decimal_literal_text(s.trim()) {
            Some(t) => text(t),
            None => MsgPart::Value(e),
        },
        _ => MsgPart::Value(e),
    }
}

/// `is_in_range` / `is_not_in_range` (inclusive limits).
pub(super) fn range(col: &ColumnCheck<'_>, refs: &mut Refs) -> Result<Body, FnError> {
    let (f, args, c, cs, n) = (col.f, &col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let lo = args.limit("min_limit")?;
    let hi = args.limit("max_limit")?;
    refs.add("min_limit".into(), &lo);
    refs.add("max_limit".into(), &hi);
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
    let mut msg = value_in(c, cs, what);
    msg.extend([
        shown(col, "min_limit", lo),
        text(", "),
        shown(col, "max_limit", hi),
        text("]"),
    ]);
    Ok((name, cond, msg))
}

/// `is_not_less_than` / `is_not_greater_than`.
pub(super) fn limit(col: &ColumnCheck<'_>, refs: &mut Refs) -> Result<Body, FnError> {
    let (f, args, c, cs, n) = (col.f, &col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let lim = args.limit("limit")?;
    refs.add("limit".into(), &lim);
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
    let mut msg = value_in(c, cs, what);
    msg.push(shown(col, "limit", lim.clone()));
    Ok((name, c.clone().cmp(op, lim), msg))
}

/// `is_equal_to` / `is_not_equal_to`, with optional absolute and relative tolerances for
/// numeric values.
pub(super) fn equal_to(col: &ColumnCheck<'_>, refs: &mut Refs) -> Result<Body, FnError> {
    let (f, args, c, cs, n) = (col.f, &col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let v = args.limit("value")?;
    refs.add("value".into(), &v);
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
    let mut msg = value_in(c, cs, what);
    msg.push(shown(col, "value", v));
    Ok((name, cond, msg))
}
