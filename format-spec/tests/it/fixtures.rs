//! Golden fixtures: small traces written once by the real writer and frozen in
//! `format-spec/fixtures/vN/` (N: the format's major version), each next to a `NAME.json` that
//! holds everything a reader must find in it (version, state, segment index, every row of every
//! table). The same fixtures exist for every major version: `v1/` was written by the writer of
//! format 1.x, `v2/` by that of 2.0, `v3/` by that of 3.0, `v4/` by that of 4.0, `v5/` by that
//! of 5.0.
//!
//! The `.pyttd` bytes are FROZEN: they are what every future reader must keep reading. They were
//! written by the ignored test `regenerate`:
//!
//! ```text
//! cargo test -p pyttd-format --test it -- --ignored regenerate
//! ```
//!
//! which only writes files that do not exist yet, in the directory of the major version this build
//! writes. Run it to add a NEW fixture (or the fixtures of a new major version); never delete and regenerate a fixture to
//! make a failing test pass — a failure here means this build no longer reads what an earlier
//! build wrote, and that is the bug.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use pyttd_format::{
    CodeKind, Compression, OutputStream, ReprValue, Table, TraceBuilder, TraceReader, TraceState,
    TraceWriter, Value, WriterOptions,
};
use serde_json::Value as Json;

/// Writes one fixture at the given path.
type WriteFixture = fn(&Path);

/// The fixtures this build must find, with the first major version that has each and the writer
/// that made it.
const FIXTURES: &[(&str, u16, WriteFixture)] = &[
    ("basic", 1, |p| write_basic(p, Compression::DEFAULT_ZSTD)),
    ("uncompressed", 1, |p| write_basic(p, Compression::None)),
    ("two_threads", 1, write_two_threads),
    ("crashed", 1, write_crashed),
    // Format 1.1: zone maps, with `events` split into segments of 8 rows so they differ.
    ("zones", 1, write_zones),
    // Format 3.0: texts repeated often enough to be stored dictionary-encoded.
    ("texts", 3, write_texts),
    // Format 5.0: values with the same children share them, written once.
    ("shared_children", 5, write_shared_children),
];

/// The fixtures of major version `major`.
fn fixtures_of(major: u16) -> impl Iterator<Item = &'static (&'static str, u16, WriteFixture)> {
    FIXTURES.iter().filter(move |(_, since, _)| *since <= major)
}

/// The major versions with fixtures: every one this build reads.
const MAJORS: [u16; 5] = [1, 2, 3, 4, 5];

/// `format-spec/fixtures/vMAJOR/`.
pub fn fixture_dir(major: u16) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(format!("v{major}"))
}

/// `format-spec/fixtures/v1/NAME.pyttd`.
pub fn fixture_path(name: &str) -> PathBuf {
    fixture_path_in(1, name)
}

/// `format-spec/fixtures/vMAJOR/NAME.pyttd`.
pub fn fixture_path_in(major: u16, name: &str) -> PathBuf {
    fixture_dir(major).join(format!("{name}.pyttd"))
}

#[test]
fn golden_fixtures_read_back_as_expected() {
    assert_eq!(MAJORS.last(), Some(&pyttd_format::FORMAT_VERSION.0));
    for major in MAJORS {
        golden_fixtures_of(major);
    }
}

