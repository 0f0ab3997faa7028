//! The pyttd trace format, version 4 (and reading versions 1 to 3): the writer and reader of the
//! segmented trace file that `SPEC.md` (next to this crate) specifies.
//!
//! A trace is an append-only sequence of checksummed segments, each an Arrow IPC stream (an
//! Arrow IPC file before version 4) holding one record batch of one table, followed on clean close by a footer index. This crate depends
//! only on arrow and memmap2 (no Python, no DataFusion); the recorder writes through it and the
//! query layer and debugger read through it.
//!
//! ```no_run
//! # use pyttd_format::{CodeKind, TraceBuilder, TraceReader, WriterOptions};
//! let mut b = TraceBuilder::new();
//! let f = b.code("/src/demo.py", "f", 1, CodeKind::Function);
//! b.call(0, f, 1, &[]); b.line(0, 2, &[("x", 1i64.into())]); b.ret(0, 2, 1i64.into());
//! b.write("demo.pyttd", WriterOptions::default())?;
//! let line_event = TraceReader::open("demo.pyttd")?.event_at(1)?;
//! # Ok::<(), pyttd_format::FormatError>(())
//! ```

mod body;
mod builder;
mod encoding;
mod error;
pub mod layout;
mod reader;
pub mod repr;
mod schema;
mod summary;
mod writer;
mod zone;

use std::ops::RangeInclusive;

pub use builder::{
    CallRow, ChildrenBuilder, CodeRow, EventsBuilder, ReprValue, RunRow, ThreadRow, TraceBuilder,
    Value, ValuesBuilder, calls_batch, code_batch, exceptions_batch, output_batch, run_batch,
    threads_batch,
};
pub use encoding::delta_coded_columns;
pub use error::{FormatError, Result};
pub use reader::{Event, TableScan, TraceReader, TraceState};
pub use schema::{CodeKind, EventKind, OutputStream, Table, ValueRole, ValueTag, spec_type_name};
pub use summary::{BLOCK_ROWS, summarize_events};
pub use writer::{Compression, TraceWriter, WriterOptions};
pub use zone::{
    INT_RANGE_KEY_PREFIX, INT_RANGES_COMPLETE_KEY, MAX_INT_RANGE_NAMES, ZONE_KEY_PREFIX, ZoneMap,
};

/// The format version this crate writes, `(major, minor)`. The reader reads every minor of
/// majors 1 to 5 (SPEC.md, "Versioning").
pub const FORMAT_VERSION: (u16, u16) = (5, 0);

/// The first major version in which values with the same children share one `object_id`: the
/// `children` rows of an id are written once, at the first value that has it, and a later value
/// refers to them from a later seq (SPEC.md, `children`). In older majors a value's children are
/// at its own seq.
pub const SHARED_CHILDREN_MAJOR: u16 = 5;

/// What the index knows about one segment, without decoding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Position of the segment in the file, 0-based.
    pub index: usize,
    /// Byte offset of its header.
    pub offset: u64,
    /// The table, or `None` for a table id this version does not know (skipped by readers).
    pub table: Option<Table>,
    pub table_id: u16,
    pub row_count: u64,
    /// Range of the table's seq column, for tables that have one.
    pub seq_range: Option<RangeInclusive<u64>>,
    pub body_len: u64,
    pub body_crc: u32,
}

impl SegmentInfo {
    fn new(index: usize, entry: &layout::FooterEntry) -> Self {
        let h = &entry.header;
        SegmentInfo {
            index,
            offset: entry.offset,
            table: Table::from_id(h.table_id),
            table_id: h.table_id,
            row_count: h.row_count,
            seq_range: h.has_seq_range().then_some(h.min_seq..=h.max_seq),
            body_len: h.body_len,
            body_crc: h.body_crc,
        }
    }

    /// The table name, or `table#ID` for unknown tables.
    pub fn table_name(&self) -> String {
        match self.table {
            Some(t) => t.name().to_string(),
            None => format!("table#{}", self.table_id),
        }
    }
}
