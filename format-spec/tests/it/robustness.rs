//! What the reader does with truncated, damaged, live and foreign files (SPEC.md, section 5): it
//! never panics or hangs, every error is one line naming the file, a truncated trace is exactly
//! the prefix of segments that lie wholly before the cut, and no damaged byte ever comes back as
//! data.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt8Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use proptest::prelude::*;
use proptest::sample::Index;
use pyttd_format::layout::{
    BLOCK, FileHeader, FooterEntry, SegmentHeader, TRAILER_LEN, encode_footer,
};
use pyttd_format::{
    CodeKind, Compression, Event, EventKind, EventsBuilder, FormatError, SegmentInfo, Table,
    TraceBuilder, TraceReader, TraceState, TraceWriter, Value, ValueRole, ValuesBuilder,
    WriterOptions,
};

use crate::fixtures::fixture_path;

// ---------------------------------------------------------------------------------------------
// The reference: a trace as written, never modified, that damaged copies are compared with.

/// A trace as written, kept open as the reference for damaged copies of it.
struct Original {
    bytes: Vec<u8>,
    reader: TraceReader,
    batches: Vec<Arc<RecordBatch>>,
    events: Vec<Event>,
    /// For each of `events`, the index of the segment that holds it.
    event_segment: Vec<usize>,
}

