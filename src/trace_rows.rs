//! Plain rows of a trace's `events`, `calls`, `threads` and `code` tables, with code ids resolved
//! to qualnames: what `pyttd._native.read_trace` hands to the end-to-end tests until the query
//! layer exists.

use std::collections::HashMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt8Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use pyttd_format::{
    CodeKind, EventKind, OutputStream, Table, TraceReader, TraceState, ValueRole, ValueTag,
};

/// `(seq, thread_id, kind, qualname, line, depth, call_id)`.
pub type EventRow = (u64, u32, &'static str, String, u32, u32, u64);
/// `(call_id, parent_call_id, thread_id, qualname, depth, call_seq)`.
pub type CallRow = (u64, Option<u64>, u32, String, u32, u64);
/// `(thread_id, ident, native_id, name, first_seq)`.
pub type ThreadRow = (u32, u64, Option<u64>, String, u64);
/// `(code_id, file, name, qualname, first_line, kind)`.
pub type CodeRow = (u32, String, String, String, u32, &'static str);
/// `(seq, call_id, name, role, snapshot, tag, type_name, int_value, float_value, text,
/// truncated, length)`; the `object_id` column is in `TraceRows::value_object_ids`.
pub type ValueRow = (
    u64,
    u64,
    String,
    &'static str,
    bool,
    &'static str,
    String,
    Option<i64>,
    Option<f64>,
    Option<String>,
    bool,
    Option<u64>,
);
/// `(seq, parent_id, position, key, tag, type_name, int_value, float_value, text, truncated,
/// length, object_id)`.
pub type ChildRow = (
    u64,
    u64,
    u32,
    String,
    &'static str,
    String,
    Option<i64>,
    Option<f64>,
    Option<String>,
    bool,
    Option<u64>,
    Option<u64>,
);
/// `(seq, thread_id, call_id, type_name, message)`.
pub type ExceptionRow = (u64, u32, u64, String, Option<String>);
/// `(seq, thread_id, stream, text)`.
pub type OutputRow = (u64, u32, &'static str, String);
/// The last `run` row: `(state, exit_status, event_count)`.
pub type RunRow = (String, Option<i32>, u64);

/// Everything the tests look at.
#[derive(Debug, Default)]
pub struct TraceRows {
    /// `complete`, or `recovered` for a trace without footer.
    pub state: &'static str,
    pub run: Option<RunRow>,
    pub code: Vec<CodeRow>,
    pub threads: Vec<ThreadRow>,
    pub calls: Vec<CallRow>,
    pub events: Vec<EventRow>,
    pub values: Vec<ValueRow>,
    /// `values.object_id`, row by row.
    pub value_object_ids: Vec<Option<u64>>,
    pub children: Vec<ChildRow>,
    pub exceptions: Vec<ExceptionRow>,
    pub output: Vec<OutputRow>,
    /// `run.settings` of the last `run` row.
    pub settings: Option<String>,
}

/// Row `i` of a `Dictionary<Int32, Utf8>` column.
fn dict_str(col: &ArrayRef, i: usize) -> String {
    let d = col.as_dictionary::<Int32Type>();
    let key = d.keys().value(i) as usize;
    d.values().as_string::<i32>().value(key).to_string()
}

fn batches(reader: &TraceReader, table: Table) -> anyhow::Result<Vec<RecordBatch>> {
    Ok(reader
        .scan(table, None, None)?
        .collect::<Result<Vec<_>, _>>()?)
}

/// Reads the whole trace at `path`.
pub fn read(path: &Path) -> anyhow::Result<TraceRows> {
    let reader = TraceReader::open(path)?;
    let mut rows = TraceRows {
        state: match reader.state() {
            TraceState::Complete => "complete",
            TraceState::Recovered { .. } => "recovered",
        },
        ..TraceRows::default()
    };
    for b in batches(&reader, Table::Run)? {
        let state = b.column(9).as_string::<i32>();
        let exit = b.column(8).as_primitive::<Int32Type>();
        let count = b.column(10).as_primitive::<UInt64Type>();
        let settings = b.column(11).as_string::<i32>();
        for i in 0..b.num_rows() {
            rows.settings = settings.is_valid(i).then(|| settings.value(i).to_string());
            rows.run = Some((
                state.value(i).to_string(),
                exit.is_valid(i).then(|| exit.value(i)),
                count.value(i),
            ));
        }
    }
    let mut qualnames = HashMap::new();
    for b in batches(&reader, Table::Code)? {
        let id = b.column(0).as_primitive::<UInt32Type>();
        let (file, name, qual) = (
            b.column(1).as_string::<i32>(),
            b.column(2).as_string::<i32>(),
            b.column(3).as_string::<i32>(),
        );
        let (first, kind) = (
            b.column(4).as_primitive::<UInt32Type>(),
            b.column(5).as_primitive::<UInt8Type>(),
        );
        for i in 0..b.num_rows() {
            qualnames.insert(id.value(i), qual.value(i).to_string());
            rows.code.push((
                id.value(i),
                file.value(i).to_string(),
                name.value(i).to_string(),
                qual.value(i).to_string(),
                first.value(i),
                CodeKind::from_code(kind.value(i)).map_or("?", CodeKind::as_str),
            ));
        }
    }
    let qualname = |id: u32| {
        qualnames
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("?{id}"))
    };
    for b in batches(&reader, Table::Threads)? {
        let id = b.column(0).as_primitive::<UInt32Type>();
        let ident = b.column(1).as_primitive::<UInt64Type>();
        let native = b.column(2).as_primitive::<UInt64Type>();
        let name = b.column(3).as_string::<i32>();
        let first = b.column(4).as_primitive::<UInt64Type>();
        for i in 0..b.num_rows() {
            rows.threads.push((
                id.value(i),
                ident.value(i),
                native.is_valid(i).then(|| native.value(i)),
                name.value(i).to_string(),
                first.value(i),
            ));
        }
    }
    for b in batches(&reader, Table::Calls)? {
        let id = b.column(0).as_primitive::<UInt64Type>();
        let parent = b.column(1).as_primitive::<UInt64Type>();
        let thread = b.column(2).as_primitive::<UInt32Type>();
        let code = b.column(3).as_primitive::<UInt32Type>();
        let depth = b.column(4).as_primitive::<UInt32Type>();
        let seq = b.column(5).as_primitive::<UInt64Type>();
        for i in 0..b.num_rows() {
            rows.calls.push((
                id.value(i),
                parent.is_valid(i).then(|| parent.value(i)),
                thread.value(i),
                qualname(code.value(i)),
                depth.value(i),
                seq.value(i),
            ));
        }
    }
    for b in batches(&reader, Table::Events)? {
        let seq = b.column(0).as_primitive::<UInt64Type>();
        let thread = b.column(1).as_primitive::<UInt32Type>();
        let kind = b.column(2).as_primitive::<UInt8Type>();
        let code = b.column(3).as_primitive::<UInt32Type>();
        let line = b.column(4).as_primitive::<UInt32Type>();
        let depth = b.column(5).as_primitive::<UInt32Type>();
        let call = b.column(6).as_primitive::<UInt64Type>();
        for i in 0..b.num_rows() {
            rows.events.push((
                seq.value(i),
                thread.value(i),
                EventKind::from_code(kind.value(i)).map_or("?", EventKind::as_str),
                qualname(code.value(i)),
                line.value(i),
                depth.value(i),
                call.value(i),
            ));
        }
    }
    for b in batches(&reader, Table::Values)? {
        let seq = b.column(0).as_primitive::<UInt64Type>();
        let call = b.column(1).as_primitive::<UInt64Type>();
        let role = b.column(3).as_primitive::<UInt8Type>();
        let snapshot = b.column(4).as_boolean();
        let tag = b.column(5).as_primitive::<UInt8Type>();
        let int = b.column(7).as_primitive::<Int64Type>();
        let float = b.column(8).as_primitive::<Float64Type>();
        let text = b.column(9).as_string::<i32>();
        let truncated = b.column(10).as_boolean();
        let length = b.column(11).as_primitive::<UInt64Type>();
        let object = b.column(12).as_primitive::<UInt64Type>();
        for i in 0..b.num_rows() {
            rows.values.push((
                seq.value(i),
                call.value(i),
                dict_str(b.column(2), i),
                ValueRole::from_code(role.value(i)).map_or("?", ValueRole::as_str),
                snapshot.value(i),
                ValueTag::from_code(tag.value(i)).map_or("?", ValueTag::as_str),
                dict_str(b.column(6), i),
                int.is_valid(i).then(|| int.value(i)),
                float.is_valid(i).then(|| float.value(i)),
                text.is_valid(i).then(|| text.value(i).to_string()),
                truncated.value(i),
                length.is_valid(i).then(|| length.value(i)),
            ));
            rows.value_object_ids
                .push(object.is_valid(i).then(|| object.value(i)));
        }
    }
    for b in batches(&reader, Table::Children)? {
        let seq = b.column(0).as_primitive::<UInt64Type>();
        let parent = b.column(1).as_primitive::<UInt64Type>();
        let position = b.column(2).as_primitive::<UInt32Type>();
        let key = b.column(3).as_string::<i32>();
        let tag = b.column(4).as_primitive::<UInt8Type>();
        let int = b.column(6).as_primitive::<Int64Type>();
        let float = b.column(7).as_primitive::<Float64Type>();
        let text = b.column(8).as_string::<i32>();
        let truncated = b.column(9).as_boolean();
        let length = b.column(10).as_primitive::<UInt64Type>();
        let object = b.column(11).as_primitive::<UInt64Type>();
        for i in 0..b.num_rows() {
            rows.children.push((
                seq.value(i),
                parent.value(i),
                position.value(i),
                key.value(i).to_string(),
                ValueTag::from_code(tag.value(i)).map_or("?", ValueTag::as_str),
                dict_str(b.column(5), i),
                int.is_valid(i).then(|| int.value(i)),
                float.is_valid(i).then(|| float.value(i)),
                text.is_valid(i).then(|| text.value(i).to_string()),
                truncated.value(i),
                length.is_valid(i).then(|| length.value(i)),
                object.is_valid(i).then(|| object.value(i)),
            ));
        }
    }
    for b in batches(&reader, Table::Exceptions)? {
        let seq = b.column(0).as_primitive::<UInt64Type>();
        let thread = b.column(1).as_primitive::<UInt32Type>();
        let call = b.column(2).as_primitive::<UInt64Type>();
        let type_name = b.column(3).as_string::<i32>();
        let message = b.column(4).as_string::<i32>();
        for i in 0..b.num_rows() {
            rows.exceptions.push((
                seq.value(i),
                thread.value(i),
                call.value(i),
                type_name.value(i).to_string(),
                message.is_valid(i).then(|| message.value(i).to_string()),
            ));
        }
    }
    for b in batches(&reader, Table::Output)? {
        let seq = b.column(0).as_primitive::<UInt64Type>();
        let thread = b.column(1).as_primitive::<UInt32Type>();
        let stream = b.column(2).as_primitive::<UInt8Type>();
        let text = b.column(3).as_string::<i32>();
        for i in 0..b.num_rows() {
            rows.output.push((
                seq.value(i),
                thread.value(i),
                OutputStream::from_code(stream.value(i)).map_or("?", OutputStream::as_str),
                text.value(i).to_string(),
            ));
        }
    }
    Ok(rows)
}
