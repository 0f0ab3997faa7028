//! Navigation latency on a recorded trace: step in / over / out / back and goto, stack and
//! variables at an arbitrary step, the timeline and execution stats, and reverse-continue to a
//! conditional breakpoint. Targets (issue "Navigation engine and native DAP server"): step and
//! goto p99 ≤ 1 ms; stack and variables ≤ 5 ms; reverse-continue to a conditional breakpoint
//! ≤ 100 ms, on ≥ 10M events.
//!
//! Percentiles need every sample, so this harness times each operation itself (criterion
//! reports means). `benches/nav_compare.py` (`./dev bench-nav`) records the traces, runs this
//! and py-tt-debug's side (`benches/py_tt_debug_nav.py`) and writes the table. By hand:
//! `PYTTD_NAV_TRACE=compute.pyttd PYTTD_NAV_SOURCE=benches/workloads/compute.py cargo bench --bench navigation`.
//!
//! Environment: `PYTTD_NAV_TRACE`, `PYTTD_NAV_SOURCE` (required); `PYTTD_NAV_LINE` (the
//! breakpoint line, default 23, `compute.py`'s loop body); `PYTTD_NAV_CONDITIONS` (`;`-separated
//! `NAME == INT` conditions, default `i == 200000`); `PYTTD_NAV_SAMPLES` (default 2000);
//! `PYTTD_NAV_COLD_SAMPLES` (default 200); `PYTTD_NAV_JSON` (also write the results there).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pyttd::session::{Condition, LineSpec, Motion, NamedFrame, Session};
use pyttd_format::EventKind;
use pyttd_query::Direction;

/// Timeline buckets asked for (what a client's timeline view asks for).
const TIMELINE_BUCKETS: u32 = 500;

struct Row {
    name: String,
    samples: Vec<Duration>,
    /// The target in ms (p99 with ≥ 100 samples, else the max); NaN: none.
    target: f64,
    note: String,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let trace = PathBuf::from(std::env::var("PYTTD_NAV_TRACE").expect("PYTTD_NAV_TRACE: a trace"));
    let source = std::env::var("PYTTD_NAV_SOURCE").expect("PYTTD_NAV_SOURCE: the recorded script");
    let source = std::fs::canonicalize(&source).expect("the recorded script exists");
    let source = source.to_string_lossy().into_owned();
    let line: u32 = env_or("PYTTD_NAV_LINE", 23);
    let conditions = std::env::var("PYTTD_NAV_CONDITIONS").unwrap_or_else(|_| "i == 200000".into());
    let samples_per_op: usize = env_or("PYTTD_NAV_SAMPLES", 2000).max(1);
    let cold_samples: usize = env_or("PYTTD_NAV_COLD_SAMPLES", 200).max(1);

    let opened = Instant::now();
    let mut session = Session::open(&trace).expect("the trace opens");
    let open_time = opened.elapsed();
    let (first, last) = session.bounds();
    println!(
        "trace: {} events; session open (index build) {:.1} ms",
        last + 1,
        ms(open_time)
    );

    // Arbitrary steps: line events at pseudo-random seqs (a fixed LCG, so runs compare).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut positions = Vec::with_capacity(samples_per_op);
    while positions.len() < samples_per_op {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let seq = first + (state >> 11) % (last - first);
        if session.event_at(seq).expect("event").kind == EventKind::Line {
            positions.push(seq);
        }
    }

    let mut rows = Vec::new();
    let mut row = |name: &str, samples: Vec<Duration>, target: f64, note: String| {
        eprintln!("{name}: done");
        rows.push(Row {
            name: name.to_string(),
            samples,
            target,
            note,
        })
    };
    // Each step alone (the target), and with what a client asks right after any stop: the
    // stack and the top frame's variables (what py-tt-debug's step includes).
    for (name, motion, direction) in [
        ("step in", Motion::In, Direction::Forward),
        ("step over", Motion::Over, Direction::Forward),
        ("step out", Motion::Out, Direction::Forward),
        ("step back", Motion::In, Direction::Backward),
        ("reverse step over", Motion::Over, Direction::Backward),
    ] {
        let mut steps = Vec::with_capacity(samples_per_op);
        let mut views = Vec::with_capacity(samples_per_op);
        for &seq in &positions {
            // A client shows every stop (the goto too) before the user steps from it.
            session.goto(seq).expect("goto");
            show(&session);
            let t = Instant::now();
            session.step(motion, direction, false).expect("step");
            steps.push(t.elapsed());
            show(&session);
            views.push(t.elapsed());
        }
        row(name, steps, 1.0, String::new());
        let name = format!("{name} + stack + top frame's variables");
        row(&name, views, 5.0, String::new());
    }
    // Arbitrary steps read cold: each sample opens a fresh session (its reader's segment
    // cache empty; opening is not timed), then jumps and asks what a client asks.
    let cold = positions.len().min(cold_samples);
    let (mut gotos, mut views, mut everything) = (Vec::new(), Vec::new(), Vec::new());
    let mut locals = 0usize;
    for &seq in &positions[..cold] {
        let mut fresh = Session::open(&trace).expect("the trace opens");
        let t = Instant::now();
        fresh.goto(seq).expect("goto");
        gotos.push(t.elapsed());

        let mut fresh = Session::open(&trace).expect("the trace opens");
        let t = Instant::now();
        fresh.goto(seq).expect("goto");
        let (stack, top) = show(&fresh);
        locals += top;
        views.push(t.elapsed());
        for frame in &stack[1..] {
            locals += fresh.locals(frame.frame.call_id).expect("locals").len();
        }
        everything.push(t.elapsed());
    }
    assert!(locals > 0, "the workload has locals");
    row("goto an arbitrary seq (cold)", gotos, 1.0, String::new());
    let name = "goto + stack + top frame's variables (cold)";
    row(name, views, 5.0, String::new());
    // Beyond the target (a client asks for the top frame's variables): every frame's locals.
    let name = "goto + stack + every frame's locals (cold)";
    row(name, everything, f64::NAN, String::new());

