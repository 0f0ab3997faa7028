//! What the reader does with truncated, damaged, live and foreign files (SPEC.md, section 5): it
//! never panics or hangs, every error is one line naming the file, a truncated trace is exactly
//! the prefix of segments that lie wholly before the cut, and no damaged byte ever comes back as
//! data.

mod bit_flips;
mod crafted;
mod errors;
mod live;
mod random;
mod truncation;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use arrow_array::RecordBatch;
use pyttd_format::layout::{BLOCK, TRAILER_LEN};
use pyttd_format::{Event, FormatError, SegmentInfo, Table, TraceReader, TraceState};

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
