//! The check-definition model of Databricks Labs DQX and its loading from YAML/JSON text.
//!
//! A check list is a YAML (or JSON, which is YAML) sequence of mappings with `criticality`
//! (`error` | `warn`, default `error`), optional `name`, `filter`, `user_metadata`, and
//! `check: {function, arguments, for_each_column}`. Old spellings are mapped on load:
//! `col_name` → `column`, `col_names` → `for_each_column`, and the DQX 0.1 function names
//! (`value_is_in_list`, `not_less_than`, …). This module only checks the *structure*; the
//! function-specific validation (known arguments, required ones, regexes, expressions) lives in
//! the `functions` module.

use std::fmt;

use arrow::datatypes::SchemaRef;
use serde_yaml::Value as Yaml;

use super::error::{CheckError, QualityError};

/// How bad a failed check is: `error` rows go to quarantine, `warn` rows get a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Criticality {
    Error,
    Warn,
}

impl Criticality {
    pub fn as_str(&self) -> &'static str {
        match self {
            Criticality::Error => "error",
            Criticality::Warn => "warn",
        }
    }
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options for loading a check list.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// A check whose column or filter does not resolve against the schema is an error (at load
    /// time when [`schema`](Self::schema) is given, else at evaluation) instead of a skipped check.
    pub strict: bool,
    /// The schema the rules will run on, when known at load time: unresolvable checks are then
    /// reported by the loader (as errors with `strict`).
    pub schema: Option<SchemaRef>,
}

impl LoadOptions {
    /// Strict loading against a schema.
    pub fn strict_for(schema: SchemaRef) -> Self {
        LoadOptions {
            strict: true,
            schema: Some(schema),
        }
    }
}

/// A check argument value, as written in the YAML.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<ArgValue>),
    Map(Vec<(String, ArgValue)>),
}

impl ArgValue {
    fn from_yaml(v: &Yaml) -> ArgValue {
        match v {
            Yaml::Null => ArgValue::Null,
            Yaml::Bool(b) => ArgValue::Bool(*b),
            Yaml::Number(n) => match n.as_i64() {
                Some(i) => ArgValue::Int(i),
                None => ArgValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Yaml::String(s) => ArgValue::Str(s.clone()),
            Yaml::Sequence(items) => ArgValue::List(items.iter().map(Self::from_yaml).collect()),
            Yaml::Mapping(m) => ArgValue::Map(
                m.iter()
                    .map(|(k, v)| (yaml_key(k), Self::from_yaml(v)))
                    .collect(),
            ),
            Yaml::Tagged(t) => Self::from_yaml(&t.value),
        }
    }

    /// The value as text (for `user_metadata`, which DQX casts to string).
    pub fn to_text(&self) -> String {
        match self {
            ArgValue::Null => "null".into(),
            ArgValue::Bool(b) => b.to_string(),
            ArgValue::Int(i) => i.to_string(),
            ArgValue::Float(x) => super::expr::render::java_double(*x),
            ArgValue::Str(s) => s.clone(),
            ArgValue::List(_) | ArgValue::Map(_) => format!("{self:?}"),
        }
    }

    /// A short description of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            ArgValue::Null => "null",
            ArgValue::Bool(_) => "a boolean",
            ArgValue::Int(_) => "an integer",
            ArgValue::Float(_) => "a number",
            ArgValue::Str(_) => "a string",
            ArgValue::List(_) => "a list",
            ArgValue::Map(_) => "a mapping",
        }
    }
}