impl Original {
    fn open(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap();
        let reader = TraceReader::open(path).unwrap_or_else(|e| panic!("{e}"));
        let batches: Vec<_> = (0..reader.segments().len())
            .map(|i| reader.segment(i).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let (mut events, mut event_segment) = (Vec::new(), Vec::new());
        for seg in reader.table_segments(Table::Events) {
            let batch = &batches[seg.index];
            for row in 0..batch.num_rows() {
                events.push(reader.event_in(batch, seg.index, row).unwrap());
                event_segment.push(seg.index);
            }
        }
        Original {
            bytes,
            reader,
            batches,
            events,
            event_segment,
        }
    }

    fn segments(&self) -> &[SegmentInfo] {
        self.reader.segments()
    }

    fn complete(&self) -> bool {
        *self.reader.state() == TraceState::Complete
    }

    /// Number of segments that lie wholly within the first `len` bytes.
    fn segments_within(&self, len: u64) -> usize {
        self.segments()
            .iter()
            .take_while(|s| end_of(s) <= len)
            .count()
    }

    /// Which part of the file byte `offset` belongs to.
    fn region_of(&self, offset: u64) -> Region {
        if offset < BLOCK as u64 {
            return Region::FileHeader;
        }
        for s in self.segments() {
            let body = s.offset + BLOCK as u64;
            if (s.offset..body).contains(&offset) {
                return Region::SegmentHeader(s.index);
            }
            if (body..body + s.body_len).contains(&offset) {
                return Region::Body(s.index);
            }
            if (body + s.body_len..end_of(s)).contains(&offset) {
                return Region::Padding;
            }
        }
        if !self.complete() {
            return Region::TornTail;
        }
        let trailer = self.bytes.len() as u64 - TRAILER_LEN as u64;
        match offset.checked_sub(trailer) {
            None => Region::Footer,
            Some(20..24) => Region::TrailerReserved,
            Some(_) => Region::Trailer,
        }
    }
}

/// The first byte after segment `s` (header, body and padding).
fn end_of(s: &SegmentInfo) -> u64 {
    s.offset + BLOCK as u64 + s.body_len.div_ceil(BLOCK as u64) * BLOCK as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Region {
    FileHeader,
    SegmentHeader(usize),
    Body(usize),
    Padding,
    Footer,
    Trailer,
    TrailerReserved,
    /// What a recovered trace has after its last valid segment.
    TornTail,
}

/// The error names the file and fits on one line, as the CLI prints it.
fn assert_one_line_naming(err: &FormatError, path: &Path, context: &str) {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{context}: error spans lines: {msg:?}");
    assert!(
        msg.contains(&path.display().to_string()),
        "{context}: error does not name the file: {msg}"
    );
}

/// Writes `bytes` as a new file at `path` (a new inode: no map of an earlier copy can see it).
fn write_new(path: &Path, bytes: &[u8]) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap();
}

/// Runs `check` on its own thread and fails if it has not returned within `limit`, naming the
/// case it was on: a hang in the reader fails the test instead of stalling the suite.
fn with_deadline(what: &str, limit: Duration, check: impl FnOnce(&AtomicUsize) + Send + 'static) {
    let progress = Arc::new(AtomicUsize::new(0));
    let (done, finished) = mpsc::channel();
    let p = progress.clone();
    let worker = std::thread::spawn(move || {
        check(&p);
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => worker.join().unwrap(),
        Err(RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(RecvTimeoutError::Timeout) => panic!(
            "{what}: still running after {limit:?}, at case {}",
            progress.load(Ordering::Relaxed)
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Truncation.

/// Opens the first `len` bytes of `original`, written at `path`, and checks that the reader sees
/// exactly the segments wholly inside them, each decoding as in the whole file. Returns the
/// number of segments recovered, `None` when the file could not be opened.
fn check_prefix(original: &Original, path: &Path, len: usize) -> Option<usize> {
    let ctx = format!("first {len} of {} bytes", original.bytes.len());
    let r = match TraceReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            assert_one_line_naming(&e, path, &ctx);
            assert!(len < BLOCK, "{ctx}: the file header is intact, yet: {e}");
            return None;
        }
    };
    let n = r.segments().len();
    assert_eq!(
        r.segments(),
        &original.segments()[..n],
        "{ctx}: not a prefix"
    );
    assert_eq!(
        n,
        original.segments_within(len as u64),
        "{ctx}: recovery must keep every segment wholly before the cut"
    );
    match r.state() {
        TraceState::Complete => {
            assert!(
                original.complete() && len == original.bytes.len(),
                "{ctx}: complete"
            )
        }
        TraceState::Recovered {
            valid_bytes,
            file_bytes,
            reason,
        } => {
            assert!(
                len < original.bytes.len() || !original.complete(),
                "{ctx}: a whole finished trace must read as complete ({reason})"
            );
            let valid = r.segments().last().map_or(BLOCK as u64, end_of);
            assert_eq!((*valid_bytes, *file_bytes), (valid, len as u64), "{ctx}");
            assert!(!reason.contains('\n'), "{ctx}: {reason:?}");
        }
    }
    for i in 0..n {
        let batch = r
            .segment(i)
            .unwrap_or_else(|e| panic!("{ctx}: segment {i}: {e}"));
        assert!(
            batch == original.batches[i],
            "{ctx}: segment {i} decodes differently"
        );
    }
    for (e, &seg) in original.events.iter().zip(&original.event_segment) {
        let found = r
            .event_at(e.seq)
            .unwrap_or_else(|err| panic!("{ctx}: {err}"));
        assert_eq!(found, (seg < n).then_some(*e), "{ctx}: event {}", e.seq);
    }
    Some(n)
}

/// Every cut of a fixture, byte by byte, from 0 to its whole length.
fn truncate_everywhere(name: &'static str) {
    let original = Original::open(&fixture_path(name));
    let started = Instant::now();
    with_deadline(name, Duration::from_secs(300), move |progress| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{name}-cut.pyttd"));
        let mut recovered = 0;
        for len in 0..=original.bytes.len() {
            progress.store(len, Ordering::Relaxed);
            write_new(&path, &original.bytes[..len]);
            let n = check_prefix(&original, &path, len).unwrap_or(0);
            assert!(
                n >= recovered,
                "{len} bytes recover {n} segments, fewer bytes {recovered}"
            );
            recovered = n;
        }
        assert_eq!(recovered, original.segments().len());
    });
    eprintln!(
        "{name}: every truncation checked in {:.1?}",
        started.elapsed()
    );
}

#[test]
fn every_truncation_of_basic_is_a_valid_prefix() {
    truncate_everywhere("basic");
}

#[test]
fn every_truncation_of_two_threads_is_a_valid_prefix() {
    truncate_everywhere("two_threads");
}

// ---------------------------------------------------------------------------------------------
// Bit flips.

/// How a reader took a damaged copy; counted for the test's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Outcome {
    OpenFailed,
    CompleteIdentical,
    CompleteOneSegmentFails,
    RecoveredAllSegments,
    RecoveredPrefix,
}

/// Opens a copy of `original` with the byte at `offset` damaged, reads everything, and checks
/// that nothing read differs from the original and that every error points at the damage.
fn check_flip(original: &Original, path: &Path, offset: u64) -> Outcome {
    let region = original.region_of(offset);
    let ctx = format!("bit flipped at byte {offset} ({region:?})");
    let r = match TraceReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            assert_one_line_naming(&e, path, &ctx);
            assert!(
                matches!(region, Region::FileHeader | Region::SegmentHeader(_)),
                "{ctx}: only a damaged header may make the trace unreadable, yet: {e}"
            );
            return Outcome::OpenFailed;
        }
    };
    assert_ne!(
        region,
        Region::FileHeader,
        "{ctx}: the file header checksum must catch it"
    );
    assert_eq!(r.version(), (1, 0), "{ctx}");
    let n = r.segments().len();
    assert_eq!(
        r.segments(),
        &original.segments()[..n],
        "{ctx}: not a prefix"
    );
    let complete = *r.state() == TraceState::Complete;
    if complete {
        assert_eq!(n, original.segments().len(), "{ctx}");
    }
    match region {
        Region::Footer | Region::Trailer => {
            assert!(!complete, "{ctx}: the footer checksum must catch it");
            assert_eq!(n, original.segments().len(), "{ctx}: no segment lost");
        }
        Region::TornTail => assert_eq!(n, original.segments().len(), "{ctx}"),
        Region::SegmentHeader(i) | Region::Body(i) if !original.complete() => {
            assert_eq!(n, i, "{ctx}: recovery must stop at the damaged segment")
        }
        _ => {}
    }
    let mut failed = None;
    for i in 0..n {
        match r.segment(i) {
            Ok(batch) => assert!(
                batch == original.batches[i],
                "{ctx}: segment {i} is WRONG DATA"
            ),
            Err(e) => {
                assert_one_line_naming(&e, path, &ctx);
                assert_eq!(region, Region::Body(i), "{ctx}: segment {i} fails: {e}");
                assert!(
                    matches!(e, FormatError::Corrupt { offset: at, .. } if at == r.segments()[i].offset),
                    "{ctx}: the error must name the segment's offset: {e}"
                );
                failed = Some(i);
            }
        }
    }
    if let Region::Body(i) = region
        && i < n
    {
        assert_eq!(failed, Some(i), "{ctx}: the body checksum must catch it");
    }
    for (e, &seg) in original.events.iter().zip(&original.event_segment) {
        match r.event_at(e.seq) {
            Ok(found) => assert_eq!(found, (seg < n).then_some(*e), "{ctx}: event {}", e.seq),
            Err(err) => {
                assert_one_line_naming(&err, path, &ctx);
                assert_eq!(failed, Some(seg), "{ctx}: event {}: {err}", e.seq);
            }
        }
    }
    for table in Table::ALL {
        let indices: Vec<usize> = r.table_segments(table).map(|s| s.index).collect();
        for (batch, i) in r.scan(table, None, None).unwrap().zip(indices) {
            match batch {
                Ok(b) => assert!(
                    b == *original.batches[i],
                    "{ctx}: scan of {table} is WRONG DATA"
                ),
                Err(e) => assert_one_line_naming(&e, path, &ctx),
            }
        }
    }
    match (complete, failed) {
        (true, None) => Outcome::CompleteIdentical,
        (true, Some(_)) => Outcome::CompleteOneSegmentFails,
        (false, _) if n == original.segments().len() => Outcome::RecoveredAllSegments,
        (false, _) => Outcome::RecoveredPrefix,
    }
}

