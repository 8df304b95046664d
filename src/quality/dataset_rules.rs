//! Dataset-level checks of DQX (`is_unique`, `is_aggr_not_greater_than`, `is_aggr_not_less_than`,
//! `is_aggr_equal`, `is_aggr_not_equal`): their definitions, validated when the check list loads,
//! with DQX 0.17's generated names and messages. They are evaluated across the whole stream (not
//! per micro-batch, as Spark does) by [`crate::views::dataset_checks`], and over a whole input as
//! DQX evaluates a DataFrame by [`super::dataset_eval`] (`medallion check`).

use super::checks::{ArgValue, Check, Criticality};
use super::dataset_args::{
    aggr_check_name, aggr_type_of, bool_arg, column_arg, err, filter_of, known_arguments, limit_of,
    percentile_of, star_aggregate, string_list, tolerance,
};
use super::error::CheckError;

/// The dataset-level functions.
pub const DATASET_FUNCTIONS: [&str; 15] = [
    "compare_datasets",
    "sql_query",
    "is_unique",
    "is_data_fresh_per_time_window",
    "has_no_gaps_per_time_window",
    "has_no_aggr_outliers",
    "aggr_matches_dataset",
    "is_in_distribution",
    "foreign_key",
    "has_no_outliers",
    "has_valid_schema",
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
use super::expr::json_schema::JsonSchema;
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
        let equal_within = || super::dataset_args::within_tolerance(value, limit, abs_tol, rel_tol);
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
    /// `columns` values found (`negate`: not found) in `ref_columns` of the reference dataset.
    ForeignKey {
        columns: Vec<String>,
        ref_columns: Vec<String>,
        ref_name: String,
        negate: bool,
        /// Nulls match nulls (else rows with a null key part are skipped).
        null_safe: bool,
    },
    /// The column's value distribution (text values; lower-cased unless `case_sensitive`)
    /// within total variation distance `distance` of `distribution` (the mass it leaves is a
    /// residual bucket for every other value).
    Distribution {
        column: String,
        distribution: Vec<(String, f64)>,
        distance: f64,
        /// `distance` as DQX prints it (Python's `str`).
        distance_text: String,
        case_sensitive: bool,
    },
    /// Values outside median ± 3.5 · MAD (median absolute deviation) of the column.
    Outliers { column: String },
    /// The input's schema (its `columns`, less `exclude_columns`) compatible with `expected`
    /// (`strict`: equal to it).
    Schema {
        expected: JsonSchema,
        strict: bool,
        columns: Option<Vec<String>>,
        exclude: Vec<String>,
    },
    /// A time-series check (`is_data_fresh_per_time_window`, `has_no_gaps_per_time_window`,
    /// `has_no_aggr_outliers`).
    TimeWindow(super::time_windows::TimeWindowCheck),
    /// `compare_datasets`: the input compared row by row with a reference dataset.
    Compare(super::compare::CompareDatasets),
    /// `sql_query`: a query's condition, per merge key or for the whole input.
    SqlQuery(super::sql_query::SqlQuery),
    /// `aggr_matches_dataset`: an aggregate equal to a reference dataset's.
    AggrMatches(super::upstream::AggrMatches),
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
    /// The check-level `filter` alone: what DQX reports, and the rows it may mark (a
    /// `row_filter` argument selects the rows a check reads; see
    /// [`DatasetCheck::marks_outside_row_filter`]).
    pub check_filter: Option<String>,
    /// The check's `message_expr`: a SQL expression over the marked row replacing the message.
    pub message_expr: Option<String>,
    pub kind: DatasetKind,
}

/// The key of an `is_unique` check as DQX names it: the column, or `struct(a, b)`.
fn unique_key_text(columns: &[String]) -> String {
    match columns {
        [one] => one.clone(),
        many => format!("struct({})", many.join(", ")),
    }
}

fn compile_foreign_key(check: &Check) -> Result<(DatasetKind, String), CheckError> {
    let named = |k: &str| matches!(check.arg(k), Some(ArgValue::Str(s)) if !s.is_empty());
    if !named("ref_df_name") && !named("ref_table") {
        return Err(err(
            check,
            "ref_df_name",
            "'ref_df_name' or 'ref_table' must be provided",
        ));
    }
    // A table is given like a DataFrame: `medallion check --ref TABLE=ROWS.jsonl`.
    let ref_name = super::dataset_args::ref_source(check)?.name().to_string();
    let columns = string_list(check, "columns", true)?;
    let ref_columns = string_list(check, "ref_columns", true)?;
    if columns.len() != ref_columns.len() {
        return Err(err(
            check,
            "ref_columns",
            "The number of columns and ref_columns must be the same.",
        ));
    }
    let negate = bool_arg(check, "negate", false)?;
    let null_safe = bool_arg(check, "null_safe", false)?;
    let (src, refd) = foreign_key_display(&columns, &ref_columns);
    let op = if negate { "exists_in" } else { "not_exists_in" };
    let name = format!("{}_{op}_ref_{}", normalize(&src), normalize(&refd));
    Ok((
        DatasetKind::ForeignKey {
            columns,
            ref_columns,
            ref_name,
            negate,
            null_safe,
        },
        name,
    ))
}

