//! Random traces written through the real writer (proptest): they round-trip exactly, and
//! truncating one anywhere leaves a valid prefix.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt8Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use proptest::prelude::*;
use proptest::sample::Index;
use pyttd_format::{
    Compression, Event, EventKind, EventsBuilder, Table, TraceReader, TraceState, TraceWriter,
    Value, ValueRole, ValuesBuilder, WriterOptions,
};

use super::truncation::check_prefix;
use super::{Original, write_new};

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