fn golden_fixtures_of(major: u16) {
    let mut traces: Vec<PathBuf> = std::fs::read_dir(fixture_dir(major))
        .unwrap_or_else(|e| panic!("fixtures/v{major}: {e}"))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pyttd" || e == "json"))
        .collect();
    traces.sort();
    for (name, _, _) in fixtures_of(major) {
        assert!(
            fixture_path_in(major, name).exists(),
            "fixture v{major}/{name}.pyttd is missing; fixtures are never deleted (see fixtures.rs)"
        );
    }
    let mut checked = 0;
    for file in &traces {
        let (pyttd, json) = (file.with_extension("pyttd"), file.with_extension("json"));
        let name = file.file_stem().unwrap().to_string_lossy();
        assert!(pyttd.exists(), "{name}.json has no {name}.pyttd next to it");
        assert!(json.exists(), "{name}.pyttd has no {name}.json next to it");
        if file != &pyttd {
            continue;
        }
        let expected_text = std::fs::read_to_string(&json).unwrap();
        let expected: Json = serde_json::from_str(&expected_text)
            .unwrap_or_else(|e| panic!("{name}.json is not valid JSON: {e}"));
        let actual: Json = serde_json::from_str(&render(&pyttd)).expect("renderer writes JSON");
        if let Some(diff) = first_difference("", &expected, &actual) {
            panic!("fixture {name}.pyttd no longer reads as {name}.json says:\n{diff}");
        }
        let reader = TraceReader::open(&pyttd).unwrap();
        assert_eq!(
            reader.version().0,
            major,
            "{name}.pyttd is in fixtures/v{major}"
        );
        check_writer_rules(&name, &reader);
        checked += 1;
    }
    assert_eq!(
        checked,
        fixtures_of(major).count(),
        "one check per fixture of v{major}"
    );
}

/// Writes every missing fixture and every missing `.json`; never overwrites (see module docs).
#[test]
#[ignore = "writes frozen fixtures; run only to add a new one (see fixtures.rs)"]
fn regenerate() {
    let major = pyttd_format::FORMAT_VERSION.0;
    std::fs::create_dir_all(fixture_dir(major)).unwrap();
    for (name, _, write) in fixtures_of(major) {
        let path = fixture_path_in(major, name);
        if path.exists() {
            eprintln!("{name}.pyttd exists, kept");
        } else {
            write(&path);
            eprintln!("{name}.pyttd written");
        }
        let json = path.with_extension("json");
        if json.exists() {
            eprintln!("{name}.json exists, kept");
        } else {
            std::fs::write(&json, render(&path)).unwrap();
            eprintln!("{name}.json written");
        }
    }
}

/// The fixture keeps the writer rules readers rely on (SPEC.md 4, rules 5 and 7): seq ranges
/// exactly on the tables with a seq column, equal to the first and last rows', and seq order
/// across each table's segments.
fn check_writer_rules(name: &str, r: &TraceReader) {
    let mut last_seq: HashMap<Table, u64> = HashMap::new();
    for s in r.segments() {
        let Some(table) = s.table else { continue };
        let at = format!("{name}: `{table}` segment at byte {}", s.offset);
        let Some(column) = table.seq_column() else {
            assert_eq!(
                s.seq_range, None,
                "{at}: a seq range on a table without seq column"
            );
            continue;
        };
        let batch = r.segment(s.index).unwrap();
        let seqs = batch
            .column_by_name(column)
            .unwrap()
            .as_primitive::<UInt64Type>()
            .values();
        let (first, last) = (seqs[0], seqs[seqs.len() - 1]);
        assert_eq!(s.seq_range, Some(first..=last), "{at}: header seq range");
        let mut prev = last_seq.get(&table).copied();
        for &seq in seqs.iter() {
            let ordered = prev.is_none_or(|p| seq > p || (seq == p && table != Table::Events));
            assert!(ordered, "{at}: `{column}` {seq} follows {prev:?}");
            prev = Some(seq);
        }
        last_seq.insert(table, last);
    }
}

fn repr(type_name: &str, text: &str, length: Option<u64>, object_id: Option<u64>) -> Value {
    Value::from(ReprValue {
        type_name: type_name.into(),
        text: text.into(),
        truncated: false,
        length,
        object_id,
    })
}

fn function(name: &str, id: u64) -> Value {
    repr(
        "function",
        &format!("<function {name} at {id:#x}>"),
        None,
        Some(id),
    )
}

fn text(s: &str) -> Value {
    Value::from(s)
}