/// How DQX shows a foreign key and its reference: the columns, or for a composite key the
/// struct it joins on (`struct(a AS a, b AS b)`, the reference's fields named as the key's).
fn foreign_key_display(columns: &[String], ref_columns: &[String]) -> (String, String) {
    if let ([c], [r]) = (columns, ref_columns) {
        return (c.clone(), r.clone());
    }
    let fields = |cols: &[String]| {
        cols.iter()
            .zip(columns)
            .map(|(c, alias)| format!("{c} AS {alias}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    (
        format!("struct({})", fields(columns)),
        format!("struct({})", fields(ref_columns)),
    )
}

fn compile_distribution(check: &Check) -> Result<(DatasetKind, String), CheckError> {
    let column = column_arg(check)?;
    let name = format!("{}_is_not_in_distribution", normalize(&column));
    let case_sensitive = bool_arg(check, "case_sensitive", true)?;
    let items = match check.arg("distribution") {
        Some(ArgValue::Map(m)) if !m.is_empty() => m,
        Some(ArgValue::Map(_)) => {
            return Err(err(
                check,
                "distribution",
                "'distribution' must not be empty.",
            ))
        }
        _ => {
            return Err(err(
                check,
                "distribution",
                "'distribution' is not provided (a mapping of values to shares).",
            ))
        }
    };
    let mut distribution = Vec::with_capacity(items.len());
    for (k, v) in items {
        let share = match v {
            ArgValue::Int(i) => *i as f64,
            ArgValue::Float(x) => *x,
            other => {
                return Err(err(
                    check,
                    "distribution",
                    format!(
                        "the share of '{k}' must be a number, found {}",
                        other.kind()
                    ),
                ))
            }
        };
        if !share.is_finite() || share < 0.0 {
            return Err(err(
                check,
                "distribution",
                format!("the share of '{k}' must be a finite, non-negative number"),
            ));
        }
        let key = if case_sensitive {
            k.clone()
        } else {
            k.to_lowercase()
        };
        if distribution.iter().any(|(d, _): &(String, f64)| *d == key) {
            return Err(err(
                check,
                "distribution",
                format!("keys collide after case normalisation: '{key}'"),
            ));
        }
        distribution.push((key, share));
    }
    if super::aggregates::fsum(distribution.iter().map(|(_, v)| *v)) > 1.0 {
        return Err(err(
            check,
            "distribution",
            "the shares of 'distribution' must sum to 1 or less",
        ));
    }
    let (distance, distance_text) = match check.arg("distance") {
        Some(ArgValue::Int(i)) => (*i as f64, i.to_string()),
        Some(ArgValue::Float(x)) => (*x, super::aggregates::python_float(*x)),
        _ => {
            return Err(err(
                check,
                "distance",
                "'distance' is not provided (a number between 0 and 1)",
            ))
        }
    };
    if !(0.0..=1.0).contains(&distance) {
        return Err(err(check, "distance", "'distance' must be between 0 and 1"));
    }
    Ok((
        DatasetKind::Distribution {
            column,
            distribution,
            distance,
            distance_text,
            case_sensitive,
        },
        name,
    ))
}

fn compile_schema(check: &Check) -> Result<DatasetKind, CheckError> {
    for refd in ["ref_df_name", "ref_table"] {
        if check
            .arg(refd)
            .is_some_and(|v| !matches!(v, ArgValue::Null))
        {
            return Err(err(
                check,
                refd,
                "a reference DataFrame or table is not supported (yet): give expected_schema",
            ));
        }
    }
    let ddl = match check.arg("expected_schema") {
        Some(ArgValue::Str(s)) => s,
        _ => {
            return Err(err(
                check,
                "expected_schema",
                "Must specify one of 'expected_schema', 'ref_df_name', or 'ref_table' when using 'has_valid_schema'",
            ))
        }
    };
    let expected = JsonSchema::parse(ddl).map_err(|e| {
        err(
            check,
            "expected_schema",
            format!("Invalid schema string '{ddl}'. Error: {e}"),
        )
    })?;
    let columns = string_list(check, "columns", false)?;
    Ok(DatasetKind::Schema {
        expected,
        strict: bool_arg(check, "strict", false)?,
        columns: (!columns.is_empty()).then_some(columns),
        exclude: string_list(check, "exclude_columns", false)?,
    })
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
    let column = column_arg(check)?;
    let aggr = aggr_type_of(check)?;
    star_aggregate(check, &column, aggr)?;
    let percentile = percentile_of(check, aggr)?;
    let (limit, limit_text) = limit_of(check)?;
    let abs_tolerance = tolerance(check, "abs_tolerance")?;
    let rel_tolerance = tolerance(check, "rel_tolerance")?;
    let group_by = string_list(check, "group_by", false)?;
    let name = aggr_check_name(&column, aggr, &group_by, comparison.name_suffix());
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
        name,
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
    let (kind, auto_name) = match check.function.as_str() {
        "is_unique" => compile_unique(check)?,
        "has_no_outliers" => {
            let column = column_arg(check)?;
            let name = format!("{}_has_outliers", normalize(&column));
            (DatasetKind::Outliers { column }, name)
        }
        "has_valid_schema" => (compile_schema(check)?, "has_invalid_schema".to_string()),
        "foreign_key" => compile_foreign_key(check)?,
        "is_in_distribution" => compile_distribution(check)?,
        "is_data_fresh_per_time_window"
        | "has_no_gaps_per_time_window"
        | "has_no_aggr_outliers" => {
            let (c, name) = super::time_windows::compile(check)?;
            (DatasetKind::TimeWindow(c), name)
        }
        "compare_datasets" => {
            let (c, name) = super::compare::compile(check)?;
            (DatasetKind::Compare(c), name)
        }
        "sql_query" => {
            let (q, name) = super::sql_query::compile(check)?;
            (DatasetKind::SqlQuery(q), name)
        }
        "aggr_matches_dataset" => {
            let (c, name) = super::upstream::compile(check)?;
            (DatasetKind::AggrMatches(c), name)
        }
        _ => compile_aggr(check)?,
    };
    Ok(DatasetCheck {
        index: check.index,
        name: check.name.clone().unwrap_or(auto_name),
        criticality: check.criticality,
        function: check.function.clone(),
        filter,
        check_filter: check.filter.clone().filter(|f| !f.trim().is_empty()),
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
    /// Whether a row outside a `row_filter` argument can be marked (as in DQX, where the
    /// argument selects what an aggregate reads and the result goes to every row of a failing
    /// group): `is_aggr_*`, `aggr_matches_dataset`, `has_no_aggr_outliers`,
    /// `is_in_distribution` and `sql_query` with `merge_columns`.
    pub fn marks_outside_row_filter(&self) -> bool {
        use super::time_windows::TimeWindowCheck;
        match &self.kind {
            DatasetKind::Aggr { .. }
            | DatasetKind::AggrMatches(_)
            | DatasetKind::Distribution { .. }
            | DatasetKind::TimeWindow(TimeWindowCheck::AggrOutliers { .. }) => true,
            DatasetKind::SqlQuery(q) => !q.merge_columns.is_empty(),
            _ => false,
        }
    }

    /// The result's `columns`: the aggregated column, the unique key's columns, or the columns
    /// a schema check compares (`input`: the input's columns, when it names none).
    pub fn columns(&self, input: &[String]) -> Vec<String> {
        match &self.kind {
            DatasetKind::Unique { columns, .. } | DatasetKind::ForeignKey { columns, .. } => {
                columns.clone()
            }
            DatasetKind::Schema { columns, .. } => {
                columns.clone().unwrap_or_else(|| input.to_vec())
            }
            DatasetKind::Aggr { column, .. }
            | DatasetKind::Outliers { column }
            | DatasetKind::Distribution { column, .. } => {
                vec![column.clone()]
            }
            DatasetKind::TimeWindow(c) => vec![c.column().to_string()],
            DatasetKind::AggrMatches(c) => vec![c.column.clone()],
            DatasetKind::SqlQuery(_) => Vec::new(),
            DatasetKind::Compare(c) => c.columns.clone(),
        }
    }

    /// DQX's message for a foreign key `value` (as Spark prints it) found or not found.
    pub fn foreign_key_message(&self, value: &str) -> Option<String> {
        let DatasetKind::ForeignKey {
            columns,
            ref_columns,
            negate,
            ..
        } = &self.kind
        else {
            return None;
        };
        let (src, refd) = foreign_key_display(columns, ref_columns);
        let not = if *negate { "" } else { "not " };
        Some(format!(
            "Value '{value}' in column '{src}' {not}found in reference column '{refd}'"
        ))
    }

    /// DQX's message for an outlier `value` (as Spark prints it) of `has_no_outliers`.
    pub fn outlier_message(&self, value: &str) -> Option<String> {
        let DatasetKind::Outliers { column } = &self.kind else {
            return None;
        };
        Some(format!(
            "Value '{value}' in Column '{column}' is an outlier as per MAD."
        ))
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
