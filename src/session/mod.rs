//! A debugging session over a recorded trace: a position (an event seq) that moves forwards
//! and backwards by steps, continues, gotos and breakpoints; the stack, locals and values at
//! that position; and the questions a richer client asks (timeline, stats, variable history,
//! SQL).
//!
//! Navigation reads the mmap'd store directly ([`walk`]) and the query layer's block index
//! ([`EventIndex`]); nothing on the stepping path plans SQL. Ordinary stops land on `line`
//! events; exception and data breakpoints may stop on the event that raised or changed.
//! At either end of the recording, motion stops with reason [`StopReason::End`] or
//! [`StopReason::Entry`]; a session never ends by itself.

mod breakpoints;
mod error;
pub mod expr;
mod stack;
mod values;
mod walk;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use pyttd_format::{Event, EventKind, TraceReader, ValueRole};
use pyttd_query::{Direction, EventIndex, Local, TraceSession, call_seq, frame_locals};

pub use breakpoints::{
    Breakpoint, Condition, DataBreakpoint, ExceptionFilters, FunctionSpec, HitCondition, LineSpec,
    Target, exception_at,
};
pub use error::{Result, SessionError};
pub use stack::{Frame, Output, ThreadInfo};
pub use values::{FrameScope, to_value};

use breakpoints::Context;
use walk::Walker;

/// How far a step goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    /// To the next line event in the global order (any thread).
    In,
    /// To the next line event of this frame or a caller, on this thread.
    Over,
    /// To the next line event of a caller, on this thread.
    Out,
}

/// Why the session stopped where it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Entry,
    Step,
    Breakpoint,
    FunctionBreakpoint,
    DataBreakpoint,
    Exception,
    Goto,
    /// A frame restarted (DAP `restartFrame`).
    Restart,
    End,
}

impl StopReason {
    /// The DAP `stopped` event reason.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Entry => "entry",
            StopReason::Step => "step",
            StopReason::Breakpoint => "breakpoint",
            StopReason::FunctionBreakpoint => "function breakpoint",
            StopReason::DataBreakpoint => "data breakpoint",
            StopReason::Exception => "exception",
            StopReason::Goto => "goto",
            StopReason::Restart => "restart",
            StopReason::End => "end",
        }
    }

    /// What the client shows next to the reason, when there is more to say.
    pub fn description(self) -> Option<&'static str> {
        match self {
            StopReason::End => Some("End of recording"),
            StopReason::Entry => Some("Start of recording"),
            _ => None,
        }
    }
}

/// Where a motion stopped, and what happened on the way.
#[derive(Debug, Clone)]
pub struct Stop {
    pub event: Event,
    pub reason: StopReason,
    /// Ids of the breakpoints hit at the stop.
    pub breakpoints: Vec<i64>,
    /// Messages of the log points passed, in the order passed.
    pub logs: Vec<String>,
    /// Recorded output passed moving forwards.
    pub output: Vec<Output>,
    /// Condition errors met while scanning.
    pub errors: Vec<String>,
}

/// One frame of [`Session::stack`] with its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFrame {
    pub frame: Frame,
    pub function: String,
    pub file: String,
}

/// A value of a variable's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub seq: u64,
    pub call_id: u64,
    pub line: u32,
    pub value: Local,
}

/// A debugging session over one trace.
#[derive(Debug)]
pub struct Session {
    reader: Arc<TraceReader>,
    index: EventIndex,
    threads: Vec<ThreadInfo>,
    first_line: u64,
    last_seq: u64,
    position: u64,
    lines: HashMap<String, Vec<Breakpoint>>,
    functions: Vec<Breakpoint>,
    data: Vec<DataBreakpoint>,
    exceptions: ExceptionFilters,
    next_id: i64,
    sql: OnceLock<TraceSession>,
    /// Where the uncaught exceptions were raised (see [`breakpoints::uncaught_origins`]).
    uncaught: std::cell::OnceCell<Vec<u64>>,
}

/// How many executions `goto_targets` lists at most.
pub const MAX_GOTO_TARGETS: usize = 1000;
/// How many values `variable_history` lists at most.
pub const MAX_HISTORY: usize = 10_000;

impl Session {
    /// Opens the trace at `path`, positioned at its first line event.
    pub fn open(path: impl AsRef<Path>) -> Result<Session> {
        Self::with_reader(Arc::new(TraceReader::open(path)?))
    }

