//! [`EventIndex`]: the block summaries of a trace (SPEC.md, `blocks` and `block_lines`) in
//! memory, and the debugger's questions answered from them: the timeline without reading any
//! event, and breakpoint scans that decode only the blocks holding a breakpoint's line.
//!
//! The summaries come from the trace when it has them (format 1.1); an `events` segment they do
//! not cover (a 1.0 trace, or one cut off before its summary or between a block and its lines)
//! is summarized here from its events, exactly as the writer would, so the index is always
//! complete.

use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{UInt8Type, UInt32Type, UInt64Type};
use pyttd_format::{EventKind, Table, TraceReader, TraceState, summarize_events};

use crate::canned::{
    Bucket, Buckets, Direction, HeldSpan, LineBreakpoint, ValueHint, calls_ever_holding, held_spans,
};
use crate::error::Result;
use crate::locals::{Local, frame_locals};
use crate::provider::CodeNames;

/// One block of events (see SPEC.md, `blocks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub first_seq: u64,
    pub last_seq: u64,
    pub events: u32,
    pub min_depth: u32,
    pub max_depth: u32,
    pub exceptions: u32,
}

/// Hits of one `(code_id, line)`: `(block index, hits in that block)`, blocks ascending.
type LineHits = Vec<(u32, u32)>;

/// The block summaries of one trace.
#[derive(Debug)]
pub struct EventIndex {
    reader: Arc<TraceReader>,
    code: CodeNames,
    blocks: Vec<Block>,
    lines: HashMap<(u32, u32), LineHits>,
}

/// When a timeline bucket spans fewer events than this many blocks' worth, the timeline is
/// read from the events instead (the range is short, and buckets stay exact to the event).
const MIN_BLOCKS_PER_BUCKET: u64 = 2;

/// How many candidate calls a value-predicate scan narrows to the seq spans of those calls.
const MAX_SPANNED_CALLS: usize = 4096;

impl EventIndex {
    /// Reads the summaries of `reader`'s trace, summarizing any `events` segment they miss.
    pub fn build(reader: Arc<TraceReader>) -> Result<EventIndex> {
        let mut blocks: Vec<Block> = Vec::new();
        for batch in reader.scan(Table::Blocks, None, None)? {
            let b = batch?;
            blocks.extend(block_rows(&b));
        }
        // Written in seq order (SPEC.md); sorting costs nothing then and guards the lookups.
        blocks.sort_unstable_by_key(|b| b.first_seq);
        let mut line_rows: Vec<(u64, u32, u32, u32)> = Vec::new();
        for batch in reader.scan(Table::BlockLines, None, None)? {
            line_rows.extend(line_rows_of(&batch?));
        }
        // Writers before format 4.0 wrote a flush's `blocks` before its `block_lines`: a trace
        // cut off between the two has blocks whose lines are missing. Only the blocks after the
        // last one with lines can be such blocks; they are summarized again from their events
        // (a block without `line` events has no lines either, and costs only that).
        if matches!(reader.state(), TraceState::Recovered { .. }) {
            let last_with_lines = line_rows.iter().map(|r| r.0).max();
            blocks.retain(|b| last_with_lines.is_some_and(|l| b.first_seq <= l));
        }
        // Which events segments the stored blocks cover; the others are summarized here.
        let mut uncovered: Vec<usize> = Vec::new();
        let mut kept: Vec<Block> = Vec::with_capacity(blocks.len());
        for seg in reader.table_segments(Table::Events) {
            let Some(range) = seg.seq_range.clone() else {
                continue;
            };
            let lo = blocks.partition_point(|b| b.first_seq < *range.start());
            let hi = blocks.partition_point(|b| b.first_seq <= *range.end());
            let inside = &blocks[lo..hi];
            let rows: u64 = inside.iter().map(|b| u64::from(b.events)).sum();
            if rows == seg.row_count && inside.iter().all(|b| b.last_seq <= *range.end()) {
                kept.extend_from_slice(inside);
            } else {
                uncovered.push(seg.index);
            }
        }
        let kept_starts: HashSet<u64> = kept.iter().map(|b| b.first_seq).collect();
        line_rows.retain(|r| kept_starts.contains(&r.0));
        for (b, l) in summarize_segments(&reader, &uncovered)? {
            kept.extend(block_rows(&b));
            line_rows.extend(line_rows_of(&l));
        }
        kept.sort_unstable_by_key(|b| b.first_seq);
        line_rows.sort_unstable();
        let mut lines: HashMap<(u32, u32), LineHits> = HashMap::new();
        let mut block = 0usize;
        for (first_seq, code, line, hits) in line_rows {
            while kept[block].first_seq < first_seq {
                block += 1;
            }
            lines
                .entry((code, line))
                .or_default()
                .push((block as u32, hits));
        }
        Ok(EventIndex {
            code: CodeNames::load(&reader)?,
            reader,
            blocks: kept,
            lines,
        })
    }

