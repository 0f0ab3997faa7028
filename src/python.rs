//! The extension module `pyttd._native`: what the thin Python package in `python/pyttd/` calls.

use pyo3::pymodule;

/// Native core of pyttd (Rust). Use the `pyttd` package rather than importing this directly.
#[pymodule(name = "_native")]
mod native {
    use std::ffi::OsString;

    use pyo3::prelude::*;

    use crate::cli::{self, RunEnv};

    /// Run the pyttd command line with `argv` (program name first) and return its exit code.
    #[pyfunction]
    fn main(py: Python<'_>, argv: Vec<OsString>) -> i32 {
        let env = RunEnv {
            python_version: Some(python_version(py)),
        };
        // The command line touches no Python objects; let other Python threads run meanwhile.
        py.detach(|| cli::run(argv, &env))
    }

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("__version__", env!("CARGO_PKG_VERSION"))
    }

    /// The running interpreter's version as `sys.version_info` spells it, for example `3.12.1`.
    fn python_version(py: Python<'_>) -> String {
        let info = py.version_info();
        let suffix = info.suffix.unwrap_or_default();
        format!("{}.{}.{}{suffix}", info.major, info.minor, info.patch)
    }
}
