//! Dataset-level checks of DQX (`is_unique`, `is_aggr_not_greater_than`, `is_aggr_not_less_than`,
//! `is_aggr_equal`, `is_aggr_not_equal`): their definitions, validated when the check list loads.
//! They are evaluated across the whole stream (not per micro-batch, as Spark does) by
//! [`crate::views::dataset`].

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

/// The aggregate of an `is_aggr_*` check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggrType {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    CountDistinct,
}

impl AggrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AggrType::Count => "count",
            AggrType::Sum => "sum",
            AggrType::Avg => "avg",
            AggrType::Min => "min",
            AggrType::Max => "max",
            AggrType::CountDistinct => "count_distinct",
        }
    }
}

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
    },
    /// `aggr(column)` per `group_by` group and event-time window, compared with `limit`.
    Aggr {
        column: String,
        aggr: AggrType,
        group_by: Vec<String>,
        limit: f64,
        /// The limit as written, for messages.
        limit_text: String,
        comparison: Comparison,
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

/// Refuses arguments the function does not take (DQX does), and `aggr_params`.
fn known_arguments(check: &Check) -> Result<(), CheckError> {
    let known: &[&str] = if check.function == "is_unique" {
        &["columns", "nulls_distinct", "row_filter"]
    } else {
        &["column", "limit", "aggr_type", "group_by", "row_filter"]
    };
    for (a, _) in &check.arguments {
        if a == "aggr_params" {
            return Err(err(check, a, "'aggr_params' is not supported (yet)"));
        }
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

/// Compiles a dataset-level check definition.
pub fn compile(check: &Check) -> Result<DatasetCheck, CheckError> {
    if check.for_each_column.is_some() {
        return Err(err(
            check,
            "for_each_column",
            format!("for_each_column is not supported with '{}'", check.function),
        ));
    }
    if check.filter.is_some() || check.arg("row_filter").is_some() {
        return Err(err(
            check,
            "filter",
            format!(
                "a filter is not supported with the stream-wide dataset check '{}' (yet)",
                check.function
            ),
        ));
    }
    known_arguments(check)?;
    let (kind, auto_name) = if check.function == "is_unique" {
        let columns = string_list(check, "columns", true)?;
        let nulls_distinct = match check.arg("nulls_distinct") {
            None | Some(ArgValue::Null) => true,
            Some(ArgValue::Bool(b)) => *b,
            Some(other) => {
                return Err(err(
                    check,
                    "nulls_distinct",
                    format!(
                        "'nulls_distinct' must be true or false, found {}",
                        other.kind()
                    ),
                ))
            }
        };
        let name = format!("{}_is_not_unique", columns.join("_"));
        (
            DatasetKind::Unique {
                columns,
                nulls_distinct,
            },
            name,
        )
    } else {
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
            Some(ArgValue::Str(s)) if !s.trim().is_empty() => s.clone(),
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
        let aggr = match check.arg("aggr_type") {
            None | Some(ArgValue::Null) => AggrType::Count,
            Some(ArgValue::Str(s)) => match s.as_str() {
                "count" => AggrType::Count,
                "sum" => AggrType::Sum,
                "avg" => AggrType::Avg,
                "min" => AggrType::Min,
                "max" => AggrType::Max,
                "count_distinct" => AggrType::CountDistinct,
                other => {
                    return Err(err(
                        check,
                        "aggr_type",
                        format!(
                            "unknown aggr_type '{other}': expected count, sum, avg, min, max or count_distinct"
                        ),
                    ))
                }
            },
            Some(other) => {
                return Err(err(
                    check,
                    "aggr_type",
                    format!("'aggr_type' must be a string, found {}", other.kind()),
                ))
            }
        };
        let (limit, limit_text) = match check.arg("limit") {
            Some(ArgValue::Int(i)) => (*i as f64, i.to_string()),
            Some(ArgValue::Float(x)) if x.is_finite() => (*x, x.to_string()),
            Some(ArgValue::Str(s)) if s.trim().parse::<f64>().is_ok() => {
                (s.trim().parse().expect("checked"), s.trim().to_string())
            }
            None | Some(ArgValue::Null) => {
                return Err(err(check, "limit", "missing required argument 'limit'"))
            }
            Some(other) => {
                return Err(err(
                    check,
                    "limit",
                    format!("'limit' must be a number, found {}", other.kind()),
                ))
            }
        };
        let group_by = string_list(check, "group_by", false)?;
        let col = if column == "*" {
            "all"
        } else {
            column.as_str()
        };
        let name = if group_by.is_empty() {
            format!("{col}_{}_{}", aggr.as_str(), comparison.name_suffix())
        } else {
            format!(
                "{col}_{}_group_by_{}_{}",
                aggr.as_str(),
                group_by.join("_"),
                comparison.name_suffix()
            )
        };
        (
            DatasetKind::Aggr {
                column,
                aggr,
                group_by,
                limit,
                limit_text,
                comparison,
            },
            name,
        )
    };
    Ok(DatasetCheck {
        index: check.index,
        name: check.name.clone().unwrap_or(auto_name),
        criticality: check.criticality,
        function: check.function.clone(),
        kind,
    })
}

/// Renders an aggregate value the way DQX's messages show it (integers without a fraction).
pub fn render_metric(aggr: AggrType, value: f64) -> String {
    match aggr {
        AggrType::Count | AggrType::CountDistinct => format!("{}", value as i64),
        _ if value.fract() == 0.0 && value.abs() < 1e15 => format!("{value:.1}"),
        _ => value.to_string(),
    }
}

impl DatasetCheck {
    /// DQX's failure message for a failing group, e.g.
    /// `Count value 3 in column 'a' is greater than limit: 1`.
    pub fn aggr_message(&self, value: f64) -> Option<String> {
        let DatasetKind::Aggr {
            column,
            aggr,
            group_by,
            limit_text,
            comparison,
            ..
        } = &self.kind
        else {
            return None;
        };
        let label = match aggr {
            AggrType::CountDistinct => "Count_distinct".to_string(),
            a => {
                let s = a.as_str();
                s[..1].to_uppercase() + &s[1..]
            }
        };
        let per_group = if group_by.is_empty() {
            String::new()
        } else {
            format!(" per group of columns '{}'", group_by.join(", "))
        };
        Some(format!(
            "{label} value {} in column '{column}'{per_group} {} limit: {limit_text}",
            render_metric(*aggr, value),
            comparison.failure()
        ))
    }

    /// DQX's failure message for a duplicated key of an `is_unique` check.
    pub fn unique_message(&self, value: &str, count: i64) -> Option<String> {
        let DatasetKind::Unique { columns, .. } = &self.kind else {
            return None;
        };
        Some(format!(
            "Value '{value}' in column '{}' is not unique, found {count} duplicates",
            columns.join(", ")
        ))
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
                "a_b_is_not_unique",
                "a_count_greater_than_limit",
                "x_avg_group_by_g_not_equal_to_limit"
            ]
        );
        assert_eq!(
            rules.dataset_checks()[1].aggr_message(3.0).unwrap(),
            "Count value 3 in column 'a' is greater than limit: 1"
        );
        assert_eq!(
            rules.dataset_checks()[2].aggr_message(3.0).unwrap(),
            "Avg value 3.0 in column 'x' per group of columns 'g' is not equal to limit: 2.5"
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
                "function: is_aggr_equal\n    arguments: {column: a, limit: 1, aggr_type: median}",
                "unknown aggr_type 'median'",
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
        ] {
            let text = format!("- criticality: error\n  check:\n    {yaml}\n");
            let e = load(&text).unwrap_err().to_string();
            assert!(e.contains(needle), "{yaml}: {e}");
            assert!(e.contains("checks[0]"), "{yaml}: {e}");
        }
    }
}
