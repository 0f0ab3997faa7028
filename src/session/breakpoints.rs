//! Breakpoints over a recording, found in either direction by the query layer's scans rather
//! than by stepping: line breakpoints (with condition, hit condition and log message), function
//! breakpoints, data breakpoints (a variable's value changes) and exception breakpoints.
//!
//! Every kind answers one question — its nearest hit in a seq range, walking one way — so a
//! continue in either direction takes the nearest hit of all of them.

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt8Type, UInt64Type};
use pyttd_format::{EventKind, Table, ValueRole};
use pyttd_query::{
    CandidateCalls, Direction, EventIndex, HeldSpan, LineHit, Local, ValueHint, frame_locals,
};

use super::error::{Result, SessionError};
use super::expr::{Expr, Scope, interpolate};
use super::values::FrameScope;
use super::walk::Walker;

/// A hit condition (DAP `hitCondition`): which hits, counted from the start of the recording,
/// stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitCondition {
    Equal(u64),
    AtLeast(u64),
    Above(u64),
    Below(u64),
    AtMost(u64),
    Every(u64),
}

impl HitCondition {
    /// Parses `N`, `==N`, `>=N`, `>N`, `<N`, `<=N` or `%N`.
    pub fn parse(text: &str) -> Result<HitCondition, String> {
        let t = text.trim();
        let (op, rest) = ["==", ">=", "<=", ">", "<", "%", "="]
            .iter()
            .find_map(|op| t.strip_prefix(op).map(|r| (*op, r)))
            .unwrap_or(("==", t));
        let n: u64 = rest.trim().parse().map_err(|_| {
            format!("invalid hit condition `{text}`: expected N, ==N, >=N, >N, <N, <=N or %N")
        })?;
        Ok(match op {
            "==" | "=" => HitCondition::Equal(n),
            ">=" => HitCondition::AtLeast(n),
            ">" => HitCondition::Above(n),
            "<" => HitCondition::Below(n),
            "<=" => HitCondition::AtMost(n),
            _ if n == 0 => return Err(format!("invalid hit condition `{text}`: %0")),
            _ => HitCondition::Every(n),
        })
    }

    /// Whether the hit with 1-based `ordinal` stops.
    pub fn accepts(self, ordinal: u64) -> bool {
        match self {
            HitCondition::Equal(n) => ordinal == n,
            HitCondition::AtLeast(n) => ordinal >= n,
            HitCondition::Above(n) => ordinal > n,
            HitCondition::Below(n) => ordinal < n,
            HitCondition::AtMost(n) => ordinal <= n,
            HitCondition::Every(n) => ordinal.is_multiple_of(n),
        }
    }
}

/// How many distinct condition errors one scan reports.
const MAX_REPORTED_ERRORS: usize = 20;

/// A condition over the frame's recorded values.
#[derive(Debug)]
pub struct Condition {
    pub source: String,
    expr: Expr,
    /// When the condition reads one name and needs it to be an int in a range: that name and
    /// range, so frames that never held such a value are ruled out before any event is read.
    narrow: Option<(String, ValueHint)>,
}

impl Condition {
    pub fn parse(source: &str) -> Result<Condition, String> {
        let expr = Expr::parse(source).map_err(|e| e.to_string())?;
        let names = expr.names();
        let narrow = match names.as_slice() {
            [name] => Some((
                name.clone(),
                expr.int_range_of(name)
                    .map_or(ValueHint::Any, ValueHint::IntIn),
            )),
            _ => None,
        };
        Ok(Condition {
            source: source.to_string(),
            expr,
            narrow,
        })
    }

    /// Whether the condition holds in `scope`; an evaluation error counts as false and is
    /// kept in `errors`.
    fn holds(&self, scope: &dyn Scope, errors: &RefCell<Vec<String>>) -> bool {
        match self.expr.eval(scope).and_then(|v| v.truthy()) {
            Ok(b) => b,
            Err(e) => {
                let message = format!("breakpoint condition `{}`: {e}", self.source);
                let mut errors = errors.borrow_mut();
                if errors.len() < MAX_REPORTED_ERRORS && !errors.contains(&message) {
                    errors.push(message);
                }
                false
            }
        }
    }
}