/// One bit flipped in every byte of a fixture, a different bit from byte to byte.
///
/// What is acceptable in a finished trace: a flip in the file header or a segment header may make
/// the whole trace unreadable (SPEC.md 5.1 and 5.4); one in a body must fail exactly that segment;
/// one in the footer or trailer must fall back to recovery and still find every segment; one in
/// padding or in the trailer's reserved bytes changes nothing. In a trace without footer, recovery
/// stops at the damaged segment, and a flip in the torn tail changes nothing. Never, anywhere,
/// different data.
fn flip_every_byte(name: &'static str) {
    let original = Original::open(&fixture_path(name));
    let started = Instant::now();
    with_deadline(name, Duration::from_secs(300), move |progress| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flipped.pyttd");
        let mut outcomes: HashMap<(Outcome, Region), usize> = HashMap::new();
        let mut bytes = original.bytes.clone();
        for offset in 0..bytes.len() {
            progress.store(offset, Ordering::Relaxed);
            let bit = 1u8 << (offset % 8);
            bytes[offset] ^= bit;
            write_new(&path, &bytes);
            bytes[offset] ^= bit;
            let outcome = check_flip(&original, &path, offset as u64);
            let region = match original.region_of(offset as u64) {
                Region::SegmentHeader(_) => Region::SegmentHeader(0),
                Region::Body(_) => Region::Body(0),
                other => other,
            };
            *outcomes.entry((outcome, region)).or_default() += 1;
        }
        let mut summary: Vec<_> = outcomes.into_iter().collect();
        summary.sort();
        eprintln!("{name}: bit flips by (outcome, region): bytes = {summary:?}");
    });
    eprintln!(
        "{name}: every bit flip checked in {:.1?}",
        started.elapsed()
    );
}