    pub fn reader(&self) -> &Arc<TraceReader> {
        &self.reader
    }

    /// Every block, in seq order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// `n` buckets over `first..=last`. Bucket `k` holds the events of the blocks that start in
    /// its share of the range, so bucket boundaries fall on block boundaries (every event is
    /// counted once; `first_seq`/`last_seq` say where each bucket starts and ends). When a
    /// bucket would span fewer than two blocks, the events are read instead
    /// ([`timeline_direct`](crate::timeline_direct)), exact to the event.
    pub fn timeline(
        &self,
        first: u64,
        last: u64,
        n: u32,
        breakpoints: &[LineBreakpoint],
    ) -> Result<Vec<Bucket>> {
        let codes = self.code.at_lines(breakpoints);
        let mut buckets = Buckets::new(first, last, n);
        let span = last.saturating_sub(first) + 1;
        let short =
            span / u64::from(n.max(1)) < MIN_BLOCKS_PER_BUCKET * pyttd_format::BLOCK_ROWS as u64;
        if short {
            buckets.add_events(&self.reader, first..=last, &codes)?;
            return Ok(buckets.finish());
        }
        let lo = self.blocks.partition_point(|b| b.last_seq < first);
        let hi = self.blocks.partition_point(|b| b.first_seq <= last);
        for b in &self.blocks[lo..hi] {
            if b.first_seq < first || b.last_seq > last {
                // A block cut by the range's ends: read its events in range.
                let part = b.first_seq.max(first)..=b.last_seq.min(last);
                buckets.add_events(&self.reader, part, &codes)?;
                continue;
            }
            let bucket = buckets.at(b.first_seq);
            bucket.first_seq = bucket.first_seq.min(b.first_seq);
            bucket.last_seq = bucket.last_seq.max(b.last_seq);
            bucket.events += u64::from(b.events);
            bucket.max_depth = bucket.max_depth.max(b.max_depth);
            bucket.exceptions += u64::from(b.exceptions);
        }
        for code in &codes {
            let Some(hits) = self.lines.get(code) else {
                continue;
            };
            let start = hits.partition_point(|&(b, _)| (b as usize) < lo);
            for &(block, n) in &hits[start..] {
                let b = &self.blocks[block as usize];
                if b.first_seq > last {
                    break;
                }
                if b.first_seq >= first && b.last_seq <= last {
                    buckets.at(b.first_seq).breakpoint_hits += u64::from(n);
                }
            }
        }
        Ok(buckets.finish())
    }

    /// The next (or previous) line event after (before) `from` at one of `breakpoints` for
    /// which `accept(seq, call_id)` holds. Only blocks whose summary lists a breakpoint's line
    /// are decoded (columns `seq`, `kind`, `code_id`, `line`, `call_id`).
    pub fn breakpoint_scan(
        &self,
        from: u64,
        direction: Direction,
        breakpoints: &[LineBreakpoint],
        mut accept: impl FnMut(u64, u64) -> Result<bool>,
    ) -> Result<Option<u64>> {
        let codes = self.code.at_lines(breakpoints);
        let hit = self.scan_lines(direction.beyond(from), direction, &codes, None, |h| {
            accept(h.seq, h.call_id)
        })?;
        Ok(hit.map(|h| h.seq))
    }

