//! The call stack of a thread at any step, the recorded threads, and recorded output.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt8Type, UInt32Type, UInt64Type};
use pyttd_format::{Event, OutputStream, Table, TraceReader};
use pyttd_query::Direction;

use super::error::Result;
use super::walk::Walker;

/// One frame of a stack: a call, and where it is at the step the stack was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub call_id: u64,
    pub code_id: u32,
    pub line: u32,
    pub depth: u32,
    /// The event that places the frame: the step itself for the innermost frame, the frame's
    /// latest event before its callee started for the others.
    pub seq: u64,
}

/// The stack of the thread of `event`, innermost first. Each outer frame is the latest event
/// at the next smaller depth on the thread before the inner one: after it, the thread only ran
/// deeper until the step, so that frame is the caller (or the resumer of a generator).
pub fn stack_at(walker: &Walker<'_>, event: &Event) -> Result<Vec<Frame>> {
    let mut frames = vec![Frame {
        call_id: event.call_id,
        code_id: event.code_id,
        line: event.line,
        depth: event.depth,
        seq: event.seq,
    }];
    let mut from = event.seq;
    for depth in (0..event.depth).rev() {
        let thread = event.thread_id;
        let found = walker.find(
            from,
            Direction::Backward,
            |b| b.min_depth > depth,
            |e| e.thread_id == thread && e.depth == depth,
        )?;
        let Some(e) = found else {
            break;
        };
        frames.push(Frame {
            call_id: e.call_id,
            code_id: e.code_id,
            line: e.line,
            depth,
            seq: e.seq,
        });
        from = e.seq;
    }
    Ok(frames)
}

/// A recorded thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    pub thread_id: u32,
    pub name: String,
    pub first_seq: u64,
}

/// Every recorded thread, by thread id, with its latest name.
pub fn threads(reader: &TraceReader) -> Result<Vec<ThreadInfo>> {
    let mut by_id: BTreeMap<u32, ThreadInfo> = BTreeMap::new();
    for batch in reader.scan(
        Table::Threads,
        None,
        Some(&["thread_id", "name", "first_seq"]),
    )? {
        let batch = batch?;
        let ids = batch.column(0).as_primitive::<UInt32Type>();
        let names = batch.column(1).as_string::<i32>();
        let firsts = batch.column(2).as_primitive::<UInt64Type>();
        for i in 0..batch.num_rows() {
            let first_seq = by_id
                .get(&ids.value(i))
                .map_or(firsts.value(i), |t| t.first_seq);
            by_id.insert(
                ids.value(i),
                ThreadInfo {
                    thread_id: ids.value(i),
                    name: names.value(i).to_string(),
                    first_seq,
                },
            );
        }
    }
    Ok(by_id.into_values().collect())
}

/// Text the program wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub seq: u64,
    pub stderr: bool,
    pub text: String,
}

/// The recorded output with seq in `first..=last`, in order.
pub fn output_between(reader: &TraceReader, first: u64, last: u64) -> Result<Vec<Output>> {
    let mut out = Vec::new();
    if first > last {
        return Ok(out);
    }
    for batch in reader.scan(
        Table::Output,
        Some(first..=last),
        Some(&["seq", "stream", "text"]),
    )? {
        let batch = batch?;
        let seqs = batch.column(0).as_primitive::<UInt64Type>();
        let streams = batch.column(1).as_primitive::<UInt8Type>();
        let texts = batch.column(2).as_string::<i32>();
        for i in 0..batch.num_rows() {
            out.push(Output {
                seq: seqs.value(i),
                stderr: streams.value(i) == OutputStream::Stderr.code(),
                text: texts.value(i).to_string(),
            });
        }
    }
    Ok(out)
}