#[test]
fn every_flipped_bit_of_basic_is_caught() {
    flip_every_byte("basic");
}

#[test]
fn every_flipped_bit_of_crashed_is_caught() {
    flip_every_byte("crashed");
}

// ---------------------------------------------------------------------------------------------
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

/// Runs the ignored test `robustness::NAME` in a child process of this test binary and fails
/// with the end of its output if it fails, or dies: an abort (such as a failed allocation, which
/// no `catch_unwind` stops) then fails one test instead of killing the whole test binary.
fn in_child(name: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([&format!("robustness::{name}"), "--exact", "--ignored"])
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
    let original = Original::open(&fixture_path("two_threads"));
    let caught = Arc::new(AtomicUsize::new(0));
    let counter = caught.clone();
    std::panic::set_hook(Box::new(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    }));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.pyttd");
    let seqs: Vec<u64> = original.events.iter().map(|e| e.seq).collect();
    let (mut cases, mut multi_line) = (0, Vec::new());
    for s in original.segments() {
        if !matches!(s.table, Some(Table::Events | Table::Values)) {
            continue;
        }
        let body = s.offset as usize + BLOCK;
        for at in body..body + s.body_len as usize {
            let bit = 1u8 << (at % 8);
            // The last line before an abort names the case.
            eprintln!("two_threads.pyttd, byte {at} ^ {bit:#04x}, checksums made valid");
            write_new(&path, &flipped_under_valid_checksums(&original, at, bit));
            for e in read_everything(&path, &seqs) {
                let msg = e.to_string();
                assert!(msg.contains(&path.display().to_string()), "{msg}");
                if msg.contains('\n') && multi_line.len() < 3 {
                    multi_line.push(format!("byte {at} ^ {bit:#04x}: {msg:?}"));
                }
            }
            cases += 1;
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
// Random traces.

#[derive(Debug, Clone)]
enum Val {
    Int(i64),
    Str(String),
    Float(f64),
}

impl Val {
    fn value(&self) -> Value {
        match self {
            Val::Int(i) => Value::Int(*i),
            Val::Str(s) => Value::from(s.as_str()),
            Val::Float(f) => Value::Float(*f),
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Call {
        line: u32,
        args: Vec<(usize, Val)>,
    },
    Line {
        line: u32,
        changes: Vec<(usize, Val)>,
    },
    Return {
        line: u32,
        value: Val,
    },
}

/// After a step: keep buffering, hand the builders' rows to the writer, or also flush it.
#[derive(Debug, Clone, Copy)]
enum Then {
    Buffer,
    Append,
    Flush,
}

const NAMES: &[&str] = &["x", "total", "i", "名前", ""];

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        any::<i64>().prop_map(Val::Int),
        "\\PC{0,12}".prop_map(Val::Str),
        any::<f64>().prop_map(Val::Float),
    ]
}

fn step() -> impl Strategy<Value = (Step, i64, Then)> {
    let vals = || prop::collection::vec((0..NAMES.len(), val()), 0..3);
    let step = prop_oneof![
        1 => (1..400u32, vals()).prop_map(|(line, args)| Step::Call { line, args }),
        3 => (1..400u32, vals()).prop_map(|(line, changes)| Step::Line { line, changes }),
        1 => (1..400u32, val()).prop_map(|(line, value)| Step::Return { line, value }),
    ];
    let then =
        prop_oneof![6 => Just(Then::Buffer), 2 => Just(Then::Append), 1 => Just(Then::Flush)];
    (step, -1000..1000i64, then)
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Lz4),
        (-5..=9i32).prop_map(Compression::Zstd),
    ]
}

