//! The query layer over synthetic traces written through the real writer: exact rows of every
//! user-facing table, `locals_at`, the canned queries (DataFusion and direct agree), errors.

use arrow_array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pyttd_format::{CodeKind, OutputStream, TraceBuilder, Value, WriterOptions};
use pyttd_query::{Direction, LineBreakpoint, QueryError, TraceSession, ValueHint};

const APP: &str = "/src/app.py";

/// `<module>` calls f(a=1): x = 1, x = 2.5, returns 'done'; then g() raises ValueError and
/// unwinds; prints "hi". Seqs:
/// 0 call <module>, 1 line 1, 2 call f, 3 line 2, 4 line 3 (x=1), 5 return 'done' (x=2.5),
/// 6 line 4, 7 call g, 8 line 7, 9 exception, 10 unwind, 11 line 5, 12 return None: 6 lines.
fn demo(options: WriterOptions) -> (tempfile::TempDir, std::path::PathBuf) {
    demo_split(options, false)
}

/// One event (and its rows) added to a builder.
type Step = Box<dyn Fn(&mut TraceBuilder)>;

/// As [`demo`]; with `split`, every event is appended on its own, so with a small
/// `segment_rows` the tables span many segments.
fn demo_split(options: WriterOptions, split: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.pyttd");
    let mut w = pyttd_format::TraceWriter::create(&path, options).unwrap();
    let mut b = TraceBuilder::new();
    let module = b.code(APP, "<module>", 1, CodeKind::Module);
    let f = b.code(APP, "f", 2, CodeKind::Function);
    let g = b.code(APP, "g", 6, CodeKind::Function);
    let done = Value::Str {
        text: "done".into(),
        truncated: false,
    };
    let steps: Vec<Step> = vec![
        Box::new(move |b| {
            let _ = b.call(0, module, 1, &[]);
        }),
        Box::new(|b| {
            let _ = b.line(0, 1, &[]);
        }),
        Box::new(move |b| {
            let _ = b.call(0, f, 2, &[("a", Value::Int(1))]);
        }),
        Box::new(|b| {
            let _ = b.line(0, 2, &[]);
        }),
        Box::new(|b| {
            let _ = b.line(0, 3, &[("x", Value::Int(1))]);
        }),
        Box::new(move |b| {
            let _ = b.ret(0, 3, done.clone());
        }),
        Box::new(|b| {
            let _ = b.line(0, 4, &[]);
        }),
        Box::new(move |b| {
            let _ = b.call(0, g, 6, &[]);
        }),
        Box::new(|b| {
            let _ = b.line(0, 7, &[]);
        }),
        Box::new(|b| {
            let _ = b.exception(0, 7, "ValueError", "('bad',)");
        }),
        Box::new(|b| {
            let _ = b.unwind(0, 7);
        }),
        Box::new(|b| {
            b.line(0, 5, &[]);
            b.output(0, OutputStream::Stdout, "hi\n");
        }),
        Box::new(|b| {
            let _ = b.ret(0, 5, Value::None);
        }),
    ];
    for step in steps {
        step(&mut b);
        if split {
            b.flush_into(&mut w).unwrap();
        }
    }
    b.finish_into(w, 0).unwrap();
    (dir, path)
}

/// Every row of a result as text cells.
fn rows(session: &TraceSession, sql: &str) -> Vec<Vec<String>> {
    let (_, batches) = session.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    cells(&batches)
}

fn cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let f: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            out.push(f.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    out
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|s| s.to_string()).collect()
}

#[test]
fn events_have_kinds_files_and_functions() {
    let (_d, path) = demo(WriterOptions::default());
    let s = TraceSession::open(&path).unwrap();
    let got = rows(
        &s,
        "SELECT seq, kind, file, function, line, depth, call_id FROM events WHERE seq BETWEEN 2 AND 5 ORDER BY seq",
    );
    assert_eq!(
        got,
        vec![
            row(&["2", "call", APP, "f", "2", "1", "2"]),
            row(&["3", "line", APP, "f", "2", "1", "2"]),
            row(&["4", "line", APP, "f", "3", "1", "2"]),
            row(&["5", "return", APP, "f", "3", "1", "2"]),
        ]
    );
    let counts = rows(
        &s,
        "SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind",
    );
    assert_eq!(
        counts,
        vec![
            row(&["call", "3"]),
            row(&["exception", "1"]),
            row(&["line", "6"]),
            row(&["return", "2"]),
            row(&["unwind", "1"]),
        ]
    );
}