/// A line breakpoint as a client asks for it.
#[derive(Debug)]
pub struct LineSpec {
    pub line: u32,
    pub condition: Option<Condition>,
    pub hit: Option<HitCondition>,
    pub log: Option<String>,
    /// Why the client's breakpoint is unusable (a condition that does not parse): it is kept,
    /// unverified, and never stops.
    pub invalid: Option<String>,
}

/// A function breakpoint as a client asks for it.
#[derive(Debug)]
pub struct FunctionSpec {
    pub name: String,
    pub condition: Option<Condition>,
    pub hit: Option<HitCondition>,
    pub invalid: Option<String>,
}

/// What a line or function breakpoint stops on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Line {
        file: String,
        line: u32,
    },
    /// The first line of every call of the functions with this name.
    Function {
        name: String,
    },
}

/// A line or function breakpoint.
#[derive(Debug)]
pub struct Breakpoint {
    pub id: i64,
    pub target: Target,
    pub condition: Option<Condition>,
    pub hit: Option<HitCondition>,
    pub log: Option<String>,
    /// Why the breakpoint can never be hit, when it cannot.
    pub unverified: Option<String>,
    codes: HashSet<(u32, u32)>,
    narrowing: OnceCell<Narrowing>,
    /// Seqs of every hit for which the condition holds, when hits must be counted that way.
    counted: OnceCell<Vec<u64>>,
}

/// What scans need from the session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub(crate) index: &'a EventIndex,
    pub(crate) walker: Walker<'a>,
    /// Evaluation errors met during a scan, reported to the user once it ends.
    pub(crate) errors: &'a RefCell<Vec<String>>,
    /// Where the uncaught exceptions were raised, found on first use.
    pub(crate) uncaught: &'a OnceCell<Vec<u64>>,
}

impl Context<'_> {
    pub(crate) fn uncaught_origins(&self) -> Result<&[u64]> {
        if let Some(o) = self.uncaught.get() {
            return Ok(o);
        }
        let found = uncaught_origins(self)?;
        Ok(self.uncaught.get_or_init(|| found))
    }
}

impl Breakpoint {
    /// A breakpoint on `target`; verified when the recording ran its line (or function).
    pub fn new(
        id: i64,
        target: Target,
        condition: Option<Condition>,
        hit: Option<HitCondition>,
        log: Option<String>,
        invalid: Option<String>,
        index: &EventIndex,
    ) -> Breakpoint {
        let (codes, why) = match &target {
            Target::Line { file, line } => {
                let codes: HashSet<(u32, u32)> = index
                    .code()
                    .in_file(file)
                    .into_iter()
                    .map(|c| (c, *line))
                    .collect();
                let why = if index.code().in_file(file).is_empty() {
                    Some(format!("{file} never ran in this recording"))
                } else if !index.ran_any(&codes) {
                    Some(format!("line {line} never ran in this recording"))
                } else {
                    None
                };
                (codes, why)
            }
            Target::Function { name } => {
                let ids = index.code().functions_named(name);
                let codes = index.lines_of(&ids);
                let why = codes
                    .is_empty()
                    .then(|| format!("no function `{name}` ran in this recording"));
                (codes, why)
            }
        };
        Breakpoint {
            id,
            target,
            condition,
            hit,
            log,
            unverified: invalid.or(why),
            codes,
            narrowing: OnceCell::new(),
            counted: OnceCell::new(),
        }
    }

