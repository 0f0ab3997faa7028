//! Why an expression could not be parsed or evaluated, and the constructors the other
//! submodules build errors with.

use std::fmt;

const RECORDED_ONLY: &str = "pyttd evaluates over recorded values only, so expressions that need live objects are not supported yet";

/// Why an expression could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprError {
    /// The source is not a supported expression.
    Syntax {
        /// What is wrong, e.g. "expected ')'".
        message: String,
        /// Where, counting characters from 1.
        column: usize,
    },
    /// A name that is not bound in the frame at this step.
    Name(String),
    /// The expression would have to run code (a call, a lambda, a comprehension...).
    NeedsLive(String),
    /// Python would raise `TypeError`.
    Type(String),
    /// Python would raise another error (`ZeroDivisionError`, `IndexError`...), or the
    /// recorded value cannot give an exact answer.
    Value(String),
    /// The expression reads something the recorder did not store.
    NotRecorded(String),
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExprError::Syntax { message, column } => {
                write!(f, "invalid expression at column {column}: {message}")
            }
            ExprError::Name(name) => write!(f, "name '{name}' is not defined at this step"),
            ExprError::NeedsLive(message)
            | ExprError::Type(message)
            | ExprError::Value(message)
            | ExprError::NotRecorded(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ExprError {}

pub(super) type Result<T> = std::result::Result<T, ExprError>;

pub(super) fn syntax(message: impl Into<String>, column: usize) -> ExprError {
    ExprError::Syntax {
        message: message.into(),
        column,
    }
}

pub(super) fn needs_live(what: impl fmt::Display) -> ExprError {
    ExprError::NeedsLive(format!("{what}; {RECORDED_ONLY}"))
}

/// `symbol` applied to a value of class `type_name` would run that class's own code.
pub(super) fn calls_own_code(symbol: &str, type_name: &str) -> ExprError {
    needs_live(format!(
        "`{symbol}` on a '{type_name}' value calls its own code"
    ))
}

pub(super) fn value_error(message: impl Into<String>) -> ExprError {
    ExprError::Value(message.into())
}

pub(super) fn type_error(message: impl Into<String>) -> ExprError {
    ExprError::Type(message.into())
}

pub(super) fn not_recorded(message: impl Into<String>) -> ExprError {
    ExprError::NotRecorded(message.into())
}