#[test]
fn calls_have_args_results_and_exceptions() {
    let (_d, path) = demo(WriterOptions::default());
    let s = TraceSession::open(&path).unwrap();
    let got = rows(
        &s,
        "SELECT call_id, parent_call_id, function, first_line, depth, call_seq, end_seq, args, return_value, exception FROM calls ORDER BY call_id",
    );
    assert_eq!(
        got,
        vec![
            row(&[
                "1", "NULL", "<module>", "1", "0", "0", "12", "NULL", "None", "NULL"
            ]),
            row(&["2", "1", "f", "2", "1", "2", "5", "a=1", "'done'", "NULL"]),
            row(&[
                "3",
                "1",
                "g",
                "6",
                "1",
                "7",
                "10",
                "NULL",
                "NULL",
                "ValueError: ('bad',)"
            ]),
        ]
    );
    assert_eq!(rows(&s, "SELECT count(*) FROM events"), vec![row(&["13"])]);
    assert_eq!(
        rows(&s, "SELECT count(*) FROM raw.values"),
        vec![row(&["4"])]
    );
    let durations = rows(&s, "SELECT count(*) FROM calls WHERE duration_ns > 0");
    assert_eq!(durations, vec![row(&["3"])]);
}

#[test]
fn variable_changes_and_locals_at() {
    let (_d, path) = demo(WriterOptions::default());
    let s = TraceSession::open(&path).unwrap();
    assert_eq!(
        rows(
            &s,
            "SELECT seq, call_id, name, value, type FROM variable_changes ORDER BY seq, name"
        ),
        vec![
            row(&["2", "2", "a", "1", "int"]),
            row(&["4", "2", "x", "1", "int"]),
        ]
    );
    assert_eq!(
        rows(&s, "SELECT name, value FROM locals_at(4)"),
        vec![row(&["a", "1"]), row(&["x", "1"])]
    );
    assert_eq!(
        rows(&s, "SELECT name, value FROM locals_at(3)"),
        vec![row(&["a", "1"])]
    );
    // The frame of call 2 seen from a later event of another frame.
    assert_eq!(
        rows(&s, "SELECT name FROM locals_at(5, 2)"),
        vec![row(&["a"]), row(&["x"])]
    );
    assert_eq!(
        rows(&s, "SELECT name FROM locals_at(999)"),
        Vec::<Vec<String>>::new()
    );
}

#[test]
fn small_tables() {
    let (_d, path) = demo(WriterOptions::default());
    let s = TraceSession::open(&path).unwrap();
    assert_eq!(
        rows(&s, "SELECT thread_id, name FROM threads"),
        vec![row(&["0", "MainThread"])]
    );
    assert_eq!(
        rows(&s, "SELECT seq, stream, text FROM output"),
        vec![row(&["11", "stdout", "hi\n"])]
    );
    assert_eq!(
        rows(&s, "SELECT code_id, name, kind FROM code ORDER BY code_id"),
        vec![
            row(&["1", "<module>", "module"]),
            row(&["2", "f", "function"]),
            row(&["3", "g", "function"]),
        ]
    );
    assert_eq!(
        rows(&s, "SELECT state, event_count FROM run"),
        vec![row(&["finished", "13"])]
    );
    assert_eq!(
        rows(
            &s,
            "SELECT seq, function, type_name, message FROM exceptions"
        ),
        vec![row(&["9", "g", "ValueError", "('bad',)"])]
    );
}

