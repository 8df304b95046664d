//! Checks on the text of a value: its letter case (`has_valid_string_case`) and its number of
//! decimal places (`has_num_decimal_places`).

use super::super::expr::{CastTo, CmpOp, Func, StringCase, TextFn};
use super::{cast, err, text, Body, ColumnCheck, FnError, MsgPart, Refs};

/// `has_valid_string_case`: the value equals itself in the expected case.
pub(super) fn string_case(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (args, c, cs, n) = (&col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let name = args.req_str("case")?;
    let case = match name {
        "upper" => StringCase::Upper,
        "lower" => StringCase::Lower,
        "title" => StringCase::Title,
        "sentence" => StringCase::Sentence,
        other => {
            return Err(err(
                "case",
                format!(
                    "'case' must be one of ['lower', 'sentence', 'title', 'upper'], got '{other}'"
                ),
            ))
        }
    };
    let s = cast(c.clone(), CastTo::String).cached();
    let normalised = s.clone().call(Func::Text(TextFn::Case(case)));
    Ok((
        format!("{n}_has_invalid_{name}_string_case"),
        s.clone().cmp(CmpOp::NotEq, normalised),
        vec![
            text("Value '"),
            MsgPart::Value(s),
            text(format!(
                "' in Column '{cs}' does not have valid '{name}' string case"
            )),
        ],
    ))
}

/// `has_num_decimal_places`: at most `limit` decimal places (trailing zeros do not count); text
/// that is not a plain or exponent number fails, and so does a value whose limit is null.
pub(super) fn decimal_places(col: &ColumnCheck<'_>, refs: &mut Refs) -> Result<Body, FnError> {
    let (args, c, cs, n) = (&col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let limit = args.limit("limit")?;
    refs.add("limit".into(), &limit);
    let s = cast(c.clone(), CastTo::String).cached();
    let places = s.clone().call(Func::Text(TextFn::DecimalPlaces)).cached();
    let limit_null = limit.clone().is_null();
    let cond = c.clone().is_not_null().and(
        limit_null
            .clone()
            .or(places.clone().is_null())
            .or(places.clone().cmp(CmpOp::Gt, limit.clone())),
    );
    let value = |rest: Vec<MsgPart>| {
        let mut m = vec![text("Value '"), MsgPart::Value(s.clone())];
        m.extend(rest);
        m
    };
    let message = vec![MsgPart::When {
        cond: limit_null,
        then: value(vec![text(format!("' in Column '{cs}' has a null limit"))]),
        otherwise: vec![MsgPart::When {
            cond: places.is_null(),
            then: value(vec![text(format!("' in Column '{cs}' is not numeric"))]),
            otherwise: value(vec![
                text(format!("' in Column '{cs}' has more than ")),
                MsgPart::Value(cast(limit, CastTo::String)),
                text(" decimal places"),
            ]),
        }],
    }];
    Ok((
        format!("{n}_num_decimal_places_greater_than_limit"),
        cond,
        message,
    ))
}
