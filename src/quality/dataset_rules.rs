//! Dataset-level checks of DQX (`is_unique`, `is_aggr_not_greater_than`, `is_aggr_not_less_than`,
//! `is_aggr_equal`, `is_aggr_not_equal`): their definitions, validated when the check list loads,
//! with DQX 0.17's generated names and messages. They are evaluated across the whole stream (not
//! per micro-batch, as Spark does) by [`crate::views::dataset_checks`], and over a whole input as
//! DQX evaluates a DataFrame by [`super::dataset_eval`] (`medallion check`).

use super::checks::{ArgValue, Check, Criticality};
use super::error::CheckError;

/// The dataset-level functions.
pub const DATASET_FUNCTIONS: [&str; 5] = [
    "is_unique",
    "is_aggr_not_greater_than",
    "is_aggr_not_less_than",
    "is_aggr_equal",
    "is_aggr_not_equal",
];

/// Whether `function` is a dataset-level check.
pub fn is_dataset_function(function: &str) -> bool {
    DATASET_FUNCTIONS.contains(&function)
}

pub use super::aggregates::AggrType;
use super::aggregates::Value;
use super::expr::render::java_double;
use super::functions::normalize;

/// How an `is_aggr_*` check compares the aggregate with its limit (the condition that passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    NotGreaterThan,
    NotLessThan,
    Equal,
    NotEqual,
}

impl Comparison {
    /// Whether `value` passes against `limit`.
    pub fn passes(self, value: f64, limit: f64) -> bool {
        match self {
            Comparison::NotGreaterThan => value <= limit,
            Comparison::NotLessThan => value >= limit,
            Comparison::Equal => value == limit,
            Comparison::NotEqual => value != limit,
        }
    }
    /// Whether `value` passes against `limit`, equality within the tolerances (DQX's
    /// `_match_values_with_tolerance`: either one suffices).
    pub fn passes_within(self, value: f64, limit: f64, abs_tol: f64, rel_tol: f64) -> bool {
        let equal_within = || {
            let diff = (value - limit).abs();
            diff <= abs_tol || diff <= rel_tol * value.abs().max(limit.abs())
        };
        match self {
            Comparison::Equal if abs_tol > 0.0 || rel_tol > 0.0 => equal_within(),
            Comparison::NotEqual if abs_tol > 0.0 || rel_tol > 0.0 => !equal_within(),
            _ => self.passes(value, limit),
        }
    }
    /// The failure wording of DQX's message (`is greater than`, ...).
    pub fn failure(self) -> &'static str {
        match self {
            Comparison::NotGreaterThan => "is greater than",
            Comparison::NotLessThan => "is less than",
            Comparison::Equal => "is not equal to",
            Comparison::NotEqual => "is equal to",
        }
    }
    /// The suffix of the generated check name.
    fn name_suffix(self) -> &'static str {
        match self {
            Comparison::NotGreaterThan => "greater_than_limit",
            Comparison::NotLessThan => "less_than_limit",
            Comparison::Equal => "not_equal_to_limit",
            Comparison::NotEqual => "equal_to_limit",
        }
    }
}

/// What a dataset check computes.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetKind {
    /// No two rows share the values of `columns` (rows with a null in them are distinct unless
    /// `nulls_distinct` is false).
    Unique {
        columns: Vec<String>,
        nulls_distinct: bool,
        /// Keys compared with leading and trailing spaces removed.
        trim_strings: bool,
    },
    /// `aggr(column)` per `group_by` group (and, stream-wide, event-time window), compared
    /// with `limit`.
    Aggr {
        column: String,
        aggr: AggrType,
        /// `aggr_params: {percentile: p}`: p, and the parameters as DQX prints them.
        percentile: Option<(f64, String)>,
        group_by: Vec<String>,
        limit: f64,
        /// The limit as Spark prints it, for messages.
        limit_text: String,
        comparison: Comparison,
        abs_tolerance: f64,
        rel_tolerance: f64,
    },
}

/// One compiled dataset-level check.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetCheck {
    /// Position in the check list.
    pub index: usize,
    pub name: String,
    pub criticality: Criticality,
    pub function: String,
    /// The check's `filter` (or `row_filter`): only rows where it holds are checked.
    pub filter: Option<String>,
    /// The check's `message_expr`: a SQL expression over the marked row replacing the message.
    pub message_expr: Option<String>,
    pub kind: DatasetKind,
}