#[test]
fn seq_filters_prune_segments_and_stay_exact() {
    // Segments of 3 rows: the seq bounds cut across them.
    let (_d, path) = demo_split(
        WriterOptions {
            segment_rows: 3,
            ..WriterOptions::default()
        },
        true,
    );
    let s = TraceSession::open(&path).unwrap();
    for (sql, want) in [
        (
            "SELECT seq FROM events WHERE seq > 9 ORDER BY seq",
            vec!["10", "11", "12"],
        ),
        (
            "SELECT seq FROM events WHERE seq >= 4 AND seq < 6 ORDER BY seq",
            vec!["4", "5"],
        ),
        ("SELECT seq FROM events WHERE 7 = seq", vec!["7"]),
        (
            "SELECT seq FROM raw.events WHERE seq BETWEEN 1 AND 2 ORDER BY seq",
            vec!["1", "2"],
        ),
        ("SELECT seq FROM events WHERE seq < 0", vec![]),
        ("SELECT seq FROM events WHERE seq > 100", vec![]),
        // Zone-mapped columns prune too, and stay exact.
        (
            "SELECT seq FROM events WHERE call_id = 3 ORDER BY seq",
            vec!["7", "8", "9", "10"],
        ),
        (
            "SELECT seq FROM events WHERE line = 7 AND thread_id = 0 ORDER BY seq",
            vec!["8", "9", "10"],
        ),
        (
            "SELECT seq FROM events WHERE function = 'g' AND file = '/src/app.py' ORDER BY seq",
            vec!["7", "8", "9", "10"],
        ),
        (
            "SELECT seq FROM events WHERE file = '/src/other.py'",
            vec![],
        ),
        ("SELECT seq FROM events WHERE thread_id = 1", vec![]),
        (
            "SELECT seq FROM raw.values WHERE call_id = 2 ORDER BY seq",
            vec!["2", "4", "5"],
        ),
    ] {
        let got: Vec<String> = rows(&s, sql).into_iter().map(|r| r[0].clone()).collect();
        assert_eq!(got, want, "{sql}");
    }
    drop(s);
    // Pruning is observable: damage the first `events` segment (seqs 0..=2 or fewer) and a query on
    // later seqs still answers, because that segment is never decoded; a full scan reports it.
    let first = pyttd_format::TraceReader::open(&path)
        .unwrap()
        .table_segments(pyttd_format::Table::Events)
        .next()
        .cloned()
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = (first.offset + 64 + first.body_len / 2) as usize;
    bytes[at] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let s = TraceSession::open(&path).unwrap();
    let got: Vec<String> = rows(&s, "SELECT seq FROM events WHERE seq >= 9 ORDER BY seq")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(got, ["9", "10", "11", "12"]);
    let e = s.sql("SELECT count(*) FROM events").unwrap_err();
    assert!(e.to_string().contains("demo.pyttd"), "{e}");
    assert!(!e.to_string().contains('\n'), "{e}");
}

#[test]
fn canned_queries_agree_with_the_store() {
    let (_d, path) = demo_split(
        WriterOptions {
            segment_rows: 4,
            ..WriterOptions::default()
        },
        true,
    );
    let s = TraceSession::open(&path).unwrap();
    let reader = s.traces()[0].reader.clone();
    let bp = vec![
        LineBreakpoint {
            file: APP.into(),
            line: 3,
        },
        LineBreakpoint {
            file: APP.into(),
            line: 5,
        },
    ];
    let sql = s.timeline(0, 12, 4, &bp).unwrap();
    let direct = pyttd_query::timeline_direct(&reader, 0, 12, 4, &bp).unwrap();
    assert_eq!(sql, direct);
    let index = pyttd_query::EventIndex::build(reader.clone()).unwrap();
    assert_eq!(index.timeline(0, 12, 4, &bp).unwrap(), direct);
    let stats = s.function_stats().unwrap();
    assert_eq!(stats.len(), 3);
    assert_eq!(pyttd_query::function_stats_direct(&reader).unwrap(), stats);
    assert_eq!(sql.iter().map(|b| b.events).sum::<u64>(), 13);
    assert_eq!(sql.iter().map(|b| b.breakpoint_hits).sum::<u64>(), 2);
    assert_eq!(sql.iter().map(|b| b.exceptions).sum::<u64>(), 1);
    for (from, dir, want) in [
        (0, Direction::Forward, Some(4)),
        (4, Direction::Forward, Some(11)),
        (11, Direction::Forward, None),
        (12, Direction::Backward, Some(11)),
        (11, Direction::Backward, Some(4)),
        (4, Direction::Backward, None),
    ] {
        assert_eq!(
            s.breakpoint_scan_sql(from, dir, &bp).unwrap(),
            want,
            "sql {from} {dir:?}"
        );
        let direct = index
            .breakpoint_scan(from, dir, &bp, |_, _| Ok(true))
            .unwrap();
        assert_eq!(direct, want, "direct {from} {dir:?}");
    }
    // A predicate over the frame's values: line 3 with x == 1 is at seq 4 only.
    let with_value = index
        .breakpoint_scan_where(12, Direction::Backward, &bp, "x", &ValueHint::Any, |l| {
            l.value() == "1"
        })
        .unwrap();
    assert_eq!(with_value, Some(4));
    let none = index
        .breakpoint_scan_where(12, Direction::Backward, &bp, "x", &ValueHint::Any, |l| {
            l.value() == "2"
        })
        .unwrap();
    assert_eq!(none, None);
    assert_eq!(
        s.breakpoint_scan_where_sql(12, Direction::Backward, &bp, "x", "int_value = 1")
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        s.breakpoint_scan_where_sql(12, Direction::Backward, &bp, "x", "int_value = 2")
            .unwrap(),
        None
    );
    assert_eq!(s.goto_targets(&bp[1], 0, 10).unwrap(), vec![11]);
    assert_eq!(s.call_children(1).unwrap(), vec![(2, 2), (3, 7)]);
    let stats = s.function_stats().unwrap();
    let g = stats.iter().find(|f| f.function == "g").unwrap();
    assert_eq!((g.calls, g.exceptions, g.first_call_seq), (1, 1, 7));
    let m = stats.iter().find(|f| f.function == "<module>").unwrap();
    assert!(m.self_ns < m.total_ns && m.self_ns > 0);
}

