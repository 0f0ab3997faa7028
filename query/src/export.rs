//! `pyttd export`: every user-facing table as Parquet, or the calls as a Perfetto (Chrome
//! trace-event JSON) timeline.
//!
//! Parquet goes to `DIR/<table>/run_id=<run id>/part-0.parquet`: hive-style partitions, so a
//! directory holding many runs is one dataset for DuckDB, Spark, pyarrow or DataFusion (the
//! `run_id` column comes from the path). Tables are streamed batch by batch.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt32Type, UInt64Type};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{QueryError, Result};
use crate::session::{TraceSession, USER_TABLES};

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub files: Vec<(PathBuf, u64)>,
}

/// Writes every user-facing table of the session's first trace under `dir`.
pub fn export_parquet(session: &TraceSession, dir: &Path) -> Result<Exported> {
    let run_id = run_id(session)?;
    let mut files = Vec::new();
    for table in USER_TABLES {
        let part = dir.join(table).join(format!("run_id={run_id}"));
        let write_err = |path: &Path, reason: String| QueryError::Write {
            path: path.to_path_buf(),
            reason,
        };
        std::fs::create_dir_all(&part).map_err(|e| write_err(&part, e.to_string()))?;
        let path = part.join("part-0.parquet");
        let file = std::fs::File::create(&path).map_err(|e| write_err(&path, e.to_string()))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let query = if *table == "run" {
            // The partition column carries it.
            "SELECT * EXCLUDE (run_id) FROM run".to_string()
        } else {
            format!("SELECT * FROM {table}")
        };
        let mut writer: Option<ArrowWriter<std::fs::File>> = None;
        let mut file = Some(file);
        let mut rows = 0u64;
        session.stream(&query, |schema, batch| {
            if writer.is_none() {
                writer = Some(
                    ArrowWriter::try_new(file.take().expect("once"), schema, Some(props.clone()))
                        .map_err(|e| write_err(&path, e.to_string()))?,
                );
            }
            if let Some(batch) = batch {
                rows += batch.num_rows() as u64;
                writer
                    .as_mut()
                    .expect("created above")
                    .write(&batch)
                    .map_err(|e| write_err(&path, e.to_string()))?;
            }
            Ok(())
        })?;
        writer
            .expect("the schema is always reported")
            .close()
            .map_err(|e| write_err(&path, e.to_string()))?;
        files.push((path, rows));
    }
    Ok(Exported { files })
}

fn run_id(session: &TraceSession) -> Result<String> {
    let (_, batches) = session.sql("SELECT run_id FROM run")?;
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| b.column(0).as_string::<i32>().value(0).to_string())
        .ok_or_else(|| QueryError::Execution("the trace has no run row".into()))
}

/// Writes the calls of the session's first trace as Chrome trace-event JSON at `path`: one track
/// per thread (named as the thread), each call a complete (`X`) event from its call to its end
/// (or to the end of the trace when it never returned), with its call id, seq range and file.
pub fn export_perfetto(session: &TraceSession, path: &Path) -> Result<u64> {
    let write_err = |reason: String| QueryError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::create(path).map_err(|e| write_err(e.to_string()))?;
    let mut out = BufWriter::new(file);
    let (_, last) = session.sql("SELECT max(ts_ns) FROM events")?;
    let trace_end = last
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            let a = b.column(0).as_primitive::<Int64Type>();
            a.is_valid(0).then(|| a.value(0))
        })
        .unwrap_or(0);
    let mut first = true;
    let mut events = 0u64;
    let mut put = |out: &mut BufWriter<std::fs::File>, v: serde_json::Value| -> Result<()> {
        let sep = if first { "" } else { ",\n" };
        first = false;
        events += 1;
        write!(out, "{sep}{v}").map_err(|e| write_err(e.to_string()))
    };
    out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")
        .map_err(|e| write_err(e.to_string()))?;
    let (_, threads) = session.sql("SELECT thread_id, name FROM threads ORDER BY thread_id")?;
    for b in &threads {
        let ids = b.column(0).as_primitive::<UInt32Type>();
        let names = b.column(1).as_string::<i32>();
        for i in 0..b.num_rows() {
            put(
                &mut out,
                serde_json::json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": ids.value(i),
                    "args": {"name": names.value(i)}}),
            )?;
        }
    }
    put(
        &mut out,
        serde_json::json!({"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "pyttd"}}),
    )?;
    let query = "SELECT c.call_id, c.thread_id, c.function, c.file, c.call_seq, c.end_seq, \
                 c.start_ns, c.duration_ns FROM calls c ORDER BY c.call_seq";
    session.stream(query, |_, batch| {
        let Some(b) = batch else { return Ok(()) };
        let call_id = b.column(0).as_primitive::<UInt64Type>();
        let thread = b.column(1).as_primitive::<UInt32Type>();
        let function = b.column(2).as_string::<i32>();
        let file = b.column(3).as_string::<i32>();
        let call_seq = b.column(4).as_primitive::<UInt64Type>();
        let end_seq = b.column(5).as_primitive::<UInt64Type>();
        let start = b.column(6).as_primitive::<Int64Type>();
        let duration = b.column(7).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let ts = if start.is_valid(i) { start.value(i) } else { 0 };
            let dur = if duration.is_valid(i) {
                duration.value(i)
            } else {
                (trace_end - ts).max(0)
            };
            let v = serde_json::json!({
                "ph": "X", "pid": 1, "tid": thread.value(i),
                "name": if function.is_valid(i) { function.value(i) } else { "?" },
                "cat": "call",
                "ts": ts as f64 / 1000.0, "dur": dur as f64 / 1000.0,
                "args": {
                    "call_id": call_id.value(i),
                    "call_seq": call_seq.value(i),
                    "end_seq": end_seq.is_valid(i).then(|| end_seq.value(i)),
                    "file": file.is_valid(i).then(|| file.value(i)),
                }
            });
            put(&mut out, v)?;
        }
        Ok(())
    })?;
    out.write_all(b"\n]}\n")
        .and_then(|()| out.flush())
        .map_err(|e| write_err(e.to_string()))?;
    Ok(events)
}
