//! Typed reading of dataset-level check arguments (the functions of [`super::dataset_rules`]):
//! which arguments each function takes, column lists, flags, tolerances, filters, limits as
//! Spark prints them, `aggr_type` and `aggr_params`, the reference a check names, with errors
//! naming the argument; and the small pieces the dataset functions share (DQX's aggregate
//! check names, group keys, equality within tolerances).

use super::aggregates::AggrType;
use super::checks::{ArgValue, Check};
use super::error::CheckError;
use super::expr::render::java_double;

pub(super) fn err(check: &Check, arg: &str, msg: impl Into<String>) -> CheckError {
    CheckError::new(check.index, check.name.clone(), Some(arg), msg)
}

pub(super) fn string_list(
    check: &Check,
    name: &str,
    required: bool,
) -> Result<Vec<String>, CheckError> {
    match check.arg(name) {
        None | Some(ArgValue::Null) if !required => Ok(Vec::new()),
        None | Some(ArgValue::Null) => Err(err(
            check,
            name,
            format!("missing required argument '{name}'"),
        )),
        Some(ArgValue::List(items)) => {
            let cols: Vec<String> = items
                .iter()
                .map(|i| match i {
                    ArgValue::Str(s) if !s.trim().is_empty() => Ok(s.clone()),
                    other => Err(err(
                        check,
                        name,
                        format!(
                            "'{name}' items must be column names, found {}",
                            other.kind()
                        ),
                    )),
                })
                .collect::<Result<_, _>>()?;
            if required && cols.is_empty() {
                return Err(err(check, name, format!("'{name}' must not be empty")));
            }
            Ok(cols)
        }
        Some(ArgValue::Str(s)) => Ok(vec![s.clone()]),
        Some(other) => Err(err(
            check,
            name,
            format!(
                "'{name}' must be a list of column names, found {}",
                other.kind()
            ),
        )),
    }
}

/// The arguments of every `is_aggr_*` check.
const AGGR_ARGS: &[&str] = &[
    "column",
    "limit",
    "aggr_type",
    "group_by",
    "row_filter",
    "aggr_params",
];

