//! The date and time checks: valid dates and timestamps (`is_valid_date`,
//! `is_valid_timestamp`), times in the future (`is_not_in_future`, `is_not_in_near_future`),
//! freshness (`is_data_fresh`) and age (`is_older_than_n_days`, `is_older_than_col2_for_n_days`).
//! "Now" is the evaluation's
//! clock (`current_timestamp()`), unless the check gives its own reference.

use super::super::expr::{self, ArithOp, CastTo, CmpOp, Expr, Func};
use super::args::Args;
use super::{
    cast, err, lit_int, normalize, text, unquote, value_in, Body, ColumnCheck, Compiled, FnError,
    MsgPart, Refs,
};

/// `is_valid_date` / `is_valid_timestamp`, with an optional Spark datetime format.
pub(super) fn valid(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (f, args, c, cs, n) = (col.f, &col.args, &col.c, col.cs.as_str(), col.n.as_str());
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
    Ok((
        format!("{n}_is_not_valid_{kind}"),
        c.clone().is_not_null().and(parsed.is_null()),
        value_in(c, cs, &what),
    ))
}

/// `is_not_in_future` / `is_not_in_near_future`: against now (or `curr_timestamp`) plus
/// `offset` seconds.
pub(super) fn future(col: &ColumnCheck<'_>, refs: &mut Refs) -> Result<Body, FnError> {
    let (f, args, c, cs, n) = (col.f, &col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let offset = args.int("offset")?.unwrap_or(0);
    let curr = args
        .opt_limit("curr_timestamp")?
        .unwrap_or_else(|| Expr::func(Func::CurrentTimestamp, vec![]));
    refs.add("curr_timestamp".into(), &curr);
    let limit = curr
        .clone()
        .call(Func::UnixTimestamp)
        .arith(ArithOp::Add, lit_int(offset))
        .call(Func::FromUnixtime);
    Ok(if f == "is_not_in_future" {
        let mut msg = value_in(c, cs, "is greater than time '");
        msg.extend([MsgPart::Value(limit.clone()), text("'")]);
        (
            format!("{n}_in_future"),
            c.clone().cmp(CmpOp::Gt, limit),
            msg,
        )
    } else {
        let mut msg = value_in(c, cs, "is greater than '");
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
    })
}

/// `is_data_fresh`: not older than `max_age_minutes` before now (or `base_timestamp`).
pub(super) fn fresh(col: &ColumnCheck<'_>, refs: &mut Refs) -> Result<Body, FnError> {
    let (args, c, cs, n) = (&col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let minutes = args.int("max_age_minutes")?.unwrap_or(0);
    let base = args
        .opt_limit("base_timestamp")?
        .unwrap_or_else(|| Expr::func(Func::CurrentTimestamp, vec![]));
    refs.add("base_timestamp".into(), &base);
    let threshold = base
        .clone()
        .call(Func::AddMicros(-minutes.saturating_mul(60_000_000)));
    let mut msg = value_in(
        c,
        cs,
        &format!("is older than {minutes} minutes from base timestamp '"),
    );
    msg.extend([MsgPart::Value(cast(base, CastTo::String)), text("'")]);
    Ok((
        format!("{n}_is_data_fresh"),
        c.clone().cmp(CmpOp::Lt, threshold),
        msg,
    ))
}

/// `is_older_than_n_days`: the column's date against the current date (or `curr_date`) minus
/// `days`.
pub(super) fn older_than(col: &ColumnCheck<'_>, refs: &mut Refs) -> Result<Body, FnError> {
    let (args, c, cs, n) = (&col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let days = args.int("days")?.unwrap_or(0);
    let negate = args.bool("negate", false)?;
    let curr = args
        .opt_limit("curr_date")?
        .unwrap_or_else(|| Expr::func(Func::CurrentDate, vec![]));
    refs.add("curr_date".into(), &curr);
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
    Ok((name, cond, msg))
}

/// `is_older_than_col2_for_n_days`: `column1`'s date against `column2`'s minus `days` (no
/// `column`, so DQX reports no `columns`).
pub(super) fn older_than_col2(args: &Args<'_>) -> Result<Compiled, FnError> {
    let column = |name: &str| -> Result<(String, Expr), FnError> {
        let written = args.req_str(name)?.trim();
        let e = expr::parse(written).map_err(|e| err(name, e.to_string()))?;
        Ok((unquote(written), e))
    };
    let (cs1, c1) = column("column1")?;
    let (cs2, c2) = column("column2")?;
    let (n1, n2) = (normalize(&cs1), normalize(&cs2));
    let days = args.int("days")?.unwrap_or(0);
    let date = |c: &Expr| Expr::func(Func::ToDate(None), vec![c.clone()]).cached();
    let (d1, d2) = (date(&c1), date(&c2));
    let cond = d1
        .clone()
        .cmp(CmpOp::GtEq, d2.clone().call(Func::AddDays(-days)));
    let (name, cond, what, tail) = if args.bool("negate", false)? {
        (
            format!("is_col_{n1}_not_older_than_{n2}_for_n_days"),
            cond.not(),
            "is less than",
            format!("for {days} or more days"),
        )
    } else {
        (
            format!("is_col_{n1}_older_than_{n2}_for_n_days"),
            cond,
            "is not less than",
            format!("for more than {days} days"),
        )
    };
    let message = vec![
        text("Value '"),
        MsgPart::Value(cast(d1, CastTo::String)),
        text(format!("' in Column '{cs1}' {what} Value '")),
        MsgPart::Value(cast(d2, CastTo::String)),
        text(format!("' in Column '{cs2}' {tail}")),
    ];
    Ok(Compiled {
        auto_name: name,
        condition: cond,
        message,
        columns: None,
        check_columns: vec![(cs1, c1.columns()), (cs2, c2.columns())],
        expression: None,
    })
}