    /// The nearest hit in `within`, walking in `direction`.
    pub(crate) fn next_hit(
        &self,
        cx: &Context<'_>,
        within: RangeInclusive<u64>,
        direction: Direction,
    ) -> Result<Option<u64>> {
        if self.unverified.is_some() {
            return Ok(None);
        }
        let counts_conditioned =
            self.hit.is_some() && (self.condition.is_some() || self.first_line_only());
        if counts_conditioned {
            let counted = self.counted(cx)?;
            let hit = self.hit.expect("checked");
            let lo = counted.partition_point(|&s| s < *within.start());
            let hi = counted.partition_point(|&s| s <= *within.end());
            let mut ordinals = (lo..hi).map(|i| (i as u64 + 1, counted[i]));
            let found = match direction {
                Direction::Forward => ordinals.find(|&(n, _)| hit.accepts(n)),
                Direction::Backward => ordinals.rev().find(|&(n, _)| hit.accepts(n)),
            };
            return Ok(found.map(|(_, s)| s));
        }
        let narrowing = self.narrowing(cx)?;
        let spans = match narrowing {
            Some(Narrowing::Held { ranges, .. }) if ranges.is_empty() => return Ok(None),
            Some(Narrowing::Calls(c)) if c.calls.is_empty() => return Ok(None),
            Some(Narrowing::Held { ranges, .. }) => Some(ranges.as_slice()),
            Some(Narrowing::Calls(c)) => c.spans.as_deref(),
            None => None,
        };
        // A hit condition alone counts every line hit: the ordinal at the scan's start, then
        // one more (less) per hit the scan passes.
        let mut ordinal = match (self.hit, direction) {
            (None, _) => 0,
            (Some(_), Direction::Forward) => match within.start().checked_sub(1) {
                Some(before) => cx.index.hits_up_to(&self.codes, before)?,
                None => 0,
            },
            (Some(_), Direction::Backward) => cx.index.hits_up_to(&self.codes, *within.end())? + 1,
        };
        let mut failure = None;
        let found = cx
            .index
            .scan_lines(within, direction, &self.codes, spans, |h| {
                if narrowing.is_some_and(|n| !n.admits(&h)) {
                    return Ok(false);
                }
                if self.hit.is_some() {
                    ordinal = match direction {
                        Direction::Forward => ordinal + 1,
                        Direction::Backward => ordinal - 1,
                    };
                }
                let accepted = self.accepts(cx, &h).map(|ok| match (ok, self.hit) {
                    (true, Some(hit)) => hit.accepts(ordinal),
                    (ok, _) => ok,
                });
                // Stop the scan on an error, and report it below.
                Ok(accepted.unwrap_or_else(|e| {
                    failure = Some(e);
                    true
                }))
            })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(found.map(|h| h.seq)),
        }
    }

    /// The message of a log point at `seq` (in frame `call_id`).
    pub(crate) fn log_message(
        &self,
        cx: &Context<'_>,
        seq: u64,
        call_id: u64,
    ) -> Result<Option<String>> {
        let Some(template) = &self.log else {
            return Ok(None);
        };
        let scope = FrameScope::at(cx.walker.reader, seq, call_id)?;
        Ok(Some(interpolate(template, &scope)))
    }

    fn first_line_only(&self) -> bool {
        matches!(self.target, Target::Function { .. })
    }

    /// Whether a line event at one of the breakpoint's lines is a hit, before hit counting.
    fn accepts(&self, cx: &Context<'_>, h: &LineHit) -> Result<bool> {
        if self.first_line_only() && !first_line_of_call(cx, h)? {
            return Ok(false);
        }
        match &self.condition {
            Some(c) => {
                let scope = FrameScope::at(cx.walker.reader, h.seq, h.call_id)?;
                Ok(c.holds(&scope, cx.errors))
            }
            None => Ok(true),
        }
    }

    /// For a one-name condition: where (or at least in which calls) its name held a value
    /// satisfying it.
    fn narrowing(&self, cx: &Context<'_>) -> Result<Option<&Narrowing>> {
        let Some((name, hint)) = self.condition.as_ref().and_then(|c| c.narrow.as_ref()) else {
            return Ok(None);
        };
        if let Some(n) = self.narrowing.get() {
            return Ok(Some(n));
        }
        let condition = self
            .condition
            .as_ref()
            .expect("narrow comes from a condition");
        let reader = cx.walker.reader;
        // A pre-filter may rule out only what is certainly false: a value the condition cannot
        // be evaluated on alone (say it needs another name) may still hold.
        let holds = |local: &Local| {
            let scope = FrameScope::of(reader, vec![local.clone()]);
            condition
                .expr
                .eval(&scope)
                .and_then(|v| v.truthy())
                .unwrap_or(true)
        };
        let found = match cx.index.held_spans(name, hint, holds, MAX_HELD_SPANS)? {
            Some(spans) => Narrowing::held(spans),
            None => Narrowing::Calls(cx.index.calls_holding(name, hint, holds)?),
        };
        Ok(Some(self.narrowing.get_or_init(|| found)))
    }

    /// Every accepted hit of the whole recording, in order (for hit conditions counted over
    /// conditioned hits or function entries).
    fn counted(&self, cx: &Context<'_>) -> Result<&[u64]> {
        if let Some(c) = self.counted.get() {
            return Ok(c);
        }
        let mut seqs = Vec::new();
        let mut failure = None;
        cx.index
            .scan_lines(0..=u64::MAX, Direction::Forward, &self.codes, None, |h| {
                match self.accepts(cx, &h) {
                    Ok(true) => seqs.push(h.seq),
                    Ok(false) => {}
                    Err(e) => {
                        failure = Some(e);
                        return Ok(true);
                    }
                }
                Ok(false)
            })?;
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(self.counted.get_or_init(|| seqs))
    }
}

