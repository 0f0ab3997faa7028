//! Messages a user reads, and files that are not (or not yet, or not quite) traces: one-line
//! errors naming the file, short files, later versions, empty traces, unknown tables, and seq
//! ranges that used to panic.

use std::ops::RangeInclusive;
use std::path::Path;

use pyttd_format::layout::{BLOCK, FileHeader, FooterEntry, SegmentHeader, encode_footer};
use pyttd_format::{FormatError, Table, TraceReader, TraceState, TraceWriter, WriterOptions};

use super::{Original, assert_one_line_naming, end_of, write_new};
use crate::fixtures::{fixture_path, fixture_path_in};

/// The message with the file's path replaced by `{path}`.
fn message(err: &FormatError, path: &Path) -> String {
    assert_one_line_naming(err, path, "message");
    err.to_string()
        .replace(&path.display().to_string(), "{path}")
}

#[test]
fn error_messages_name_the_file_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pyttd");
    let err = TraceReader::open(&missing).unwrap_err();
    assert!(matches!(err, FormatError::Io { .. }), "{err}");
    assert!(message(&err, &missing).starts_with("{path}: "), "{err}");

    let text = dir.path().join("script.py");
    std::fs::write(&text, "import sys\n".repeat(20)).unwrap();
    let err = TraceReader::open(&text).unwrap_err();
    assert_eq!(
        message(&err, &text),
        "{path}: not a pyttd trace (bad magic bytes at offset 0)"
    );

    let future = dir.path().join("future.pyttd");
    let mut bytes = FileHeader { major: 6, minor: 1 }.encode().to_vec();
    bytes.extend_from_slice(&std::fs::read(fixture_path("basic")).unwrap()[BLOCK..]);
    std::fs::write(&future, bytes).unwrap();
    let err = TraceReader::open(&future).unwrap_err();
    assert_eq!(
        message(&err, &future),
        "{path}: unsupported trace format version 6.1 (this build reads 1.x to 5.x)"
    );

    let damaged = dir.path().join("damaged.pyttd");
    let mut bytes = std::fs::read(fixture_path("basic")).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&damaged, bytes).unwrap();
    let err = TraceReader::open(&damaged).unwrap_err();
    assert_eq!(
        message(&err, &damaged),
        "{path}: corrupt trace at byte offset 0: file header checksum mismatch"
    );
}

/// SPEC.md 5, "Reading while the trace is being written": a file shorter than the file header
/// SHOULD be reported as not (yet) a trace, not as corrupt — what `pyttd replay script.py` on a
/// short script, or opening a recording in its first microseconds, shows.
#[test]
fn files_shorter_than_the_header_are_not_traces() {
    let dir = tempfile::tempdir().unwrap();
    let header = FileHeader { major: 1, minor: 0 }.encode();
    for (name, bytes) in [
        ("empty.pyttd", &b""[..]),
        ("short.py", &b"print(1)\n"[..]),
        ("starting.pyttd", &header[..20]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = TraceReader::open(&path).unwrap_err();
        assert!(message(&err, &path).starts_with("{path}: "), "{err}");
        assert!(
            matches!(err, FormatError::NotATrace { .. }),
            "{name} ({} bytes): expected \"not a pyttd trace\", got: {err}",
            bytes.len()
        );
    }
}

#[test]
fn a_later_minor_version_is_read() {
    let dir = tempfile::tempdir().unwrap();
    for major in [1, 2] {
        let path = dir.path().join(format!("minor{major}.pyttd"));
        let fixture = fixture_path_in(major, "basic");
        let mut bytes = FileHeader { major, minor: 7 }.encode().to_vec();
        bytes.extend_from_slice(&std::fs::read(&fixture).unwrap()[BLOCK..]);
        std::fs::write(&path, bytes).unwrap();
        let r = TraceReader::open(&path).unwrap();
        let original = Original::open(&fixture);
        assert_eq!(
            (r.version(), r.state()),
            ((major, 7), &TraceState::Complete)
        );
        for (i, batch) in original.batches.iter().enumerate() {
            assert!(r.segment(i).unwrap() == *batch, "v{major} segment {i}");
        }
    }
}

#[test]
fn a_trace_without_segments_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pyttd");
    let size = TraceWriter::create(&path, WriterOptions::default())
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(size, 112, "SPEC.md 2: file header, empty footer, trailer");
    let r = TraceReader::open(&path).unwrap();
    assert_eq!((r.state(), r.segments().len()), (&TraceState::Complete, 0));
    assert_eq!(r.event_at(0).unwrap(), None);
    assert_eq!(r.scan(Table::Events, None, None).unwrap().count(), 0);
}