#[test]
fn errors_are_one_line_and_classified() {
    let (_d, path) = demo(WriterOptions::default());
    let s = TraceSession::open(&path).unwrap();
    let bad = s.sql("SELEC 1").unwrap_err();
    assert!(matches!(bad, QueryError::Sql(_)), "{bad}");
    assert!(!bad.to_string().contains('\n'));
    let missing = s.sql("SELECT nope FROM events").unwrap_err();
    assert!(matches!(missing, QueryError::Sql(_)), "{missing}");
    for write in [
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO raw.events SELECT * FROM raw.events",
        "DROP VIEW calls",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let e = s.sql(write).unwrap_err();
        assert!(matches!(e, QueryError::ReadOnly(_)), "{write}: {e}");
    }
    let e = TraceSession::open("/nonexistent/x.pyttd").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/x.pyttd"), "{e}");
}

#[test]
fn attached_traces_are_schemas() {
    let (_d, path) = demo(WriterOptions::default());
    let (_d2, other) = demo(WriterOptions::default());
    let mut s = TraceSession::open(&path).unwrap();
    s.attach("b", &other).unwrap();
    assert_eq!(
        rows(
            &s,
            "SELECT count(*) FROM events e JOIN b.events f ON e.seq = f.seq AND e.line = f.line"
        ),
        vec![row(&["13"])]
    );
    assert!(matches!(
        s.attach("b", &other),
        Err(QueryError::Attach { .. })
    ));
    assert!(matches!(
        s.attach("Bad-Name", &other),
        Err(QueryError::Attach { .. })
    ));
    let tables = s.tables().unwrap();
    assert!(tables.iter().any(|t| t.name == "b.calls"));
    let events = tables.iter().find(|t| t.name == "events").unwrap();
    let names: Vec<&str> = events.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "seq",
            "thread_id",
            "kind",
            "file",
            "function",
            "line",
            "depth",
            "call_id",
            "ts_ns",
            "code_id"
        ]
    );
}