/// A trace to write: its steps, seq gaps (cycled), writer settings, and whether it is finished.
#[derive(Debug, Clone)]
struct RandomTrace {
    steps: Vec<(Step, i64, Then)>,
    gaps: Vec<u64>,
    segment_rows: usize,
    compression: Compression,
    finish: bool,
}

fn random_trace() -> impl Strategy<Value = RandomTrace> {
    (
        prop::collection::vec(step(), 1..120),
        prop::collection::vec(1..4u64, 1..6),
        1..40usize,
        compression(),
        any::<bool>(),
    )
        .prop_map(
            |(steps, gaps, segment_rows, compression, finish)| RandomTrace {
                steps,
                gaps,
                segment_rows,
                compression,
                finish,
            },
        )
}

/// One row of `values`, as pushed and as read back (floats by their bits, so NaN compares).
#[derive(Debug, Clone, PartialEq)]
struct ValueRow {
    seq: u64,
    call_id: u64,
    name: String,
    role: u8,
    tag: u8,
    int: Option<i64>,
    float_bits: Option<u64>,
    text: Option<String>,
}

/// Writes `t` through the real writer at `path`; returns the events and value rows pushed.
fn write_random(t: &RandomTrace, path: &Path) -> (Vec<Event>, Vec<ValueRow>) {
    let options = WriterOptions {
        compression: t.compression,
        segment_rows: t.segment_rows,
    };
    let mut w = TraceWriter::create(path, options).unwrap();
    let (mut events, mut values) = (EventsBuilder::default(), ValuesBuilder::default());
    let (mut expected_events, mut expected_values) = (Vec::new(), Vec::new());
    let mut stack: Vec<u64> = Vec::new();
    let (mut seq, mut ts, mut next_call) = (0u64, 0i64, 1u64);
    for (k, (step, dt, then)) in t.steps.iter().enumerate() {
        // A step outside any frame becomes a call.
        let step = match step {
            Step::Line { line, changes } if stack.is_empty() => Step::Call {
                line: *line,
                args: changes.clone(),
            },
            Step::Return { line, value } if stack.is_empty() => Step::Call {
                line: *line,
                args: vec![(0, value.clone())],
            },
            other => other.clone(),
        };
        let (kind, line, vals, role) = match &step {
            Step::Call { line, args } => {
                stack.push(next_call);
                next_call += 1;
                (EventKind::Call, *line, args.clone(), ValueRole::Local)
            }
            Step::Line { line, changes } => {
                (EventKind::Line, *line, changes.clone(), ValueRole::Local)
            }
            Step::Return { line, value } => (
                EventKind::Return,
                *line,
                vec![(4, value.clone())],
                ValueRole::Return,
            ),
        };
        let call_id = *stack.last().unwrap();
        ts = ts.wrapping_add(*dt);
        let event = Event {
            seq,
            thread_id: 0,
            kind,
            code_id: 1 + (call_id % 3) as u32,
            line,
            depth: stack.len() as u32 - 1,
            call_id,
            ts_ns: ts,
        };
        events.push(&event);
        expected_events.push(event);
        for (name, v) in &vals {
            let value = v.value();
            values.push(
                seq,
                call_id,
                NAMES[*name],
                role,
                kind == EventKind::Call,
                &value,
            );
            expected_values.push(ValueRow {
                seq,
                call_id,
                name: NAMES[*name].to_string(),
                role: role.code(),
                tag: value.tag().code(),
                int: if let Val::Int(i) = v { Some(*i) } else { None },
                float_bits: if let Val::Float(f) = v {
                    Some(f.to_bits())
                } else {
                    None
                },
                text: if let Val::Str(s) = v {
                    Some(s.clone())
                } else {
                    None
                },
            });
        }
        if kind == EventKind::Return {
            stack.pop();
        }
        seq += t.gaps[k % t.gaps.len()];
        if matches!(then, Then::Append | Then::Flush) {
            w.append(Table::Events, events.finish()).unwrap();
            w.append(Table::Values, values.finish()).unwrap();
        }
        if matches!(then, Then::Flush) {
            w.flush().unwrap();
        }
    }
    w.append(Table::Events, events.finish()).unwrap();
    w.append(Table::Values, values.finish()).unwrap();
    if t.finish {
        w.finish().unwrap();
    } else {
        w.flush().unwrap();
        drop(w);
    }
    (expected_events, expected_values)
}

