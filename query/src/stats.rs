//! Execution stats per function read straight from the store: the same rows as
//! [`TraceSession::function_stats`](crate::TraceSession::function_stats) without SQL planning or
//! joins, in one pass over `events` (`kind`, `call_id`, `ts_ns`) and the small tables.

use std::collections::HashMap;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt8Type, UInt32Type, UInt64Type};
use pyttd_format::{EventKind, Table, TraceReader};

use crate::canned::FunctionStats;
use crate::error::{QueryError, Result};
use crate::provider::CodeNames;

/// One call: from `calls`, and its first event's and last end event's times.
#[derive(Debug, Clone, Copy)]
struct CallRow {
    code_id: u32,
    parent: Option<u64>,
    call_seq: u64,
    start: i64,
    end: i64,
}

impl CallRow {
    /// From the first event to the last `return`, `unwind` or `yield`; none if it never ended.
    fn duration(&self) -> Option<i64> {
        (self.end != i64::MIN && self.start != i64::MAX).then(|| self.end - self.start)
    }
}

/// Execution stats per `(function, file)`: calls, exceptions raised in or propagated into the
/// function, total and self time (a call lasts from its first event to its last `return`,
/// `unwind` or `yield`; self time leaves out its children's), and the first call's seq. Ordered
/// by total time, longest first, then by function.
pub fn function_stats_direct(reader: &TraceReader) -> Result<Vec<FunctionStats>> {
    let code = CodeNames::load(reader)?;
    // Per call id (dense from 1 in a recording): code, parent, call seq, first and last times.
    let mut calls: Vec<Option<CallRow>> = Vec::new();
    let limit = reader.row_count(Table::Events) as usize + 1;
    for batch in reader.scan(
        Table::Calls,
        None,
        Some(&["call_id", "parent_call_id", "code_id", "call_seq"]),
    )? {
        let b = batch?;
        let ids = b.column(0).as_primitive::<UInt64Type>();
        let parents = b.column(1).as_primitive::<UInt64Type>();
        let codes = b.column(2).as_primitive::<UInt32Type>();
        let seqs = b.column(3).as_primitive::<UInt64Type>();
        for i in 0..b.num_rows() {
            let id = ids.value(i) as usize;
            if id > limit {
                return Err(QueryError::Execution(format!(
                    "{}: call id {id} exceeds the number of events",
                    reader.path().display()
                )));
            }
            if calls.len() <= id {
                calls.resize(id + 1, None);
            }
            calls[id] = Some(CallRow {
                code_id: codes.value(i),
                parent: parents.is_valid(i).then(|| parents.value(i)),
                call_seq: seqs.value(i),
                start: i64::MAX,
                end: i64::MIN,
            });
        }
    }
    let ends = [EventKind::Return, EventKind::Unwind, EventKind::Yield].map(EventKind::code);
    for batch in reader.scan(Table::Events, None, Some(&["kind", "call_id", "ts_ns"]))? {
        let b = batch?;
        let kinds = b.column(0).as_primitive::<UInt8Type>().values();
        let ids = b.column(1).as_primitive::<UInt64Type>().values();
        let ts = b.column(2).as_primitive::<Int64Type>().values();
        for i in 0..b.num_rows() {
            let Some(Some(c)) = calls.get_mut(ids[i] as usize) else {
                continue;
            };
            c.start = c.start.min(ts[i]);
            if ends.contains(&kinds[i]) {
                c.end = c.end.max(ts[i]);
            }
        }
    }
    let mut child_ns: Vec<i64> = vec![0; calls.len()];
    for c in calls.iter().flatten() {
        if let (Some(p), Some(d)) = (c.parent, c.duration())
            && let Some(slot) = child_ns.get_mut(p as usize)
        {
            *slot += d;
        }
    }
    let key = |code_id: u32| {
        let (function, file) = code.name_of(code_id).unwrap_or_default();
        (function.to_string(), file.to_string())
    };
    let mut rows: HashMap<(String, String), FunctionStats> = HashMap::new();
    for (id, c) in calls.iter().enumerate() {
        let Some(c) = c else { continue };
        let (function, file) = key(c.code_id);
        let row = rows
            .entry((function.clone(), file.clone()))
            .or_insert_with(|| FunctionStats {
                function,
                file,
                calls: 0,
                exceptions: 0,
                total_ns: 0,
                self_ns: 0,
                first_call_seq: u64::MAX,
            });
        row.calls += 1;
        row.first_call_seq = row.first_call_seq.min(c.call_seq);
        if let Some(d) = c.duration() {
            row.total_ns += d;
            row.self_ns += d - child_ns[id];
        }
    }
    for batch in reader.scan(Table::Exceptions, None, Some(&["call_id"]))? {
        let b = batch?;
        for &id in b.column(0).as_primitive::<UInt64Type>().values() {
            if let Some(Some(c)) = calls.get(id as usize)
                && let Some(row) = rows.get_mut(&key(c.code_id))
            {
                row.exceptions += 1;
            }
        }
    }
    let mut out: Vec<FunctionStats> = rows.into_values().collect();
    out.sort_by(|a, b| {
        b.total_ns
            .cmp(&a.total_ns)
            .then_with(|| a.function.cmp(&b.function))
            .then_with(|| a.file.cmp(&b.file))
    });
    Ok(out)
}