    pub fn with_reader(reader: Arc<TraceReader>) -> Result<Session> {
        let index = EventIndex::build(reader.clone())?;
        let threads = stack::threads(&reader)?;
        let last_seq = index
            .blocks()
            .last()
            .map(|b| b.last_seq)
            .ok_or(SessionError::NoLines)?;
        let walker = Walker {
            reader: &reader,
            blocks: index.blocks(),
        };
        let first_line = walker
            .find_within(
                0..=u64::MAX,
                Direction::Forward,
                |_| false,
                |e| e.kind == EventKind::Line,
            )?
            .ok_or(SessionError::NoLines)?
            .seq;
        Ok(Session {
            reader,
            index,
            threads,
            first_line,
            last_seq,
            position: first_line,
            lines: HashMap::new(),
            functions: Vec::new(),
            data: Vec::new(),
            exceptions: ExceptionFilters::default(),
            next_id: 1,
            sql: OnceLock::new(),
            uncaught: std::cell::OnceCell::new(),
        })
    }

    pub fn reader(&self) -> &Arc<TraceReader> {
        &self.reader
    }

    pub fn index(&self) -> &EventIndex {
        &self.index
    }

    /// The DataFusion session over the trace, made on first use.
    pub fn sql(&self) -> Result<&TraceSession> {
        if let Some(s) = self.sql.get() {
            return Ok(s);
        }
        let session = TraceSession::with_reader(self.reader.clone())?;
        Ok(self.sql.get_or_init(|| session))
    }

