//! Block summaries (format 1.1): every `events` segment is cut into blocks of [`BLOCK_ROWS`]
//! rows, and for each block the writer records a `blocks` row (seq range, depth range, exception
//! count) and one `block_lines` row per `(code_id, line)` its line events are at. A timeline or a
//! breakpoint scan reads these instead of the events (SPEC.md, `blocks` and `block_lines`).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt8Type, UInt32Type, UInt64Type};
use arrow_array::{RecordBatch, UInt32Array, UInt64Array};

use crate::schema::{EventKind, Table};

/// Rows of `events` per block (the last block of a segment may have fewer).
pub const BLOCK_ROWS: usize = 1024;

/// The `blocks` and `block_lines` rows of one `events` batch (rows in seq order).
pub fn summarize_events(events: &RecordBatch) -> (RecordBatch, RecordBatch) {
    let col = |name: &str| events.column_by_name(name).expect("an events batch");
    let seqs = col("seq").as_primitive::<UInt64Type>().values();
    let kinds = col("kind").as_primitive::<UInt8Type>().values();
    let depths = col("depth").as_primitive::<UInt32Type>().values();
    let codes = col("code_id").as_primitive::<UInt32Type>().values();
    let lines = col("line").as_primitive::<UInt32Type>().values();
    let (line, exception) = (EventKind::Line.code(), EventKind::Exception.code());
    let n = events.num_rows();
    let blocks = n.div_ceil(BLOCK_ROWS);
    let mut b = BlockColumns::with_capacity(blocks);
    let mut l = LineColumns::default();
    let mut at_lines: Vec<u64> = Vec::with_capacity(BLOCK_ROWS);
    for start in (0..n).step_by(BLOCK_ROWS) {
        let end = (start + BLOCK_ROWS).min(n);
        let (mut lo, mut hi, mut exceptions) = (u32::MAX, 0u32, 0u32);
        at_lines.clear();
        for i in start..end {
            lo = lo.min(depths[i]);
            hi = hi.max(depths[i]);
            if kinds[i] == exception {
                exceptions += 1;
            } else if kinds[i] == line {
                at_lines.push(u64::from(codes[i]) << 32 | u64::from(lines[i]));
            }
        }
        b.first_seq.push(seqs[start]);
        b.last_seq.push(seqs[end - 1]);
        b.events.push((end - start) as u32);
        b.min_depth.push(lo);
        b.max_depth.push(hi);
        b.exceptions.push(exceptions);
        at_lines.sort_unstable();
        let mut i = 0;
        while i < at_lines.len() {
            let key = at_lines[i];
            let run = at_lines[i..].iter().take_while(|&&k| k == key).count();
            l.first_seq.push(seqs[start]);
            l.code_id.push((key >> 32) as u32);
            l.line.push(key as u32);
            l.hits.push(run as u32);
            i += run;
        }
    }
    (b.finish(), l.finish())
}

#[derive(Default)]
struct BlockColumns {
    first_seq: Vec<u64>,
    last_seq: Vec<u64>,
    events: Vec<u32>,
    min_depth: Vec<u32>,
    max_depth: Vec<u32>,
    exceptions: Vec<u32>,
}

impl BlockColumns {
    fn with_capacity(n: usize) -> Self {
        BlockColumns {
            first_seq: Vec::with_capacity(n),
            last_seq: Vec::with_capacity(n),
            events: Vec::with_capacity(n),
            min_depth: Vec::with_capacity(n),
            max_depth: Vec::with_capacity(n),
            exceptions: Vec::with_capacity(n),
        }
    }

    fn finish(self) -> RecordBatch {
        RecordBatch::try_new(
            Table::Blocks.schema(),
            vec![
                Arc::new(UInt64Array::from(self.first_seq)),
                Arc::new(UInt64Array::from(self.last_seq)),
                Arc::new(UInt32Array::from(self.events)),
                Arc::new(UInt32Array::from(self.min_depth)),
                Arc::new(UInt32Array::from(self.max_depth)),
                Arc::new(UInt32Array::from(self.exceptions)),
            ],
        )
        .expect("columns match the blocks schema")
    }
}

#[derive(Default)]
struct LineColumns {
    first_seq: Vec<u64>,
    code_id: Vec<u32>,
    line: Vec<u32>,
    hits: Vec<u32>,
}