    // What a timeline view and a stats view ask for when a trace opens.
    let (mut timelines, mut stats) = (Vec::new(), Vec::new());
    let mut functions = 0;
    for _ in 0..cold.clamp(1, 20) {
        let fresh = Session::open(&trace).expect("the trace opens");
        let t = Instant::now();
        let buckets = fresh
            .index()
            .timeline(first, last, TIMELINE_BUCKETS, &[])
            .expect("timeline");
        timelines.push(t.elapsed());
        assert!(!buckets.is_empty());
        let t = Instant::now();
        let rows = pyttd_query::function_stats_direct(fresh.reader()).expect("stats");
        stats.push(t.elapsed());
        functions = rows.iter().filter(|f| f.file == source).count();
    }
    let name = format!("timeline, {TIMELINE_BUCKETS} buckets over the whole trace (cold)");
    row(&name, timelines, f64::NAN, String::new());
    let plural = if functions == 1 { "" } else { "s" };
    let note =
        format!("every file, with total and self time; {functions} function{plural} in the script");
    row("execution stats per function (cold)", stats, f64::NAN, note);

    // Reverse-continue from the end to the breakpoint line when the condition holds, on a fresh
    // session each time (nothing cached but the OS page cache).
    for condition in conditions
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        let (name, value) = condition
            .split_once("==")
            .map(|(n, v)| (n.trim(), v.trim().parse::<i64>()))
            .expect("a condition `NAME == INT`");
        let value = value.expect("a condition `NAME == INT`");
        let mut samples = Vec::new();
        let mut hits = 0;
        for _ in 0..5 {
            let mut fresh = Session::open(&trace).expect("the trace opens");
            fresh.set_line_breakpoints(
                &source,
                vec![LineSpec {
                    line,
                    condition: Some(Condition::parse(condition).expect("condition")),
                    hit: None,
                    log: None,
                    invalid: None,
                }],
            );
            fresh.goto(last).expect("goto the end");
            let t = Instant::now();
            let stop = fresh.resume(Direction::Backward).expect("reverse-continue");
            show(&fresh);
            samples.push(t.elapsed());
            let held = fresh
                .locals(stop.event.call_id)
                .expect("locals")
                .into_iter()
                .find(|l| l.name == name)
                .is_some_and(|l| l.int_value == Some(value));
            if stop.event.line == line && held {
                hits += 1;
            }
        }
        let note = match hits {
            5 => format!("stopped at line {line} with `{condition}`"),
            _ => format!("**wrong stop** in {} of 5", 5 - hits),
        };
        let name =
            format!("reverse-continue to `{condition}` + stack + top frame's variables (cold)");
        row(&name, samples, 100.0, note);
    }

    println!();
    println!("| operation | samples | p50 | p99 | max | target | met |");
    println!("|---|---|---|---|---|---|---|");
    let mut json = Vec::new();
    for Row {
        name,
        mut samples,
        target,
        note,
    } in rows
    {
        samples.sort_unstable();
        let pick = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
        let (p50, p99, max) = (pick(0.5), pick(0.99), pick(1.0));
        let (measured, label) = match samples.len() >= 100 {
            true => (p99, format!("p99 ≤ {target} ms")),
            false => (max, format!("≤ {target} ms (max)")),
        };
        let (label, met) = match target.is_nan() {
            true => ("—".to_string(), "—"),
            false if measured <= target => (label, "yes"),
            false => (label, "**no**"),
        };
        println!(
            "| {name} | {} | {p50:.3} ms | {p99:.3} ms | {max:.3} ms | {label} | {met} |",
            samples.len()
        );
        json.push(serde_json::json!({
            "name": name, "samples": samples.len(), "p50_ms": p50, "p99_ms": p99, "max_ms": max,
            "target": label, "met": met, "note": note,
        }));
    }
    if let Ok(path) = std::env::var("PYTTD_NAV_JSON") {
        let out = serde_json::json!({
            "events": last + 1,
            "open_ms": ms(open_time),
            "operations": json,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&out).expect("json"))
            .unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    }
}

/// What a client asks at every stop: the stack and the top frame's variables. Returns the stack
/// and how many variables the top frame has.
fn show(session: &Session) -> (Vec<NamedFrame>, usize) {
    let stack = session.stack().expect("stack");
    let top = session
        .locals(stack[0].frame.call_id)
        .expect("locals")
        .len();
    (stack, top)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