/// Refuses arguments the function does not take (DQX does).
pub(super) fn known_arguments(check: &Check) -> Result<(), CheckError> {
    let known: &[&str] = match check.function.as_str() {
        "is_unique" => &["columns", "nulls_distinct", "row_filter", "trim_strings"],
        "has_no_outliers" => &["column", "row_filter"],
        "is_in_distribution" => &[
            "column",
            "distribution",
            "distance",
            "case_sensitive",
            "row_filter",
        ],
        "foreign_key" => &[
            "columns",
            "ref_columns",
            "ref_df_name",
            "ref_table",
            "negate",
            "row_filter",
            "null_safe",
            "broadcast_ref",
        ],
        "has_valid_schema" => &[
            "expected_schema",
            "ref_df_name",
            "ref_table",
            "columns",
            "strict",
            "exclude_columns",
        ],
        "is_data_fresh_per_time_window" => &[
            "column",
            "window_minutes",
            "min_records_per_window",
            "lookback_windows",
            "row_filter",
        ],
        "compare_datasets" => &[
            "columns",
            "ref_columns",
            "ref_df_name",
            "ref_table",
            "check_missing_records",
            "exclude_columns",
            "null_safe_row_matching",
            "null_safe_column_value_matching",
            "row_filter",
            "abs_tolerance",
            "rel_tolerance",
            "raise_on_duplicate_keys",
        ],
        "sql_query" => &[
            "query",
            "merge_columns",
            "msg",
            "name",
            "negate",
            "condition_column",
            "input_placeholder",
            "row_filter",
        ],
        "has_no_gaps_per_time_window" => &["column", "window_minutes", "group_by", "trailing_gap"],
        "has_no_aggr_outliers" => &[
            "column",
            "time_column",
            "aggr_type",
            "sigma",
            "lookback_num_intervals",
            "warmup_num_intervals",
            "time_interval",
            "group_by",
            "row_filter",
            "aggr_params",
        ],
        "aggr_matches_dataset" => &[
            "column",
            "ref_table",
            "ref_df_name",
            "ref_column",
            "aggr_type",
            "aggr_params",
            "group_by",
            "ref_group_by",
            "row_filter",
            "ref_row_filter",
        ],
        _ => AGGR_ARGS,
    };
    if check.arg("curr_timestamp").is_some() {
        return Err(err(
            check,
            "curr_timestamp",
            "'curr_timestamp' is a Spark column, which a check file cannot hold; medallion \
             evaluates against `medallion check --now` (the clock by default)",
        ));
    }
    // DQX 0.17's tolerances: on the equality comparisons only.
    let tolerances: &[&str] = match check.function.as_str() {
        "is_aggr_equal" | "is_aggr_not_equal" | "aggr_matches_dataset" => {
            &["abs_tolerance", "rel_tolerance"]
        }
        _ => &[],
    };
    let known: Vec<&str> = known.iter().chain(tolerances).copied().collect();
    for (a, _) in &check.arguments {
        if !known.contains(&a.as_str()) {
            return Err(err(
                check,
                a,
                format!(
                    "unknown argument '{a}' for function '{}' (expected: {})",
                    check.function,
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

pub(super) fn bool_arg(check: &Check, name: &str, default: bool) -> Result<bool, CheckError> {
    match check.arg(name) {
        None | Some(ArgValue::Null) => Ok(default),
        Some(ArgValue::Bool(b)) => Ok(*b),
        Some(other) => Err(err(
            check,
            name,
            format!("'{name}' must be true or false, found {}", other.kind()),
        )),
    }
}

/// A non-negative number argument (0 when absent).
pub(super) fn tolerance(check: &Check, name: &str) -> Result<f64, CheckError> {
    let x = match check.arg(name) {
        None | Some(ArgValue::Null) => 0.0,
        Some(ArgValue::Int(i)) => *i as f64,
        Some(ArgValue::Float(x)) => *x,
        Some(other) => {
            return Err(err(
                check,
                name,
                format!("'{name}' must be a number, found {}", other.kind()),
            ))
        }
    };
    if x < 0.0 || x.is_nan() {
        return Err(err(
            check,
            name,
            "Absolute and/or relative tolerances if provided must be non-negative",
        ));
    }
    Ok(x)
}

/// The check's filter: `filter`, else the `row_filter` argument; it must parse.
pub(super) fn filter_of(check: &Check) -> Result<Option<String>, CheckError> {
    let f = match (&check.filter, check.arg("row_filter")) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(ArgValue::Str(f))) => Some(f.clone()),
        (None, None | Some(ArgValue::Null)) => None,
        (None, Some(other)) => {
            return Err(err(
                check,
                "row_filter",
                format!("'row_filter' must be a string, found {}", other.kind()),
            ))
        }
    };
    if let Some(f) = &f {
        super::expr::parse(f).map_err(|e| err(check, "filter", e.to_string()))?;
    }
    Ok(f.filter(|f| !f.trim().is_empty()))
}

/// A limit as Spark prints it: DQX gives numbers to `F.lit` and text to `F.expr` (an integer,
/// a decimal literal keeping its scale, or a double).
pub(super) fn limit_of(check: &Check) -> Result<(f64, String), CheckError> {
    match check.arg("limit") {
        Some(ArgValue::Int(i)) => Ok((*i as f64, i.to_string())),
        Some(ArgValue::Float(x)) if x.is_finite() => Ok((*x, java_double(*x))),
        Some(ArgValue::Str(s)) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
            let t = s.trim();
            let x: f64 = t.parse().expect("checked");
            let text = if let Ok(i) = t.parse::<i64>() {
                i.to_string()
            } else if t.contains(['e', 'E']) {
                java_double(x)
            } else {
                super::functions::args::decimal_literal_text(t).unwrap_or_else(|| java_double(x))
            };
            Ok((x, text))
        }
        other => Err(missing_or_wrong(check, "limit", other, "a number")),
    }
}

/// The error for a required argument that is absent, or is not `expected`.
fn missing_or_wrong(
    check: &Check,
    name: &str,
    found: Option<&ArgValue>,
    expected: &str,
) -> CheckError {
    match found {
        None | Some(ArgValue::Null) => {
            err(check, name, format!("missing required argument '{name}'"))
        }
        Some(other) => err(
            check,
            name,
            format!("'{name}' must be {expected}, found {}", other.kind()),
        ),
    }
}

/// `aggr_params`: `{percentile: p}` for the percentile types (required there), nothing else.
pub(super) fn percentile_of(
    check: &Check,
    aggr: AggrType,
) -> Result<Option<(f64, String)>, CheckError> {
    let params = match check.arg("aggr_params") {
        None | Some(ArgValue::Null) => None,
        Some(ArgValue::Map(m)) => Some(m),
        Some(other) => {
            return Err(err(
                check,
                "aggr_params",
                format!("'aggr_params' must be a mapping, found {}", other.kind()),
            ))
        }
    };
    if !aggr.takes_percentile() {
        return match params {
            Some(m) if !m.is_empty() => Err(err(
                check,
                "aggr_params",
                format!("aggr_type '{}' takes no aggr_params", aggr.as_str()),
            )),
            _ => Ok(None),
        };
    }
    let missing = || {
        err(
            check,
            "aggr_params",
            format!(
                "'{}' requires aggr_params with 'percentile' key (e.g., {{'percentile': 0.95}})",
                aggr.as_str()
            ),
        )
    };
    let m = params.ok_or_else(missing)?;
    let mut p = None;
    let mut shown = Vec::new();
    for (k, v) in m {
        let text = match v {
            ArgValue::Int(i) => i.to_string(),
            ArgValue::Float(x) if x.fract() == 0.0 => format!("{x:.1}"),
            ArgValue::Float(x) => x.to_string(),
            ArgValue::Str(s) => s.clone(),
            other => other.kind().to_string(),
        };
        match (k.as_str(), v) {
            ("percentile", ArgValue::Int(i)) if (0..=1).contains(i) => p = Some(*i as f64),
            ("percentile", ArgValue::Float(x)) if (0.0..=1.0).contains(x) => p = Some(*x),
            ("percentile", _) => {
                return Err(err(
                    check,
                    "aggr_params",
                    "'percentile' must be a number between 0 and 1",
                ))
            }
            ("accuracy", ArgValue::Int(_)) if aggr == AggrType::ApproxPercentile => {}
            (other, _) => {
                return Err(err(
                    check,
                    "aggr_params",
                    format!("unknown aggr_params key '{other}' for '{}'", aggr.as_str()),
                ))
            }
        }
        shown.push(format!("{k}={text}"));
    }
    Ok(Some((p.ok_or_else(missing)?, shown.join(", "))))
}

pub(super) fn aggr_type_of(check: &Check) -> Result<AggrType, CheckError> {
    match check.arg("aggr_type") {
        None | Some(ArgValue::Null) => Ok(AggrType::Count),
        Some(ArgValue::Str(s)) => AggrType::from_name(s).ok_or_else(|| {
            err(
                check,
                "aggr_type",
                format!(
                    "unknown aggr_type '{s}' (supported: {})",
                    AggrType::names().collect::<Vec<_>>().join(", ")
                ),
            )
        }),
        Some(other) => Err(err(
            check,
            "aggr_type",
            format!("'aggr_type' must be a string, found {}", other.kind()),
        )),
    }
}

pub(super) fn column_arg(check: &Check) -> Result<String, CheckError> {
    match check.arg("column") {
        Some(ArgValue::Str(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        other => Err(missing_or_wrong(check, "column", other, "a column name")),
    }
}

/// DQX's `validate_star_aggregate` on the checked side: `*` is counted (`count`, or without a
/// filter `count_distinct`), never aggregated otherwise.
pub(super) fn star_aggregate(
    check: &Check,
    column: &str,
    aggr: AggrType,
) -> Result<(), CheckError> {
    if column != "*" {
        return Ok(());
    }
    let filtered = check.filter.is_some() || check.arg("row_filter").is_some();
    if aggr == AggrType::Count || (aggr == AggrType::CountDistinct && !filtered) {
        return Ok(());
    }
    Err(err(
        check,
        "column",
        format!(
            "Column '*'{} is only supported with {} (got '{}'). Use an explicit column for other aggregates.",
            if filtered { " with a row filter" } else { "" },
            if filtered { "'count'" } else { "'count' or 'count_distinct'" },
            aggr.as_str()
        ),
    ))
}

/// A positive integer argument (`None` when absent and not `required`); DQX's wording when not.
pub(super) fn positive_int(
    check: &Check,
    name: &str,
    required: bool,
    message: &str,
) -> Result<Option<i64>, CheckError> {
    match check.arg(name) {
        None | Some(ArgValue::Null) if !required => Ok(None),
        Some(ArgValue::Int(i)) if *i > 0 => Ok(Some(*i)),
        _ => Err(err(check, name, message)),
    }
}

/// An integer argument with a default.
pub(super) fn int_arg(check: &Check, name: &str, default: i64) -> Result<i64, CheckError> {
    match check.arg(name) {
        None | Some(ArgValue::Null) => Ok(default),
        Some(ArgValue::Int(i)) => Ok(*i),
        Some(other) => Err(err(
            check,
            name,
            format!("'{name}' must be an integer, found {}", other.kind()),
        )),
    }
}

/// A string argument (`None` when absent).
pub(super) fn str_arg<'c>(check: &'c Check, name: &str) -> Result<Option<&'c str>, CheckError> {
    match check.arg(name) {
        None | Some(ArgValue::Null) => Ok(None),
        Some(ArgValue::Str(s)) => Ok(Some(s)),
        Some(other) => Err(err(
            check,
            name,
            format!("'{name}' must be a string, found {}", other.kind()),
        )),
    }
}

/// The name DQX gives an aggregate check: `{column}_{aggr}[_group_by_{g1_g2}]_{suffix}`, the
/// column normalised (`*` left out), leading underscores trimmed.
pub(super) fn aggr_check_name(
    column: &str,
    aggr: AggrType,
    group_by: &[String],
    suffix: &str,
) -> String {
    let grouped = if group_by.is_empty() {
        String::new()
    } else {
        format!("_group_by_{}", group_by.join("_"))
    };
    format!(
        "{}_{}{grouped}_{suffix}",
        aggr_column_name(column),
        aggr.as_str()
    )
    .trim_start_matches('_')
    .to_string()
}

/// An aggregated column as DQX names it in check names: normalised, `*` as nothing.
pub(super) fn aggr_column_name(column: &str) -> String {
    if column == "*" {
        String::new()
    } else {
        super::functions::normalize(column)
    }
}

/// `window_minutes` of the time-window checks: a positive integer.
pub(super) fn window_minutes(check: &Check) -> Result<i64, CheckError> {
    Ok(positive_int(
        check,
        "window_minutes",
        true,
        "window_minutes must be a positive integer",
    )?
    .unwrap_or(1))
}

/// Where the reference rows come from: a DataFrame name or a table name (both looked up among
/// the `--ref` datasets; DQX's message names which).
#[derive(Debug, Clone, PartialEq)]
pub enum RefSource {
    DataFrame(String),
    Table(String),
}

impl RefSource {
    /// The name the reference is given under.
    pub fn name(&self) -> &str {
        match self {
            RefSource::DataFrame(n) | RefSource::Table(n) => n,
        }
    }
    pub fn label(&self) -> String {
        match self {
            RefSource::DataFrame(n) => format!("DataFrame '{n}'"),
            RefSource::Table(n) => format!("table '{n}'"),
        }
    }
}

/// The reference of a check (`ref_df_name` or `ref_table`), as DQX requires exactly one.
pub fn ref_source(check: &Check) -> Result<RefSource, CheckError> {
    let named = |k: &str| match check.arg(k) {
        Some(ArgValue::Str(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    match (named("ref_df_name"), named("ref_table")) {
        (Some(_), Some(_)) => Err(err(
            check,
            "ref_table",
            "Both 'ref_df_name' and 'ref_table' were provided. Please provide only one to avoid \
             ambiguity.",
        )),
        (Some(d), None) => Ok(RefSource::DataFrame(d)),
        (None, Some(t)) => Ok(RefSource::Table(t)),
        (None, None) => Err(err(
            check,
            "ref_df_name",
            "Either 'ref_df_name' or 'ref_table' is required but neither was provided.",
        )),
    }
}

/// A group's key: one Spark grouping key per column (`None` for null).
pub type GroupKey = Vec<Option<String>>;

/// DQX's `_match_values_with_tolerance`: equal within the absolute or the relative tolerance
/// (of the larger magnitude).
pub fn within_tolerance(a: f64, b: f64, abs_tol: f64, rel_tol: f64) -> bool {
    let diff = (a - b).abs();
    diff <= abs_tol || diff <= rel_tol * a.abs().max(b.abs())
}