fn read_values(batch: &RecordBatch) -> Vec<ValueRow> {
    let col = |name: &str| batch.column_by_name(name).unwrap().clone();
    let (seq, call_id, name, role) = (col("seq"), col("call_id"), col("name"), col("role"));
    let (tag, int, float, text) = (
        col("tag"),
        col("int_value"),
        col("float_value"),
        col("text"),
    );
    let names = name.as_any_dictionary();
    let (keys, dict) = (names.normalized_keys(), names.values().as_string::<i32>());
    let opt = |a: &dyn Array, i: usize| a.is_valid(i).then_some(i);
    (0..batch.num_rows())
        .map(|i| ValueRow {
            seq: seq.as_primitive::<UInt64Type>().value(i),
            call_id: call_id.as_primitive::<UInt64Type>().value(i),
            name: dict.value(keys[i]).to_string(),
            role: role.as_primitive::<UInt8Type>().value(i),
            tag: tag.as_primitive::<UInt8Type>().value(i),
            int: opt(&int, i).map(|i| int.as_primitive::<Int64Type>().value(i)),
            float_bits: opt(&float, i)
                .map(|i| float.as_primitive::<Float64Type>().value(i).to_bits()),
            text: opt(&text, i).map(|i| text.as_string::<i32>().value(i).to_string()),
        })
        .collect()
}

/// The events a scan returns, in order.
fn scan_events(r: &TraceReader, range: Option<RangeInclusive<u64>>) -> Vec<Event> {
    let mut out = Vec::new();
    for batch in r.scan(Table::Events, range, None).unwrap() {
        let batch = batch.unwrap();
        // `event_in` uses the segment index only to name an unknown kind code's offset.
        out.extend((0..batch.num_rows()).map(|row| r.event_in(&batch, 0, row).unwrap()));
    }
    out
}