fn err(check: &Check, arg: &str, msg: impl Into<String>) -> CheckError {
    CheckError::new(check.index, check.name.clone(), Some(arg), msg)
}

fn string_list(check: &Check, name: &str, required: bool) -> Result<Vec<String>, CheckError> {
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

/// Refuses arguments the function does not take (DQX does).
fn known_arguments(check: &Check) -> Result<(), CheckError> {
    let known: &[&str] = match check.function.as_str() {
        "is_unique" => &["columns", "nulls_distinct", "row_filter", "trim_strings"],
        "is_aggr_equal" | "is_aggr_not_equal" => &[
            "column",
            "limit",
            "aggr_type",
            "group_by",
            "row_filter",
            "aggr_params",
            "abs_tolerance",
            "rel_tolerance",
        ],
        _ => &[
            "column",
            "limit",
            "aggr_type",
            "group_by",
            "row_filter",
            "aggr_params",
        ],
    };
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

fn bool_arg(check: &Check, name: &str, default: bool) -> Result<bool, CheckError> {
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
fn tolerance(check: &Check, name: &str) -> Result<f64, CheckError> {
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
fn filter_of(check: &Check) -> Result<Option<String>, CheckError> {
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
fn limit_of(check: &Check) -> Result<(f64, String), CheckError> {
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
                decimal_text(t)
            };
            Ok((x, text))
        }
        None | Some(ArgValue::Null) => {
            Err(err(check, "limit", "missing required argument 'limit'"))
        }
        Some(other) => Err(err(
            check,
            "limit",
            format!("'limit' must be a number, found {}", other.kind()),
        )),
    }
}

/// A decimal literal as Spark prints it: its scale kept (`2.50`), no leading zeros or `+`.
fn decimal_text(t: &str) -> String {
    let (sign, digits) = match t.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let zero = int == "0" && frac.bytes().all(|c| c == b'0');
    let sign = if zero { "" } else { sign };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// `aggr_params`: `{percentile: p}` for the percentile types (required there), nothing else.
fn percentile_of(check: &Check, aggr: AggrType) -> Result<Option<(f64, String)>, CheckError> {
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

fn aggr_type_of(check: &Check) -> Result<AggrType, CheckError> {
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

/// The key of an `is_unique` check as DQX names it: the column, or `struct(a, b)`.
fn unique_key_text(columns: &[String]) -> String {
    match columns {
        [one] => one.clone(),
        many => format!("struct({})", many.join(", ")),
    }
}

fn compile_unique(check: &Check) -> Result<(DatasetKind, String), CheckError> {
    let columns = string_list(check, "columns", true)?;
    let nulls_distinct = bool_arg(check, "nulls_distinct", true)?;
    let trim_strings = bool_arg(check, "trim_strings", false)?;
    let name = format!("{}_is_not_unique", normalize(&unique_key_text(&columns)));
    Ok((
        DatasetKind::Unique {
            columns,
            nulls_distinct,
            trim_strings,
        },
        name,
    ))
}

fn compile_aggr(check: &Check) -> Result<(DatasetKind, String), CheckError> {
    let comparison = match check.function.as_str() {
        "is_aggr_not_greater_than" => Comparison::NotGreaterThan,
        "is_aggr_not_less_than" => Comparison::NotLessThan,
        "is_aggr_equal" => Comparison::Equal,
        "is_aggr_not_equal" => Comparison::NotEqual,
        other => {
            return Err(err(
                check,
                "function",
                format!("'{other}' is not a dataset-level check"),
            ))
        }
    };
    let column = match check.arg("column") {
        Some(ArgValue::Str(s)) if !s.trim().is_empty() => s.trim().to_string(),
        None | Some(ArgValue::Null) => {
            return Err(err(check, "column", "missing required argument 'column'"))
        }
        Some(other) => {
            return Err(err(
                check,
                "column",
                format!("'column' must be a column name, found {}", other.kind()),
            ))
        }
    };
    let aggr = aggr_type_of(check)?;
    if column == "*" {
        let filtered = check.filter.is_some() || check.arg("row_filter").is_some();
        let ok = aggr == AggrType::Count || (aggr == AggrType::CountDistinct && !filtered);
        if !ok {
            return Err(err(
                check,
                "column",
                format!(
                    "Column '*'{} is only supported with {} (got '{}'). Use an explicit column for other aggregates.",
                    if filtered { " with a row filter" } else { "" },
                    if filtered { "'count'" } else { "'count' or 'count_distinct'" },
                    aggr.as_str()
                ),
            ));
        }
    }
    let percentile = percentile_of(check, aggr)?;
    let (limit, limit_text) = limit_of(check)?;
    let abs_tolerance = tolerance(check, "abs_tolerance")?;
    let rel_tolerance = tolerance(check, "rel_tolerance")?;
    let group_by = string_list(check, "group_by", false)?;
    let norm = if column == "*" {
        String::new()
    } else {
        normalize(&column)
    };
    let name = if group_by.is_empty() {
        format!("{norm}_{}_{}", aggr.as_str(), comparison.name_suffix())
    } else {
        format!(
            "{norm}_{}_group_by_{}_{}",
            aggr.as_str(),
            group_by.join("_"),
            comparison.name_suffix()
        )
    };
    Ok((
        DatasetKind::Aggr {
            column,
            aggr,
            percentile,
            group_by,
            limit,
            limit_text,
            comparison,
            abs_tolerance,
            rel_tolerance,
        },
        name.trim_start_matches('_').to_string(),
    ))
}

/// Compiles a dataset-level check definition.
pub fn compile(check: &Check) -> Result<DatasetCheck, CheckError> {
    if check.for_each_column.is_some() {
        return Err(err(
            check,
            "for_each_column",
            format!("for_each_column is not supported with '{}'", check.function),
        ));
    }
    known_arguments(check)?;
    let filter = filter_of(check)?;
    let (kind, auto_name) = if check.function == "is_unique" {
        compile_unique(check)?
    } else {
        compile_aggr(check)?
    };
    Ok(DatasetCheck {
        index: check.index,
        name: check.name.clone().unwrap_or(auto_name),
        criticality: check.criticality,
        function: check.function.clone(),
        filter,
        message_expr: check.message_expr.clone(),
        kind,
    })
}

/// Renders a stream-wide aggregate (a double) as Spark prints the aggregate's type: counts as
/// integers, the others as doubles.
pub fn render_metric(aggr: AggrType, value: f64) -> String {
    match aggr {
        AggrType::Count | AggrType::CountDistinct => format!("{}", value as i64),
        _ => java_double(value),
    }
}

impl DatasetCheck {
    /// The result's `columns`: the aggregated column, or the unique key's columns.
    pub fn columns(&self) -> Vec<String> {
        match &self.kind {
            DatasetKind::Unique { columns, .. } => columns.clone(),
            DatasetKind::Aggr { column, .. } => vec![column.clone()],
        }
    }

    /// DQX's failure message for a failing group with the aggregate `metric` (as Spark prints
    /// it), e.g. `Count value 3 in column 'a' is greater than limit: 1`.
    pub fn aggr_message(&self, metric: &str) -> Option<String> {
        let DatasetKind::Aggr {
            column,
            aggr,
            percentile,
            group_by,
            limit_text,
            comparison,
            ..
        } = &self.kind
        else {
            return None;
        };
        let params = percentile
            .as_ref()
            .map(|(_, shown)| format!(" ({shown})"))
            .unwrap_or_default();
        let per_group = if group_by.is_empty() {
            String::new()
        } else {
            format!(" per group of columns '{}'", group_by.join(", "))
        };
        Some(format!(
            "{}{params} value {metric} in column '{column}'{per_group} {} limit: {limit_text}",
            aggr.display(),
            comparison.failure()
        ))
    }

    /// DQX's failure message for a duplicated key of an `is_unique` check: `value` is one value
    /// (as Spark prints it) per key column.
    pub fn unique_message(&self, value: &[Option<String>], count: i64) -> Option<String> {
        let DatasetKind::Unique { columns, .. } = &self.kind else {
            return None;
        };
        let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "null".into());
        let value = match value {
            [one] => shown(one),
            many => format!(
                "{{{}}}",
                many.iter().map(shown).collect::<Vec<_>>().join(", ")
            ),
        };
        Some(format!(
            "Value '{value}' in column '{}' is not unique, found {count} duplicates",
            unique_key_text(columns)
        ))
    }

    /// Whether `metric` fails the check's comparison (a null metric fails nothing).
    pub fn aggr_fails(&self, metric: Option<&Value>) -> bool {
        let DatasetKind::Aggr {
            limit,
            comparison,
            abs_tolerance,
            rel_tolerance,
            ..
        } = &self.kind
        else {
            return false;
        };
        metric
            .and_then(Value::as_f64)
            .is_some_and(|m| !comparison.passes_within(m, *limit, *abs_tolerance, *rel_tolerance))
    }
}

#[cfg(test)]
mod tests {
    use crate::quality::{LoadOptions, QualityError, RuleSet};

    fn load(yaml: &str) -> Result<RuleSet, QualityError> {
        RuleSet::from_yaml_str(yaml, &LoadOptions::default())
    }

    #[test]
    fn dataset_checks_load_with_dqx_names() {
        let rules = load(
            "- criticality: error\n  check:\n    function: is_unique\n    arguments: {columns: [a, b]}\n\
             - criticality: warn\n  check:\n    function: is_aggr_not_greater_than\n    arguments: {column: a, limit: 1}\n\
             - criticality: warn\n  check:\n    function: is_aggr_equal\n    arguments: {column: x, aggr_type: avg, group_by: [g], limit: 2.5}\n",
        )
        .unwrap();
        assert!(rules.rules().is_empty());
        let names: Vec<&str> = rules
            .dataset_checks()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "struct_a_b_is_not_unique",
                "a_count_greater_than_limit",
                "x_avg_group_by_g_not_equal_to_limit"
            ]
        );
        assert_eq!(
            rules.dataset_checks()[1].aggr_message("3").unwrap(),
            "Count value 3 in column 'a' is greater than limit: 1"
        );
        assert_eq!(
            rules.dataset_checks()[2].aggr_message("3.0").unwrap(),
            "Average value 3.0 in column 'x' per group of columns 'g' is not equal to limit: 2.5"
        );
    }

    #[test]
    fn bad_dataset_checks_are_reported_with_their_argument() {
        for (yaml, needle) in [
            ("function: is_unique\n    arguments: {}", "'columns'"),
            (
                "function: is_unique\n    arguments: {columns: [a], nulls_distinct: 3}",
                "nulls_distinct",
            ),
            (
                "function: is_aggr_not_less_than\n    arguments: {column: a}",
                "'limit'",
            ),
            (
                "function: is_aggr_not_less_than\n    arguments: {column: a, limit: x}",
                "'limit' must be a number",
            ),
            (
                "function: is_aggr_equal\n    arguments: {column: a, limit: 1, aggr_type: medium}",
                "unknown aggr_type 'medium'",
            ),
            (
                "function: is_aggr_equal\n    arguments: {limit: 1}",
                "'column'",
            ),
            (
                "function: is_unique\n    arguments: {columns: [a], bogus: 1}",
                "unknown argument 'bogus'",
            ),
            (
                "function: is_aggr_equal\n    arguments: {column: a, limit: 1, trim_strings: true}",
                "unknown argument 'trim_strings'",
            ),
            (
                "function: is_aggr_equal\n    arguments: {column: a, limit: 1, aggr_type: percentile}",
                "requires aggr_params with 'percentile'",
            ),
            (
                "function: is_aggr_equal\n    arguments: {column: a, limit: 1, abs_tolerance: -1}",
                "must be non-negative",
            ),
            (
                "function: is_aggr_not_less_than\n    arguments: {column: a, limit: 1, abs_tolerance: 1}",
                "unknown argument 'abs_tolerance'",
            ),
            (
                "function: is_aggr_equal\n    arguments: {column: '*', limit: 1, aggr_type: sum}",
                "Column '*' is only supported with 'count' or 'count_distinct'",
            ),
        ] {
            let text = format!("- criticality: error\n  check:\n    {yaml}\n");
            let e = load(&text).unwrap_err().to_string();
            assert!(e.contains(needle), "{yaml}: {e}");
            assert!(e.contains("checks[0]"), "{yaml}: {e}");
        }
    }
}