    /// [`breakpoint_scan`](Self::breakpoint_scan) with a condition on one local of the frame:
    /// the hit's frame must hold `name` with a value for which `predicate` is true at that step.
    /// Frames that never held such a value are ruled out first from the `values` table (skipping
    /// segments whose int ranges rule out `hint`); when few frames remain, only the blocks
    /// within those calls' seq spans are decoded.
    pub fn breakpoint_scan_where(
        &self,
        from: u64,
        direction: Direction,
        breakpoints: &[LineBreakpoint],
        name: &str,
        hint: &ValueHint,
        mut predicate: impl FnMut(&Local) -> bool,
    ) -> Result<Option<u64>> {
        let codes = self.code.at_lines(breakpoints);
        if codes.is_empty() {
            return Ok(None);
        }
        let candidates = self.calls_holding(name, hint, &mut predicate)?;
        if candidates.calls.is_empty() {
            return Ok(None);
        }
        let reader = self.reader.clone();
        let hit = self.scan_lines(
            direction.beyond(from),
            direction,
            &codes,
            candidates.spans.as_deref(),
            |h| {
                if !candidates.calls.contains(&h.call_id) {
                    return Ok(false);
                }
                let locals = frame_locals(&reader, h.seq, h.call_id)?;
                Ok(locals.iter().any(|l| l.name == name && predicate(l)))
            },
        )?;
        Ok(hit.map(|h| h.seq))
    }

    /// The blocks holding a line event at one of `codes` that overlap `within`, nearest to the
    /// scan's start first in `direction`.
    fn hit_blocks(
        &self,
        codes: &HashSet<(u32, u32)>,
        within: &RangeInclusive<u64>,
        direction: Direction,
    ) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        let blocks = &self.blocks;
        for code in codes {
            let Some(hits) = self.lines.get(code) else {
                continue;
            };
            let start =
                hits.partition_point(|&(b, _)| blocks[b as usize].last_seq < *within.start());
            let end = hits.partition_point(|&(b, _)| blocks[b as usize].first_seq <= *within.end());
            out.extend(hits[start..end.max(start)].iter().map(|&(b, _)| b));
        }
        out.sort_unstable();
        out.dedup();
        if direction == Direction::Backward {
            out.reverse();
        }
        out
    }

    /// The code names of the trace.
    pub fn code(&self) -> &CodeNames {
        &self.code
    }

    /// Every `(code_id, line)` of `code_ids` that ran.
    pub fn lines_of(&self, code_ids: &HashSet<u32>) -> HashSet<(u32, u32)> {
        self.lines
            .keys()
            .filter(|(c, _)| code_ids.contains(c))
            .copied()
            .collect()
    }

    /// Whether any line event at one of `codes` was recorded.
    pub fn ran_any(&self, codes: &HashSet<(u32, u32)>) -> bool {
        codes.iter().any(|c| self.lines.contains_key(c))
    }

    /// How many line events at one of `codes` have a seq ≤ `seq`: the 1-based ordinal of a hit
    /// at `seq`. Whole blocks are counted from their summaries; only the block holding `seq` is
    /// read.
    pub fn hits_up_to(&self, codes: &HashSet<(u32, u32)>, seq: u64) -> Result<u64> {
        let mut count = 0u64;
        let mut partial: Option<u32> = None;
        for code in codes {
            let Some(hits) = self.lines.get(code) else {
                continue;
            };
            for &(b, n) in hits {
                let block = &self.blocks[b as usize];
                if block.last_seq <= seq {
                    count += u64::from(n);
                } else if block.first_seq <= seq {
                    partial = Some(b);
                } else {
                    break;
                }
            }
        }
        if let Some(b) = partial {
            let range = self.blocks[b as usize].first_seq..=seq;
            self.scan_lines(range, Direction::Forward, codes, None, |_| {
                count += 1;
                Ok(false)
            })?;
        }
        Ok(count)
    }

    /// The first line event in `within`, walking in `direction`, at one of `codes` for which
    /// `accept` holds. Only blocks whose summary lists one of `codes` are decoded; with `spans`,
    /// only blocks overlapping one of them (sorted by start).
    pub fn scan_lines(
        &self,
        within: RangeInclusive<u64>,
        direction: Direction,
        codes: &HashSet<(u32, u32)>,
        spans: Option<&[RangeInclusive<u64>]>,
        mut accept: impl FnMut(LineHit) -> Result<bool>,
    ) -> Result<Option<LineHit>> {
        if codes.is_empty() || within.is_empty() {
            return Ok(None);
        }
        let max_code = codes.iter().map(|&(c, _)| c).max().unwrap_or(0) as usize;
        let mut by_code: Vec<Vec<u32>> = vec![Vec::new(); max_code + 1];
        for &(c, l) in codes {
            by_code[c as usize].push(l);
        }
        let line = EventKind::Line.code();
        // Spans are sorted by start: a block overlaps one iff, among those starting at or
        // before its end, the furthest end reaches its start.
        let furthest: Option<Vec<u64>> = spans.map(|spans| {
            spans
                .iter()
                .scan(0u64, |end, s| {
                    *end = (*end).max(*s.end());
                    Some(*end)
                })
                .collect()
        });
        let mut decoded: Option<(usize, RecordBatch)> = None;
        for block in self.hit_blocks(codes, &within, direction) {
            let b = self.blocks[block as usize];
            if let (Some(spans), Some(furthest)) = (spans, &furthest) {
                let n = spans.partition_point(|s| *s.start() <= b.last_seq);
                if n == 0 || furthest[n - 1] < b.first_seq {
                    continue;
                }
            }
            let Some(seg) = self.reader.events_segment_of(b.first_seq) else {
                continue;
            };
            if decoded.as_ref().is_none_or(|(s, _)| *s != seg) {
                decoded = Some((seg, self.reader.read_segment(seg, Some(&HIT_COLUMNS))?));
            }
            let batch = &decoded.as_ref().expect("decoded").1;
            let seqs = batch.column(0).as_primitive::<UInt64Type>();
            let kinds = batch.column(1).as_primitive::<UInt8Type>();
            let code_ids = batch.column(2).as_primitive::<UInt32Type>();
            let lines = batch.column(3).as_primitive::<UInt32Type>();
            let call_ids = batch.column(4).as_primitive::<UInt64Type>();
            let from = b.first_seq.max(*within.start());
            let to = b.last_seq.min(*within.end());
            let rows = rows_of(seqs.values(), from..=to);
            let rows: Box<dyn Iterator<Item = usize>> = match direction {
                Direction::Forward => Box::new(rows),
                Direction::Backward => Box::new(rows.rev()),
            };
            for i in rows {
                if kinds.value(i) != line
                    || !by_code
                        .get(code_ids.value(i) as usize)
                        .is_some_and(|ls| ls.contains(&lines.value(i)))
                {
                    continue;
                }
                let hit = LineHit {
                    seq: seqs.value(i),
                    code_id: code_ids.value(i),
                    line: lines.value(i),
                    call_id: call_ids.value(i),
                };
                if accept(hit)? {
                    return Ok(Some(hit));
                }
            }
        }
        Ok(None)
    }

    /// The stretches of seqs during which a frame held local `name` with a value for which
    /// `predicate` is true, sorted by start (`None` when there are more than `limit`).
    /// `values` segments whose int ranges rule out `hint` are skipped.
    pub fn held_spans(
        &self,
        name: &str,
        hint: &ValueHint,
        mut predicate: impl FnMut(&Local) -> bool,
        limit: usize,
    ) -> Result<Option<Vec<HeldSpan>>> {
        held_spans(&self.reader, name, hint, &mut predicate, limit)
    }

    /// The calls whose frame ever held `name` with a value for which `predicate` is true
    /// (skipping `values` segments whose int ranges rule out `hint`), and, when they are few,
    /// the seq spans holding all their events (sorted by start) to narrow a
    /// [`scan_lines`](Self::scan_lines).
    pub fn calls_holding(
        &self,
        name: &str,
        hint: &ValueHint,
        mut predicate: impl FnMut(&Local) -> bool,
    ) -> Result<CandidateCalls> {
        let calls = calls_ever_holding(&self.reader, name, hint, &mut predicate)?;
        let spans = match !calls.is_empty() && calls.len() <= MAX_SPANNED_CALLS {
            true => Some(call_spans(&self.reader, &self.code, &calls)?),
            false => None,
        };
        Ok(CandidateCalls { calls, spans })
    }
}

