//! Query-layer benchmarks on a synthetic trace written through the real writer
//! (`PYTTD_QUERY_BENCH_EVENTS`, default 10M events; generated once into the target directory).
//!
//! Side by side in one run: the timeline (1000 buckets) through DataFusion and straight from the
//! store; the reverse breakpoint scan with a value predicate (from the end of the trace back to a
//! hit in its middle) through SQL and straight from the store; execution stats.

#[path = "common/synth.rs"]
mod synth;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pyttd_format::TraceReader;
use pyttd_query::{Direction, LineBreakpoint, TraceSession};

fn trace() -> (PathBuf, u64) {
    let events: u64 = std::env::var("PYTTD_QUERY_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("synthetic-{events}.pyttd"));
    synth::ensure(&path, events);
    (path, events)
}

fn bench(c: &mut Criterion) {
    let (path, events) = trace();
    let reader = Arc::new(TraceReader::open(&path).expect("open"));
    let session = TraceSession::with_reader(reader.clone()).expect("session");
    let last = reader.row_count(pyttd_format::Table::Events) - 1;
    let bp = vec![LineBreakpoint {
        file: synth::APP.into(),
        line: synth::BREAK_LINE,
    }];
    // The call of step(n) in the middle of the trace.
    let target = (events / 10 / 2) as i64;
    let label = format!("{}M", events / 1_000_000);
    let mut g = c.benchmark_group(format!("query_{label}"));
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("timeline_1000_datafusion", |b| {
        b.iter(|| session.timeline(0, last, 1000, &bp).expect("timeline"))
    });
    g.bench_function("timeline_1000_direct", |b| {
        b.iter(|| pyttd_query::timeline_direct(&reader, 0, last, 1000, &bp).expect("timeline"))
    });
    g.bench_function("reverse_breakpoint_value_direct", |b| {
        b.iter(|| {
            let hit = pyttd_query::breakpoint_scan_where(
                &reader,
                last,
                Direction::Backward,
                &bp,
                "n",
                |l| l.int_value == Some(target),
            )
            .expect("scan");
            assert!(hit.is_some());
            hit
        })
    });
    g.bench_function("reverse_breakpoint_value_datafusion", |b| {
        b.iter(|| {
            let hit = session
                .breakpoint_scan_where_sql(
                    last,
                    Direction::Backward,
                    &bp,
                    "n",
                    &format!("int_value = {target}"),
                )
                .expect("scan");
            assert!(hit.is_some());
            hit
        })
    });
    g.bench_function("function_stats", |b| {
        b.iter(|| session.function_stats().expect("stats"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
