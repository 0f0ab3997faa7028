//! Damage the checksums cannot see, and lengths that overflow or ask for absurd memory: refused
//! with a one-line error, never a panic or an abort. Tests that could abort run in a child process.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyttd_format::layout::{BLOCK, FileHeader, FooterEntry, SegmentHeader, encode_footer};
use pyttd_format::{FormatError, Table, TraceReader};

use super::{Original, assert_one_line_naming, end_of, write_new};
use crate::fixtures::{fixture_path, fixture_path_in};

// Damage the checksums cannot see: a buggy writer, or an edit that recomputes them.

/// `original` with `bytes[at] ^= bit` inside a segment body, and every body checksum, segment
/// header and the footer rewritten to match, so the damage reaches the Arrow IPC decoder.
fn flipped_under_valid_checksums(original: &Original, at: usize, bit: u8) -> Vec<u8> {
    let mut b = original.bytes.clone();
    b[at] ^= bit;
    let mut entries = Vec::new();
    for s in original.segments() {
        let o = s.offset as usize;
        let mut header = SegmentHeader::decode(&b[o..o + BLOCK]).expect("flip is in a body");
        header.body_crc = SegmentHeader::checksum(&b[o + BLOCK..][..s.body_len as usize]);
        b[o..o + BLOCK].copy_from_slice(&header.encode());
        entries.push(FooterEntry {
            offset: s.offset,
            header,
        });
    }
    let footer = end_of(original.segments().last().unwrap());
    b.truncate(footer as usize);
    b.extend_from_slice(&encode_footer(&entries, footer));
    b
}

/// Reads the trace at `path` in every way the debugger does (what the fuzz targets do) and
/// returns the errors met on the way.
fn read_everything(path: &Path, seqs: &[u64]) -> Vec<FormatError> {
    let r = match TraceReader::open(path) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let mut errors: Vec<FormatError> = (0..r.segments().len())
        .filter_map(|i| r.segment(i).err())
        .collect();
    errors.extend((0..r.segments().len()).filter_map(|i| r.zone_map(i).err()));
    errors.extend(seqs.iter().filter_map(|&seq| r.event_at(seq).err()));
    for table in Table::ALL {
        let ranges = [None, table.seq_column().map(|_| 1..=seqs.len() as u64 / 2)];
        for range in ranges
            .into_iter()
            .take(1 + table.seq_column().is_some() as usize)
        {
            errors.extend(r.scan(table, range, None).unwrap().filter_map(|b| b.err()));
        }
    }
    errors
}

/// Runs the ignored test `robustness::crafted::NAME` in a child process of this test binary and
/// fails with the end of its output if it fails, or dies: an abort (such as a failed allocation,
/// which no `catch_unwind` stops) then fails one test instead of killing the whole test binary.
/// It also fails if the child ran no test (a stale name), which would otherwise pass silently.
fn in_child(name: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            &format!("robustness::crafted::{name}"),
            "--exact",
            "--ignored",
        ])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    assert!(
        out.status.success(),
        "{name} {}:\n{}",
        out.status,
        tail.join("\n")
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("test result: ok. 1 passed;"),
        "{name}: the child process did not run exactly one test:\n{stdout}"
    );
}

/// Set to the child test's name by `in_child`; child tests do nothing without it.
const CHILD: &str = "PYTTD_TEST_CHILD";

fn is_child(name: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|n| n == name)
}

/// A bit flipped anywhere in the `events` and `values` bodies of `two_threads.pyttd`, checksums
/// made valid again: the decoder must refuse or decode, never panic or abort, and its errors are
/// one line naming the file.
#[test]
fn damage_behind_valid_checksums_is_refused_cleanly() {
    in_child("valid_checksum_sweep");
}

