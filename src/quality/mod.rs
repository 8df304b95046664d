//! Data-quality rules in the check-definition format of Databricks Labs DQX, evaluated
//! vectorised over Arrow.
//!
//! Load a DQX check list (YAML or JSON) into a [`RuleSet`], then [`RuleSet::evaluate`] it on
//! `RecordBatch`es: per rule a failure mask and counts, per row whether an `error` rule fired,
//! and the DQX result columns `_errors` / `_warnings`.
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Array, Float64Array};
//! use arrow::datatypes::{DataType, Field, Schema};
//! use arrow::record_batch::RecordBatch;
//! use medallion::quality::{EvalContext, LoadOptions, RuleSet};
//!
//! let rules = RuleSet::from_yaml_str(
//!     "- criticality: warn\n  check:\n    function: is_in_range\n    arguments: {column: h, min_limit: 0, max_limit: 100}\n",
//!     &LoadOptions::default(),
//! ).unwrap();
//! assert_eq!(rules.rules()[0].name(), "h_not_in_range");
//! let schema = Arc::new(Schema::new(vec![Field::new("h", DataType::Float64, true)]));
//! let batch = RecordBatch::try_new(schema, vec![Arc::new(Float64Array::from(vec![Some(50.0), Some(104.0), None]))]).unwrap();
//! let ev = rules.evaluate(&batch, &EvalContext::fixed("2026-11-26T12:00:00Z".parse().unwrap())).unwrap();
//! assert_eq!(ev.failed_count, vec![1]);
//! assert!(ev.errors.is_null(1) && !ev.warnings.is_null(1));
//! ```
//!
//! Modules: [`checks`] (model, YAML/JSON loading, old spellings), [`functions`] (each DQX
//! row-level function: condition, message, generated name), [`dataset_rules`] (the dataset-level
//! checks' definitions; [`time_windows`] and [`upstream`] the time-series and reference-aggregate
//! ones), [`expr`] (the SQL subset, compiled and evaluated with Arrow kernels),
//! [`apply`] (a rule set applied to a batch), [`context`] (the clock and run identity of an
//! evaluation), [`results`] (the DQX result columns), [`cli`] (the `check` command).

pub mod aggregates;
pub mod apply;
pub mod checks;
pub mod cli;
pub mod compare;
pub mod context;
mod dataset_args;
pub mod dataset_eval;
pub mod dataset_rules;
mod error;
pub mod expr;
pub mod functions;
pub mod results;
mod schema_compare;
pub mod sql_query;
#[cfg(test)]
mod tests;
pub mod time_windows;
pub mod upstream;

use std::path::Path;

use arrow::datatypes::Schema;

pub use apply::Evaluation;
pub use checks::{ArgValue, Check, Criticality, LoadOptions};
pub use context::EvalContext;
pub use error::{CheckError, CheckErrors, QualityError};
pub use expr::ExprError;
pub use results::{dqx_result_type, single_error_column};

use dataset_rules::DatasetCheck;
use expr::Expr;
use functions::MsgPart;

/// One compiled rule: a check definition applied to one column.
#[derive(Debug, Clone)]
pub struct Rule {
    index: usize,
    name: String,
    criticality: Criticality,
    function: String,
    columns: Option<Vec<String>>,
    filter: Option<String>,
    user_metadata: Vec<(String, String)>,
    pub(crate) condition: Expr,
    pub(crate) message: Vec<MsgPart>,
    pub(crate) filter_expr: Option<Expr>,
    check_columns: Vec<(String, Vec<String>)>,
    expression: Option<(String, Vec<String>)>,
}

impl Rule {
    /// The rule's name (given, or generated the way DQX does).
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn criticality(&self) -> Criticality {
        self.criticality
    }
    /// The DQX function (current spelling).
    pub fn function(&self) -> &str {
        &self.function
    }
    /// The result's `columns`: the checked column as written (or sql_expression's `columns`).
    pub fn columns(&self) -> Option<&[String]> {
        self.columns.as_deref()
    }
    pub fn filter(&self) -> Option<&str> {
        self.filter.as_deref()
    }
    pub fn user_metadata(&self) -> &[(String, String)] {
        &self.user_metadata
    }
    /// Index of the check definition this rule comes from.
    pub fn check_index(&self) -> usize {
        self.index
    }