/// A loop of `n` iterations of `step(i)` (lines 10, 11 with `x = i`, an exception every 100),
/// written in segments of 3000 rows so blocks are cut by segment ends.
fn long_loop(n: i64) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loop.pyttd");
    let options = WriterOptions {
        segment_rows: 3000,
        ..WriterOptions::default()
    };
    let mut w = pyttd_format::TraceWriter::create(&path, options).unwrap();
    let mut b = TraceBuilder::new();
    let module = b.code(APP, "<module>", 1, CodeKind::Module);
    let step = b.code(APP, "step", 10, CodeKind::Function);
    b.call(0, module, 1, &[]);
    for i in 0..n {
        b.line(0, 2, &[("i", Value::Int(i))]);
        b.call(0, step, 10, &[]);
        b.line(0, 10, &[]);
        b.line(0, 11, &[("x", Value::Int(i))]);
        if i % 100 == 0 {
            b.exception(0, 11, "ValueError", "('bad',)");
            b.unwind(0, 11);
        } else {
            b.ret(0, 11, Value::None);
        }
        if i % 500 == 0 {
            b.flush_into(&mut w).unwrap();
        }
    }
    b.ret(0, 2, Value::None);
    b.finish_into(w, 0).unwrap();
    (dir, path)
}

/// The breakpoint on `step`'s line 11 in [`long_loop`]'s trace.
fn line_11() -> Vec<LineBreakpoint> {
    vec![LineBreakpoint {
        file: APP.into(),
        line: 11,
    }]
}

/// The seq of line 11 in iteration `i` of [`long_loop`]: after the iterations before it (five
/// events each) and their unwinds (one every 100).
fn line_11_of(i: u64) -> u64 {
    1 + 5 * i + i.div_ceil(100) + 3
}

/// The next hit of `bp` from `from` in `dir`, with no condition.
fn next_hit(
    index: &pyttd_query::EventIndex,
    from: u64,
    dir: Direction,
    bp: &[LineBreakpoint],
) -> Option<u64> {
    index
        .breakpoint_scan(from, dir, bp, |_, _| Ok(true))
        .unwrap()
}

#[test]
fn block_summaries_answer_timeline_and_breakpoint_scans() {
    let (_d, path) = long_loop(5000);
    let reader = std::sync::Arc::new(pyttd_format::TraceReader::open(&path).unwrap());
    let events = reader.row_count(pyttd_format::Table::Events);
    // Five events per iteration, one more (`unwind`) every 100th.
    assert_eq!(events, 1 + 5000 * 5 + 50 + 1);
    let index = pyttd_query::EventIndex::build(reader.clone()).unwrap();
    let blocks = index.blocks();
    assert_eq!(
        blocks.iter().map(|b| u64::from(b.events)).sum::<u64>(),
        events
    );
    assert!(
        blocks
            .windows(2)
            .all(|w| w[0].last_seq + 1 == w[1].first_seq)
    );
    let bp = line_11();
    // Four buckets of ~6000 events: read from the blocks. Totals match a read of every event.
    let last = events - 1;
    let from_blocks = index.timeline(0, last, 4, &bp).unwrap();
    let from_events = pyttd_query::timeline_direct(&reader, 0, last, 4, &bp).unwrap();
    let total = |v: &[pyttd_query::Bucket], f: fn(&pyttd_query::Bucket) -> u64| -> u64 {
        v.iter().map(f).sum()
    };
    assert_eq!(from_blocks.len(), 4);
    assert_eq!(total(&from_blocks, |b| b.events), events);
    assert_eq!(total(&from_blocks, |b| b.exceptions), 50);
    assert_eq!(total(&from_blocks, |b| b.breakpoint_hits), 5000);
    assert_eq!(total(&from_events, |b| b.breakpoint_hits), 5000);
    assert!(
        from_blocks
            .windows(2)
            .all(|w| w[0].last_seq + 1 == w[1].first_seq)
    );
    assert_eq!(from_blocks.iter().map(|b| b.max_depth).max(), Some(1));
    // A range that cuts blocks at both ends counts exactly the events in it.
    let cut = index.timeline(1500, 16_499, 2, &bp).unwrap();
    assert_eq!(total(&cut, |b| b.events), 15_000);
    assert_eq!(cut[0].first_seq, 1500);
    assert_eq!(cut.last().unwrap().last_seq, 16_499);
    let at = line_11_of;
    let scan = |from, dir| next_hit(&index, from, dir, &bp);
    assert_eq!(scan(0, Direction::Forward), Some(at(0)));
    assert_eq!(scan(at(2_500), Direction::Forward), Some(at(2_501)));
    assert_eq!(scan(at(2_500), Direction::Backward), Some(at(2_499)));
    assert_eq!(scan(last, Direction::Backward), Some(at(4_999)));
    assert_eq!(scan(at(4_999), Direction::Forward), None);
    // With a value predicate, from the end back to iteration 1234.
    let hit = index
        .breakpoint_scan_where(last, Direction::Backward, &bp, "x", &ValueHint::Any, |l| {
            l.int_value == Some(1234)
        })
        .unwrap();
    // The same with the int-range hint, which skips `values` segments by their int ranges.
    let hinted = index
        .breakpoint_scan_where(
            last,
            Direction::Backward,
            &bp,
            "x",
            &ValueHint::IntIn(1234..=1234),
            |l| l.int_value == Some(1234),
        )
        .unwrap();
    assert_eq!(hinted, Some(at(1234)));
    let s = TraceSession::open(&path).unwrap();
    let stats = pyttd_query::function_stats_direct(&reader).unwrap();
    assert_eq!(stats, s.function_stats().unwrap());
    let step = stats.iter().find(|f| f.function == "step").unwrap();
    assert_eq!((step.calls, step.exceptions), (5000, 50));
    let sql = s
        .breakpoint_scan_where_sql(last, Direction::Backward, &bp, "x", "int_value = 1234")
        .unwrap();
    assert_eq!(sql, Some(at(1234)));
    assert_eq!(hit, Some(at(1234)));
}