/// `basic.py`: locals of every value kind, a return value, stdout and stderr, an exception that
/// unwinds one frame and is caught by the module. One segment per table: each costs 1.5–5 KB of
/// Arrow metadata and padding however few its rows, and fixtures stay small.
///
/// ```text
///  1 import sys
///  2
///  3 def describe(n, label):
///  4     ratio = n / 4
///  5     big = n ** 40
///  6     items = [n, label]
///  7     print(label, n)
///  8     return f"{label}={n}"
///  9
/// 10 def fail():
/// 11     raise ValueError("bad input")
/// 12
/// 13 nothing = None
/// 14 text = describe(10, "ten")
/// 15 try:
/// 16     fail()
/// 17 except ValueError:
/// 18     print("caught", file=sys.stderr)
/// 19 done = True
/// 20 print(done)
/// ```
fn write_basic(path: &Path, compression: Compression) {
    const FILE: &str = "/src/basic.py";
    let options = WriterOptions {
        compression,
        ..Default::default()
    };
    let w = TraceWriter::create(path, options).unwrap();
    let mut b = TraceBuilder::new();
    let module = b.code(FILE, "<module>", 1, CodeKind::Module);
    let describe = b.code(FILE, "describe", 3, CodeKind::Function);
    let fail = b.code(FILE, "fail", 10, CodeKind::Function);
    b.call(0, module, 0, &[]);
    b.line(0, 1, &[]);
    let sys = repr(
        "module",
        "<module 'sys' (built-in)>",
        None,
        Some(0x7f3a_0000_1000),
    );
    b.line(0, 3, &[("sys", sys)]);
    b.line(
        0,
        10,
        &[("describe", function("describe", 0x7f3a_0000_2000))],
    );
    b.line(0, 13, &[("fail", function("fail", 0x7f3a_0000_3000))]);
    b.line(0, 14, &[("nothing", Value::None)]);
    b.call(
        0,
        describe,
        3,
        &[("n", 10i64.into()), ("label", text("ten"))],
    );

    b.line(0, 4, &[]);
    b.line(0, 5, &[("ratio", 2.5f64.into())]);
    let ten_to_40 = Value::BigInt(format!("1{}", "0".repeat(40)));
    b.line(0, 6, &[("big", ten_to_40)]);
    let items = repr("list", "[10, 'ten']", Some(2), Some(0x7f3a_0000_4000));
    b.line(0, 7, &[("items", items)]);
    b.output(0, OutputStream::Stdout, "ten 10\n");
    b.line(0, 8, &[]);
    b.ret(0, 8, text("ten=10"));
    b.line(0, 15, &[("text", text("ten=10"))]);
    b.line(0, 16, &[]);
    b.call(0, fail, 10, &[]);

    b.line(0, 11, &[]);
    b.exception(0, 11, "ValueError", "bad input");
    b.unwind(0, 11);
    b.exception(0, 16, "ValueError", "bad input");
    b.line(0, 17, &[]);
    b.line(0, 18, &[]);
    b.output(0, OutputStream::Stderr, "caught\n");
    b.line(0, 19, &[]);
    b.line(0, 20, &[("done", true.into())]);
    b.output(0, OutputStream::Stdout, "True\n");
    b.ret(0, 20, Value::None);
    b.finish_into(w, 0).unwrap();
}

