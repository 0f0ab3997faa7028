//! `pyttd info TRACE`: what a trace file holds, without decoding more than its `run` rows.

use std::io::Write;
use std::path::Path;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt64Type};
use pyttd_format::{Table, TraceReader, TraceState};

/// Prints the trace's version, whether it is complete, the run summary and one line per table.
pub fn info(path: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let reader = TraceReader::open(path)?;
    let (major, minor) = reader.version();
    writeln!(out, "trace     {}", path.display())?;
    writeln!(out, "format    {major}.{minor}")?;
    match reader.state() {
        TraceState::Complete => writeln!(out, "state     complete")?,
        TraceState::Recovered {
            valid_bytes,
            file_bytes,
            reason,
        } => writeln!(
            out,
            "state     not closed cleanly: {reason}; recovered {} segments ({valid_bytes} of {file_bytes} bytes)",
            reader.segments().len()
        )?,
    }
    writeln!(
        out,
        "size      {} bytes in {} segments",
        reader.file_len(),
        reader.segments().len()
    )?;
    if let Some(run) = last_run_row(&reader)? {
        writeln!(out, "run       {run}")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<11} {:>12} {:>9} {:>14} {:>25}",
        "table", "rows", "segments", "bytes", "seq range"
    )?;
    for table in Table::ALL {
        let segments: Vec<_> = reader.table_segments(table).collect();
        let rows: u64 = segments.iter().map(|s| s.row_count).sum();
        let bytes: u64 = segments.iter().map(|s| s.body_len + 64).sum();
        let ranges: Vec<_> = segments
            .iter()
            .filter_map(|s| s.seq_range.clone())
            .collect();
        let seq = match (ranges.first(), ranges.last()) {
            (Some(first), Some(last)) => format!("{}..={}", first.start(), last.end()),
            _ => "-".to_string(),
        };
        writeln!(
            out,
            "{:<11} {rows:>12} {:>9} {bytes:>14} {seq:>25}",
            table.name(),
            segments.len()
        )?;
    }
    let unknown = reader
        .segments()
        .iter()
        .filter(|s| s.table.is_none())
        .count();
    if unknown > 0 {
        writeln!(
            out,
            "({unknown} segments of tables newer than this pyttd were skipped)"
        )?;
    }
    Ok(())
}

/// `script, python X, state, exit status N, E events` from the authoritative (last) `run` row.
fn last_run_row(reader: &TraceReader) -> anyhow::Result<Option<String>> {
    let Some(segment) = reader.table_segments(Table::Run).last() else {
        return Ok(None);
    };
    let batch = reader.segment(segment.index)?;
    let Some(row) = batch.num_rows().checked_sub(1) else {
        return Ok(None);
    };
    let text = |name: &str| {
        batch
            .column_by_name(name)
            .map(|c| c.as_string::<i32>().value(row).to_string())
            .unwrap_or_default()
    };
    let schema = batch.schema();
    let exit = schema
        .index_of("exit_status")
        .ok()
        .map(|i| batch.column(i).as_primitive::<Int32Type>())
        .filter(|c| c.is_valid(row))
        .map(|c| format!(", exit status {}", c.value(row)))
        .unwrap_or_default();
    let events = schema
        .index_of("event_count")
        .map(|i| batch.column(i).as_primitive::<UInt64Type>().value(row))
        .unwrap_or(0);
    Ok(Some(format!(
        "{}, python {}, {}{exit}, {events} events",
        text("script"),
        text("python_version"),
        text("state"),
    )))
}
