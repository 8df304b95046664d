//! The value-format checks: regex matches (`regex_match`), coordinates (`is_latitude`,
//! `is_longitude`), IPv4 addresses and UUIDs (`is_valid_ipv4_address`, `is_valid_uuid`) and JSON
//! (`is_valid_json`).

use super::super::expr::{CastTo, Expr, Func};
use super::{cast, lit_float, regex, text, value_in, Body, ColumnCheck, FnError, MsgPart};

const IPV4: &str = r"\A(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\z";
const UUID: &str =
    r"\A[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\z";
const UUID_STRICT: &str =
    r"\A[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[1-8][0-9A-Fa-f]{3}-[89ABab][0-9A-Fa-f]{3}-[0-9A-Fa-f]{12}\z";

/// `regex_match`: the column matches (or, with `negate`, does not match) a Java regex.
pub(super) fn regex_match(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (args, c, cs, n) = (&col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let pattern = args.req_str("regex")?;
    let re = regex(pattern, "regex")?;
    let negate = args.bool("negate", false)?;
    let m = Expr::RLike {
        expr: Box::new(c.clone()),
        regex: re,
    };
    Ok(if negate {
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
    })
}

/// `is_latitude` (-90 to 90) / `is_longitude` (-180 to 180).
pub(super) fn coordinates(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (f, c, cs, n) = (col.f, &col.c, col.cs.as_str(), col.n.as_str());
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
    Ok((
        format!("{n}_is_not_valid_{kind}"),
        cond,
        vec![
            text("value `"),
            MsgPart::Value(c.clone()),
            text(format!(
                "` in column `{cs}` is not a valid {kind} (must be between -{lim} and {lim})"
            )),
        ],
    ))
}

/// `is_valid_ipv4_address` / `is_valid_uuid` (`strict`: RFC 4122 version and variant).
pub(super) fn pattern(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (f, args, c, cs, n) = (col.f, &col.args, &col.c, col.cs.as_str(), col.n.as_str());
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
    Ok((
        format!("{n}_does_not_match_pattern_{}", pname.to_ascii_lowercase()),
        c.clone().is_not_null().and(m.not()),
        value_in(c, cs, &format!("does not match pattern '{pname}'")),
    ))
}

/// `is_valid_json`: the value parses as JSON.
pub(super) fn json(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (c, cs, n) = (&col.c, col.cs.as_str(), col.n.as_str());
    Ok((
        format!("{n}_is_not_valid_json"),
        c.clone().call(Func::IsValidJson).not(),
        value_in(c, cs, "is not a valid JSON string"),
    ))
}