/// How many stretches of a held value a condition's scan follows before it falls back to the
/// calls that ever held one.
const MAX_HELD_SPANS: usize = 1_000_000;

/// What a one-name condition rules out before any event is read.
#[derive(Debug)]
enum Narrowing {
    /// Only while a frame held a satisfying value: every span sorted by start (to prune
    /// blocks), and each call's spans (disjoint, sorted) to check a hit.
    Held {
        ranges: Vec<RangeInclusive<u64>>,
        by_call: HashMap<u64, Vec<RangeInclusive<u64>>>,
    },
    /// Only in these calls.
    Calls(CandidateCalls),
}

impl Narrowing {
    fn held(spans: Vec<HeldSpan>) -> Narrowing {
        let ranges = spans.iter().map(|s| s.seqs.clone()).collect();
        let mut by_call: HashMap<u64, Vec<RangeInclusive<u64>>> = HashMap::new();
        for s in spans {
            by_call.entry(s.call_id).or_default().push(s.seqs);
        }
        Narrowing::Held { ranges, by_call }
    }

    /// Whether a hit can satisfy the condition.
    fn admits(&self, h: &LineHit) -> bool {
        match self {
            Narrowing::Calls(c) => c.calls.contains(&h.call_id),
            Narrowing::Held { by_call, .. } => by_call.get(&h.call_id).is_some_and(|spans| {
                let n = spans.partition_point(|s| *s.start() <= h.seq);
                n > 0 && spans[n - 1].contains(&h.seq)
            }),
        }
    }
}

/// Whether the line event `h` is the first line of its call: the frame's previous event is its
/// `call` event.
fn first_line_of_call(cx: &Context<'_>, h: &LineHit) -> Result<bool> {
    let previous = cx.walker.find(
        h.seq,
        Direction::Backward,
        |_| false,
        |e| e.call_id == h.call_id,
    )?;
    Ok(previous.is_some_and(|e| e.kind == EventKind::Call))
}

/// A data breakpoint: the value of `name` in frame `call_id` changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBreakpoint {
    pub id: i64,
    pub call_id: u64,
    pub name: String,
}

impl DataBreakpoint {
    /// The data id DAP clients hold: `call_id:name`.
    pub fn data_id(call_id: u64, name: &str) -> String {
        format!("{call_id}:{name}")
    }

    pub fn parse(id: i64, data_id: &str) -> Result<DataBreakpoint, String> {
        let (call, name) = data_id
            .split_once(':')
            .ok_or_else(|| format!("invalid data id `{data_id}`"))?;
        let call_id = call
            .parse()
            .map_err(|_| format!("invalid data id `{data_id}`"))?;
        Ok(DataBreakpoint {
            id,
            call_id,
            name: name.to_string(),
        })
    }

