use std::path::PathBuf;

/// What can go wrong opening traces and running queries. Every message is one line and names
/// the trace or the statement.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The trace could not be opened or read.
    #[error(transparent)]
    Format(#[from] pyttd_format::FormatError),
    /// The statement does not parse or plan; the message carries DataFusion's position.
    #[error("bad SQL: {0}")]
    Sql(String),
    /// The statement would write or create something: traces are read-only.
    #[error("read-only: {0} (only SELECT, WITH, EXPLAIN, SHOW and DESCRIBE are allowed)")]
    ReadOnly(String),
    /// The query failed while running.
    #[error("query failed: {0}")]
    Execution(String),
    /// A trace name given to `attach` is not an identifier, or is taken.
    #[error("cannot attach `{name}`: {reason}")]
    Attach { name: String, reason: String },
    /// Writing a result or an export failed.
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

pub type Result<T, E = QueryError> = std::result::Result<T, E>;

/// One line: DataFusion messages may span several.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
