//! The pyttd application: the `pyttd` command line, and the Python extension module `pyttd._native`
//! that the `pyttd` console script calls into. Session navigation ([`session`]) and the DAP server
//! ([`dap`]) live here too. It depends on `pyttd-format` for reading traces; `anyhow` is used only at this edge.
//!
//! ```
//! let env = pyttd::cli::RunEnv::default();
//! let code = pyttd::cli::run(["pyttd", "--version"], &env);
//! assert_eq!(code, 0);
//! ```

/// mimalloc for the recorder's small per-event blocks, the system allocator for large ones
/// (`pyttd_recorder::RecorderAllocator`).
#[global_allocator]
static ALLOCATOR: pyttd_recorder::RecorderAllocator = pyttd_recorder::RecorderAllocator;

pub mod cli;
pub mod dap;
mod python;
pub mod session;
pub mod trace_rows;