    /// The nearest seq in `within`, walking in `direction`, at which a new value of the
    /// variable becomes visible (a value restated unchanged is not a change).
    pub(crate) fn next_change(
        &self,
        cx: &Context<'_>,
        within: RangeInclusive<u64>,
        direction: Direction,
    ) -> Result<Option<u64>> {
        let reader = cx.walker.reader;
        let mut segments: Vec<usize> = reader
            .table_segments(Table::Values)
            .filter(|s| {
                s.seq_range
                    .as_ref()
                    .is_none_or(|r| r.start() <= within.end() && r.end() >= within.start())
            })
            .map(|s| s.index)
            .collect();
        if direction == Direction::Backward {
            segments.reverse();
        }
        let local = ValueRole::Local.code();
        for seg in segments {
            if !reader
                .zone_map(seg)?
                .may_contain_any("call_id", &[self.call_id])
            {
                continue;
            }
            let batch = reader.segment(seg)?;
            let names = batch
                .column_by_name("name")
                .expect("values.name")
                .as_dictionary::<Int32Type>();
            let dict = names.values().as_string::<i32>();
            let keys: Vec<bool> = (0..dict.len())
                .map(|k| dict.value(k) == self.name)
                .collect();
            if !keys.contains(&true) {
                continue;
            }
            let seqs = batch.column(0).as_primitive::<UInt64Type>().values();
            let calls = batch.column(1).as_primitive::<UInt64Type>().values();
            let roles = batch
                .column_by_name("role")
                .expect("values.role")
                .as_primitive::<UInt8Type>()
                .values();
            let rows = seqs.partition_point(|&s| s < *within.start())
                ..seqs.partition_point(|&s| s <= *within.end());
            let rows: Box<dyn Iterator<Item = usize>> = match direction {
                Direction::Forward => Box::new(rows),
                Direction::Backward => Box::new(rows.rev()),
            };
            let mut checked: Option<u64> = None;
            for i in rows {
                if calls[i] != self.call_id
                    || roles[i] != local
                    || !keys[names.keys().value(i) as usize]
                    || checked == Some(seqs[i])
                {
                    continue;
                }
                checked = Some(seqs[i]);
                if self.changes_at(cx, seqs[i])? {
                    return Ok(Some(seqs[i]));
                }
            }
        }
        Ok(None)
    }

    fn changes_at(&self, cx: &Context<'_>, seq: u64) -> Result<bool> {
        let value_at = |s: u64| -> Result<Option<Local>> {
            Ok(frame_locals(cx.walker.reader, s, self.call_id)?
                .into_iter()
                .find(|l| l.name == self.name))
        };
        let after = value_at(seq)?;
        let before = match seq {
            0 => None,
            s => value_at(s - 1)?,
        };
        Ok(match (&before, &after) {
            (Some(a), Some(b)) => !a.same_value(b),
            (None, None) => false,
            _ => true,
        })
    }
}

/// Which exceptions stop (DAP exception filters `raised` and `uncaught`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExceptionFilters {
    pub raised: bool,
    pub uncaught: bool,
}

/// Exception types that end a program on purpose, never reported as uncaught.
const EXITS: [&str; 2] = ["SystemExit", "KeyboardInterrupt"];

/// Exceptions that end iteration: a `for` loop or a generator's end raises them as a matter of
/// course, so the `raised` filter does not stop on them.
const ITERATION_ENDS: [&str; 3] = ["StopIteration", "StopAsyncIteration", "GeneratorExit"];

