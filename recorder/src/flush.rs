//! The flush thread: drains every ring up to the watermark, merges the records into one seq
//! order, and appends `code`, `threads`, `calls` and `events` batches through [`TraceWriter`],
//! flushing the file at least every [`FLUSH_INTERVAL`]. It never takes the GIL (DESIGN.md 5.4).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pyttd_format::{
    CallRow, ChildrenBuilder, Compression, Event, EventKind, EventsBuilder, RunRow, Table,
    ThreadRow, TraceWriter, ValuesBuilder, calls_batch, code_batch, exceptions_batch, output_batch,
    run_batch, threads_batch,
};
use rtrb::Consumer;

use crate::error::RecorderError;
use crate::level::LevelControl;
use crate::ring::{Aux, Lane, Rec, merge_until};
use crate::session::{Registrations, Session};
use crate::shared::{Placed, SharedChildren};

/// The longest the written file lags behind the program (SPEC §4.10 asks for at most 100 ms; the
/// margin covers encoding time).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(80);

/// Records merged between two drains of the rings.
const MERGE_SLICE: u64 = 8192;

/// How long the flush thread sleeps when nobody wakes it.
const IDLE_PARK: Duration = Duration::from_millis(20);

/// What the flush thread reports when it ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlushStats {
    pub events: u64,
    pub bytes: u64,
    pub flushes: u64,
}

pub(crate) struct Flusher {
    session: Arc<Session>,
    writer: TraceWriter,
    lanes: Vec<Lane>,
    consumers: Vec<(Consumer<Rec>, Consumer<Aux>)>,
    next: u64,
    last: usize,
    events: EventsBuilder,
    values: ValuesBuilder,
    children: ChildrenBuilder,
    /// The children written so far, so that a value with the same children refers to them.
    shared: SharedChildren,
    exceptions: Vec<(u64, u32, u64, String, Option<String>)>,
    /// Output rows not yet appended (they follow the events they name).
    output: Vec<(u64, u32, pyttd_format::OutputStream, String)>,
    calls: Vec<CallRow>,
    threads: Vec<ThreadRow>,
    thread_descs: Vec<Option<ThreadRow>>,
    /// Per thread id: its `threads` row is written (at its first event).
    threads_written: Vec<bool>,
    /// The variable names numbered so far (`Names`), by number.
    names: Vec<Arc<str>>,
    flushes: u64,
    /// Raises the zstd level while this thread has time to spare (`None`: not zstd).
    level: Option<LevelControl>,
}

impl Flusher {
    pub(crate) fn new(session: Arc<Session>, writer: TraceWriter) -> Self {
        Flusher {
            session,
            lanes: Vec::new(),
            consumers: Vec::new(),
            next: 0,
            last: 0,
            events: EventsBuilder::with_capacity(1 << 16),
            values: ValuesBuilder::default(),
            children: ChildrenBuilder::default(),
            shared: SharedChildren::default(),
            exceptions: Vec::new(),
            output: Vec::new(),
            calls: Vec::new(),
            threads: Vec::new(),
            thread_descs: Vec::new(),
            threads_written: Vec::new(),
            names: Vec::new(),
            flushes: 0,
            level: match writer.compression() {
                Compression::Zstd(level) => Some(LevelControl::new(level)),
                Compression::None | Compression::Lz4 => None,
            },
            writer,
        }
    }

