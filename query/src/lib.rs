//! The pyttd query layer: DataFusion table providers over traces, `pyttd sql`, the canned
//! queries the debugger runs (timeline buckets, execution stats, breakpoint scans) and export
//! to Parquet and Perfetto.
//!
//! It is the only crate that depends on DataFusion, and it builds without Python.
//!
//! ```no_run
//! # use pyttd_query::TraceSession;
//! let session = TraceSession::open("app.pyttd")?;
//! let (_schema, batches) = session.sql("SELECT function, count(*) FROM events GROUP BY 1")?;
//! # Ok::<(), pyttd_query::QueryError>(())
//! ```

mod canned;
mod error;
mod export;
mod index;
mod locals;
mod output;
mod provider;
mod session;
mod stats;
mod value;

pub use canned::{
    Bucket, Direction, FunctionStats, HeldSpan, LineBreakpoint, ValueHint, timeline_direct,
};
pub use error::{QueryError, Result};
pub use export::{Exported, export_parquet, export_perfetto};
pub use index::{Block, CandidateCalls, EventIndex, LineHit};
pub use locals::{
    Local, call_seq, children_of, frame_locals, locals_at, return_values, variable_changes,
};
pub use output::{Format, write_parquet, write_text};
pub use provider::{CodeNames, events_schema};
pub use session::{Attached, TableInfo, TraceSession, USER_TABLES};
pub use stats::function_stats_direct;
pub use value::render as render_value;
