//! [`RecorderError`]: why recording could not start or did not finish.

/// Errors of the recorder; each names what the user can act on.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("cannot record on Python {version}: {reason}")]
    UnsupportedPython { version: String, reason: String },
    #[error("sys.monitoring tools 0, 3 and 4 are all in use by other tools")]
    NoFreeTool,
    #[error("invalid option {0}")]
    InvalidOption(String),
    #[error("recording is already running in this process")]
    AlreadyRecording,
    #[error(transparent)]
    Format(#[from] pyttd_format::FormatError),
    #[error("{0}")]
    Python(String),
    #[error("the recorder failed internally ({0}); the trace ends early")]
    Internal(String),
}

impl From<pyo3::PyErr> for RecorderError {
    fn from(e: pyo3::PyErr) -> Self {
        RecorderError::Python(e.to_string())
    }
}