#[test]
#[ignore = "run in a child process by damage_behind_valid_checksums_is_refused_cleanly"]
fn valid_checksum_sweep() {
    if !is_child("valid_checksum_sweep") {
        return;
    }
    let caught = Arc::new(AtomicUsize::new(0));
    let counter = caught.clone();
    std::panic::set_hook(Box::new(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    }));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.pyttd");
    let (mut cases, mut multi_line) = (0, Vec::new());
    // Format 1 bodies are Arrow IPC files (footer, blocks); format 4 bodies are Arrow IPC streams
    // (messages walked one by one).
    for major in [1, 4] {
        let original = Original::open(&fixture_path_in(major, "two_threads"));
        let seqs: Vec<u64> = original.events.iter().map(|e| e.seq).collect();
        for s in original.segments() {
            if !matches!(s.table, Some(Table::Events | Table::Values)) {
                continue;
            }
            let body = s.offset as usize + BLOCK;
            for at in body..body + s.body_len as usize {
                let bit = 1u8 << (at % 8);
                // The last line before an abort names the case.
                eprintln!(
                    "v{major}/two_threads.pyttd, byte {at} ^ {bit:#04x}, checksums made valid"
                );
                write_new(&path, &flipped_under_valid_checksums(&original, at, bit));
                for e in read_everything(&path, &seqs) {
                    let msg = e.to_string();
                    assert!(msg.contains(&path.display().to_string()), "{msg}");
                    if msg.contains('\n') && multi_line.len() < 3 {
                        multi_line.push(format!("v{major}, byte {at} ^ {bit:#04x}: {msg:?}"));
                    }
                }
                cases += 1;
            }
        }
    }
    let _ = std::panic::take_hook();
    eprintln!(
        "{cases} cases; panics inside the reader caught by its own catch_unwind: {}",
        caught.load(Ordering::Relaxed)
    );
    assert!(
        multi_line.is_empty(),
        "errors span lines, e.g.:\n{}",
        multi_line.join("\n")
    );
}