/// A trace cut off between a `blocks` segment and the `block_lines` segment that went with it
/// (writers before format 4.0 wrote the blocks first): those blocks have no lines, and the
/// index summarizes their events again rather than trust them, so breakpoint scans still find
/// every hit there.
#[test]
fn blocks_whose_lines_were_cut_off_are_summarized_again() {
    let (dir, path) = long_loop(5000);
    let complete = pyttd_format::TraceReader::open(&path).unwrap();
    let segment = |table| {
        let s = complete.table_segments(table).next().unwrap();
        let start = s.offset as usize;
        (start, start + 64 + (s.body_len as usize).div_ceil(64) * 64)
    };
    let (lines_at, lines_end) = segment(pyttd_format::Table::BlockLines);
    let (blocks_at, blocks_end) = segment(pyttd_format::Table::Blocks);
    assert_eq!(
        lines_end, blocks_at,
        "lines are written right before their blocks"
    );
    // The old order: everything before the lines, then the blocks, and the process killed.
    let bytes = std::fs::read(&path).unwrap();
    let mut cut = bytes[..lines_at].to_vec();
    cut.extend_from_slice(&bytes[blocks_at..blocks_end]);
    let cut_path = dir.path().join("cut.pyttd");
    std::fs::write(&cut_path, cut).unwrap();
    let reader = std::sync::Arc::new(pyttd_format::TraceReader::open(&cut_path).unwrap());
    assert!(reader.row_count(pyttd_format::Table::Blocks) > 0);
    assert_eq!(reader.row_count(pyttd_format::Table::BlockLines), 0);
    let index = pyttd_query::EventIndex::build(reader.clone()).unwrap();
    let bp = line_11();
    let last = reader.row_count(pyttd_format::Table::Events) - 1;
    let scan = |from, dir| next_hit(&index, from, dir, &bp);
    assert_eq!(scan(0, Direction::Forward), Some(line_11_of(0)));
    assert_eq!(scan(last, Direction::Backward), Some(line_11_of(4_999)));
    let hits = index.timeline(0, last, 4, &bp).unwrap();
    assert_eq!(hits.iter().map(|b| b.breakpoint_hits).sum::<u64>(), 5000);
}

#[test]
fn traces_without_summaries_are_summarized_from_their_events() {
    // Written by format 1.0 (no `blocks`), cut off mid-run.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../format-spec/fixtures/v1/crashed.pyttd");
    let reader = std::sync::Arc::new(pyttd_format::TraceReader::open(&fixture).unwrap());
    assert_eq!(reader.row_count(pyttd_format::Table::Blocks), 0);
    let index = pyttd_query::EventIndex::build(reader.clone()).unwrap();
    let events = reader.row_count(pyttd_format::Table::Events);
    let summed: u64 = index.blocks().iter().map(|b| u64::from(b.events)).sum();
    assert_eq!(summed, events);
    let bp = vec![LineBreakpoint {
        file: "/src/crashed.py".into(),
        line: 2,
    }];
    let hits: Vec<u64> = std::iter::successors(
        index
            .breakpoint_scan(0, Direction::Forward, &bp, |_, _| Ok(true))
            .unwrap(),
        |&s| {
            index
                .breakpoint_scan(s, Direction::Forward, &bp, |_, _| Ok(true))
                .unwrap()
        },
    )
    .collect();
    assert_eq!(
        hits.len(),
        3,
        "square() ran three times before the crash: {hits:?}"
    );
}