impl LineColumns {
    fn finish(self) -> RecordBatch {
        RecordBatch::try_new(
            Table::BlockLines.schema(),
            vec![
                Arc::new(UInt64Array::from(self.first_seq)),
                Arc::new(UInt32Array::from(self.code_id)),
                Arc::new(UInt32Array::from(self.line)),
                Arc::new(UInt32Array::from(self.hits)),
            ],
        )
        .expect("columns match the block_lines schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, EventsBuilder};

    #[test]
    fn callers_cannot_append_summaries() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            crate::TraceWriter::create(dir.path().join("t.pyttd"), Default::default()).unwrap();
        let (blocks, _) = summarize_events(&EventsBuilder::with_capacity(0).finish());
        let e = w.append(Table::Blocks, blocks).unwrap_err();
        assert!(e.to_string().contains("derives this table"), "{e}");
    }

    /// `n` line events from `first`, every one at line 3 of code 7.
    fn lines(first: u64, n: u64) -> RecordBatch {
        let mut b = EventsBuilder::with_capacity(n as usize);
        for seq in first..first + n {
            b.push(&Event {
                seq,
                thread_id: 0,
                kind: EventKind::Line,
                code_id: 7,
                line: 3,
                depth: 0,
                call_id: 1,
                ts_ns: 0,
            });
        }
        b.finish()
    }

    /// Summary segments in file order, with the blocks' events summed.
    fn summaries(path: &std::path::Path) -> (Vec<Table>, u64) {
        let reader = crate::TraceReader::open(path).unwrap();
        let order = reader
            .segments()
            .iter()
            .filter_map(|s| s.table)
            .filter(|t| matches!(t, Table::Blocks | Table::BlockLines))
            .collect();
        let mut events = 0;
        for batch in reader.scan(Table::Blocks, None, None).unwrap() {
            let batch = batch.unwrap();
            let counts = batch.column(2).as_primitive::<UInt32Type>();
            events += counts.values().iter().map(|&n| u64::from(n)).sum::<u64>();
        }
        (order, events)
    }

    #[test]
    fn flush_holds_summaries_back_until_they_cover_enough_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pyttd");
        let mut w = crate::TraceWriter::create(&path, Default::default()).unwrap();
        // Three small flushes, as a recorder makes every 100 ms: events only.
        for part in 0..3 {
            w.append(Table::Events, lines(part * 5000, 5000)).unwrap();
            w.flush().unwrap();
        }
        assert_eq!(summaries(&path), (vec![], 0));
        // Enough events to pass the lag: the next flush writes every summary held, lines first.
        let rest = crate::writer::SUMMARY_LAG_EVENTS;
        w.append(Table::Events, lines(15_000, rest)).unwrap();
        w.flush().unwrap();
        let (order, events) = summaries(&path);
        assert_eq!(events, 15_000 + rest);
        assert_eq!(order.first(), Some(&Table::BlockLines));
        assert_eq!(order.last(), Some(&Table::Blocks));
        // A few more, then `finish` writes what is left.
        w.append(Table::Events, lines(15_000 + rest, 10)).unwrap();
        w.flush().unwrap();
        assert_eq!(summaries(&path).1, 15_000 + rest);
        w.finish().unwrap();
        let (order, events) = summaries(&path);
        assert_eq!(events, 15_010 + rest);
        assert_eq!(order[order.len() - 2..], [Table::BlockLines, Table::Blocks]);
    }

    #[test]
    fn blocks_summarize_depths_exceptions_and_lines() {
        let mut b = EventsBuilder::with_capacity(BLOCK_ROWS + 3);
        let event = |seq: u64, kind: EventKind, line: u32, depth: u32| Event {
            seq,
            thread_id: 0,
            kind,
            code_id: 7,
            line,
            depth,
            call_id: 1,
            ts_ns: 0,
        };
        // Block 0: BLOCK_ROWS rows at line 3 or 4 (depth 1..=2) with one exception.
        for i in 0..BLOCK_ROWS as u64 {
            let kind = if i == 10 {
                EventKind::Exception
            } else {
                EventKind::Line
            };
            b.push(&event(
                100 + i,
                kind,
                3 + (i % 2) as u32,
                1 + (i % 2) as u32,
            ));
        }
        // Block 1: three rows.
        b.push(&event(2000, EventKind::Call, 9, 5));
        b.push(&event(2001, EventKind::Line, 9, 5));
        b.push(&event(2002, EventKind::Line, 9, 5));
        let (blocks, lines) = summarize_events(&b.finish());
        let u64s = |batch: &RecordBatch, c: usize| -> Vec<u64> {
            batch
                .column(c)
                .as_primitive::<UInt64Type>()
                .values()
                .to_vec()
        };
        let u32s = |batch: &RecordBatch, c: usize| -> Vec<u32> {
            batch
                .column(c)
                .as_primitive::<UInt32Type>()
                .values()
                .to_vec()
        };
        assert_eq!(u64s(&blocks, 0), [100, 2000]);
        assert_eq!(u64s(&blocks, 1), [100 + BLOCK_ROWS as u64 - 1, 2002]);
        assert_eq!(u32s(&blocks, 2), [BLOCK_ROWS as u32, 3]);
        assert_eq!(u32s(&blocks, 3), [1, 5]);
        assert_eq!(u32s(&blocks, 4), [2, 5]);
        assert_eq!(u32s(&blocks, 5), [1, 0]);
        assert_eq!(u64s(&lines, 0), [100, 100, 2000]);
        assert_eq!(u32s(&lines, 1), [7, 7, 7]);
        assert_eq!(u32s(&lines, 2), [3, 4, 9]);
        // 512 rows at line 3, one of them the exception; 512 at line 4.
        assert_eq!(u32s(&lines, 3), [511, 512, 2]);
    }
}