    /// Runs until the session asks to stop, then writes the final `run` row and the footer.
    pub(crate) fn run(mut self, mut run: RunRow) -> Result<FlushStats, RecorderError> {
        // A panic here must still fail the session: producers waiting for ring space give up
        // only when it has failed, and would otherwise wait forever.
        let rounds = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_rounds()))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(RecorderError::Internal(format!(
                    "the flush thread panicked: {what}"
                )))
            });
        if let Err(e) = rounds {
            self.session.fail(&e.to_string());
            return Err(e);
        }
        let exit_status = *self.session.exit_status.lock().expect("not poisoned");
        run.state = "finished".into();
        run.exit_status = Some(exit_status);
        run.end_unix_ns = Some(crate::session::unix_ns());
        run.event_count = self.next;
        self.writer.append(Table::Run, run_batch(&run))?;
        let bytes = self.writer.finish()?;
        Ok(FlushStats {
            events: self.next,
            bytes,
            flushes: self.flushes + 1,
        })
    }

    fn run_rounds(&mut self) -> Result<(), RecorderError> {
        let mut last_flush = Instant::now();
        let mut busy = Duration::ZERO;
        loop {
            let started = Instant::now();
            let stopping = self.session.stopping.load(Ordering::Acquire);
            let flush_due = stopping || last_flush.elapsed() >= FLUSH_INTERVAL;
            if flush_due {
                // The level of this flush's segments (the round below writes most of them).
                let interval = last_flush.elapsed();
                self.set_level(|c, _| c.for_flush(busy, interval, stopping))?;
            }
            self.round(flush_due)?;
            if stopping {
                return Ok(());
            }
            if flush_due {
                self.writer.flush()?;
                self.flushes += 1;
            }
            busy += started.elapsed();
            if flush_due {
                // The level of the next interval, from how busy this one was.
                let interval = last_flush.elapsed();
                self.set_level(|c, stall_ns| c.after_flush(busy, interval, stall_ns))?;
                busy = Duration::ZERO;
                last_flush = Instant::now();
            }
            let until_flush = FLUSH_INTERVAL.saturating_sub(last_flush.elapsed());
            std::thread::park_timeout(until_flush.min(IDLE_PARK));
        }
    }

    /// Sets the writer's zstd level to what `choose` picks (given the session's producer stall
    /// time so far); nothing when the trace is not zstd-compressed.
    fn set_level(
        &mut self,
        choose: impl FnOnce(&mut LevelControl, u64) -> i32,
    ) -> Result<(), RecorderError> {
        if let Some(control) = &mut self.level {
            let level = choose(control, self.session.stall_ns.load(Ordering::Relaxed));
            self.writer.set_compression(Compression::Zstd(level))?;
        }
        Ok(())
    }

    /// Merges the staged records below `until` into the row builders; the seq of the first
    /// event whose rows are missing goes to `missing_rows`.
    fn merge(&mut self, until: u64, missing_rows: &mut Option<u64>) -> Result<(), RecorderError> {
        let (events, calls, threads_out) = (&mut self.events, &mut self.calls, &mut self.threads);
        let (values, children, exceptions) =
            (&mut self.values, &mut self.children, &mut self.exceptions);
        let shared = &mut self.shared;
        let (descs, written) = (&self.thread_descs, &mut self.threads_written);
        let (names, numbered) = (&mut self.names, &self.session.names);
        let clock = &self.session.clock;
        merge_until(
            &mut self.lanes,
            &mut self.next,
            &mut self.last,
            until,
            |thread_id, r, aux| {
                let t = thread_id as usize;
                if written.len() <= t {
                    written.resize(t + 1, false);
                }
                if !written[t]
                    && let Some(Some(desc)) = descs.get(t)
                {
                    written[t] = true;
                    threads_out.push(ThreadRow {
                        first_seq: r.seq,
                        ..desc.clone()
                    });
                }
                if r.opens_call {
                    calls.push(CallRow {
                        call_id: r.call_id,
                        parent_call_id: (r.parent_call_id != 0).then_some(r.parent_call_id),
                        thread_id,
                        code_id: r.code_id,
                        depth: r.depth,
                        call_seq: r.seq,
                    });
                }
                let mut left = r.naux as usize;
                // Where the children rows being merged go (they follow their value's row).
                let mut tree = Placed::New { from: 0, base: 0 };
                while left > 0 {
                    left -= 1;
                    match aux.pop_front() {
                        Some(Aux::Value {
                            name,
                            role,
                            snapshot,
                            mut value,
                        }) => {
                            // Its children follow it; when they were written before, the
                            // value refers to them and they are not written again.
                            if let pyttd_format::Value::Repr(repr) = &mut value
                                && let Some(id) = repr.object_id
                            {
                                let rows = aux
                                    .iter()
                                    .take(left)
                                    .take_while(|a| matches!(a, Aux::Child { .. }))
                                    .count();
                                tree = shared.place(id, aux.iter().take(rows));
                                repr.object_id = Some(tree.id(id));
                                if let Placed::Earlier(_) = tree {
                                    aux.drain(..rows);
                                    left -= rows;
                                }
                            }
                            if names.len() <= name as usize {
                                // Numbered before the row was pushed, so `extend` finds it.
                                numbered.extend(names);
                            }
                            match names.get(name as usize) {
                                Some(text) => values.push_numbered(
                                    r.seq, r.call_id, name, text, role, snapshot, &value,
                                ),
                                None => {
                                    missing_rows.get_or_insert(r.seq);
                                }
                            }
                        }
                        Some(Aux::Child {
                            parent_id,
                            position,
                            key,
                            mut value,
                        }) => {
                            if let pyttd_format::Value::Repr(repr) = &mut value {
                                repr.object_id = repr.object_id.map(|o| tree.id(o));
                            }
                            children.push(r.seq, tree.id(parent_id), position, &key, &value)
                        }
                        Some(Aux::Exception { type_name, message }) => {
                            exceptions.push((r.seq, thread_id, r.call_id, type_name, message))
                        }
                        None => {
                            missing_rows.get_or_insert(r.seq);
                        }
                    }
                }
                events.push(&Event {
                    seq: r.seq,
                    thread_id,
                    kind: EventKind::from_code(r.kind).expect("producers push known kinds"),
                    code_id: r.code_id,
                    line: r.line,
                    depth: r.depth,
                    call_id: r.call_id,
                    ts_ns: clock.ns(r.ts),
                });
            },
        )
        .map_err(|m| RecorderError::Internal(format!("seq {} missing from every ring", m.0)))?;
        Ok(())
    }

    /// Moves what the rings hold into the lanes: every record (and its rows), or when `capped`
    /// only until a lane stages as many records as its ring holds, beyond which the ring stays
    /// full and its producer waits.
    fn drain_rings(&mut self, capped: bool) {
        for (lane, (consumer, aux)) in self.lanes.iter_mut().zip(self.consumers.iter_mut()) {
            let cap = if capped {
                consumer.buffer().capacity()
            } else {
                usize::MAX
            };
            let n = consumer.slots().min(cap.saturating_sub(lane.staged.len()));
            if n > 0 {
                let chunk = consumer.read_chunk(n).expect("n slots are readable");
                lane.staged.extend(chunk);
            }
            // After the records: the rows of every record drained above are in by now.
            let n = aux.slots();
            if n > 0 {
                let chunk = aux.read_chunk(n).expect("n slots are readable");
                lane.aux.extend(chunk);
            }
        }
    }

    /// One round: watermark, drain, merge, append. The `events`, `values` and `children` rows
    /// stay in their builders across rounds until they fill a segment or `flush_due`, so each
    /// segment is encoded from one batch (no per-round batches to concatenate, no dictionaries
    /// to merge).
    fn round(&mut self, flush_due: bool) -> Result<(), RecorderError> {
        // Output rows before the watermark: each names an event below the watermark.
        let output = self.session.take_output();
        // The watermark first: every record below it is in a ring registered by now.
        let watermark = self.session.next_seq.load(Ordering::Acquire);
        let Registrations {
            rings,
            codes,
            threads,
        } = self.session.take_registrations();
        for (thread_id, consumer, aux) in rings {
            self.lanes.push(Lane {
                thread_id,
                staged: Default::default(),
                aux: Default::default(),
            });
            self.consumers.push((consumer, aux));
        }
        for t in threads {
            let i = t.thread_id as usize;
            if self.thread_descs.len() <= i {
                self.thread_descs.resize(i + 1, None);
            }
            self.thread_descs[i] = Some(t);
        }
        // Every record below the watermark is staged after this drain.
        self.drain_rings(false);
        let mut missing_rows = None;
        // Merged a slice at a time with the rings drained in between (and before each segment
        // is encoded below): a producer then waits for ring space only when this thread is
        // behind on average, not while it works through one large round.
        loop {
            let until = watermark.min(self.next.saturating_add(MERGE_SLICE));
            self.merge(until, &mut missing_rows)?;
            if self.next >= watermark {
                break;
            }
            self.drain_rings(true);
        }
        if let Some(seq) = missing_rows {
            return Err(RecorderError::Internal(format!(
                "the rows of seq {seq} are missing"
            )));
        }

        if !codes.is_empty() {
            self.writer.append(Table::Code, code_batch(&codes))?;
        }
        if !self.threads.is_empty() {
            self.writer.append(
                Table::Threads,
                threads_batch(&std::mem::take(&mut self.threads)),
            )?;
        }
        if !self.calls.is_empty() {
            // Cleared, not taken: the vector keeps its room for the next round's calls.
            self.writer.append(Table::Calls, calls_batch(&self.calls))?;
            self.calls.clear();
        }
        self.output.extend(output);
        // Rows that name an event by seq (values, children, output, exceptions) are appended
        // with or after that event's batch, and the writer writes tables in id order, so none
        // reaches the file before its event.
        let full = self.writer.segment_rows();
        let spill = flush_due || self.values.len() >= full || self.children.len() >= full;
        if !self.events.is_empty() && (spill || self.events.len() >= full) {
            self.drain_rings(true);
            self.writer.append(Table::Events, self.events.finish())?;
            if !self.exceptions.is_empty() {
                self.writer.append(
                    Table::Exceptions,
                    exceptions_batch(&std::mem::take(&mut self.exceptions)),
                )?;
            }
            if !self.output.is_empty() {
                self.writer.append(
                    Table::Output,
                    output_batch(&std::mem::take(&mut self.output)),
                )?;
            }
        }
        if spill && !self.values.is_empty() {
            self.drain_rings(true);
            self.writer.append(Table::Values, self.values.finish())?;
        }
        if spill && !self.children.is_empty() {
            self.drain_rings(true);
            self.writer
                .append(Table::Children, self.children.finish())?;
        }

        // Rings of threads that exited are dropped once empty.
        let mut i = 0;
        while i < self.consumers.len() {
            if self.consumers[i].0.is_abandoned()
                && self.consumers[i].0.is_empty()
                && self.consumers[i].1.is_empty()
                && self.lanes[i].staged.is_empty()
                && self.lanes[i].aux.is_empty()
            {
                self.consumers.swap_remove(i);
                self.lanes.swap_remove(i);
                self.last = 0;
            } else {
                i += 1;
            }
        }
        Ok(())
    }
}
