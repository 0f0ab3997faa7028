//! The pyttd recorder: CPython `sys.monitoring` hooks, per-thread event rings and the flush
//! thread that turns events into record batches written through `pyttd-format`.
//!
//! This crate (and the app crate's Python module) are the only ones that touch pyo3. Its
//! capture pipeline is tracked by the "Recorder" issue; until it lands the crate exports only
//! the format it writes. The one exception is [`repr`], which renders floats and strings
//! exactly as Python's `repr()` does, in pure Rust, for values recorded without calling Python.

pub mod repr;

pub use pyttd_format::FORMAT_VERSION;