/// A frame's locals at each step, rebuilt from its newest snapshot (call arguments or a periodic
/// snapshot) plus the changes and deletions after it, whether the rows share one `values` segment
/// or spread over many.
#[test]
fn frame_locals_rebuild_each_step_from_the_newest_snapshot() {
    let int = Value::Int;
    for segment_rows in [16_384, 2, 1] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshots.pyttd");
        let w = pyttd_format::TraceWriter::create(
            &path,
            WriterOptions {
                segment_rows,
                ..WriterOptions::default()
            },
        )
        .unwrap();
        let mut b = TraceBuilder::new();
        let module = b.code(APP, "<module>", 1, CodeKind::Module);
        let f = b.code(APP, "f", 2, CodeKind::Function);
        b.call(0, module, 1, &[]);
        let call = b.call(0, f, 2, &[("a", int(0))]); // seq 1
        b.line(0, 3, &[("a", int(1)), ("b", int(10))]); // 2
        b.line(0, 4, &[("a", int(2))]); // 3
        b.line_snapshot(0, 5, &[("a", int(2)), ("b", int(10))]); // 4
        b.line(0, 6, &[("b", int(11))]); // 5
        b.line(0, 7, &[("a", Value::Deleted)]); // 6
        b.line_snapshot(0, 8, &[("b", int(11))]); // 7
        b.line(0, 9, &[("a", int(7))]); // 8
        b.ret(0, 9, Value::None); // 9
        b.finish_into(w, 0).unwrap();

        let reader = pyttd_format::TraceReader::open(&path).unwrap();
        let at = |seq| -> Vec<(String, i64)> {
            pyttd_query::frame_locals(&reader, seq, call)
                .unwrap()
                .into_iter()
                .map(|l| (l.name, l.int_value.expect("int locals")))
                .collect()
        };
        let s = |pairs: &[(&str, i64)]| -> Vec<(String, i64)> {
            pairs.iter().map(|&(n, v)| (n.to_string(), v)).collect()
        };
        let expected = [
            (1, s(&[("a", 0)])),
            (2, s(&[("a", 1), ("b", 10)])),
            (3, s(&[("a", 2), ("b", 10)])),
            (4, s(&[("a", 2), ("b", 10)])),
            (5, s(&[("a", 2), ("b", 11)])),
            (6, s(&[("b", 11)])),
            (7, s(&[("b", 11)])),
            (8, s(&[("a", 7), ("b", 11)])),
            (9, s(&[("a", 7), ("b", 11)])),
        ];
        for (seq, locals) in expected {
            assert_eq!(at(seq), locals, "seq {seq}, {segment_rows}-row segments");
        }
    }
}

/// A value's children as `key=text` (an int child as its digits).
fn children_at(reader: &pyttd_format::TraceReader, seq: u64, object_id: u64) -> Vec<String> {
    pyttd_query::children_of(reader, seq, object_id)
        .unwrap()
        .into_iter()
        .map(|c| match (c.int_value, c.text) {
            (Some(n), _) => format!("{}={n}", c.name),
            (None, Some(t)) => format!("{}={t}", c.name),
            (None, None) => format!("{}=?", c.name),
        })
        .collect()
}

