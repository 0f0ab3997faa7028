//! What can go wrong in a debugging session.

use pyttd_query::QueryError;

/// An error of a session over a trace.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Format(#[from] pyttd_format::FormatError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("the trace has no event {0}")]
    NoSuchEvent(u64),
    #[error("the trace has no line events: nothing to debug")]
    NoLines,
    #[error("corrupt trace: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = SessionError> = std::result::Result<T, E>;
