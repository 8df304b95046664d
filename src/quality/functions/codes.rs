//! Checks against standard code lists and identifier formats: `is_valid_country_code`,
//! `is_valid_currency_code`, `is_valid_language_code`, `is_valid_subdivision_code` (the ISO
//! lists of [`CodeList`]) and `is_valid_national_id`, with DQX 0.17's arguments, names and
//! messages.

use super::super::expr::codes::{CodeList, NationalId};
use super::super::expr::{CastTo, CmpOp, Expr, Func, TextFn};
use super::{cast, err, text, Body, ColumnCheck, FnError, MsgPart, Refs};

/// The lists of a code check: DQX's noun, standard, default format and formats.
fn formats(
    f: &str,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, CodeList)],
) {
    match f {
        "is_valid_country_code" => (
            "country",
            "ISO 3166-1",
            "alpha-2",
            &[
                ("alpha-2", CodeList::CountryAlpha2),
                ("alpha-3", CodeList::CountryAlpha3),
                ("numeric", CodeList::CountryNumeric),
            ],
        ),
        "is_valid_currency_code" => (
            "currency",
            "ISO 4217",
            "alphabetic",
            &[
                ("alphabetic", CodeList::CurrencyAlphabetic),
                ("numeric", CodeList::CurrencyNumeric),
            ],
        ),
        _ => (
            "language",
            "ISO 639",
            "alpha-2",
            &[
                ("alpha-2", CodeList::LanguageAlpha2),
                ("alpha-3", CodeList::LanguageAlpha3),
            ],
        ),
    }
}

fn in_list(s: Expr, list: CodeList, lower: bool) -> Expr {
    s.call(Func::Text(TextFn::InCodeList { list, lower }))
}

/// `is_valid_country_code`, `is_valid_currency_code`, `is_valid_language_code`: the value is
/// a code of the list `code_format` names (any case of it), compared exactly or, without
/// `case_sensitive`, lower-cased (numeric codes: as text, exactly).
pub(super) fn iso_code(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (args, c, cs, n) = (&col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let (kind, standard, default, lists) = formats(col.f);
    let format = args.opt_str("code_format")?.unwrap_or(default);
    let list = (lists.iter())
        .find(|(name, _)| name.eq_ignore_ascii_case(format))
        .map(|(_, l)| *l)
        .ok_or_else(|| {
            let names: Vec<&str> = lists.iter().map(|(name, _)| *name).collect();
            err(
                "code_format",
                format!(
                    "Unsupported code_format for {kind} code validation: '{format}'. Supported: [{}].",
                    names.join(", ")
                ),
            )
        })?;
    let numeric = format.eq_ignore_ascii_case("numeric");
    let lower = !numeric && !args.bool("case_sensitive", true)?;
    let s = cast(c.clone(), CastTo::String);
    Ok((
        format!("{n}_is_not_a_valid_{kind}_code"),
        in_list(s.clone(), list, lower).not(),
        vec![
            text("Value '"),
            MsgPart::Value(s),
            text(format!(
                "' in Column '{cs}' is not a valid {standard} {kind} code"
            )),
        ],
    ))
}

/// `is_valid_subdivision_code`: the value is an ISO 3166-2 code and, with `country_column`,
/// its country prefix (before the first `-`) equals that column's value (a null there passes
/// a valid code).
pub(super) fn subdivision(col: &ColumnCheck<'_>, refs: &mut Refs) -> Result<Body, FnError> {
    let (args, c, cs, n) = (&col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let lower = !args.bool("case_sensitive", true)?;
    let s = cast(c.clone(), CastTo::String);
    let compared = |e: Expr| if lower { e.call(Func::Lower) } else { e };
    let invalid = in_list(s.clone(), CodeList::Subdivision, lower).not();
    let name = format!("{n}_is_not_a_valid_subdivision_code");
    let Some(country) = args.opt_str("country_column")? else {
        return Ok((
            name,
            invalid,
            vec![
                text("Value '"),
                MsgPart::Value(s),
                text(format!(
                    "' in Column '{cs}' is not a valid ISO 3166-2 subdivision code"
                )),
            ],
        ));
    };
    let country_cs = super::unquote(country.trim());
    let country_expr = super::super::expr::parse(country.trim())
        .map_err(|e| err("country_column", e.to_string()))?;
    refs.add(country_cs.clone(), &country_expr);
    let prefix = compared(s.clone()).call(Func::Text(TextFn::BeforeFirst('-')));
    let mismatch = prefix.cmp(
        CmpOp::NotEq,
        compared(cast(country_expr.clone(), CastTo::String)),
    );
    Ok((
        name,
        invalid.or(mismatch),
        vec![
            text("Value '"),
            MsgPart::Value(s),
            text(format!(
                "' in Column '{cs}' is not a valid ISO 3166-2 subdivision code for country '"
            )),
            MsgPart::ValueOrNull(country_expr),
            text(format!("' in Column '{country_cs}'")),
        ],
    ))
}

/// `is_valid_national_id`: the value has the national identification number format of
/// `country` (default `US`), with DQX's `_matches_pattern` name and message.
pub(super) fn national_id(col: &ColumnCheck<'_>) -> Result<Body, FnError> {
    let (args, c, cs, n) = (&col.args, &col.c, col.cs.as_str(), col.n.as_str());
    let country = args.opt_str("country")?.unwrap_or("US");
    let id = NationalId::for_country(country).ok_or_else(|| {
        err(
            "country",
            format!(
                "Unsupported country code for national ID validation: '{country}'. Supported: [{}].",
                NationalId::COUNTRIES
            ),
        )
    })?;
    let s = cast(c.clone(), CastTo::String);
    let pname = id.pattern_name();
    Ok((
        format!("{n}_does_not_match_pattern_{}", pname.to_ascii_lowercase()),
        c.clone()
            .is_not_null()
            .and(s.clone().call(Func::Text(TextFn::NationalId(id))).not()),
        vec![
            text("Value '"),
            MsgPart::Value(s),
            text(format!(
                "' in Column '{cs}' does not match pattern '{pname}'"
            )),
        ],
    ))
}
