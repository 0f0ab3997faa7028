//! Format benchmarks (Foundation issue targets, reported in BENCHMARKS.md):
//! - `append/*`: building and writing synthetic events, per compression (target ≥ 20 M events/s
//!   on one core);
//! - `event_at/*`: point lookup by seq in a 10M-event trace (target ≤ 2 µs median, warm);
//! - `scan/seq_line_depth`: streaming three event columns over the 10M-event trace
//!   (target ≥ 200 M rows/s).
//!
//! Run: `cargo bench -p pyttd-format --bench format`. On-disk size per event is printed by
//! `cargo run --release -p pyttd-format --example footprint`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use arrow_array::UInt32Array;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pyttd_format::{
    Compression, Event, EventKind, EventsBuilder, Table, TraceReader, TraceWriter, WriterOptions,
};

const SEGMENT_ROWS: usize = 65_536;
const BIG_TRACE_EVENTS: u64 = 10_000_000;

/// Event `seq` of a synthetic compute workload: calls three lines deep, returns, repeats.
fn synthetic_event(seq: u64, ts: &mut i64) -> Event {
    let step = seq % 5;
    let call = seq / 5 + 1;
    let x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    *ts += 30 + ((x ^ (x >> 29)) & 127) as i64;
    Event {
        seq,
        thread_id: 0,
        kind: match step {
            0 => EventKind::Call,
            4 => EventKind::Return,
            _ => EventKind::Line,
        },
        code_id: 2,
        line: 10 + step as u32,
        depth: 1 + (call % 3) as u32,
        call_id: call,
        ts_ns: *ts,
    }
}

fn write_events(path: &Path, events: u64, compression: Compression) -> u64 {
    let options = WriterOptions {
        compression,
        segment_rows: SEGMENT_ROWS,
    };
    let mut w = TraceWriter::create(path, options).expect("create trace");
    let mut b = EventsBuilder::with_capacity(SEGMENT_ROWS);
    let mut ts = 0;
    for seq in 0..events {
        b.push(&synthetic_event(seq, &mut ts));
        if b.len() == SEGMENT_ROWS {
            w.append(Table::Events, b.finish()).expect("append");
        }
    }
    w.append(Table::Events, b.finish()).expect("append");
    w.finish().expect("finish")
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut g = c.benchmark_group("append");
    let n = 1_000_000u64;
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    for (name, compression) in [
        ("none", Compression::None),
        ("lz4", Compression::Lz4),
        ("zstd1", Compression::Zstd(1)),
    ] {
        let path = dir.path().join(format!("append-{name}.pyttd"));
        g.bench_function(BenchmarkId::new("events", name), |b| {
            b.iter(|| write_events(&path, n, compression))
        });
    }
    g.finish();
}

/// A 10M-event trace per compression, written once and reused by the read benchmarks.
fn big_trace(dir: &Path, compression: Compression) -> TraceReader {
    let path = dir.join(format!("big-{compression:?}.pyttd"));
    if !path.exists() {
        write_events(&path, BIG_TRACE_EVENTS, compression);
    }
    TraceReader::open(&path).expect("open big trace")
}

fn lookups_and_scans(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, compression) in [
        ("none", Compression::None),
        ("lz4", Compression::Lz4),
        ("zstd1", Compression::Zstd(1)),
    ] {
        // Built on first use, so `cargo bench -- append` does not write three 10M-event traces.
        let trace = std::sync::OnceLock::new();
        let reader = || trace.get_or_init(|| big_trace(dir.path(), compression));

        let mut g = c.benchmark_group("event_at");
        // Navigation moves around a working set: random seqs within a 1M-event window whose
        // segments are decoded (warm), and random seqs over the whole 10M-event trace.
        let mut x = 88172645463325252u64;
        let mut next = move |span: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % span
        };
        g.bench_function(BenchmarkId::new("warm_1M_window", name), |b| {
            let reader = reader();
            for s in (0..1_000_000).step_by(SEGMENT_ROWS) {
                reader.event_at(4_000_000 + s).expect("warm up");
            }
            b.iter(|| {
                black_box(
                    reader
                        .event_at(4_000_000 + next(1_000_000))
                        .expect("lookup"),
                )
            })
        });
        g.bench_function(BenchmarkId::new("random_10M", name), |b| {
            let reader = reader();
            b.iter(|| black_box(reader.event_at(next(BIG_TRACE_EVENTS)).expect("lookup")))
        });
        g.finish();

        let mut g = c.benchmark_group("scan");
        g.throughput(Throughput::Elements(BIG_TRACE_EVENTS));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(10));
        g.bench_function(BenchmarkId::new("seq_line_depth", name), |b| {
            let reader = reader();
            let segments = events_segments(reader);
            b.iter(|| black_box(max_depth(reader, &segments)))
        });
        g.finish();

        // The same scan split over two threads by segment, as a two-partition query would.
        let mut g = c.benchmark_group("scan_2_threads");
        g.throughput(Throughput::Elements(BIG_TRACE_EVENTS));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(10));
        g.bench_function(BenchmarkId::new("seq_line_depth", name), |b| {
            let reader = reader();
            let segments = events_segments(reader);
            let halves: Vec<Vec<usize>> = (0..2)
                .map(|part| segments.iter().copied().skip(part).step_by(2).collect())
                .collect();
            b.iter(|| {
                std::thread::scope(|scope| {
                    let workers: Vec<_> = halves
                        .iter()
                        .map(|half| scope.spawn(move || max_depth(reader, half)))
                        .collect();
                    black_box(workers.into_iter().map(|w| w.join().expect("worker")).max())
                })
            })
        });
        g.finish();
    }
}

fn events_segments(reader: &TraceReader) -> Vec<usize> {
    reader
        .table_segments(Table::Events)
        .map(|s| s.index)
        .collect()
}

/// Decodes `seq`, `line` and `depth` of the given `events` segments; returns the deepest depth.
fn max_depth(reader: &TraceReader, segments: &[usize]) -> u32 {
    let mut deepest = 0u32;
    for &i in segments {
        let batch = reader.read_segment(i, Some(&[0, 4, 5])).expect("segment");
        let depth = batch
            .column(2)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .expect("depth");
        deepest = deepest.max(depth.values().iter().copied().max().unwrap_or(0));
    }
    deepest
}

criterion_group!(benches, append, lookups_and_scans);
criterion_main!(benches);
