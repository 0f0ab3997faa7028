//! Truncation at every byte of the fixtures: each cut reads as exactly the prefix of segments
//! wholly before it, and a longer cut never recovers fewer segments.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pyttd_format::layout::BLOCK;
use pyttd_format::{TraceReader, TraceState};

use super::{Original, assert_one_line_naming, end_of, with_deadline, write_new};
use crate::fixtures::fixture_path_in;

/// Opens the first `len` bytes of `original`, written at `path`, and checks that the reader sees
/// exactly the segments wholly inside them, each decoding as in the whole file. Returns the
/// number of segments recovered, `None` when the file could not be opened.
pub(super) fn check_prefix(original: &Original, path: &Path, len: usize) -> Option<usize> {
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

/// Every cut of a fixture of format `major`, byte by byte, from 0 to its whole length.
fn truncate_everywhere(major: u16, name: &'static str) {
    let original = Original::open(&fixture_path_in(major, name));
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
    truncate_everywhere(1, "basic");
    truncate_everywhere(2, "basic");
    truncate_everywhere(3, "basic");
}

#[test]
fn every_truncation_of_two_threads_is_a_valid_prefix() {
    truncate_everywhere(1, "two_threads");
    truncate_everywhere(2, "two_threads");
    truncate_everywhere(3, "two_threads");
}