/// Minimal case of the sweep above: an Arrow IPC footer that fails flatbuffer verification. The
/// verifier's message spans lines ("...\n\twhile verifying vector element 8..."), and the
/// reader put it into its error as is. Found by the fuzz target `open_trace_checksummed`.
#[test]
fn an_invalid_arrow_footer_is_a_one_line_error() {
    let original = Original::open(&fixture_path("two_threads"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("footer.pyttd");
    write_new(
        &path,
        &flipped_under_valid_checksums(&original, 16600, 0x10),
    );
    let r = TraceReader::open(&path).unwrap();
    let values = r.table_segments(Table::Values).next().unwrap().index;
    let err = r.segment(values).unwrap_err();
    assert_one_line_naming(&err, &path, "invalid Arrow IPC footer");
}

/// Minimal case of the sweep above: a compressed Arrow buffer whose 8-byte uncompressed-length
/// prefix says 2^58 bytes. arrow-ipc (`decompress_lz4`, `Vec::with_capacity`) asks for that much
/// memory, and the failed allocation aborts the process; the reader must refuse the segment
/// first. Found by the fuzz target `open_trace_checksummed`.
#[test]
fn a_huge_uncompressed_length_is_an_error_not_an_abort() {
    in_child("huge_uncompressed_length");
}

#[test]
#[ignore = "run in a child process by a_huge_uncompressed_length_is_an_error_not_an_abort"]
fn huge_uncompressed_length() {
    if !is_child("huge_uncompressed_length") {
        return;
    }
    let original = Original::open(&fixture_path("two_threads"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("length.pyttd");
    write_new(
        &path,
        &flipped_under_valid_checksums(&original, 10736, 0x01),
    );
    let r = TraceReader::open(&path).unwrap();
    let events = r.table_segments(Table::Events).next().unwrap().index;
    let err = r.segment(events).unwrap_err();
    assert_one_line_naming(&err, &path, "huge uncompressed length");
}

// ---------------------------------------------------------------------------------------------
// Inputs that made the reader panic.

/// A segment header whose checksum verifies but whose `body_len` is within 127 of `u64::MAX`:
/// `pad64(body_len)` overflows. The reader must report the file as torn or corrupt, not panic,
/// whether it meets the header in a recovery scan or through a footer entry.
#[test]
fn a_huge_body_len_is_corruption_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let header = SegmentHeader {
        table_id: Table::Events.id(),
        flags: 0,
        row_count: 1,
        min_seq: 0,
        max_seq: 0,
        body_len: u64::MAX,
        body_crc: 0,
    };
    let mut bytes = FileHeader { major: 1, minor: 0 }.encode().to_vec();
    bytes.extend_from_slice(&header.encode());
    bytes.extend_from_slice(&[0; BLOCK]);
    let recovered = dir.path().join("recovered.pyttd");
    write_new(&recovered, &bytes);
    let entry = FooterEntry {
        offset: BLOCK as u64,
        header,
    };
    bytes.extend_from_slice(&encode_footer(&[entry], bytes.len() as u64));
    let finished = dir.path().join("finished.pyttd");
    write_new(&finished, &bytes);

    let mut panics = Vec::new();
    for path in [recovered, finished] {
        let opened = std::panic::catch_unwind(|| {
            let r = TraceReader::open(&path)?;
            (0..r.segments().len()).try_for_each(|i| r.segment(i).map(drop))?;
            Ok::<_, FormatError>(r.segments().len())
        });
        match opened {
            Ok(Ok(n)) => assert_eq!(n, 0, "{}: a segment longer than the file", path.display()),
            Ok(Err(e)) => assert_one_line_naming(&e, &path, "huge body_len"),
            Err(_) => panics.push(path.file_name().unwrap().to_string_lossy().into_owned()),
        }
    }
    assert!(
        panics.is_empty(),
        "the reader panicked on a huge body_len in: {panics:?}"
    );
}

/// A format-3 `output` segment whose non-nullable `text` column is stored as a dictionary whose
/// indices are all valid but whose dictionary holds a null: valid Arrow, checksums right, and
/// still no text to show. The reader refuses the segment in one line instead of panicking or
/// presenting a null where the spec promises text.
#[test]
fn a_null_text_behind_a_dictionary_in_a_non_nullable_column_is_corruption() {
    use arrow_array::types::Int32Type;
    use arrow_array::{ArrayRef, DictionaryArray, Int32Array, StringArray, UInt8Array};
    use arrow_array::{RecordBatch, UInt32Array, UInt64Array};
    use arrow_schema::{DataType, Field, Schema};

    let rows = 3;
    let text = DictionaryArray::<Int32Type>::try_new(
        Int32Array::from(vec![0, 1, 0]),
        Arc::new(StringArray::from(vec![Some("fine\n"), None])),
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new("thread_id", DataType::UInt32, false),
        Field::new("stream", DataType::UInt8, false),
        Field::new(
            "text",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
    ]));
    // Stored as format 3 stores them: the 64- and 32-bit words byte-shuffled (one byte each).
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(vec![
            u64::from_le_bytes([1, 1, 1, 0, 0, 0, 0, 0]),
            0,
            0,
        ])),
        Arc::new(UInt32Array::from(vec![0, 0, 0])),
        Arc::new(UInt8Array::from(vec![1, 1, 1])),
        Arc::new(text),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut body = Vec::new();
    {
        let mut w = arrow_ipc::writer::FileWriter::try_new(&mut body, &schema).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
    }
    let header = SegmentHeader {
        table_id: Table::Output.id(),
        flags: pyttd_format::layout::FLAG_HAS_SEQ_RANGE,
        row_count: rows,
        min_seq: 1,
        max_seq: 3,
        body_len: body.len() as u64,
        body_crc: SegmentHeader::checksum(&body),
    };
    let mut bytes = FileHeader { major: 3, minor: 0 }.encode().to_vec();
    bytes.extend_from_slice(&header.encode());
    bytes.extend_from_slice(&body);
    bytes.resize(bytes.len().div_ceil(BLOCK) * BLOCK, 0);
    let entry = FooterEntry {
        offset: BLOCK as u64,
        header,
    };
    bytes.extend_from_slice(&encode_footer(&[entry], bytes.len() as u64));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("null_text.pyttd");
    write_new(&path, &bytes);

    let r = TraceReader::open(&path).unwrap();
    let read = std::panic::catch_unwind(|| r.segment(0).map(drop));
    let err = read
        .expect("the reader panicked on a null text behind a dictionary")
        .expect_err("a null text in a non-nullable column was read as data");
    assert_one_line_naming(&err, &path, "null text behind a dictionary");
    assert!(err.to_string().contains("text"), "{err}");
}