/// A line event found by [`EventIndex::scan_lines`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineHit {
    pub seq: u64,
    pub code_id: u32,
    pub line: u32,
    pub call_id: u64,
}

/// What [`EventIndex::calls_holding`] found.
#[derive(Debug, Clone, Default)]
pub struct CandidateCalls {
    pub calls: HashSet<u64>,
    pub spans: Option<Vec<RangeInclusive<u64>>>,
}

/// Seq spans holding every event of each of `calls`, sorted by start: from the call's `call`
/// event to just before the next call that starts on the same thread at the same or a smaller
/// depth (by then the call has returned), or to the end of the trace. Generators and coroutines
/// resume after such calls, so their spans run to the end.
fn call_spans(
    reader: &TraceReader,
    code: &CodeNames,
    calls: &HashSet<u64>,
) -> Result<Vec<RangeInclusive<u64>>> {
    let suspendable = code.suspendable();
    let wanted: Vec<u64> = calls.iter().copied().collect();
    let segments: Vec<usize> = reader
        .table_segments(Table::Calls)
        .map(|s| s.index)
        .collect();
    // Calls whose span is open: (call_id, thread, depth, call_seq).
    let mut open: Vec<(u64, u32, u32, u64)> = Vec::new();
    let mut spans: Vec<RangeInclusive<u64>> = Vec::new();
    for (n, &seg) in segments.iter().enumerate() {
        let holds_wanted = reader.zone_map(seg)?.may_contain_any("call_id", &wanted);
        if open.is_empty() && !holds_wanted {
            continue;
        }
        let batch = reader.segment(seg)?;
        let ids = batch.column(0).as_primitive::<UInt64Type>();
        let threads = batch.column(2).as_primitive::<UInt32Type>();
        let codes = batch.column(3).as_primitive::<UInt32Type>();
        let depths = batch.column(4).as_primitive::<UInt32Type>();
        let seqs = batch.column(5).as_primitive::<UInt64Type>();
        for i in 0..batch.num_rows() {
            let (thread, depth, seq) = (threads.value(i), depths.value(i), seqs.value(i));
            open.retain(|&(_, t, d, start)| {
                let closed = t == thread && depth <= d;
                if closed {
                    spans.push(start..=seq - 1);
                }
                !closed
            });
            if calls.contains(&ids.value(i)) {
                if suspendable.contains(&codes.value(i)) {
                    spans.push(seq..=u64::MAX);
                } else {
                    open.push((ids.value(i), thread, depth, seq));
                }
            }
        }
        if open.is_empty() && n + 1 < segments.len() && spans.len() == calls.len() {
            break;
        }
    }
    spans.extend(open.into_iter().map(|(_, _, _, start)| start..=u64::MAX));
    spans.sort_unstable_by_key(|s| *s.start());
    Ok(spans)
}

