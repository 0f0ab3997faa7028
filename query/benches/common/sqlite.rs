//! The comparison store: the same run in SQLite, in py-tt-debug's row schema (one
//! `executionframes` row per event, the frame's locals as a JSON object name → repr), with its
//! indexes, and the SQL py-tt-debug runs for the same questions.
//!
//! The database is built from the synthetic trace itself, so both stores hold the same events and
//! values. Every row carries its frame's full locals, which is py-tt-debug's best case (it skips
//! them on most line events of a hot frame).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt8Type, UInt32Type, UInt64Type};
use arrow_array::{Array, Float64Array};
use pyttd_format::{EventKind, Table, TraceReader};
use rusqlite::{Connection, params};

pub const RUN_ID: &str = "bench";

/// py-tt-debug's schema (pyttd/models/schema.py of its 0.x release), tables used here only.
const SCHEMA: &str = "
CREATE TABLE executionframes (
    frame_id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    sequence_no INTEGER NOT NULL,
    timestamp REAL NOT NULL,
    line_no INTEGER NOT NULL,
    filename TEXT NOT NULL,
    function_name TEXT NOT NULL,
    frame_event TEXT NOT NULL,
    call_depth INTEGER NOT NULL,
    locals_snapshot TEXT,
    thread_id INTEGER DEFAULT 0,
    is_coroutine INTEGER DEFAULT 0
);";

/// Its indexes, created after the rows are in (as its recorder does after a run).
const INDEXES: &str = "
CREATE UNIQUE INDEX executionframes_run_id_sequence_no ON executionframes(run_id, sequence_no);
CREATE INDEX executionframes_run_id ON executionframes(run_id);
CREATE INDEX executionframes_run_id_filename_line_no ON executionframes(run_id, filename, line_no);
CREATE INDEX executionframes_run_id_function_name ON executionframes(run_id, function_name);
CREATE INDEX executionframes_run_id_frame_event_sequence_no
    ON executionframes(run_id, frame_event, sequence_no);
CREATE INDEX executionframes_run_id_call_depth_sequence_no
    ON executionframes(run_id, call_depth, sequence_no);
CREATE INDEX executionframes_run_id_thread_id_sequence_no
    ON executionframes(run_id, thread_id, sequence_no);
ANALYZE;";

/// py-tt-debug's `frame_event` for one of our kinds.
fn frame_event(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Unwind => "exception_unwind",
        k => k.as_str(),
    }
}

/// Builds the database at `db` from the trace at `trace` unless it is already there.
pub fn ensure(trace: &Path, db: &Path) {
    if db.exists() {
        return;
    }
    let tmp = db.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut conn = Connection::open(&tmp).expect("open sqlite");
    conn.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        .expect("pragmas");
    conn.execute_batch(SCHEMA).expect("schema");
    let reader = TraceReader::open(trace).expect("open trace");
    let code = code_names(&reader);
    let tx = conn.transaction().expect("transaction");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO executionframes (run_id, sequence_no, timestamp, line_no, filename, \
                 function_name, frame_event, call_depth, locals_snapshot, thread_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .expect("prepare");
        let mut frames: HashMap<u64, BTreeMap<String, String>> = HashMap::new();
        let mut values = ValueCursor::new(&reader);
        for batch in reader.scan(Table::Events, None, None).expect("scan") {
            let batch = batch.expect("events");
            let col = |n: &str| batch.column_by_name(n).expect("column");
            let seq = col("seq").as_primitive::<UInt64Type>();
            let thread = col("thread_id").as_primitive::<UInt32Type>();
            let kind = col("kind").as_primitive::<UInt8Type>();
            let code_id = col("code_id").as_primitive::<UInt32Type>();
            let line = col("line").as_primitive::<UInt32Type>();
            let depth = col("depth").as_primitive::<UInt32Type>();
            let call = col("call_id").as_primitive::<UInt64Type>();
            let ts = col("ts_ns").as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                let (s, c) = (seq.value(i), call.value(i));
                let locals = frames.entry(c).or_default();
                values.apply_until(s, c, locals);
                let snapshot = serde_json::to_string(&*locals).expect("json");
                let kind = EventKind::from_code(kind.value(i)).expect("kind");
                let (file, function) = &code[&code_id.value(i)];
                insert
                    .execute(params![
                        RUN_ID,
                        s as i64,
                        ts.value(i) as f64 / 1e9,
                        line.value(i),
                        file,
                        function,
                        frame_event(kind),
                        depth.value(i),
                        snapshot,
                        thread.value(i),
                    ])
                    .expect("insert");
                if matches!(kind, EventKind::Return | EventKind::Unwind) {
                    frames.remove(&c);
                }
            }
        }
    }
    tx.commit().expect("commit");
    conn.execute_batch(INDEXES).expect("indexes");
    drop(conn);
    std::fs::rename(&tmp, db).expect("rename");
}

