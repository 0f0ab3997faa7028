//! Reading a trace while the writer appends to it: every flushed segment reads back, and the
//! trace reads as complete once finished.

use pyttd_format::{
    CodeKind, EventKind, SegmentInfo, Table, TraceBuilder, TraceReader, TraceState, TraceWriter,
    WriterOptions,
};

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