/// `seq`, `kind`, `code_id`, `line`, `call_id` of `events`.
const HIT_COLUMNS: [usize; 5] = [0, 2, 3, 4, 6];

/// `seq`, `kind`, `code_id`, `line`, `depth` of `events`: what a summary is made of.
const SUMMARY_COLUMNS: [usize; 5] = [0, 2, 3, 4, 5];

/// The rows of a seq-ordered column whose values lie in `range`.
fn rows_of(seqs: &[u64], range: RangeInclusive<u64>) -> std::ops::Range<usize> {
    seqs.partition_point(|&s| s < *range.start())..seqs.partition_point(|&s| s <= *range.end())
}

fn block_rows(b: &RecordBatch) -> impl Iterator<Item = Block> + '_ {
    let u64s = |c: usize| b.column(c).as_primitive::<UInt64Type>();
    let u32s = |c: usize| b.column(c).as_primitive::<UInt32Type>();
    let (first, last) = (u64s(0), u64s(1));
    let (events, lo, hi, exc) = (u32s(2), u32s(3), u32s(4), u32s(5));
    (0..b.num_rows()).map(move |i| Block {
        first_seq: first.value(i),
        last_seq: last.value(i),
        events: events.value(i),
        min_depth: lo.value(i),
        max_depth: hi.value(i),
        exceptions: exc.value(i),
    })
}

fn line_rows_of(b: &RecordBatch) -> Vec<(u64, u32, u32, u32)> {
    let first = b.column(0).as_primitive::<UInt64Type>();
    let u32s = |c: usize| b.column(c).as_primitive::<UInt32Type>();
    let (code, line, hits) = (u32s(1), u32s(2), u32s(3));
    (0..b.num_rows())
        .map(|i| (first.value(i), code.value(i), line.value(i), hits.value(i)))
        .collect()
}

/// Summarizes `segments` of `events` from their rows, on every core.
fn summarize_segments(
    reader: &TraceReader,
    segments: &[usize],
) -> Result<Vec<(RecordBatch, RecordBatch)>> {
    if segments.is_empty() {
        return Ok(Vec::new());
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(segments.len());
    let per = segments.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = segments
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || -> Result<Vec<(RecordBatch, RecordBatch)>> {
                    chunk
                        .iter()
                        .map(|&seg| {
                            let events = reader.read_segment(seg, Some(&SUMMARY_COLUMNS))?;
                            Ok(summarize_events(&events))
                        })
                        .collect()
                })
            })
            .collect();
        let mut out = Vec::new();
        for w in workers {
            out.extend(w.join().expect("a summarizing thread panicked")?);
        }
        Ok(out)
    })
}
