//! Traces written by the real writer read back exactly.

use pyttd_format::{
    CodeKind, Compression, EventKind, ReprValue, Table, TraceBuilder, TraceReader, TraceState,
    Value, WriterOptions,
};

/// `def f(n): x = n * 2; return x` called as `f(21)` from a module, then the module ends.
fn small_trace() -> TraceBuilder {
    let mut b = TraceBuilder::new();
    let module = b.code("/src/demo.py", "<module>", 1, CodeKind::Module);
    let f = b.code("/src/demo.py", "f", 1, CodeKind::Function);
    b.call(0, module, 0, &[]);
    b.line(0, 1, &[]);
    b.line(
        0,
        4,
        &[(
            "f",
            Value::from(ReprValue {
                type_name: "function".into(),
                text: "<function f at 0x7f>".into(),
                truncated: false,
                length: None,
                object_id: None,
            }),
        )],
    );
    b.call(0, f, 1, &[("n", 21i64.into())]);
    b.line(0, 2, &[]);
    b.line(0, 3, &[("x", 42i64.into())]);
    b.ret(0, 3, 42i64.into());
    b.line(0, 5, &[("y", 42i64.into())]);
    b.ret(0, 5, Value::None);
    b
}

#[test]
fn events_read_back_exactly_with_every_compression() {
    for compression in [
        Compression::None,
        Compression::Lz4,
        Compression::DEFAULT_ZSTD,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pyttd");
        let options = WriterOptions {
            compression,
            ..Default::default()
        };
        small_trace().write(&path, options).unwrap();

        let r = TraceReader::open(&path).unwrap();
        assert_eq!(r.state(), &TraceState::Complete);
        assert_eq!(r.row_count(Table::Events), 9);
        let e = r.event_at(5).unwrap().unwrap();
        assert_eq!(
            (e.kind, e.line, e.depth, e.call_id),
            (EventKind::Line, 3, 1, 2)
        );
        let c = r.event_at(3).unwrap().unwrap();
        assert_eq!((c.kind, c.code_id, c.depth), (EventKind::Call, 2, 1));
        assert_eq!(r.event_at(9).unwrap(), None);
        assert_eq!(r.row_count(Table::Values), 6, "{compression:?}");
    }
}

#[test]
fn scan_prunes_by_seq_and_projects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pyttd");
    let mut b = TraceBuilder::new();
    let m = b.code("/src/loop.py", "<module>", 1, CodeKind::Module);
    b.call(0, m, 0, &[]);
    let options = WriterOptions {
        segment_rows: 1000,
        ..Default::default()
    };
    let mut w = pyttd_format::TraceWriter::create(&path, options).unwrap();
    for i in 0..10_000i64 {
        b.line(0, 2 + (i % 3) as u32, &[("i", i.into())]);
        if i % 2500 == 0 {
            b.flush_into(&mut w).unwrap();
        }
    }
    b.finish_into(w, 0).unwrap();

    let r = TraceReader::open(&path).unwrap();
    // 2,500-row flushes are written as segments of at most `segment_rows`.
    let sizes: Vec<u64> = r
        .table_segments(Table::Events)
        .map(|s| s.row_count)
        .collect();
    assert!(sizes.iter().all(|&n| n <= 1000), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<u64>(), 10_001);
    let scan = r
        .scan(Table::Events, Some(4000..=4999), Some(&["line", "depth"]))
        .unwrap();
    assert!(
        scan.segment_count() <= 3,
        "pruned to {} segments",
        scan.segment_count()
    );
    let batches: Vec<_> = scan.collect::<Result<_, _>>().unwrap();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 1000);
    assert_eq!(batches[0].schema().field(0).name(), "line");
    assert_eq!(batches[0].num_columns(), 2);
}

#[test]
fn children_rows_round_trip_with_the_v1_schema() {
    use pyttd_format::{
        ChildrenBuilder, ReprValue, Table, TraceReader, TraceWriter, Value, WriterOptions,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("children.pyttd");
    let mut b = ChildrenBuilder::default();
    b.push(7, 1, 0, "[0]", &Value::Int(3));
    b.push(
        7,
        1,
        1,
        "[1]",
        &Value::from(ReprValue {
            type_name: "list".into(),
            text: "[1]".into(),
            truncated: false,
            length: Some(1),
            object_id: Some(2),
        }),
    );
    b.push(7, 2, 0, "[0]", &Value::Int(1));
    assert_eq!(b.len(), 3);
    let mut w = TraceWriter::create(&path, WriterOptions::default()).unwrap();
    w.append(Table::Children, b.finish()).unwrap();
    w.finish().unwrap();
    let r = TraceReader::open(&path).unwrap();
    let batches: Vec<_> = r
        .scan(Table::Children, None, None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].num_rows(), 3);
    assert_eq!(
        batches[0].schema().fields(),
        Table::Children.schema().fields()
    );
    // The children zone (format 5.0): the range of `parent_id`.
    let zone = r.zone_map(r.table_segments(Table::Children).next().unwrap().index);
    assert_eq!(zone.unwrap().range("parent_id"), Some(1..=2));
}

#[test]
fn segments_written_with_different_compressions_read_back_in_one_trace() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, UInt32Type};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.pyttd");
    let mut b = TraceBuilder::new();
    let m = b.code("/src/loop.py", "<module>", 1, CodeKind::Module);
    b.call(0, m, 0, &[]);
    let mut w = pyttd_format::TraceWriter::create(&path, WriterOptions::default()).unwrap();
    // The recorder changes the zstd level between flushes; any codec may follow any other.
    let codecs = [
        Compression::Zstd(15),
        Compression::None,
        Compression::Lz4,
        Compression::Zstd(-5),
        Compression::DEFAULT_ZSTD,
    ];
    for (round, &codec) in codecs.iter().enumerate() {
        w.set_compression(codec).unwrap();
        assert_eq!(w.compression(), codec);
        for i in 0..1_000i64 {
            let i = round as i64 * 1_000 + i;
            b.line(0, 2 + (i % 3) as u32, &[("i", i.into())]);
        }
        b.flush_into(&mut w).unwrap();
    }
    b.finish_into(w, 0).unwrap();

    let r = TraceReader::open(&path).unwrap();
    assert_eq!(r.state(), &TraceState::Complete);
    let lines: Vec<u32> = r
        .scan(Table::Events, None, Some(&["line"]))
        .unwrap()
        .flat_map(|b| {
            b.unwrap()
                .column(0)
                .as_primitive::<UInt32Type>()
                .values()
                .to_vec()
        })
        .collect();
    let expected: Vec<u32> = std::iter::once(0)
        .chain((0..5_000).map(|i| 2 + (i % 3) as u32))
        .collect();
    assert_eq!(lines, expected);
    let values: Vec<i64> = r
        .scan(Table::Values, None, Some(&["int_value"]))
        .unwrap()
        .flat_map(|b| {
            b.unwrap()
                .column(0)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(values, (0..5_000).collect::<Vec<i64>>());
}