    fn walker(&self) -> Walker<'_> {
        Walker {
            reader: &self.reader,
            blocks: self.index.blocks(),
        }
    }

    /// The current position (an event seq).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The seq of the first line event and of the last event.
    pub fn bounds(&self) -> (u64, u64) {
        (self.first_line, self.last_seq)
    }

    /// The event at the current position.
    pub fn event(&self) -> Result<Event> {
        self.walker().at(self.position)
    }

    pub fn threads(&self) -> &[ThreadInfo] {
        &self.threads
    }

    /// The event at `seq`.
    pub fn event_at(&self, seq: u64) -> Result<Event> {
        self.walker().at(seq)
    }

    /// The latest event of thread `thread_id` at or before the position (`None` before the
    /// thread's first event).
    pub fn thread_event(&self, thread_id: u32) -> Result<Option<Event>> {
        let here = self.event()?;
        if here.thread_id == thread_id {
            return Ok(Some(here));
        }
        self.walker().find(
            self.position,
            Direction::Backward,
            |_| false,
            |e| e.thread_id == thread_id,
        )
    }

    /// Whether the exception raised at `event` unwinds its thread's outermost frame.
    pub fn exception_is_uncaught(&self, event: &Event) -> Result<bool> {
        let errors = RefCell::new(Vec::new());
        let cx = Context {
            index: &self.index,
            walker: self.walker(),
            errors: &errors,
            uncaught: &self.uncaught,
        };
        Ok(cx.uncaught_origins()?.binary_search(&event.seq).is_ok())
    }

    /// The line breakpoints set, as the query layer takes them.
    pub fn line_breakpoint_targets(&self) -> Vec<pyttd_query::LineBreakpoint> {
        self.lines
            .values()
            .flatten()
            .filter_map(|bp| match &bp.target {
                Target::Line { file, line } => Some(pyttd_query::LineBreakpoint {
                    file: file.clone(),
                    line: *line,
                }),
                Target::Function { .. } => None,
            })
            .collect()
    }

    /// The first stop of a session: the first line event with `stop_on_entry`, else the first
    /// breakpoint hit (or the end).
    pub fn start(&mut self, stop_on_entry: bool) -> Result<Stop> {
        self.position = self.first_line;
        let mut stop = if stop_on_entry {
            self.stop_at(self.first_line, StopReason::Entry)?
        } else {
            let mut stop = self.resume_from(self.first_line, Direction::Forward, true)?;
            stop.output.clear();
            stop
        };
        stop.output = stack::output_between(&self.reader, 0, stop.event.seq)?;
        Ok(stop)
    }

    /// Steps in `direction`. `instruction` granularity steps to the next event of any kind.
    pub fn step(
        &mut self,
        motion: Motion,
        direction: Direction,
        instruction: bool,
    ) -> Result<Stop> {
        let cur = self.event()?;
        let (thread, call, depth) = (cur.thread_id, cur.call_id, cur.depth);
        let walker = self.walker();
        // A generator or coroutine may resume deeper than it ran before: its own later lines
        // can sit in blocks that never come back up to its depth, so none are skipped.
        let suspendable = self.index.code().is_suspendable(cur.code_id);
        let target = match motion {
            Motion::In => walker.find(
                self.position,
                direction,
                |_| false,
                |e| instruction || e.kind == EventKind::Line,
            )?,
            Motion::Over => walker.find(
                self.position,
                direction,
                |b| !suspendable && b.min_depth > depth,
                |e| {
                    e.thread_id == thread
                        && (instruction || e.kind == EventKind::Line)
                        && (e.call_id == call || e.depth < depth)
                },
            )?,
            Motion::Out if depth == 0 => None,
            Motion::Out => walker.find(
                self.position,
                direction,
                |b| b.min_depth >= depth,
                |e| e.thread_id == thread && e.kind == EventKind::Line && e.depth < depth,
            )?,
        };
        // Breakpoints on the way stop a step that would jump over them.
        let end = match (target, direction) {
            (Some(t), _) => t.seq,
            (None, Direction::Forward) => self.last_seq,
            (None, Direction::Backward) => self.first_line,
        };
        let (mut logs, mut errors) = (Vec::new(), Vec::new());
        if motion != Motion::In || target.is_none() {
            let within = between(self.position, end, direction);
            let hit;
            (hit, logs, errors) = self.first_hit(within, direction)?;
            if let Some((seq, reason, ids)) = hit {
                let mut stop = self.move_to(seq, reason)?;
                (stop.breakpoints, stop.logs, stop.errors) = (ids, logs, errors);
                return Ok(stop);
            }
        }
        let mut stop = match target {
            Some(t) => self.move_to(t.seq, StopReason::Step)?,
            None => self.boundary(direction)?,
        };
        // Log points passed on the way still log.
        (stop.logs, stop.errors) = (logs, errors);
        Ok(stop)
    }

    /// Continues (`Forward`) or reverse-continues (`Backward`) to the nearest breakpoint hit,
    /// or to the end (start) of the recording.
    pub fn resume(&mut self, direction: Direction) -> Result<Stop> {
        self.resume_from(self.position, direction, false)
    }

    fn resume_from(&mut self, from: u64, direction: Direction, inclusive: bool) -> Result<Stop> {
        let within = match (inclusive, direction) {
            (true, Direction::Forward) => from..=self.last_seq,
            _ => between(from, self.boundary_seq(direction), direction),
        };
        let (hit, logs, errors) = self.first_hit(within, direction)?;
        let mut stop = match hit {
            Some((seq, reason, ids)) => {
                let mut stop = self.move_to(seq, reason)?;
                stop.breakpoints = ids;
                stop
            }
            None => self.boundary(direction)?,
        };
        stop.logs = logs;
        stop.errors = errors;
        Ok(stop)
    }

    /// Jumps to event `seq`.
    pub fn goto(&mut self, seq: u64) -> Result<Stop> {
        if seq > self.last_seq {
            return Err(SessionError::NoSuchEvent(seq));
        }
        self.walker().at(seq)?;
        let mut stop = self.stop_at(seq, StopReason::Goto)?;
        self.position = seq;
        stop.output.clear();
        Ok(stop)
    }

    /// Jumps to the first line event of call `call_id` (DAP `restartFrame`).
    pub fn restart_frame(&mut self, call_id: u64) -> Result<Stop> {
        let start = call_seq(&self.reader, self.position, call_id)?
            .ok_or_else(|| SessionError::Invalid(format!("no call {call_id} before this step")))?;
        let first = self
            .walker()
            .find_within(
                start..=u64::MAX,
                Direction::Forward,
                |_| false,
                |e| e.call_id == call_id && e.kind == EventKind::Line,
            )?
            .ok_or_else(|| SessionError::Invalid(format!("call {call_id} ran no line")))?;
        let mut stop = self.goto(first.seq)?;
        stop.reason = StopReason::Restart;
        Ok(stop)
    }

    /// The seq of every execution of `line` of `file` (at most [`MAX_GOTO_TARGETS`]).
    pub fn goto_targets(&self, file: &str, line: u32) -> Result<Vec<u64>> {
        let codes = self
            .index
            .code()
            .in_file(file)
            .into_iter()
            .map(|c| (c, line))
            .collect();
        let mut seqs = Vec::new();
        self.index
            .scan_lines(0..=u64::MAX, Direction::Forward, &codes, None, |h| {
                seqs.push(h.seq);
                Ok(seqs.len() >= MAX_GOTO_TARGETS)
            })?;
        Ok(seqs)
    }

    /// The stack of the current position's thread, innermost first.
    pub fn stack(&self) -> Result<Vec<NamedFrame>> {
        self.stack_at(&self.event()?)
    }

    /// The stack of `event`'s thread at `event`, innermost first.
    pub fn stack_at(&self, event: &Event) -> Result<Vec<NamedFrame>> {
        let frames = stack::stack_at(&self.walker(), event)?;
        Ok(frames
            .into_iter()
            .map(|frame| {
                let (function, file) = self.index.code().name_of(frame.code_id).unwrap_or_default();
                NamedFrame {
                    frame,
                    function: function.to_string(),
                    file: file.to_string(),
                }
            })
            .collect())
    }

    /// The locals of frame `call_id` at the current position.
    pub fn locals(&self, call_id: u64) -> Result<Vec<Local>> {
        Ok(frame_locals(&self.reader, self.position, call_id)?)
    }

    /// The return (or yielded) value and exception of the event at the current position.
    pub fn event_values(&self) -> Result<Vec<(ValueRole, Local)>> {
        Ok(pyttd_query::return_values(&self.reader, self.position)?)
    }

    /// Recorded children of a value (`seq` is the seq its row was recorded at).
    pub fn children(&self, seq: u64, object_id: u64) -> Result<Vec<Local>> {
        Ok(pyttd_query::children_of(&self.reader, seq, object_id)?)
    }

    /// Every change of `name` in call `call_id` (or in every frame), in order.
    pub fn variable_history(&self, name: &str, call_id: Option<u64>) -> Result<Vec<HistoryEntry>> {
        let rows = pyttd_query::variable_changes(&self.reader, name, call_id, MAX_HISTORY)?;
        rows.into_iter()
            .map(|(call_id, value)| {
                let line = self.walker().at(value.seq)?.line;
                Ok(HistoryEntry {
                    seq: value.seq,
                    call_id,
                    line,
                    value,
                })
            })
            .collect()
    }

    /// Replaces the line breakpoints of `file`; returns them in order.
    pub fn set_line_breakpoints(&mut self, file: &str, specs: Vec<LineSpec>) -> &[Breakpoint] {
        let mut out = Vec::with_capacity(specs.len());
        for spec in specs {
            let target = Target::Line {
                file: file.to_string(),
                line: spec.line,
            };
            let id = self.fresh_id();
            let (condition, hit, log, invalid) = (spec.condition, spec.hit, spec.log, spec.invalid);
            out.push(Breakpoint::new(
                id,
                target,
                condition,
                hit,
                log,
                invalid,
                &self.index,
            ));
        }
        self.lines.insert(file.to_string(), out);
        &self.lines[file]
    }

    /// Replaces the function breakpoints; returns them in order.
    pub fn set_function_breakpoints(&mut self, specs: Vec<FunctionSpec>) -> &[Breakpoint] {
        let mut out = Vec::with_capacity(specs.len());
        for spec in specs {
            let id = self.fresh_id();
            let target = Target::Function { name: spec.name };
            let (condition, hit, invalid) = (spec.condition, spec.hit, spec.invalid);
            out.push(Breakpoint::new(
                id,
                target,
                condition,
                hit,
                None,
                invalid,
                &self.index,
            ));
        }
        self.functions = out;
        &self.functions
    }

    /// Replaces the data breakpoints (data ids as [`DataBreakpoint::data_id`] makes them);
    /// each is a breakpoint or why it is not one.
    pub fn set_data_breakpoints(&mut self, data_ids: &[String]) -> Vec<Result<i64, String>> {
        self.data.clear();
        let mut out = Vec::with_capacity(data_ids.len());
        for data_id in data_ids {
            let id = self.fresh_id();
            match DataBreakpoint::parse(id, data_id) {
                Ok(bp) => {
                    self.data.push(bp);
                    out.push(Ok(id));
                }
                Err(e) => out.push(Err(e)),
            }
        }
        out
    }

    pub fn exception_filters(&self) -> ExceptionFilters {
        self.exceptions
    }

    pub fn set_exception_filters(&mut self, filters: ExceptionFilters) {
        self.exceptions = filters;
    }

    fn fresh_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id - 1
    }

    fn boundary_seq(&self, direction: Direction) -> u64 {
        match direction {
            Direction::Forward => self.last_seq,
            Direction::Backward => self.first_line,
        }
    }

    /// The stop at the end (forwards) or start (backwards) of the recording.
    fn boundary(&mut self, direction: Direction) -> Result<Stop> {
        match direction {
            Direction::Forward => self.move_to(self.last_seq, StopReason::End),
            // Before the first line (a goto to the module's call event) is the start too.
            Direction::Backward => {
                self.move_to(self.first_line.min(self.position), StopReason::Entry)
            }
        }
    }

    /// Moves to `seq`, collecting the output passed on the way forwards.
    fn move_to(&mut self, seq: u64, reason: StopReason) -> Result<Stop> {
        let mut stop = self.stop_at(seq, reason)?;
        if seq > self.position {
            stop.output = stack::output_between(&self.reader, self.position + 1, seq)?;
        }
        self.position = seq;
        Ok(stop)
    }

    fn stop_at(&self, seq: u64, reason: StopReason) -> Result<Stop> {
        Ok(Stop {
            event: self.walker().at(seq)?,
            reason,
            breakpoints: Vec::new(),
            logs: Vec::new(),
            output: Vec::new(),
            errors: Vec::new(),
        })
    }

    /// The nearest breakpoint hit in `within`, walking in `direction`, past the log points
    /// (whose messages are collected): `(seq, reason, breakpoint ids)`, the log messages, and
    /// condition errors.
    #[allow(clippy::type_complexity)]
    fn first_hit(
        &self,
        mut within: RangeInclusive<u64>,
        direction: Direction,
    ) -> Result<(
        Option<(u64, StopReason, Vec<i64>)>,
        Vec<String>,
        Vec<String>,
    )> {
        let errors = RefCell::new(Vec::new());
        let cx = Context {
            index: &self.index,
            walker: self.walker(),
            errors: &errors,
            uncaught: &self.uncaught,
        };
        let mut logs = Vec::new();
        loop {
            // The nearest hit of every breakpoint: each later search is bounded by the best so
            // far.
            let mut nearest = Nearest {
                within: within.clone(),
                direction,
                hits: Vec::new(),
            };
            for bp in self.lines.values().flatten() {
                let seq = bp.next_hit(&cx, nearest.within.clone(), direction)?;
                nearest.offer(seq, StopReason::Breakpoint, bp.id, Some(bp));
            }
            for bp in &self.functions {
                let seq = bp.next_hit(&cx, nearest.within.clone(), direction)?;
                nearest.offer(seq, StopReason::FunctionBreakpoint, bp.id, Some(bp));
            }
            for bp in &self.data {
                let seq = bp.next_change(&cx, nearest.within.clone(), direction)?;
                nearest.offer(seq, StopReason::DataBreakpoint, bp.id, None);
            }
            let seq = self
                .exceptions
                .next_hit(&cx, nearest.within.clone(), direction)?;
            nearest.offer(seq, StopReason::Exception, 0, None);
            let best = nearest.hits.first().map(|h| h.0);
            let hits = nearest.hits;
            let Some(seq) = best else {
                return Ok((None, logs, errors.into_inner()));
            };
            let event = self.walker().at(seq)?;
            let mut stopping: Vec<(StopReason, i64)> = Vec::new();
            for (_, reason, id, bp) in hits {
                match bp
                    .map(|bp| bp.log_message(&cx, seq, event.call_id))
                    .transpose()?
                {
                    Some(Some(message)) => logs.push(message),
                    _ => stopping.push((reason, id)),
                }
            }
            if let Some(&(reason, _)) = stopping.first() {
                let ids = stopping
                    .iter()
                    .filter(|(_, id)| *id > 0)
                    .map(|(_, id)| *id)
                    .collect();
                return Ok((Some((seq, reason, ids)), logs, errors.into_inner()));
            }
            // Only log points here: go on past them.
            within = match direction {
                Direction::Forward if seq < *within.end() => seq + 1..=*within.end(),
                Direction::Backward if seq > *within.start() => *within.start()..=seq - 1,
                _ => return Ok((None, logs, errors.into_inner())),
            };
        }
    }
}