/// `two_threads.py`: the main thread and a worker run `work` at the same time; their events
/// interleave, each thread keeping its own depth and call stack. Lz4, one segment per table.
///
/// ```text
///  1 import threading
///  2
///  3 def work(k):
///  4     total = 0
///  5     for i in range(k):
///  6         total += i
///  7     return total
///  8
///  9 t = threading.Thread(target=lambda: work(2), name="worker")
/// 10 t.start()
/// 11 r = work(3)
/// 12 t.join()
/// ```
fn write_two_threads(path: &Path) {
    const FILE: &str = "/src/two_threads.py";
    let options = WriterOptions {
        compression: Compression::Lz4,
        ..Default::default()
    };
    let w = TraceWriter::create(path, options).unwrap();
    let mut b = TraceBuilder::new();
    let module = b.code(FILE, "<module>", 1, CodeKind::Module);
    let work = b.code(FILE, "work", 3, CodeKind::Function);
    let lambda = b.code(FILE, "<lambda>", 9, CodeKind::Function);
    let (main, thread_repr) = (0, "<Thread(worker, initial)>");
    b.call(main, module, 0, &[]);
    b.line(main, 1, &[]);
    b.line(
        main,
        3,
        &[(
            "threading",
            repr("module", "<module 'threading'>", None, None),
        )],
    );
    b.line(main, 9, &[("work", function("work", 0x7f3a_0000_2000))]);
    b.line(
        main,
        10,
        &[(
            "t",
            repr("Thread", thread_repr, None, Some(0x7f3a_0000_5000)),
        )],
    );
    let worker = b.thread("worker");
    b.call(worker, lambda, 9, &[]);
    b.line(main, 11, &[]);
    b.line(worker, 9, &[]);
    b.call(main, work, 3, &[("k", 3i64.into())]);
    b.call(worker, work, 3, &[("k", 2i64.into())]);
    b.line(main, 4, &[]);
    b.line(worker, 4, &[]);
    b.line(main, 5, &[("total", 0i64.into())]);
    b.line(worker, 5, &[("total", 0i64.into())]);
    for (i, total) in [(0i64, 0i64), (1, 1)] {
        b.line(main, 6, &[("i", i.into())]);
        b.line(worker, 6, &[("i", i.into())]);
        b.line(main, 5, &[("total", total.into())]);
        b.line(worker, 5, &[("total", total.into())]);
    }
    b.line(worker, 7, &[]);
    b.ret(worker, 7, 1i64.into());
    b.ret(worker, 9, Value::None);
    b.line(main, 6, &[("i", 2i64.into())]);
    b.line(main, 5, &[("total", 3i64.into())]);
    b.line(main, 7, &[]);
    b.ret(main, 7, 3i64.into());
    b.line(main, 12, &[("r", 3i64.into())]);
    b.ret(main, 12, Value::None);
    b.finish_into(w, 0).unwrap();
}

/// `crashed.py`, killed mid-run: the writer flushed every table once, then two more `events`
/// segments, and was dropped without `finish` (no footer); the last segment is then cut in half,
/// as a crash in the middle of its `write(2)` leaves it. Recovery finds `events` in two segments.
///
/// ```text
/// 1 def square(i):
/// 2     return i * i
/// 3
/// 4 for i in range(1000):
/// 5     square(i)
/// ```
fn write_crashed(path: &Path) {
    const FILE: &str = "/src/crashed.py";
    let mut w = TraceWriter::create(path, WriterOptions::default()).unwrap();
    let mut b = TraceBuilder::new();
    let module = b.code(FILE, "<module>", 1, CodeKind::Module);
    let square = b.code(FILE, "square", 1, CodeKind::Function);
    b.call(0, module, 0, &[]);
    b.line(0, 1, &[]);
    b.line(0, 4, &[("square", function("square", 0x7f3a_0000_2000))]);
    for i in 0..3i64 {
        b.line(0, 5, &[("i", i.into())]);
        b.call(0, square, 1, &[("i", i.into())]);
        b.line(0, 2, &[]);
        b.ret(0, 2, (i * i).into());
        b.line(0, 4, &[]);
    }
    b.flush_into(&mut w).unwrap();
    w.flush().unwrap();
    // Two segments of events only; the crash tears the second.
    for _ in 0..2 {
        b.line(0, 5, &[]);
        b.line(0, 4, &[]);
        b.flush_into(&mut w).unwrap();
        w.flush().unwrap();
    }
    // The crash tears the last `events` segment (since 1.1 its block summaries follow it).
    let last = w
        .segments()
        .filter(|s| s.table == Some(Table::Events))
        .last()
        .unwrap();
    drop(w);
    let torn_len = last.offset + (64 + last.body_len) / 2;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(torn_len).unwrap();
}