    /// Why this rule cannot run on `schema` (DQX's skipped-check message), if it cannot.
    pub fn skip_reason(&self, schema: &Schema) -> Option<String> {
        let missing = |refs: &[String]| {
            refs.iter()
                .any(|c| expr::eval::Env::column_index(schema, c).is_none())
        };
        let mut parts = Vec::new();
        let bad_cols: Vec<String> = self
            .check_columns
            .iter()
            .filter(|(_, refs)| missing(refs))
            .map(|(label, _)| format!("'{}'", label.replace('\'', "\\'")))
            .collect();
        if !bad_cols.is_empty() {
            parts.push(format!(
                "Check evaluation skipped due to invalid check columns: [{}]",
                bad_cols.join(", ")
            ));
        }
        if let (Some(f), Some(fe)) = (&self.filter, &self.filter_expr) {
            if missing(&fe.columns()) {
                parts.push(format!(
                    "Check evaluation skipped due to invalid check filter: '{f}'"
                ));
            }
        }
        if let Some((text, refs)) = &self.expression {
            if missing(refs) {
                parts.push(format!(
                    "Check evaluation skipped due to invalid sql expression: '{text}'"
                ));
            }
        }
        if parts.is_empty() {
            None
        } else {
            Some(parts.join("; "))
        }
    }

    /// The argument to blame when this rule does not resolve (for strict load errors).
    fn unresolved_argument(&self, schema: &Schema) -> &'static str {
        let missing = |refs: &[String]| {
            refs.iter()
                .any(|c| expr::eval::Env::column_index(schema, c).is_none())
        };
        if self.check_columns.first().is_some_and(|(_, r)| missing(r)) {
            if self.expression.is_some() {
                "columns"
            } else {
                "column"
            }
        } else if self.expression.as_ref().is_some_and(|(_, r)| missing(r)) {
            "expression"
        } else if self
            .filter_expr
            .as_ref()
            .is_some_and(|f| missing(&f.columns()))
        {
            "filter"
        } else {
            "column"
        }
    }
}

/// A compiled, validated check list.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
    dataset: Vec<DatasetCheck>,
    checks: Vec<Check>,
    strict: bool,
}

impl RuleSet {
    /// Loads a check list from YAML or JSON text. Every invalid check is reported (each error
    /// names the check's index and name and the offending argument).
    pub fn from_yaml_str(text: &str, opts: &LoadOptions) -> Result<RuleSet, QualityError> {
        let (checks, errors) = checks::parse_checks_collecting(text)?;
        Self::compile(checks, errors, opts)
    }

    /// Loads a check list from a YAML or JSON file.
    pub fn from_path(path: &Path, opts: &LoadOptions) -> Result<RuleSet, QualityError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| QualityError::Load(format!("cannot read {}: {e}", path.display())))?;
        Self::from_yaml_str(&text, opts)
    }

    /// Compiles already-parsed check definitions.
    pub fn from_checks(checks: Vec<Check>, opts: &LoadOptions) -> Result<RuleSet, QualityError> {
        Self::compile(checks, Vec::new(), opts)
    }

    fn compile(
        checks: Vec<Check>,
        mut errors: Vec<CheckError>,
        opts: &LoadOptions,
    ) -> Result<RuleSet, QualityError> {
        let mut rules = Vec::new();
        let mut dataset_checks = Vec::new();
        for check in &checks {
            if dataset_rules::is_dataset_function(&check.function) {
                match dataset_rules::compile(check) {
                    Ok(d) => dataset_checks.push(d),
                    Err(e) => errors.push(e),
                }
                continue;
            }
            match compile_check(check) {
                Ok(rs) => rules.extend(rs),
                Err(e) => errors.push(e),
            }
        }
        if let Some(schema) = &opts.schema {
            if opts.strict {
                for r in &rules {
                    if let Some(reason) = r.skip_reason(schema) {
                        errors.push(CheckError::new(
                            r.index,
                            Some(r.name.clone()),
                            Some(r.unresolved_argument(schema)),
                            format!("does not resolve against the input schema ({reason})"),
                        ));
                    }
                }
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.index);
            return Err(QualityError::InvalidChecks(errors.into()));
        }
        Ok(RuleSet {
            rules,
            dataset: dataset_checks,
            checks,
            strict: opts.strict,
        })
    }

    /// The compiled rules, in check order (a `for_each_column` check gives one rule per column).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// (name, criticality) of each quality count's rule index: 0 is the parse check
    /// (`parse`, `error`), then the row rules in order. The quality table, its views and the
    /// metrics label rules with these.
    pub fn rule_labels(&self) -> Vec<(String, String)> {
        let mut labels = vec![("parse".to_string(), "error".to_string())];
        labels.extend(self.rules.iter().map(|r| {
            let criticality = match r.criticality() {
                Criticality::Error => "error",
                Criticality::Warn => "warn",
            };
            (r.name().to_string(), criticality.to_string())
        }));
        labels
    }

    /// The dataset-level checks (`is_unique`, `is_aggr_*`), evaluated across the stream.
    pub fn dataset_checks(&self) -> &[DatasetCheck] {
        &self.dataset
    }

    /// The check definitions as loaded.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// Whether unresolvable checks are errors rather than skipped.
    pub fn is_strict(&self) -> bool {
        self.strict
    }
}

