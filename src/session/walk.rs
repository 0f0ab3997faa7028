//! Walking the `events` table from a position, forwards or backwards, straight from the mmap'd
//! store: the hot path of stepping. Decoded segments come from the reader's cache, and whole
//! blocks (SPEC.md, `blocks`) are skipped when their summary rules a match out — a step over a
//! call that ran a million events reads only the blocks where the depth comes back up.

use std::ops::RangeInclusive;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt8Type, UInt32Type, UInt64Type};
use pyttd_format::{Event, EventKind, TraceReader};
use pyttd_query::{Block, Direction};

use super::error::{Result, SessionError};

/// Events of one trace, with their block summaries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walker<'a> {
    pub reader: &'a TraceReader,
    pub blocks: &'a [Block],
}

impl Walker<'_> {
    /// The first event after (`Forward`) or before (`Backward`) `from` for which `matches`
    /// holds, skipping blocks for which `skip` holds (it must only skip blocks that cannot hold
    /// a match).
    pub fn find(
        &self,
        from: u64,
        direction: Direction,
        skip: impl FnMut(&Block) -> bool,
        matches: impl FnMut(&Event) -> bool,
    ) -> Result<Option<Event>> {
        self.find_within(direction.beyond(from), direction, skip, matches)
    }

    /// The first event in `within`, walking in `direction`, for which `matches` holds.
    pub fn find_within(
        &self,
        within: RangeInclusive<u64>,
        direction: Direction,
        mut skip: impl FnMut(&Block) -> bool,
        mut matches: impl FnMut(&Event) -> bool,
    ) -> Result<Option<Event>> {
        if within.is_empty() {
            return Ok(None);
        }
        let lo = self
            .blocks
            .partition_point(|b| b.last_seq < *within.start());
        let hi = self
            .blocks
            .partition_point(|b| b.first_seq <= *within.end());
        let order: Box<dyn Iterator<Item = usize>> = match direction {
            Direction::Forward => Box::new(lo..hi),
            Direction::Backward => Box::new((lo..hi).rev()),
        };
        for i in order {
            let block = &self.blocks[i];
            if skip(block) {
                continue;
            }
            if let Some(e) = self.find_in_block(block, &within, direction, &mut matches)? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    fn find_in_block(
        &self,
        block: &Block,
        within: &RangeInclusive<u64>,
        direction: Direction,
        matches: &mut impl FnMut(&Event) -> bool,
    ) -> Result<Option<Event>> {
        let Some(seg) = self.reader.events_segment_of(block.first_seq) else {
            return Err(SessionError::Corrupt(format!(
                "no events segment holds block {}..={}",
                block.first_seq, block.last_seq
            )));
        };
        let batch = self.reader.segment(seg)?;
        let seqs = batch.column(0).as_primitive::<UInt64Type>().values();
        let threads = batch.column(1).as_primitive::<UInt32Type>().values();
        let kinds = batch.column(2).as_primitive::<UInt8Type>().values();
        let codes = batch.column(3).as_primitive::<UInt32Type>().values();
        let lines = batch.column(4).as_primitive::<UInt32Type>().values();
        let depths = batch.column(5).as_primitive::<UInt32Type>().values();
        let calls = batch.column(6).as_primitive::<UInt64Type>().values();
        let times = batch.column(7).as_primitive::<Int64Type>().values();
        let lo = block.first_seq.max(*within.start());
        let hi = block.last_seq.min(*within.end());
        let rows = seqs.partition_point(|&s| s < lo)..seqs.partition_point(|&s| s <= hi);
        let rows: Box<dyn Iterator<Item = usize>> = match direction {
            Direction::Forward => Box::new(rows),
            Direction::Backward => Box::new(rows.rev()),
        };
        for i in rows {
            let kind = EventKind::from_code(kinds[i]).ok_or_else(|| {
                SessionError::Corrupt(format!(
                    "unknown event kind {} at seq {}",
                    kinds[i], seqs[i]
                ))
            })?;
            let event = Event {
                seq: seqs[i],
                thread_id: threads[i],
                kind,
                code_id: codes[i],
                line: lines[i],
                depth: depths[i],
                call_id: calls[i],
                ts_ns: times[i],
            };
            if matches(&event) {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    /// The event at `seq`.
    pub fn at(&self, seq: u64) -> Result<Event> {
        self.reader
            .event_at(seq)?
            .ok_or(SessionError::NoSuchEvent(seq))
    }
}