fn code_names(reader: &TraceReader) -> HashMap<u32, (String, String)> {
    let mut out = HashMap::new();
    for batch in reader
        .scan(Table::Code, None, Some(&["code_id", "file", "qualname"]))
        .expect("code")
    {
        let batch = batch.expect("code");
        let ids = batch.column(0).as_primitive::<UInt32Type>();
        let (files, names) = (
            batch.column(1).as_string::<i32>(),
            batch.column(2).as_string::<i32>(),
        );
        for i in 0..batch.num_rows() {
            out.insert(
                ids.value(i),
                (files.value(i).to_string(), names.value(i).to_string()),
            );
        }
    }
    out
}

/// The `values` table read alongside the events, in seq order.
struct ValueCursor<'a> {
    scan: pyttd_format::TableScan<'a>,
    batch: Option<arrow_array::RecordBatch>,
    row: usize,
}

impl<'a> ValueCursor<'a> {
    fn new(reader: &'a TraceReader) -> Self {
        ValueCursor {
            scan: reader.scan(Table::Values, None, None).expect("values"),
            batch: None,
            row: 0,
        }
    }

    /// Applies the `local` rows of `call` with seq ≤ `seq` to `locals` (other roles skipped).
    fn apply_until(&mut self, seq: u64, call: u64, locals: &mut BTreeMap<String, String>) {
        loop {
            if self.batch.as_ref().is_none_or(|b| self.row >= b.num_rows()) {
                match self.scan.next() {
                    Some(b) => {
                        self.batch = Some(b.expect("values"));
                        self.row = 0;
                        continue;
                    }
                    None => return,
                }
            }
            let b = self.batch.as_ref().expect("batch");
            let col = |n: &str| b.column_by_name(n).expect("column");
            let i = self.row;
            if col("seq").as_primitive::<UInt64Type>().value(i) > seq {
                return;
            }
            self.row += 1;
            let role = col("role").as_primitive::<UInt8Type>().value(i);
            if role != pyttd_format::ValueRole::Local.code()
                || col("call_id").as_primitive::<UInt64Type>().value(i) != call
            {
                continue;
            }
            let names = col("name").as_dictionary::<Int32Type>();
            let name = names
                .values()
                .as_string::<i32>()
                .value(names.keys().value(i) as usize);
            let ints = col("int_value").as_primitive::<Int64Type>();
            let floats = col("float_value")
                .as_any()
                .downcast_ref::<Float64Array>()
                .expect("floats");
            let texts = col("text").as_string::<i32>();
            let rendered = pyttd_query::render_value(
                col("tag").as_primitive::<UInt8Type>().value(i),
                ints.is_valid(i).then(|| ints.value(i)),
                floats.is_valid(i).then(|| floats.value(i)),
                texts.is_valid(i).then(|| texts.value(i)),
                col("truncated").as_boolean().value(i),
            );
            match rendered {
                Some(v) => locals.insert(name.to_string(), v),
                None => locals.remove(name),
            };
        }
    }
}

