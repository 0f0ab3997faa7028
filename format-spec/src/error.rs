//! The one error type of this crate. Every variant names the file it is about, so the CLI can
//! print it as a single line a user can act on.

use std::path::PathBuf;

use crate::schema::Table;

/// Everything that can go wrong while writing or reading a trace.
///
/// Each message is complete on its own line (the cause is part of it, not a separate `source`),
/// so callers print it once, as is.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// An operating-system error, with the file it happened on.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// The file does not start with a pyttd file header.
    #[error("{path}: not a pyttd trace ({reason})")]
    NotATrace { path: PathBuf, reason: String },

    /// The file was written by an incompatible major version of the format.
    #[error(
        "{path}: unsupported trace format version {found_major}.{found_minor} (this build reads 1.x to {supported_major}.x)"
    )]
    UnsupportedVersion {
        path: PathBuf,
        found_major: u16,
        found_minor: u16,
        supported_major: u16,
    },

    /// Bytes inside the file do not match what the format requires.
    #[error("{path}: corrupt trace at byte offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },

    /// A record batch handed to the writer does not have the table's schema.
    #[error("{path}: batch for table `{table}` does not match the v1 schema: {reason}")]
    SchemaMismatch {
        path: PathBuf,
        table: Table,
        reason: String,
    },

    /// Arrow failed to encode a batch (writer side).
    #[error("{path}: cannot encode a `{table}` batch: {error}")]
    Encode {
        path: PathBuf,
        table: Table,
        error: arrow_schema::ArrowError,
    },
}

/// Result alias for this crate.
pub type Result<T, E = FormatError> = std::result::Result<T, E>;

impl FormatError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        FormatError::Io {
            path: path.into(),
            error,
        }
    }

    /// A `Corrupt` error; `reason` is folded onto one line (Arrow's own messages span several).
    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        let reason: String = reason.into();
        FormatError::Corrupt {
            path: path.into(),
            offset,
            reason: reason.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }
}
