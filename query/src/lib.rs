//! The pyttd query layer: DataFusion table providers over traces, `pyttd sql`, and the canned
//! queries the debugger runs (timeline buckets, execution stats, breakpoint scans).
//!
//! It is the only crate that depends on DataFusion and it builds without Python. Its providers
//! are tracked by the "Query layer" issue; until it lands the crate exports only the tables it
//! will serve.

pub use pyttd_format::Table;
