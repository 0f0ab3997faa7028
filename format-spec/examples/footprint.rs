//! Prints the on-disk size per event of a realistic event mix for each compression, where the
//! bytes go (per table), and how fast `TraceBuilder` builds and writes the mix (its row builders,
//! with dictionary-encoded names, dominate that figure; `cargo bench` measures the writer alone).
//! Target (Foundation issue): ≤ 16 bytes/event.
//!
//! The mix is what a compute-bound program records: a module loop calls `step(n)`, whose three
//! lines each change an int local, then it returns an int. Every line event carries one changed
//! int; calls carry their argument; returns their value.
//!
//! Run: `cargo run --release -p pyttd-format --example footprint [EVENTS]`.

use pyttd_format::{
    CodeKind, Compression, Table, TraceBuilder, TraceReader, TraceWriter, Value, WriterOptions,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2_000_000)
        / 6;
    let dir = tempfile::tempdir()?;
    println!(
        "| compression | events | bytes | bytes/event | events table | values table | other tables | TraceBuilder rows + write, M events/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for compression in [
        Compression::None,
        Compression::Lz4,
        Compression::Zstd(-5),
        Compression::Zstd(-1),
        Compression::Zstd(1),
        Compression::Zstd(3),
    ] {
        let started = std::time::Instant::now();
        let path = dir.path().join("mix.pyttd");
        let options = WriterOptions {
            compression,
            ..Default::default()
        };
        let mut w = TraceWriter::create(&path, options)?;
        let mut b = TraceBuilder::new();
        let module = b.code("/src/compute.py", "<module>", 1, CodeKind::Module);
        let step = b.code("/src/compute.py", "step", 3, CodeKind::Function);
        b.call(0, module, 0, &[]);
        let mut total = 0i64;
        for n in 0..calls as i64 {
            b.line(0, 9, &[("n", Value::Int(n)), ("total", Value::Int(total))]);
            b.call(0, step, 3, &[("n", Value::Int(n))]);
            let a = n * 3 + 1;
            b.line(0, 4, &[("a", Value::Int(a))]);
            let c = a ^ (n << 2);
            b.line(0, 5, &[("c", Value::Int(c))]);
            b.line(0, 6, &[("d", Value::Int(c % 1009))]);
            b.ret(0, 6, Value::Int(c % 1009));
            total += c % 1009;
            if n % 20_000 == 0 {
                b.flush_into(&mut w)?;
            }
        }
        b.ret(0, 10, Value::None);
        let events = b.next_seq();
        b.finish_into(w, 0)?;
        let write_rate = events as f64 / started.elapsed().as_secs_f64() / 1e6;
        let r = TraceReader::open(&path)?;
        let bytes = r.file_len();
        let table_bytes = |t: Table| -> u64 { r.table_segments(t).map(|s| s.body_len + 64).sum() };
        let ev = table_bytes(Table::Events);
        let va = table_bytes(Table::Values);
        println!(
            "| {compression:?} | {events} | {bytes} | {:.2} | {:.2} | {:.2} | {:.2} | {write_rate:.1} |",
            bytes as f64 / events as f64,
            ev as f64 / events as f64,
            va as f64 / events as f64,
            (bytes - ev - va) as f64 / events as f64,
        );
    }
    Ok(())
}