/// Everything a reader finds in the trace at `path`, as the JSON text of a fixture's `.json`:
/// one segment or row per line, columns in schema order.
pub fn render(path: &Path) -> String {
    let r = TraceReader::open(path).unwrap_or_else(|e| panic!("{e}"));
    let (major, minor) = r.version();
    let mut out = String::new();
    writeln!(out, "{{").unwrap();
    writeln!(out, "  \"format_version\": [{major}, {minor}],").unwrap();
    let state = match r.state() {
        TraceState::Complete => format!(
            "{{\"kind\": \"complete\", \"segments\": {}}}",
            r.segments().len()
        ),
        TraceState::Recovered {
            valid_bytes,
            file_bytes,
            ..
        } => format!(
            "{{\"kind\": \"recovered\", \"segments\": {}, \"valid_bytes\": {valid_bytes}, \
             \"file_bytes\": {file_bytes}}}",
            r.segments().len()
        ),
    };
    writeln!(out, "  \"state\": {state},").unwrap();
    let segments: Vec<String> = r
        .segments()
        .iter()
        .map(|s| {
            let seq = match &s.seq_range {
                Some(range) => format!("[{}, {}]", range.start(), range.end()),
                None => "null".into(),
            };
            // Zone maps (format 1.1) appear only where the segment has them.
            let zones = r.zone_map(s.index).unwrap_or_else(|e| panic!("{e}"));
            let zones: Vec<String> = zones
                .iter()
                .map(|(c, z)| format!("{}: [{}, {}]", Json::from(c), z.start(), z.end()))
                .collect();
            let mut zones = match zones.is_empty() {
                true => String::new(),
                false => format!(", \"zones\": {{{}}}", zones.join(", ")),
            };
            let map = r.zone_map(s.index).unwrap();
            if let Some(ints) = map.int_ranges() {
                let ints: Vec<String> = ints
                    .iter()
                    .map(|(n, z)| {
                        format!("{}: [{}, {}]", Json::from(n.as_str()), z.start(), z.end())
                    })
                    .collect();
                zones += &format!(", \"int_ranges\": {{{}}}", ints.join(", "));
            }
            format!(
                "{{\"table\": {}, \"offset\": {}, \"rows\": {}, \"seq\": {seq}{zones}}}",
                Json::from(s.table_name()),
                s.offset,
                s.row_count
            )
        })
        .collect();
    writeln!(
        out,
        "  \"segments\": [\n    {}\n  ],",
        segments.join(",\n    ")
    )
    .unwrap();
    writeln!(out, "  \"tables\": {{").unwrap();
    // Tables a later minor version added are listed only where the file has them, so the
    // fixtures of 1.0 keep reading as they were frozen.
    let added_in_1_1 = [Table::Blocks, Table::BlockLines];
    let tables: Vec<String> = Table::ALL
        .iter()
        .filter(|t| !added_in_1_1.contains(t) || r.row_count(**t) > 0)
        .map(|&table| {
            let mut rows = Vec::new();
            for batch in r.scan(table, None, None).unwrap() {
                let batch = batch.unwrap_or_else(|e| panic!("{e}"));
                rows.extend((0..batch.num_rows()).map(|i| render_row(&batch, i)));
            }
            let rows = if rows.is_empty() {
                "[]".to_string()
            } else {
                format!("[\n        {}\n      ]", rows.join(",\n        "))
            };
            format!(
                "    \"{table}\": {{\n      \"row_count\": {},\n      \"rows\": {rows}\n    }}",
                r.row_count(table)
            )
        })
        .collect();
    writeln!(out, "{}", tables.join(",\n")).unwrap();
    writeln!(out, "  }}").unwrap();
    writeln!(out, "}}").unwrap();
    out
}

/// One row as a JSON object, columns in schema order.
fn render_row(batch: &RecordBatch, row: usize) -> String {
    let cells: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            format!(
                "{}: {}",
                Json::from(field.name().as_str()),
                cell(column, row)
            )
        })
        .collect();
    format!("{{{}}}", cells.join(", "))
}

