//! A synthetic trace written through the real writer: a module loop calling `step(i)` (args,
//! three int locals changing line by line, a return value), an exception every 1000 calls, and
//! a `check` frame every 100 calls. About 10 events per call.

use std::path::Path;

use pyttd_format::{CodeKind, TraceBuilder, TraceWriter, Value, WriterOptions};

pub const APP: &str = "/bench/app.py";
/// The line the breakpoint benchmarks stop at (inside `step`).
pub const BREAK_LINE: u32 = 12;

/// Writes a trace of at least `events` events at `path` unless one is already there.
pub fn ensure(path: &Path, events: u64) {
    if path.exists() {
        return;
    }
    let tmp = path.with_extension("tmp");
    let mut writer = TraceWriter::create(&tmp, WriterOptions::default()).expect("create");
    let mut b = TraceBuilder::new();
    let module = b.code(APP, "<module>", 1, CodeKind::Module);
    let step = b.code(APP, "step", 10, CodeKind::Function);
    let check = b.code(APP, "check", 20, CodeKind::Function);
    b.call(0, module, 1, &[]);
    let mut i: i64 = 0;
    while b.next_seq() < events {
        b.line(0, 2, &[("i", Value::Int(i))]);
        b.call(0, step, 10, &[("n", Value::Int(i))]);
        b.line(0, 11, &[]);
        b.line(0, 12, &[("a", Value::Int(i * 3))]);
        b.line(0, 13, &[("b", Value::Int(i % 97))]);
        if i % 100 == 0 {
            b.call(0, check, 20, &[("v", Value::Int(i))]);
            b.line(0, 21, &[]);
            if i % 1000 == 0 {
                b.exception(0, 21, "ValueError", "('bad',)");
                b.unwind(0, 21);
            } else {
                b.ret(0, 21, Value::Bool(true));
            }
        }
        b.line(0, 14, &[("c", Value::Int(i * 3 + i % 97))]);
        b.ret(0, 14, Value::Int(i * 3 + i % 97));
        i += 1;
        if i % 100_000 == 0 {
            b.flush_into(&mut writer).expect("append");
        }
    }
    b.line(0, 3, &[]);
    b.ret(0, 3, Value::None);
    b.finish_into(writer, 0).expect("finish");
    std::fs::rename(&tmp, path).expect("rename");
}