/// The message of a rule: the function's, or the check's `message_expr` (DQX evaluates it as is
/// and keeps its first 500 characters), with the columns that expression references.
fn custom_message(
    check: &Check,
    name: &str,
    message: Vec<MsgPart>,
) -> Result<(Vec<MsgPart>, Vec<(String, Vec<String>)>), CheckError> {
    let Some(text) = &check.message_expr else {
        return Ok((message, Vec::new()));
    };
    let e = expr::parse(text).map_err(|e| {
        CheckError::new(
            check.index,
            Some(name.to_string()),
            Some("message_expr"),
            format!("'{text}' is not a valid SQL expression: {e}"),
        )
    })?;
    let refs = e.columns();
    let refs = if refs.is_empty() {
        Vec::new()
    } else {
        vec![(text.clone(), refs)]
    };
    let value = e.call(expr::Func::Text(expr::TextFn::Prefix(500)));
    Ok((vec![MsgPart::Whole(value)], refs))
}

fn compile_check(check: &Check) -> Result<Vec<Rule>, CheckError> {
    let columns: Vec<Option<&str>> = match &check.for_each_column {
        Some(cols) => {
            if !functions::takes_column(&check.function) {
                return Err(CheckError::new(
                    check.index,
                    check.name.clone(),
                    Some("for_each_column"),
                    format!(
                        "function '{}' has no 'column' argument, so for_each_column cannot be used",
                        check.function
                    ),
                ));
            }
            cols.iter().map(|c| Some(c.as_str())).collect()
        }
        None => vec![None],
    };
    let mut out = Vec::with_capacity(columns.len());
    for col in columns {
        let compiled = functions::compile(check, col).map_err(|(arg, msg)| {
            CheckError::new(check.index, check.name.clone(), arg.as_deref(), msg)
        })?;
        let name = check
            .name
            .clone()
            .unwrap_or_else(|| compiled.auto_name.clone());
        let filter_expr = match &check.filter {
            Some(f) => Some(expr::parse(f).map_err(|e| {
                CheckError::new(
                    check.index,
                    Some(name.clone()),
                    Some("filter"),
                    e.to_string(),
                )
            })?),
            None => None,
        };
        let (message, check_columns) = custom_message(check, &name, compiled.message)?;
        let mut check_columns_all = compiled.check_columns;
        check_columns_all.extend(check_columns);
        out.push(Rule {
            index: check.index,
            name,
            criticality: check.criticality,
            function: check.function.clone(),
            columns: compiled.columns,
            filter: check.filter.clone(),
            user_metadata: check.user_metadata.clone(),
            condition: compiled.condition,
            message,
            filter_expr,
            check_columns: check_columns_all,
            expression: compiled.expression,
        });
    }
    Ok(out)
}
