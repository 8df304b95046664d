//! [`ExprError`], what can go wrong in the SQL-subset layer: parsing and converting SQL text,
//! compiling datetime patterns, and evaluating an expression on a batch.
//!
//! The texts are the ones users see in load errors (inside a `CheckError`) and in evaluation
//! errors (inside `QualityError::Eval`). Inner errors (Arrow's, the regex crate's) are part of
//! the message and deliberately not exposed as `source()`, so that error chains printed with
//! `{:#}` do not repeat them.

use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use thiserror::Error;

/// An error of the expression layer.
#[derive(Debug, Error)]
pub enum ExprError {
    /// The text is not a SQL expression (`sqlparser` rejected it, or text is left over).
    #[error("cannot parse SQL expression '{text}': {reason}")]
    Parse { text: String, reason: String },
    /// The text parses, but `cause` (an [`ExprError::UnsupportedSyntax`],
    /// [`ExprError::UnsupportedFunction`], …) says what in it is outside the supported subset.
    #[error("unsupported SQL expression '{text}': {cause}")]
    Unsupported { text: String, cause: Box<ExprError> },
    /// A construct outside the subset (an operator, a nested field, a subquery, a literal kind…),
    /// described as SQL.
    #[error("{0}")]
    UnsupportedSyntax(String),
    /// A function the subset does not have.
    #[error("function '{0}'")]
    UnsupportedFunction(String),
    /// A function called with the wrong number of arguments (`expected`: `1` or `1 to 2`).
    #[error("{function}() takes {expected} argument(s), got {got}")]
    Arity {
        function: String,
        expected: String,
        got: usize,
    },
    /// An argument, literal or pattern that is not valid where it is used (a non-literal LIKE
    /// pattern, an out-of-range date, a null limit, …).
    #[error("{0}")]
    InvalidArgument(String),
    /// A regex (`RLIKE`) that does not compile.
    #[error("invalid regex '{pattern}': {error}")]
    InvalidRegex {
        pattern: String,
        error: regex::Error,
    },
    /// A Spark datetime pattern that cannot be compiled; `problem` names the offending part.
    #[error("{problem} in datetime pattern '{pattern}'")]
    DateTimePattern { pattern: String, problem: String },
    /// A column the batch does not have.
    #[error("column '{0}' does not exist")]
    UnknownColumn(String),
    /// A value of a type the operation does not take (e.g. a string where a boolean is needed,
    /// or two types that cannot be compared).
    #[error("{0}")]
    TypeMismatch(String),
    /// A cast that Arrow could not perform.
    #[error("cannot cast {from} to {to}: {error}")]
    Cast {
        from: DataType,
        to: DataType,
        error: ArrowError,
    },
    /// Anything else that fails while evaluating (e.g. a function call missing its argument).
    #[error("{0}")]
    Evaluation(String),
    /// An Arrow compute kernel failed.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

impl ExprError {
    /// A [`ExprError::TypeMismatch`] with the given text.
    pub(crate) fn type_mismatch(message: impl Into<String>) -> Self {
        ExprError::TypeMismatch(message.into())
    }

    /// An [`ExprError::InvalidArgument`] with the given text.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ExprError::InvalidArgument(message.into())
    }

    /// An [`ExprError::UnsupportedSyntax`] with the given text.
    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        ExprError::UnsupportedSyntax(message.into())
    }
}