impl ExceptionFilters {
    /// The nearest `exception` event in `within`, walking in `direction`, where an exception
    /// the filters select is raised (not where it propagates to a caller).
    pub(crate) fn next_hit(
        &self,
        cx: &Context<'_>,
        within: RangeInclusive<u64>,
        direction: Direction,
    ) -> Result<Option<u64>> {
        if self.uncaught && !self.raised {
            let origins = cx.uncaught_origins()?;
            let lo = origins.partition_point(|&s| s < *within.start());
            let hi = origins.partition_point(|&s| s <= *within.end());
            return Ok(match direction {
                Direction::Forward => origins[lo..hi].first().copied(),
                Direction::Backward => origins[lo..hi].last().copied(),
            });
        }
        if !self.raised {
            return Ok(None);
        }
        let mut within = within;
        loop {
            let found = cx.walker.find_within(
                within.clone(),
                direction,
                |b| b.exceptions == 0,
                |e| e.kind == EventKind::Exception,
            )?;
            let Some(e) = found else {
                return Ok(None);
            };
            if is_origin(cx, &e)?
                && !exception_at(cx.walker.reader, e.seq)?
                    .is_some_and(|(t, _)| ITERATION_ENDS.contains(&t.as_str()))
            {
                return Ok(Some(e.seq));
            }
            within = match direction {
                Direction::Forward => e.seq + 1..=*within.end(),
                Direction::Backward if e.seq == 0 => return Ok(None),
                Direction::Backward => *within.start()..=e.seq - 1,
            };
        }
    }
}

/// Whether exception event `e` is where the exception was raised: the thread's previous event
/// is not the callee unwinding with it.
fn is_origin(cx: &Context<'_>, e: &pyttd_format::Event) -> Result<bool> {
    let previous = cx.walker.find(
        e.seq,
        Direction::Backward,
        |_| false,
        |p| p.thread_id == e.thread_id,
    )?;
    Ok(!previous.is_some_and(|p| p.kind == EventKind::Unwind && p.depth == e.depth + 1))
}

/// The seqs of the `exception` events where the uncaught exceptions were raised, ascending.
/// An exception is uncaught when it unwinds its thread's outermost recorded frame (depth 0);
/// from that unwind it is followed back, frame by frame, to the frame that raised it.
/// (Catching inside `with`, `finally` and `except` clauses that re-raise all look alike in the
/// events until the frame unwinds, so the unwinds are the ground truth.)
pub(crate) fn uncaught_origins(cx: &Context<'_>) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let mut from = 0u64;
    loop {
        let unwind = cx.walker.find_within(
            from..=u64::MAX,
            Direction::Forward,
            |b| b.min_depth > 0,
            |e| e.kind == EventKind::Unwind && e.depth == 0,
        )?;
        let Some(unwind) = unwind else {
            break;
        };
        from = unwind.seq + 1;
        let Some(origin) = origin_of(cx, &unwind)? else {
            continue;
        };
        if !exception_at(cx.walker.reader, origin)?
            .is_some_and(|(t, _)| EXITS.contains(&t.as_str()))
        {
            out.push(origin);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Where the exception that `unwind` ends its frame with was raised: the frame's last
/// `exception` event before it, and, while that one arrived from a callee unwinding, the
/// callee's.
fn origin_of(cx: &Context<'_>, unwind: &pyttd_format::Event) -> Result<Option<u64>> {
    let thread = unwind.thread_id;
    let mut current = *unwind;
    loop {
        let (depth, call_id) = (current.depth, current.call_id);
        let raised = cx.walker.find(
            current.seq,
            Direction::Backward,
            |b| b.min_depth > depth,
            |e| e.thread_id == thread && e.call_id == call_id && e.kind == EventKind::Exception,
        )?;
        let Some(raised) = raised else {
            return Ok(None);
        };
        let previous = cx.walker.find(
            raised.seq,
            Direction::Backward,
            |_| false,
            |p| p.thread_id == thread,
        )?;
        match previous {
            Some(p) if p.kind == EventKind::Unwind && p.depth == depth + 1 => current = p,
            _ => return Ok(Some(raised.seq)),
        }
    }
}

/// The type name and message of the exception of event `seq`.
pub fn exception_at(
    reader: &pyttd_format::TraceReader,
    seq: u64,
) -> Result<Option<(String, Option<String>)>, SessionError> {
    for batch in reader.scan(
        Table::Exceptions,
        Some(seq..=seq),
        Some(&["type_name", "message"]),
    )? {
        let batch = batch?;
        if batch.num_rows() > 0 {
            let types = batch.column(0).as_string::<i32>();
            let messages = batch.column(1).as_string::<i32>();
            return Ok(Some((
                types.value(0).to_string(),
                messages.is_valid(0).then(|| messages.value(0).to_string()),
            )));
        }
    }
    Ok(None)
}
