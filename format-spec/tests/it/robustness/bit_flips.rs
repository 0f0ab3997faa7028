//! One bit flipped in every byte of the fixtures: the damage is caught where SPEC.md 5 says, and
//! never comes back as wrong data.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pyttd_format::{FormatError, Table, TraceReader, TraceState};

use super::{Original, Region, assert_one_line_naming, with_deadline, write_new};
use crate::fixtures::fixture_path;

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