#[test]
fn shared_children_are_found_from_every_value_that_refers_to_them() {
    // format-spec/fixtures/v5/shared_children.pyttd: `p` (object 1, children at seq 2, first
    // segment), `q` at seq 3 with the same children (object 1, no rows of its own), `p` again at
    // seq 4 (object 2), and at seq 5 a list (object 3) whose elements are objects 1 and 2.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../format-spec/fixtures/v5/shared_children.pyttd");
    let reader = pyttd_format::TraceReader::open(&fixture).unwrap();
    assert_eq!(children_at(&reader, 2, 1), ["x=1", "y=2"]);
    assert_eq!(children_at(&reader, 3, 1), ["x=1", "y=2"]);
    assert_eq!(children_at(&reader, 4, 2), ["x=5", "y=2"]);
    assert_eq!(
        children_at(&reader, 5, 3),
        ["[0]=Point(1, 2)", "[1]=Point(5, 2)"]
    );
    assert_eq!(children_at(&reader, 5, 1), ["x=1", "y=2"]);
    // Rows written later than the value are not its children.
    assert!(children_at(&reader, 3, 2).is_empty());
    assert!(children_at(&reader, 4, 3).is_empty());
}

#[test]
fn children_before_format_5_are_at_their_values_seq() {
    // Written by format 4 with object id 1 numbered twice (it never shared): each value's
    // children are the rows at its own seq.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("children.pyttd");
    let point = |text: &str| {
        Value::from(pyttd_format::ReprValue {
            type_name: "Point".into(),
            text: text.into(),
            truncated: false,
            length: None,
            object_id: Some(1),
        })
    };
    let mut b = TraceBuilder::new();
    let module = b.code(APP, "<module>", 1, CodeKind::Module);
    b.call(0, module, 1, &[]);
    b.line(0, 2, &[("p", point("Point(1)"))]); // seq 1
    b.children(1, &[("x", Value::Int(1))]);
    b.line(0, 3, &[("p", point("Point(2)"))]); // seq 2
    b.children(1, &[("x", Value::Int(2))]);
    b.ret(0, 3, Value::None);
    b.write(&path, WriterOptions::default()).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    // Rewrite the file header as format 4.0 (the body layout of 4 and 5 is the same).
    let header = pyttd_format::layout::FileHeader { major: 4, minor: 0 }.encode();
    bytes[..header.len()].copy_from_slice(&header);
    std::fs::write(&path, &bytes).unwrap();
    let reader = pyttd_format::TraceReader::open(&path).unwrap();
    assert_eq!(reader.version(), (4, 0));
    assert_eq!(children_at(&reader, 1, 1), ["x=1"]);
    assert_eq!(children_at(&reader, 2, 1), ["x=2"]);
}

#[test]
fn a_damaged_children_segment_hides_only_the_children_it_may_hold() {
    // Three flushes, one tree each (objects 1, 2, 3); then `q` refers to object 1 again.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.pyttd");
    let mut w = pyttd_format::TraceWriter::create(&path, WriterOptions::default()).unwrap();
    let point = |x: i64, id: u64| {
        Value::from(pyttd_format::ReprValue {
            type_name: "Point".into(),
            text: format!("Point({x})"),
            truncated: false,
            length: None,
            object_id: Some(id),
        })
    };
    let mut b = TraceBuilder::new();
    let module = b.code(APP, "<module>", 1, CodeKind::Module);
    b.call(0, module, 1, &[]);
    let mut seqs = Vec::new();
    for id in 1..=3u64 {
        seqs.push(b.line(0, 2, &[("p", point(id as i64, id))]));
        b.children(id, &[("x", Value::Int(id as i64))]);
        b.flush_into(&mut w).unwrap();
        w.flush().unwrap();
    }
    let q = b.line(0, 3, &[("q", point(1, 1))]);
    b.ret(0, 3, Value::None);
    b.finish_into(w, 0).unwrap();
    let reader = pyttd_format::TraceReader::open(&path).unwrap();
    let first = reader
        .table_segments(pyttd_format::Table::Children)
        .next()
        .unwrap()
        .offset;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[first as usize + 64 + 16] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let reader = pyttd_format::TraceReader::open(&path).unwrap();
    // Object 3's rows are two segments away from the damaged one: found.
    assert_eq!(children_at(&reader, seqs[2], 3), ["x=3"]);
    // Object 2's rows are next to it (they might straddle it): an error, not a partial list.
    let next_to = pyttd_query::children_of(&reader, seqs[1], 2).unwrap_err();
    assert!(next_to.to_string().contains("checksum"), "{next_to}");
    // Object 1's rows are in it: an error naming the damage, never "no children".
    let inside = pyttd_query::children_of(&reader, q, 1).unwrap_err();
    assert!(inside.to_string().contains("checksum"), "{inside}");
}
