//! The pyttd recorder: CPython `sys.monitoring` hooks, per-thread event rings and the flush
//! thread that turns events into record batches written through `pyttd-format`.
//!
//! Native callbacks (`hooks`) map monitoring events to trace events and push fixed-size records
//! into the calling thread's ring (`ring`); the flush thread (`flush`) merges the rings into one
//! global seq order and appends batches through `TraceWriter`. CPython's private layouts are read
//! in one module (`cpython`), checked against the running interpreter at start. This crate and the
//! app crate's Python module are the only ones that touch pyo3. `recorder/DESIGN.md` explains why.
//!
//! ```no_run
//! # use pyttd_recorder::{Recorder, RecordOptions};
//! # pyo3::Python::attach(|py| -> Result<(), pyttd_recorder::RecorderError> {
//! let rec = Recorder::start(py, RecordOptions::new("out.pyttd".into(), "demo.py".into(), ".".into()))?;
//! py.run(c"x = 1", None, None)?;
//! let stats = rec.stop(py, 0)?;
//! # Ok(()) });
//! ```
//!
//! [`repr`] (from `pyttd-format`) renders floats and strings exactly as Python's `repr()` does,
//! in pure Rust, for values recorded without calling Python.

mod alloc;
mod clock;
mod cpython;
mod error;
mod expand;
mod filter;
mod flush;
mod hooks;
mod level;
mod memo;
mod names;
mod openfiles;
mod plan;
mod redact;
mod render;
mod ring;
mod session;
mod shape;
mod shared;
mod stores;
mod values;

pub use alloc::RecorderAllocator;
pub use error::RecorderError;
pub use hooks::code_kind;
pub use openfiles::built_file_repr;
pub use plan::planned_repr;
pub use pyttd_format::{FORMAT_VERSION, repr};
pub use redact::Redactor;
pub use session::{
    RecordOptions, Recorder, RecordingStats, abandon_in_forked_child, record_output,
};