/// py-tt-debug's timeline summary (pyttd/models/timeline.py): the bucket query, then the
/// breakpoint hits in range. Returns the number of buckets.
pub fn timeline(conn: &Connection, start: u64, end: u64, buckets: u64, bp: (&str, u32)) -> usize {
    let size = ((end - start) / buckets).max(1) as i64;
    let mut stmt = conn
        .prepare_cached(
            "SELECT MIN(sequence_no) AS start_seq, MAX(sequence_no) AS end_seq, \
             MAX(call_depth) AS max_depth, \
             SUM(CASE WHEN frame_event IN ('exception', 'exception_unwind') THEN 1 ELSE 0 END) \
             AS exc_count, function_name FROM executionframes \
             WHERE run_id = ? AND sequence_no >= ? AND sequence_no <= ? \
             GROUP BY ((sequence_no - ?) / ?) ORDER BY ((sequence_no - ?) / ?)",
        )
        .expect("prepare");
    let (s, e) = (start as i64, end as i64);
    let rows: Vec<i64> = stmt
        .query_map(params![RUN_ID, s, e, s, size, s, size], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let mut hits = conn
        .prepare_cached(
            "SELECT sequence_no FROM executionframes WHERE run_id = ? AND sequence_no >= ? \
             AND sequence_no <= ? AND frame_event = 'line' AND ((filename = ? AND line_no = ?))",
        )
        .expect("prepare");
    let marked: std::collections::HashSet<i64> = hits
        .query_map(params![RUN_ID, s, e, bp.0, bp.1], |r| r.get::<_, i64>(0))
        .expect("query")
        .map(|r| (r.expect("row") - s) / size)
        .collect();
    std::hint::black_box(marked);
    rows.len()
}

/// The latest line event at `bp` before `before` whose frame has `name == value`: the
/// breakpoint query py-tt-debug's reverse-continue runs, with the condition moved into SQL
/// (`json_extract`) instead of evaluated in Python hit by hit, which favours SQLite.
pub fn reverse_breakpoint_where(
    conn: &Connection,
    before: u64,
    bp: (&str, u32),
    name: &str,
    value: i64,
) -> Option<u64> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT sequence_no FROM executionframes WHERE run_id = ? AND filename = ? \
             AND line_no = ? AND frame_event = 'line' AND sequence_no < ? \
             AND json_extract(locals_snapshot, ?) = ? ORDER BY sequence_no DESC LIMIT 1",
        )
        .expect("prepare");
    let path = format!("$.{name}");
    stmt.query_row(
        params![RUN_ID, bp.0, bp.1, before as i64, path, value.to_string()],
        |r| r.get::<_, i64>(0),
    )
    .ok()
    .map(|s| s as u64)
}

/// py-tt-debug's execution stats for one file (pyttd/session.py, `get_execution_stats`).
pub fn function_stats(conn: &Connection, file: &str) -> usize {
    let mut stmt = conn
        .prepare_cached(
            "SELECT function_name, \
             SUM(CASE WHEN frame_event = 'call' THEN 1 ELSE 0 END) AS call_count, \
             SUM(CASE WHEN frame_event = 'exception_unwind' THEN 1 ELSE 0 END) AS exception_count, \
             MIN(CASE WHEN frame_event = 'call' THEN sequence_no END) AS first_call_seq, \
             COALESCE(MIN(CASE WHEN frame_event = 'call' THEN NULLIF(line_no, -1) END), \
             MIN(CASE WHEN frame_event = 'line' THEN line_no END)) AS def_line \
             FROM executionframes WHERE run_id = ? AND filename = ? GROUP BY function_name",
        )
        .expect("prepare");
    stmt.query_map(params![RUN_ID, file], |r| r.get::<_, String>(0))
        .expect("query")
        .count()
}