/// SPEC.md 3: segments of a table this version does not know are walked over and skipped, in a
/// recovered trace and in a finished one.
#[test]
fn segments_of_unknown_tables_are_skipped() {
    let original = Original::open(&fixture_path("basic"));
    let code = &original.segments()[1];
    assert_eq!(code.table, Some(Table::Code));
    let mut bytes = original.bytes.clone();
    let at = code.offset as usize;
    let mut header = SegmentHeader::decode(&bytes[at..at + BLOCK]).unwrap();
    header.table_id = 42;
    bytes[at..at + BLOCK].copy_from_slice(&header.encode());

    let dir = tempfile::tempdir().unwrap();
    let recovered = dir.path().join("recovered.pyttd");
    let footer_offset = end_of(original.segments().last().unwrap());
    write_new(&recovered, &bytes[..footer_offset as usize]);
    let finished = dir.path().join("finished.pyttd");
    let mut entries: Vec<FooterEntry> = original
        .segments()
        .iter()
        .map(|s| FooterEntry {
            offset: s.offset,
            header: SegmentHeader::decode(&bytes[s.offset as usize..][..BLOCK]).unwrap(),
        })
        .collect();
    entries[1].header.table_id = 42;
    bytes.truncate(footer_offset as usize);
    bytes.extend_from_slice(&encode_footer(&entries, footer_offset));
    write_new(&finished, &bytes);

    for path in [recovered, finished] {
        let r = TraceReader::open(&path).unwrap();
        assert_eq!(
            r.segments().len(),
            original.segments().len(),
            "{}",
            path.display()
        );
        assert_eq!(
            (r.segments()[1].table, r.segments()[1].table_name()),
            (None, "table#42".into())
        );
        assert_eq!(r.row_count(Table::Code), 0);
        assert_eq!(r.scan(Table::Code, None, None).unwrap().count(), 0);
        for (e, _) in original.events.iter().zip(&original.event_segment) {
            assert_eq!(r.event_at(e.seq).unwrap(), Some(*e));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs that made the reader panic.

/// A scan whose seq range is empty (`start > end`, as `seq BETWEEN 5 AND 3` gives) returns no
/// rows. It used to compute `hi - lo` with `hi < lo` in `TableScan::next_batch`.
#[test]
fn an_empty_seq_range_scans_nothing() {
    let r = TraceReader::open(fixture_path("basic")).unwrap();
    let (start, end) = (5, 3);
    let scan = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        r.scan(Table::Events, Some(RangeInclusive::new(start, end)), None)
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum::<usize>()
    }));
    assert_eq!(
        scan.ok(),
        Some(0),
        "an empty range must scan no rows, without panicking"
    );
}

/// A seq range on a table without a seq column (`run`, `code`, `threads`) is refused or
/// ignored, never a panic. `TableScan::next_batch` panicked with "scanned with a seq range";
/// found by the fuzz target.
#[test]
fn a_seq_range_on_a_table_without_seq_column_does_not_panic() {
    let r = TraceReader::open(fixture_path("basic")).unwrap();
    let mut panics = Vec::new();
    for table in Table::ALL.into_iter().filter(|t| t.seq_column().is_none()) {
        let rows = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let scan = r.scan(table, Some(0..=u64::MAX), None)?;
            scan.map(|b| b.map(|b| b.num_rows() as u64))
                .sum::<Result<u64, _>>()
        }));
        match rows {
            Ok(Ok(rows)) => assert_eq!(rows, r.row_count(table), "{table}: the range is ignored"),
            Ok(Err(e)) => assert_one_line_naming(&e, r.path(), table.name()),
            Err(_) => panics.push(table),
        }
    }
    assert!(
        panics.is_empty(),
        "scan with a seq range panicked on {panics:?}"
    );
}
