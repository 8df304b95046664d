//! The quality engine's error type, [`QualityError`], and [`CheckError`], one problem with one
//! check definition (naming the check's index and name and the offending argument).
//!
//! Errors of the expression layer ([`ExprError`]) reach users in two ways: at load time as the
//! message of a [`CheckError`] (which names the check and argument), and at evaluation time as
//! [`QualityError::Eval`] (which names the rule).

use std::fmt;

use thiserror::Error;

use super::expr::ExprError;

/// One problem with one check definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    /// Position of the check in the list (0-based).
    pub index: usize,
    /// The check's name (given or generated), when known.
    pub name: Option<String>,
    /// The offending argument or field (`regex`, `column`, `criticality`, `function`, …).
    pub argument: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl CheckError {
    pub fn new(
        index: usize,
        name: Option<String>,
        argument: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        CheckError {
            index,
            name,
            argument: argument.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for CheckError {
    /// `checks[3] 'station_id_bad_format', argument 'regex': invalid regex …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "checks[{}]", self.index)?;
        match &self.name {
            Some(n) => write!(f, " '{n}'")?,
            None => write!(f, " (unnamed)")?,
        }
        if let Some(a) = &self.argument {
            write!(f, ", argument '{a}'")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a check list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckErrors(pub Vec<CheckError>);

impl From<Vec<CheckError>> for CheckErrors {
    fn from(v: Vec<CheckError>) -> Self {
        CheckErrors(v)
    }
}

impl fmt::Display for CheckErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} invalid check definition{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// Errors of the quality engine.
#[derive(Debug, Error)]
pub enum QualityError {
    /// The check list could not be read (I/O, YAML syntax, not a list).
    #[error("{0}")]
    Load(String),
    /// One or more check definitions are invalid.
    #[error("{0}")]
    InvalidChecks(CheckErrors),
    /// A strict rule set met a batch its checks do not resolve against.
    #[error("rule '{rule}' does not resolve against the input: {message}")]
    Unresolved { rule: String, message: String },
    /// A rule failed while evaluating (e.g. comparing a string with a boolean column);
    /// `in_filter` when it was the rule's filter that failed. The expression error is part of
    /// the message, not a `source()`, so that `{:#}` chains do not print it twice.
    #[error("rule '{rule}' failed to evaluate: {}{error}", filter_prefix(*.in_filter))]
    Eval {
        rule: String,
        in_filter: bool,
        error: ExprError,
    },
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

fn filter_prefix(in_filter: bool) -> &'static str {
    if in_filter {
        "filter: "
    } else {
        ""
    }
}

impl QualityError {
    /// The per-check errors, when this is [`QualityError::InvalidChecks`].
    pub fn check_errors(&self) -> &[CheckError] {
        match self {
            QualityError::InvalidChecks(e) => &e.0,
            _ => &[],
        }
    }
}
