//! The value-format checks: regex matches (`regex_match`), coordinates (`is_latitude`,
//! `is_longitude`), DQX's patterns (`is_valid_ipv4_address`, `is_valid_uuid`, `is_valid_email`,
//! `is_valid_url`) and JSON (`is_valid_json`, `has_json_keys`, `has_valid_json_schema`).

use std::sync::Arc;

use super::super::expr::json_schema::JsonSchema;
use super::super::expr::{CastTo, CmpOp, Expr, Func, TextFn};
use super::{
    cast, err, lit_float, lit_int, regex, text, value_in, Body, ColumnCheck, FnError, MsgPart,
};

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

/// DQX's `EMAIL_ADDRESS` without its two look-aheads (a look-ahead at `\A` is a second pattern
/// that must match too: see [`email_patterns`]).
fn email_pattern() -> String {
    let atext = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
    let label = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    let qtext = r"[\x21\x23-\x5B\x5D-\x7E]";
    let qpair = r"\\[\x09\x20-\x7E]";
    let octet = r"(25[0-5]|2[0-4]\d|1\d{2}|[1-9]?\d)";
    format!(
        r#"\A(?:{atext}+(?:\.{atext}+)*|"(?:{qtext}|{qpair})*")@(?:(?:{label}\.)+[A-Za-z]{{2,63}}|\[(?:{octet}(?:\.{octet}){{3}}|IPv6:[A-Fa-f0-9:]+)\])\z"#
    )
}

/// `EMAIL_ADDRESS` is `\A(?=.{1,254}\z)(?=[^@]{1,64}@)…`: the address, a local part of at most
/// 64 characters before the first `@`, and at most 254 characters in all (a length test, as
/// the address pattern admits no line terminator for `.` to stop at).
fn email_patterns() -> Vec<String> {
    vec![email_pattern(), r"\A[^@]{1,64}@".to_string()]
}

/// DQX's `URL` (RFC 3986 absolute-URI).
fn url_pattern() -> String {
    let scheme = r"[A-Za-z][A-Za-z0-9+.\-]*";
    let pct = r"%[0-9A-Fa-f]{2}";
    let unres = r"[A-Za-z0-9\-._~!$&'()*+,;=]";
    let userinfo = format!("(?:{unres}|{pct}|:)*");
    let host = format!(r"(?:\[[A-Fa-f0-9:.]+\]|(?:{unres}|{pct})*)");
    let authority = format!(r"(?:{userinfo}@)?{host}(?::\d*)?");
    let pchar = format!("(?:{unres}|{pct}|[:@])");
    let abempty = format!("(?:/{pchar}*)*");
    let no_authority = format!("(?:/(?:{pchar}+{abempty})?|{pchar}+{abempty})?");
    let qf = format!("(?:{pchar}|[/?])*");
    format!(r"\A{scheme}:(?://{authority}{abempty}|{no_authority})(?:\?{qf})?(?:#{qf})?\z")
}

/// `is_valid_ipv4_address`, `is_valid_uuid` (`strict`: RFC 4122 version and variant),
/// `is_valid_email`, `is_valid_url`: the value matches DQX's pattern.
pub(super) fn pattern(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    match col.f {
        "is_valid_ipv4_address" => ipv4_pattern(col),
        "is_valid_email" => matching(col, "EMAIL_ADDRESS", &email_patterns(), Some(254)),
        "is_valid_url" => matching(col, "URL", &[url_pattern()], None),
        _ if col.args.bool("strict", false)? => {
            matching(col, "UUID_STRICT", &[UUID_STRICT.into()], None)
        }
        _ => matching(col, "UUID", &[UUID.into()], None),
    }
}

/// `is_valid_ipv4_address` (also the first half of `is_ipv4_address_in_cidr`).
pub(super) fn ipv4_pattern(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    matching(col, "IPV4_ADDRESS", &[IPV4.into()], None)
}

/// Fails a non-null value that does not match every one of `patterns` (or is longer than
/// `max_chars`), with DQX's `_matches_pattern` name and message.
fn matching(
    col: &ColumnCheck<'_>,
    pname: &str,
    patterns: &[String],
    max_chars: Option<i64>,
) -> Result<Body, FnError> {
    let (c, cs, n) = (&col.c, col.cs.as_str(), col.n.as_str());
    let s = cast(c.clone(), CastTo::String).cached();
    let matches = patterns
        .iter()
        .map(|p| {
            Ok(Expr::RLike {
                expr: Box::new(s.clone()),
                regex: regex(p, "pattern")?,
            })
        })
        .collect::<Result<Vec<_>, FnError>>()?;
    let mut ok = (matches.into_iter())
        .reduce(Expr::and)
        .ok_or_else(|| err("pattern", "no pattern"))?;
    if let Some(max) = max_chars {
        ok = ok.and(s.clone().call(Func::Length).cmp(CmpOp::LtEq, lit_int(max)));
    }
    Ok((
        format!("{n}_does_not_match_pattern_{}", pname.to_ascii_lowercase()),
        c.clone().is_not_null().and(ok.not()),
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

/// A JSON check named `name` on the text `s` of the column: invalid JSON fails with
/// `is_valid_json`'s message; valid JSON fails where `ok` is not true, with `Value '…' in
/// Column 'c' {what}`.
fn json_check(col: &ColumnCheck<'_>, name: String, s: Expr, ok: Expr, what: String) -> Body {
    let (c, cs) = (&col.c, col.cs.as_str());
    let invalid = c
        .clone()
        .is_not_null()
        .and(s.clone().call(Func::IsValidJson).not());
    (
        name,
        c.clone().is_not_null().and(invalid.clone().or(ok.not())),
        vec![MsgPart::When {
            cond: invalid,
            then: value_in(c, cs, "is not a valid JSON string"),
            otherwise: vec![
                text("Value '"),
                MsgPart::ValueOrNull(s),
                text(format!("' in Column '{cs}' {what}")),
            ],
        }],
    )
}

/// `has_valid_json_schema`: valid JSON (else `is_valid_json`'s message) whose object
/// converts to the DDL `schema` as Spark's `from_json` converts it, with every `NOT NULL`
/// field present (see [`JsonSchema`]).
pub(super) fn json_schema(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let ddl = col.args.req_str("schema")?;
    let schema = JsonSchema::parse(ddl).map_err(|e| {
        err(
            "schema",
            format!("Invalid schema string '{ddl}'. Error: {e}"),
        )
    })?;
    let what = format!("does not conform to expected JSON schema: {schema}");
    let s = cast(col.c.clone(), CastTo::String).cached();
    let conforms = s
        .clone()
        .call(Func::Text(TextFn::JsonSchema(Arc::new(schema))));
    let name = format!("{}_has_invalid_json_schema", col.n);
    Ok(json_check(col, name, s, conforms, what))
}

/// `has_json_keys`: the outermost JSON object has every key (`require_all`, the default) or one
/// of them; invalid JSON fails with `is_valid_json`'s message; JSON that is not an object passes
/// (Spark's `json_object_keys` is null there, and so is the test).
pub(super) fn json_keys(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let keys = col.args.str_list("keys")?;
    let all = col.args.bool("require_all", true)?;
    let s = cast(col.c.clone(), CastTo::String).cached();
    let has = s.clone().call(Func::Text(TextFn::JsonHasKeys {
        keys: keys.clone().into(),
        all,
    }));
    let what = format!("is missing keys in the list: [{}]", keys.join(", "));
    let name = format!("{}_does_not_have_json_keys", col.n);
    Ok(json_check(col, name, s, has, what))
}