/// `PROPTEST_CASES` when set (for a longer run), else `default`, kept small for the dev profile.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// Every event comes back from `event_at`, every seq never written reads as absent, scans
    /// return every row in order, whatever the segment size, codec, flushes and finishing.
    #[test]
    fn random_traces_round_trip(t in random_trace(), lo in any::<Index>(), len in any::<Index>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("random.pyttd");
        let (events, values) = write_random(&t, &path);
        let r = TraceReader::open(&path).unwrap();
        match r.state() {
            TraceState::Complete => prop_assert!(t.finish),
            TraceState::Recovered { valid_bytes, file_bytes, reason } => {
                prop_assert!(!t.finish);
                prop_assert_eq!(valid_bytes, file_bytes);
                prop_assert!(reason.contains("no footer"), "{}", reason);
            }
        }
        prop_assert_eq!(r.row_count(Table::Events), events.len() as u64);
        let by_seq: HashMap<u64, Event> = events.iter().map(|e| (e.seq, *e)).collect();
        let last = events.last().unwrap().seq;
        for seq in 0..=last + 1 {
            prop_assert_eq!(r.event_at(seq).unwrap(), by_seq.get(&seq).copied(), "seq {}", seq);
        }
        prop_assert_eq!(scan_events(&r, None), events.clone());
        let read: Vec<ValueRow> = r
            .scan(Table::Values, None, None)
            .unwrap()
            .flat_map(|b| read_values(&b.unwrap()))
            .collect();
        prop_assert_eq!(read, values);

        let start = lo.index(last as usize + 2) as u64;
        let end = start + len.index(last as usize + 2) as u64;
        let in_range: Vec<Event> = events.iter().filter(|e| (start..=end).contains(&e.seq)).copied().collect();
        prop_assert_eq!(scan_events(&r, Some(start..=end)), in_range);
    }

    /// "Truncate anywhere → still a valid prefix", on random traces.
    #[test]
    fn truncating_a_random_trace_anywhere_leaves_a_prefix(
        t in random_trace(),
        cuts in prop::collection::vec(any::<Index>(), 6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (path, cut) = (dir.path().join("random.pyttd"), dir.path().join("cut.pyttd"));
        write_random(&t, &path);
        let original = Original::open(&path);
        let mut lens: Vec<usize> = cuts.iter().map(|c| c.index(original.bytes.len() + 1)).collect();
        lens.sort_unstable();
        let mut recovered = 0;
        for len in lens {
            write_new(&cut, &original.bytes[..len]);
            let n = check_prefix(&original, &cut, len).unwrap_or(0);
            prop_assert!(n >= recovered);
            recovered = n;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading while the writer appends.

#[test]
fn a_live_trace_reads_every_flushed_segment_and_complete_after_finish() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.pyttd");
    let mut w = TraceWriter::create(&path, WriterOptions::default()).unwrap();
    let mut b = TraceBuilder::new();
    let module = b.code("/src/live.py", "<module>", 1, CodeKind::Module);
    b.call(0, module, 0, &[]);
    let mut early: Option<TraceReader> = None;
    for round in 0..4i64 {
        for i in 0..5 {
            b.line(0, 2, &[("i", (round * 5 + i).into())]);
        }
        b.flush_into(&mut w).unwrap();
        w.flush().unwrap();
        let r = TraceReader::open(&path).unwrap();
        let TraceState::Recovered {
            reason,
            valid_bytes,
            file_bytes,
        } = r.state()
        else {
            panic!("round {round}: an unfinished trace read as complete");
        };
        assert!(reason.contains("no footer"), "round {round}: {reason}");
        assert_eq!(
            (*valid_bytes, *file_bytes),
            (w.bytes_written(), w.bytes_written())
        );
        let written: Vec<SegmentInfo> = w.segments().collect();
        assert_eq!(r.segments(), &written[..], "round {round}");
        assert_eq!(r.row_count(Table::Events), b.next_seq(), "round {round}");
        let last = r.event_at(b.next_seq() - 1).unwrap().unwrap();
        assert_eq!((last.kind, last.line), (EventKind::Line, 2));
        early.get_or_insert(r);
    }
    let seen = b.next_seq();
    b.finish_into(w, 0).unwrap();

    let done = TraceReader::open(&path).unwrap();
    assert_eq!(done.state(), &TraceState::Complete);
    assert_eq!(done.row_count(Table::Events), seen);
    // The reader opened after the first flush still reads what it saw, unchanged.
    let early = early.unwrap();
    for (i, s) in early.segments().iter().enumerate() {
        assert_eq!(s, &done.segments()[i]);
        assert!(
            early.segment(i).unwrap() == done.segment(i).unwrap(),
            "segment {i}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Messages a user reads, and files that are not (or not yet, or not quite) traces.

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
    let mut bytes = FileHeader { major: 2, minor: 3 }.encode().to_vec();
    bytes.extend_from_slice(&std::fs::read(fixture_path("basic")).unwrap()[BLOCK..]);
    std::fs::write(&future, bytes).unwrap();
    let err = TraceReader::open(&future).unwrap_err();
    assert_eq!(
        message(&err, &future),
        "{path}: unsupported trace format version 2.3 (this build reads 1.x)"
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
    let path = dir.path().join("minor.pyttd");
    let mut bytes = FileHeader { major: 1, minor: 7 }.encode().to_vec();
    bytes.extend_from_slice(&std::fs::read(fixture_path("basic")).unwrap()[BLOCK..]);
    std::fs::write(&path, bytes).unwrap();
    let r = TraceReader::open(&path).unwrap();
    let original = Original::open(&fixture_path("basic"));
    assert_eq!((r.version(), r.state()), ((1, 7), &TraceState::Complete));
    for (i, batch) in original.batches.iter().enumerate() {
        assert!(r.segment(i).unwrap() == *batch, "segment {i}");
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