/// The nearest breakpoint hits found so far, and the range left to search.
struct Nearest<'a> {
    within: RangeInclusive<u64>,
    direction: Direction,
    hits: Vec<(u64, StopReason, i64, Option<&'a Breakpoint>)>,
}

impl<'a> Nearest<'a> {
    /// Takes a hit at `seq` (no nearer hit was possible: the search was bounded by `within`).
    fn offer(&mut self, seq: Option<u64>, reason: StopReason, id: i64, bp: Option<&'a Breakpoint>) {
        let Some(seq) = seq else {
            return;
        };
        if self.hits.first().is_some_and(|h| h.0 != seq) {
            self.hits.clear();
        }
        self.hits.push((seq, reason, id, bp));
        self.within = match self.direction {
            Direction::Forward => *self.within.start()..=seq,
            Direction::Backward => seq..=*self.within.end(),
        };
    }
}

/// The seqs strictly after `from` up to `to` (forwards), or strictly before `from` down to `to`
/// (backwards).
fn between(from: u64, to: u64, direction: Direction) -> RangeInclusive<u64> {
    let beyond = direction.beyond(from);
    match direction {
        Direction::Forward => *beyond.start()..=to.min(*beyond.end()),
        Direction::Backward => to.max(*beyond.start())..=*beyond.end(),
    }
}