/// One cell: integers as numbers, strings, null, lists as arrays, dictionaries resolved to
/// their value. Non-finite floats (which JSON cannot hold) as their Rust spelling, `"NaN"`.
fn cell(column: &dyn Array, row: usize) -> Json {
    if column.is_null(row) {
        return Json::Null;
    }
    let float =
        |f: f64| serde_json::Number::from_f64(f).map_or_else(|| f.to_string().into(), Json::Number);
    match column.data_type() {
        DataType::Boolean => column.as_boolean().value(row).into(),
        DataType::Int8 => column.as_primitive::<Int8Type>().value(row).into(),
        DataType::Int16 => column.as_primitive::<Int16Type>().value(row).into(),
        DataType::Int32 => column.as_primitive::<Int32Type>().value(row).into(),
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt8 => column.as_primitive::<UInt8Type>().value(row).into(),
        DataType::UInt16 => column.as_primitive::<UInt16Type>().value(row).into(),
        DataType::UInt32 => column.as_primitive::<UInt32Type>().value(row).into(),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(row).into(),
        DataType::Float32 => float(column.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => float(column.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => column.as_string::<i32>().value(row).into(),
        DataType::LargeUtf8 => column.as_string::<i64>().value(row).into(),
        DataType::Binary => {
            let bytes = column.as_binary::<i32>().value(row);
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into()
        }
        DataType::List(_) => {
            let items = column.as_list::<i32>().value(row);
            (0..items.len()).map(|i| cell(&items, i)).collect()
        }
        DataType::Dictionary(_, _) => {
            let dict = column.as_any_dictionary();
            cell(dict.values(), dict.normalized_keys()[row])
        }
        other => panic!("the fixture renderer does not know {other}"),
    }
}

/// Where `actual` first differs from `expected`, as `path: expected X, found Y`.
fn first_difference(path: &str, expected: &Json, actual: &Json) -> Option<String> {
    match (expected, actual) {
        (Json::Object(e), Json::Object(a)) => {
            for (key, ev) in e {
                let p = format!("{path}.{key}");
                match a.get(key) {
                    None => return Some(format!("{p}: expected {ev}, missing")),
                    Some(av) => {
                        if let Some(d) = first_difference(&p, ev, av) {
                            return Some(d);
                        }
                    }
                }
            }
            a.keys()
                .find(|k| !e.contains_key(*k))
                .map(|k| format!("{path}.{k}: unexpected, found {}", a[k]))
        }
        (Json::Array(e), Json::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                if let Some(d) = first_difference(&format!("{path}[{i}]"), ev, av) {
                    return Some(if ev.is_object() {
                        format!("{d}\n  expected: {ev}\n  found:    {av}")
                    } else {
                        d
                    });
                }
            }
            (e.len() != a.len())
                .then(|| format!("{path}: expected {} items, found {}", e.len(), a.len()))
        }
        _ => (expected != actual).then(|| format!("{path}: expected {expected}, found {actual}")),
    }
}

/// `zones.py`, written by format 1.1: the main thread calls `work(2)`, then a worker thread
/// calls `work(3)`. Every call is flushed to its own `events` segment, so the segments' zone
/// maps (thread, code, line, call) differ.
///
/// ```text
/// 1 def work(k):
/// 2     total = 0
/// 3     for i in range(k):
/// 4         total += i
/// 5     return total
/// 6 work(2)
/// 7 t = threading.Thread(target=work, args=(3,)); t.start(); t.join()
/// ```
fn write_zones(path: &Path) {
    const FILE: &str = "/src/zones.py";
    let mut w = TraceWriter::create(path, WriterOptions::default()).unwrap();
    let mut b = TraceBuilder::new();
    let module = b.code(FILE, "<module>", 1, CodeKind::Module);
    let work = b.code(FILE, "work", 1, CodeKind::Function);
    let main = 0;
    b.call(main, module, 0, &[]);
    b.line(main, 1, &[]);
    b.line(main, 6, &[("work", function("work", 0x7f3a_0000_2000))]);
    b.flush_into(&mut w).unwrap();
    w.flush().unwrap();
    let worker = b.thread("worker");
    for (thread, k) in [(main, 2i64), (worker, 3)] {
        if thread == worker {
            b.line(main, 7, &[]);
        }
        b.call(thread, work, 1, &[("k", k.into())]);
        b.line(thread, 2, &[]);
        let mut total = 0;
        for i in 0..k {
            b.line(thread, 3, &[("total", total.into())]);
            b.line(thread, 4, &[("i", i.into())]);
            total += i;
        }
        b.line(thread, 5, &[("total", total.into())]);
        b.ret(thread, 5, total.into());
        b.flush_into(&mut w).unwrap();
        w.flush().unwrap();
    }
    b.ret(main, 7, Value::None);
    b.finish_into(w, 0).unwrap();
}

/// `texts.py`: a module loop whose list grows by one of three words per line, so that the
/// `values` segment's texts repeat (each word, and each list's repr, many times): format 3 stores
/// such a column dictionary-encoded (SPEC.md, "Column encoding").
fn write_texts(path: &Path) {
    const FILE: &str = "/src/texts.py";
    let w = TraceWriter::create(path, WriterOptions::default()).unwrap();
    let mut b = TraceBuilder::new();
    let module = b.code(FILE, "<module>", 1, CodeKind::Module);
    let main = 0;
    b.call(main, module, 0, &[]);
    let words = ["alpha", "beta", "gamma"];
    let mut items: Vec<&str> = Vec::new();
    for i in 0..40 {
        let word = words[i % 3];
        b.line(main, 3, &[("word", text(word))]);
        items.push(word);
        let shown: Vec<String> = items
            .iter()
            .rev()
            .take(2)
            .map(|w| format!("{w:?}"))
            .collect();
        let list = repr(
            "list",
            &format!("[{}]", shown.join(", ")),
            Some(items.len() as u64),
            None,
        );
        b.line(main, 4, &[("items", list)]);
    }
    b.output(main, OutputStream::Stdout, "done\n");
    b.ret(main, 5, Value::None);
    b.finish_into(w, 0).unwrap();
}

/// `shared_children.py`: two equal points and a list of both, in two flushes (so two segments of
/// each table). `q` and the list's first element have the same children as `p` had at line 6:
/// format 5.0 writes those rows once (object id 1, at seq 2) and the later values refer to them
/// (SPEC.md, `children`, "Shared children").
///
/// ```text
/// 1 class Point:
/// 2     def __init__(self, x, y):
/// 3         self.x, self.y = x, y
/// 4
/// 5 p = Point(1, 2)
/// 6 q = Point(1, 2)
/// 7 p.x = 5
/// 8 r = [q, p]
/// 9 del Point
/// ```
fn write_shared_children(path: &Path) {
    const FILE: &str = "/src/shared_children.py";
    let mut w = TraceWriter::create(path, WriterOptions::default()).unwrap();
    let mut b = TraceBuilder::new();
    let module = b.code(FILE, "<module>", 1, CodeKind::Module);
    let main = 0;
    let point = |text: &str, id: u64| repr("Point", text, None, Some(id));
    b.call(main, module, 0, &[]);
    b.line(main, 5, &[]);
    b.line(main, 6, &[("p", point("Point(1, 2)", 1))]);
    b.children(1, &[("x", 1i64.into()), ("y", 2i64.into())]);
    b.flush_into(&mut w).unwrap();
    w.flush().unwrap();
    b.line(main, 7, &[("q", point("Point(1, 2)", 1))]);
    b.line(main, 8, &[("p", point("Point(5, 2)", 2))]);
    b.children(2, &[("x", 5i64.into()), ("y", 2i64.into())]);
    let list = repr("list", "[Point(1, 2), Point(5, 2)]", Some(2), Some(3));
    b.line(main, 9, &[("r", list)]);
    b.children(
        3,
        &[
            ("[0]", point("Point(1, 2)", 1)),
            ("[1]", point("Point(5, 2)", 2)),
        ],
    );
    b.ret(main, 9, Value::None);
    b.finish_into(w, 0).unwrap();
}
