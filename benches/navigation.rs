//! Navigation latency on a recorded trace: step in / over / out / back and goto, stack and
//! variables at an arbitrary step, and reverse-continue to a conditional breakpoint. Targets
//! (issue "Navigation engine and native DAP server"): step and goto p99 ≤ 1 ms; stack and
//! variables ≤ 5 ms; reverse-continue to a conditional breakpoint ≤ 100 ms, on ≥ 10M events.
//!
//! Percentiles need every sample, so this harness times each operation itself (criterion
//! reports means). Run through `./dev bench-nav`, which records the trace:
//! `PYTTD_NAV_TRACE=compute.pyttd PYTTD_NAV_SOURCE=benches/workloads/compute.py cargo bench --bench navigation`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pyttd::session::{Condition, LineSpec, Motion, Session};
use pyttd_format::EventKind;
use pyttd_query::Direction;

/// Samples per operation (`PYTTD_NAV_SAMPLES` overrides).
const SAMPLES: usize = 2000;
/// Samples of operations that start from a fresh session.
const COLD_SAMPLES: usize = 200;

fn main() {
    let trace = PathBuf::from(std::env::var("PYTTD_NAV_TRACE").expect("PYTTD_NAV_TRACE: a trace"));
    let source = std::env::var("PYTTD_NAV_SOURCE").expect("PYTTD_NAV_SOURCE: the recorded script");
    let source = std::fs::canonicalize(&source).expect("the recorded script exists");
    let source = source.to_string_lossy().into_owned();

    let samples_per_op: usize = std::env::var("PYTTD_NAV_SAMPLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(SAMPLES);
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

    let mut rows: Vec<(&str, Vec<Duration>, f64)> = Vec::new();
    for (name, motion, direction) in [
        ("step in", Motion::In, Direction::Forward),
        ("step over", Motion::Over, Direction::Forward),
        ("step out", Motion::Out, Direction::Forward),
        ("step back", Motion::In, Direction::Backward),
        ("reverse step over", Motion::Over, Direction::Backward),
    ] {
        let mut samples = Vec::with_capacity(samples_per_op);
        for &seq in &positions {
            session.goto(seq).expect("goto");
            let t = Instant::now();
            session.step(motion, direction, false).expect("step");
            samples.push(t.elapsed());
        }
        eprintln!("{name}: done");
        rows.push((name, samples, 1.0));
    }
    // Arbitrary steps read cold: each sample opens a fresh session (its reader's segment
    // cache empty; opening is not timed), then jumps and asks what a client asks.
    let cold = positions.len().min(COLD_SAMPLES);
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
        let stack = fresh.stack().expect("stack");
        locals += fresh.locals(stack[0].frame.call_id).expect("locals").len();
        views.push(t.elapsed());
        for frame in &stack[1..] {
            locals += fresh.locals(frame.frame.call_id).expect("locals").len();
        }
        everything.push(t.elapsed());
    }
    assert!(locals > 0, "the workload has locals");
    rows.push(("goto an arbitrary seq (cold)", gotos, 1.0));
    rows.push(("goto + stack + top frame's variables (cold)", views, 5.0));
    // Beyond the target (a client asks for the top frame's variables): every frame's locals.
    rows.push((
        "goto + stack + every frame's locals (cold)",
        everything,
        f64::NAN,
    ));

    // Reverse-continue from the end to `acc = add(acc, poly(i % 100))` when `i == N`, on a fresh
    // session each time (nothing cached but the OS page cache).
    let (line, condition) = (23, "i == 200000");
    let mut samples = Vec::new();
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
        samples.push(t.elapsed());
        let i = fresh
            .locals(stop.event.call_id)
            .expect("locals")
            .into_iter()
            .find(|l| l.name == "i")
            .expect("i at the stop");
        assert_eq!((stop.event.line, i.int_value), (line, Some(200_000)));
    }
    rows.push(("reverse-continue to `i == 200000` (cold)", samples, 100.0));

    println!();
    println!("| operation | samples | p50 | p99 | max | target | met |");
    println!("|---|---|---|---|---|---|---|");
    for (name, mut samples, target) in rows {
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
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
