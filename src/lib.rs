//! The pyttd application: the `pyttd` command line, and the Python extension module `pyttd._native`
//! that the `pyttd` console script calls into. Session navigation and the DAP server will live here
//! too. It depends on `pyttd-format` for reading traces; `anyhow` is used only at this edge.
//!
//! ```
//! let env = pyttd::cli::RunEnv { python_version: None };
//! let code = pyttd::cli::run(["pyttd", "--version"], &env);
//! assert_eq!(code, 0);
//! ```

pub mod cli;
mod python;
pub mod trace_rows;
