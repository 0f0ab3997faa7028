//! Query-layer benchmarks on synthetic traces written through the real writer
//! (`PYTTD_QUERY_BENCH_EVENTS`: comma-separated sizes, default `10000000`; each trace is
//! generated once into the target directory).
//!
//! Side by side in one run, per size: the timeline (1000 buckets) through DataFusion, from every
//! event, and from the block summaries (`EventIndex`, whose one-time build is measured too); the
//! reverse breakpoint scan with a value predicate (from the end of the trace back to a hit in
//! its middle) through SQL and through the index; execution stats; and the same three questions
//! asked of SQLite holding the same run in py-tt-debug's row schema (sizes up to 20M, or any
//! size with `PYTTD_QUERY_BENCH_SQLITE=1`).
//!
//! `PYTTD_QUERY_BENCH_RSS=timeline_datafusion|timeline_direct|timeline_index` instead runs that
//! query once on the first size (for `timeline_index`, building the index first, in the same
//! process) and prints the process's peak resident set (`VmHWM`) before and after.

#[path = "common/sqlite.rs"]
mod sqlite;
#[path = "common/synth.rs"]
mod synth;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use pyttd_format::TraceReader;
use pyttd_query::{Direction, EventIndex, LineBreakpoint, TraceSession, ValueHint};

fn sizes() -> Vec<u64> {
    let sizes = std::env::var("PYTTD_QUERY_BENCH_EVENTS").unwrap_or_else(|_| "10000000".into());
    sizes
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("PYTTD_QUERY_BENCH_EVENTS: sizes in events")
        })
        .collect()
}

fn trace(events: u64) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("synthetic-{events}.pyttd"));
    synth::ensure(&path, events);
    path
}

fn label(events: u64) -> String {
    format!("{}M", events / 1_000_000)
}

fn breakpoints() -> Vec<LineBreakpoint> {
    vec![LineBreakpoint {
        file: synth::APP.into(),
        line: synth::BREAK_LINE,
    }]
}

/// The value of `n` in the call of `step(n)` in the middle of the trace.
fn target(events: u64) -> i64 {
    (events / 10 / 2) as i64
}

fn bench_size(c: &mut Criterion, events: u64) {
    let path = trace(events);
    let reader = Arc::new(TraceReader::open(&path).expect("open"));
    let session = TraceSession::with_reader(reader.clone()).expect("session");
    let index = EventIndex::build(reader.clone()).expect("index");
    let last = reader.row_count(pyttd_format::Table::Events) - 1;
    let bp = breakpoints();
    let target = target(events);
    let hint = ValueHint::IntIn(target..=target);
    let mut g = c.benchmark_group(format!("query_{}", label(events)));
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("timeline_1000_datafusion", |b| {
        b.iter(|| session.timeline(0, last, 1000, &bp).expect("timeline"))
    });
    g.bench_function("timeline_1000_direct", |b| {
        b.iter(|| pyttd_query::timeline_direct(&reader, 0, last, 1000, &bp).expect("timeline"))
    });
    g.bench_function("timeline_1000_index", |b| {
        b.iter(|| index.timeline(0, last, 1000, &bp).expect("timeline"))
    });
    g.bench_function("index_build", |b| {
        b.iter(|| EventIndex::build(reader.clone()).expect("index"))
    });
    g.bench_function("reverse_breakpoint_value_index", |b| {
        b.iter(|| {
            let hit = index
                .breakpoint_scan_where(last, Direction::Backward, &bp, "n", &hint, |l| {
                    l.int_value == Some(target)
                })
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
    g.bench_function("function_stats_datafusion", |b| {
        b.iter(|| session.function_stats().expect("stats"))
    });
    g.bench_function("function_stats_direct", |b| {
        b.iter(|| pyttd_query::function_stats_direct(&reader).expect("stats"))
    });
    let with_sqlite =
        events <= 20_000_000 || std::env::var("PYTTD_QUERY_BENCH_SQLITE").is_ok_and(|v| v == "1");
    if with_sqlite {
        let db = path.with_extension("sqlite");
        sqlite::ensure(&path, &db);
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("open sqlite");
        let bp = (synth::APP, synth::BREAK_LINE);
        g.bench_function("timeline_1000_sqlite", |b| {
            b.iter(|| sqlite::timeline(&conn, 0, last, 1000, bp))
        });
        g.bench_function("reverse_breakpoint_value_sqlite", |b| {
            b.iter(|| {
                let hit = sqlite::reverse_breakpoint_where(&conn, last, bp, "n", target);
                assert!(hit.is_some());
                hit
            })
        });
        g.bench_function("function_stats_sqlite", |b| {
            b.iter(|| sqlite::function_stats(&conn, synth::APP))
        });
    }
    g.finish();
}

/// The process's peak resident set so far, in bytes (Linux `VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

fn rss_mode(what: &str) {
    let events = sizes()[0];
    let path = trace(events);
    let reader = Arc::new(TraceReader::open(&path).expect("open"));
    let session = TraceSession::with_reader(reader.clone()).expect("session");
    let last = reader.row_count(pyttd_format::Table::Events) - 1;
    let before = peak_rss();
    let buckets = match what {
        "timeline_datafusion" => session
            .timeline(0, last, 1000, &breakpoints())
            .expect("timeline"),
        "timeline_direct" => {
            pyttd_query::timeline_direct(&reader, 0, last, 1000, &breakpoints()).expect("timeline")
        }
        "timeline_index" => EventIndex::build(reader.clone())
            .and_then(|index| index.timeline(0, last, 1000, &breakpoints()))
            .expect("timeline"),
        other => panic!("PYTTD_QUERY_BENCH_RSS: unknown query {other}"),
    };
    assert!(!buckets.is_empty() && buckets.len() <= 1000);
    println!(
        "rss query={what} events={events} peak_before={before} peak_after={}",
        peak_rss()
    );
}

fn main() {
    if let Ok(what) = std::env::var("PYTTD_QUERY_BENCH_RSS") {
        rss_mode(&what);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    for events in sizes() {
        bench_size(&mut c, events);
    }
    c.final_summary();
}