fn yaml_key(k: &Yaml) -> String {
    match k {
        Yaml::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// One check definition, as loaded (before compilation): old spellings already mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Position in the check list (0-based).
    pub index: usize,
    /// The name as written (`None`: generated from the function and column, as DQX does).
    pub name: Option<String>,
    pub criticality: Criticality,
    /// SQL filter: the check only applies to rows where it is true.
    pub filter: Option<String>,
    /// Key/value pairs copied into every result entry of this check.
    pub user_metadata: Vec<(String, String)>,
    /// `message_expr` (DQX 0.15): a SQL expression whose value is the message, in place of the
    /// function's.
    pub message_expr: Option<String>,
    /// The DQX function name (current spelling).
    pub function: String,
    /// Arguments (current spellings), in the order written.
    pub arguments: Vec<(String, ArgValue)>,
    /// `for_each_column`: one rule per listed column.
    pub for_each_column: Option<Vec<String>>,
}

impl Check {
    /// The argument `name`, if given.
    pub fn arg(&self, name: &str) -> Option<&ArgValue> {
        self.arguments
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// DQX 0.1 function names → current ones.
pub fn current_function_name(name: &str) -> &str {
    match name {
        "value_is_in_list" => "is_in_list",
        "value_is_not_null_and_is_in_list" => "is_not_null_and_is_in_list",
        "not_less_than" => "is_not_less_than",
        "not_greater_than" => "is_not_greater_than",
        "not_in_future" => "is_not_in_future",
        "not_in_near_future" => "is_not_in_near_future",
        other => other,
    }
}

/// Parses a check list (YAML or JSON text). Structural errors of all checks are collected.
pub fn parse_checks(text: &str) -> Result<Vec<Check>, QualityError> {
    let (checks, errors) = parse_checks_collecting(text)?;
    if errors.is_empty() {
        Ok(checks)
    } else {
        Err(QualityError::InvalidChecks(errors.into()))
    }
}

/// Parses a check list, returning the well-formed checks and the errors of the others.
pub(crate) fn parse_checks_collecting(
    text: &str,
) -> Result<(Vec<Check>, Vec<CheckError>), QualityError> {
    let doc: Yaml = serde_yaml::from_str(text)
        .map_err(|e| QualityError::Load(format!("checks are not valid YAML/JSON: {e}")))?;
    let items = match doc {
        Yaml::Sequence(items) => items,
        Yaml::Null => Vec::new(),
        other => {
            return Err(QualityError::Load(format!(
                "checks must be a list of check definitions, found {}",
                ArgValue::from_yaml(&other).kind()
            )))
        }
    };
    let mut checks = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match parse_one(index, item) {
            Ok(c) => checks.push(c),
            Err(e) => errors.push(e),
        }
    }
    Ok((checks, errors))
}

fn parse_one(index: usize, item: &Yaml) -> Result<Check, CheckError> {
    let map = match item {
        Yaml::Mapping(m) => m,
        other => {
            return Err(CheckError::new(
                index,
                None,
                None,
                format!(
                    "a check must be a mapping, found {}",
                    ArgValue::from_yaml(other).kind()
                ),
            ))
        }
    };
    let get = |k: &str| map.get(Yaml::String(k.into()));
    let name = match get("name") {
        None | Some(Yaml::Null) => None,
        Some(Yaml::String(s)) if s.trim().is_empty() => None,
        Some(Yaml::String(s)) => Some(s.clone()),
        Some(other) => Some(ArgValue::from_yaml(other).to_text()),
    };
    let err = |arg: Option<&str>, msg: String| CheckError::new(index, name.clone(), arg, msg);
    for (k, _) in map {
        let k = yaml_key(k);
        if !matches!(
            k.as_str(),
            "name" | "criticality" | "filter" | "user_metadata" | "message_expr" | "check"
        ) {
            return Err(err(
                Some(&k),
                format!("unknown field '{k}' (expected name, criticality, filter, user_metadata, message_expr, check)"),
            ));
        }
    }
    let criticality = match get("criticality") {
        None | Some(Yaml::Null) => Criticality::Error,
        Some(Yaml::String(s)) if s == "error" => Criticality::Error,
        Some(Yaml::String(s)) if s == "warn" => Criticality::Warn,
        Some(other) => {
            return Err(err(
                Some("criticality"),
                format!(
                    "invalid criticality '{}' (expected 'error' or 'warn')",
                    ArgValue::from_yaml(other).to_text()
                ),
            ))
        }
    };
    let filter = match get("filter") {
        None | Some(Yaml::Null) => None,
        Some(Yaml::String(s)) if s.trim().is_empty() => None,
        Some(Yaml::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(err(
                Some("filter"),
                format!(
                    "filter must be a SQL expression string, found {}",
                    ArgValue::from_yaml(other).kind()
                ),
            ))
        }
    };
    let message_expr = match get("message_expr") {
        None | Some(Yaml::Null) => None,
        Some(Yaml::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(other) => {
            return Err(err(
                Some("message_expr"),
                format!(
                    "message_expr must be a non-empty SQL expression string, found {}",
                    ArgValue::from_yaml(other).kind()
                ),
            ))
        }
    };
    let user_metadata = match get("user_metadata") {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Mapping(m)) => m
            .iter()
            .map(|(k, v)| (yaml_key(k), ArgValue::from_yaml(v).to_text()))
            .collect(),
        Some(other) => {
            return Err(err(
                Some("user_metadata"),
                format!(
                    "user_metadata must be a mapping, found {}",
                    ArgValue::from_yaml(other).kind()
                ),
            ))
        }
    };
    let check = match get("check") {
        Some(Yaml::Mapping(m)) => m,
        None | Some(Yaml::Null) => {
            return Err(err(
                Some("check"),
                "missing 'check' (function and arguments)".into(),
            ))
        }
        Some(other) => {
            return Err(err(
                Some("check"),
                format!(
                    "'check' must be a mapping, found {}",
                    ArgValue::from_yaml(other).kind()
                ),
            ))
        }
    };
    let (function, arguments, for_each_column) = parse_check_field(check, &err)?;
    Ok(Check {
        index,
        name,
        criticality,
        filter,
        user_metadata,
        message_expr,
        function,
        arguments,
        for_each_column,
    })
}

/// The error of one check: the offending argument and what is wrong.
type ErrFn<'a> = dyn Fn(Option<&str>, String) -> CheckError + 'a;

/// What the `check` mapping holds: the function (current spelling), the arguments (current
/// spellings) and `for_each_column`.
type CheckField = (String, Vec<(String, ArgValue)>, Option<Vec<String>>);

/// Parses the `check` mapping of a check definition.
fn parse_check_field(
    check: &serde_yaml::Mapping,
    err: &ErrFn<'_>,
) -> Result<CheckField, CheckError> {
    let cget = |k: &str| check.get(Yaml::String(k.into()));
    for (k, _) in check {
        let k = yaml_key(k);
        if !matches!(
            k.as_str(),
            "function" | "arguments" | "for_each_column" | "col_names"
        ) {
            return Err(err(
                Some(&k),
                format!(
                    "unknown field 'check.{k}' (expected function, arguments, for_each_column)"
                ),
            ));
        }
    }
    let function = match cget("function") {
        Some(Yaml::String(s)) if !s.trim().is_empty() => {
            current_function_name(s.trim()).to_string()
        }
        _ => return Err(err(Some("function"), "missing 'check.function'".into())),
    };
    let mut arguments: Vec<(String, ArgValue)> = Vec::new();
    match cget("arguments") {
        None | Some(Yaml::Null) => {}
        Some(Yaml::Mapping(m)) => {
            for (k, v) in m {
                let mut k = yaml_key(k);
                if k == "col_name" {
                    k = "column".into();
                }
                if arguments.iter().any(|(a, _)| *a == k) {
                    return Err(err(Some(&k), format!("argument '{k}' is given twice")));
                }
                arguments.push((k, ArgValue::from_yaml(v)));
            }
        }
        Some(other) => {
            return Err(err(
                Some("arguments"),
                format!(
                    "'check.arguments' must be a mapping, found {}",
                    ArgValue::from_yaml(other).kind()
                ),
            ))
        }
    }
    // for_each_column: at check level, or the legacy `col_names` (check level or argument).
    let mut fec = cget("for_each_column")
        .or_else(|| cget("col_names"))
        .cloned()
        .map(|v| ArgValue::from_yaml(&v));
    if let Some(pos) = arguments.iter().position(|(k, _)| k == "col_names") {
        let (_, v) = arguments.remove(pos);
        fec = fec.or(Some(v));
    }
    Ok((function, arguments, parse_for_each_column(fec, err)?))
}

/// `for_each_column`: a non-empty list of column names, if given.
fn parse_for_each_column(
    fec: Option<ArgValue>,
    err: &ErrFn<'_>,
) -> Result<Option<Vec<String>>, CheckError> {
    match fec {
        None | Some(ArgValue::Null) => Ok(None),
        Some(ArgValue::List(items)) => {
            let mut cols = Vec::with_capacity(items.len());
            for it in items {
                match it {
                    ArgValue::Str(s) => cols.push(s),
                    other => {
                        return Err(err(
                            Some("for_each_column"),
                            format!(
                                "for_each_column items must be column names, found {}",
                                other.kind()
                            ),
                        ))
                    }
                }
            }
            if cols.is_empty() {
                return Err(err(
                    Some("for_each_column"),
                    "for_each_column is empty".into(),
                ));
            }
            Ok(Some(cols))
        }
        Some(other) => Err(err(
            Some("for_each_column"),
            format!(
                "for_each_column must be a list of columns, found {}",
                other.kind()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_spellings_are_mapped() {
        let c = parse_checks(
            "- criticality: warn\n  check:\n    function: value_is_in_list\n    arguments:\n      col_name: a\n      allowed: [1, 2]\n- check:\n    function: is_not_null\n    arguments:\n      col_names: [a, b]\n",
        )
        .unwrap();
        assert_eq!(c[0].function, "is_in_list");
        assert_eq!(c[0].arg("column"), Some(&ArgValue::Str("a".into())));
        assert_eq!(c[0].criticality, Criticality::Warn);
        assert_eq!(c[1].criticality, Criticality::Error);
        assert_eq!(c[1].for_each_column, Some(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn json_is_accepted() {
        let c = parse_checks(
            r#"[{"name": "x", "criticality": "warn", "user_metadata": {"k": 2}, "check": {"function": "is_not_null", "arguments": {"column": "a"}}}]"#,
        )
        .unwrap();
        assert_eq!(c[0].name.as_deref(), Some("x"));
        assert_eq!(c[0].user_metadata, vec![("k".to_string(), "2".to_string())]);
    }
}
