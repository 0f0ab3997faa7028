//! The questions the debugger asks: timeline buckets, execution stats per function, breakpoint
//! scans and goto targets, through DataFusion. The timeline and the breakpoint scans are also
//! answered straight from the store ([`timeline_direct`], and [`EventIndex`] from the block
//! summaries); the benchmarks compare them.
//!
//! [`EventIndex`]: crate::EventIndex

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt8Type, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use pyttd_format::{EventKind, Table, TraceReader};

use crate::error::{QueryError, Result};
use crate::locals::{Local, NamedLocals, frame_locals};
use crate::provider::CodeNames;
use crate::session::TraceSession;

/// A line breakpoint: a file (absolute, as `code.file` stores it) and a line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LineBreakpoint {
    pub file: String,
    pub line: u32,
}

/// One bucket of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub index: u32,
    pub first_seq: u64,
    pub last_seq: u64,
    pub events: u64,
    pub max_depth: u32,
    pub exceptions: u64,
    pub breakpoint_hits: u64,
}

/// Execution stats of one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionStats {
    pub function: String,
    pub file: String,
    pub calls: u64,
    pub exceptions: u64,
    pub total_ns: i64,
    pub self_ns: i64,
    pub first_call_seq: u64,
}

/// What a value predicate is known to require, so that `values` segments that cannot hold a
/// match are skipped (SPEC.md, "Zone maps": int ranges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueHint {
    /// Nothing is known: every segment holding the name is read.
    Any,
    /// The predicate is false unless the value is an `int` in this range.
    IntIn(std::ops::RangeInclusive<i64>),
}

/// Which way a scan goes from its start (the start itself is never a hit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

impl Direction {
    /// The seqs strictly after (`Forward`) or before (`Backward`) `from`; empty when there are
    /// none.
    pub fn beyond(self, from: u64) -> std::ops::RangeInclusive<u64> {
        match self {
            Direction::Forward => from.saturating_add(1)..=u64::MAX,
            Direction::Backward => match from.checked_sub(1) {
                Some(before) => 0..=before,
                None => std::ops::RangeInclusive::new(1, 0),
            },
        }
    }
}

/// `code_id`s whose file is one of the breakpoints' files, with the breakpoint lines.
pub(crate) fn breakpoint_codes(
    reader: &TraceReader,
    breakpoints: &[LineBreakpoint],
) -> Result<HashSet<(u32, u32)>> {
    if breakpoints.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(CodeNames::load(reader)?.at_lines(breakpoints))
}

/// SQL that is true for line events at `codes`; `t` qualifies the columns (`"e."` or `""`).
fn hits_sql(codes: &HashSet<(u32, u32)>, t: &str) -> String {
    if codes.is_empty() {
        return "FALSE".into();
    }
    let mut codes: Vec<_> = codes.iter().collect();
    codes.sort();
    let terms: Vec<String> = codes
        .iter()
        .map(|(c, l)| format!("({t}code_id = {c} AND {t}line = {l})"))
        .collect();
    format!("({t}kind = 1 AND ({}))", terms.join(" OR "))
}

fn u64_at(b: &RecordBatch, col: usize, i: usize) -> Option<u64> {
    let a = b.column(col);
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        arrow_schema::DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i),
        arrow_schema::DataType::Int64 => a.as_primitive::<Int64Type>().value(i) as u64,
        arrow_schema::DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i) as u64,
        _ => return None,
    })
}

impl TraceSession {
    /// `n` buckets over `seqs` (inclusive) of the first trace, through DataFusion.
    pub fn timeline(
        &self,
        first: u64,
        last: u64,
        n: u32,
        breakpoints: &[LineBreakpoint],
    ) -> Result<Vec<Bucket>> {
        let reader = self.traces()[0].reader.clone();
        let codes = breakpoint_codes(&reader, breakpoints)?;
        let span = (last.saturating_sub(first) + 1).max(1);
        let n = n.max(1);
        let query = format!(
            "SELECT CAST((seq - {first}) * {n} / {span} AS BIGINT) AS bucket, min(seq), max(seq), \
               count(*), max(depth), sum(CASE WHEN kind = 3 THEN 1 ELSE 0 END), \
               sum(CASE WHEN {hits} THEN 1 ELSE 0 END) \
             FROM raw.events WHERE seq >= {first} AND seq <= {last} GROUP BY 1 ORDER BY 1",
            hits = hits_sql(&codes, "")
        );
        let (_, batches) = self.sql(&query)?;
        let mut out = Vec::new();
        for b in &batches {
            for i in 0..b.num_rows() {
                out.push(Bucket {
                    index: u64_at(b, 0, i).unwrap_or(0) as u32,
                    first_seq: u64_at(b, 1, i).unwrap_or(0),
                    last_seq: u64_at(b, 2, i).unwrap_or(0),
                    events: u64_at(b, 3, i).unwrap_or(0),
                    max_depth: u64_at(b, 4, i).unwrap_or(0) as u32,
                    exceptions: u64_at(b, 5, i).unwrap_or(0),
                    breakpoint_hits: u64_at(b, 6, i).unwrap_or(0),
                });
            }
        }
        Ok(out)
    }

    /// Calls, exceptions, total and self time and first call per function, most total time
    /// first.
    pub fn function_stats(&self) -> Result<Vec<FunctionStats>> {
        let query = "SELECT c.function, c.file, count(*) AS calls, \
               coalesce(max(x.exceptions), 0) AS exceptions, \
               coalesce(sum(c.duration_ns), 0) AS total_ns, \
               coalesce(sum(c.duration_ns - coalesce(k.child_ns, 0)), 0) AS self_ns, \
               min(c.call_seq) AS first_call_seq \
             FROM calls c \
             LEFT JOIN (SELECT parent_call_id, sum(duration_ns) AS child_ns FROM calls \
               GROUP BY parent_call_id) k ON k.parent_call_id = c.call_id \
             LEFT JOIN (SELECT function, file, count(*) AS exceptions FROM exceptions \
               GROUP BY function, file) x ON x.function = c.function AND x.file = c.file \
             GROUP BY c.function, c.file ORDER BY total_ns DESC, c.function";
        let (_, batches) = self.sql(query)?;
        let mut out = Vec::new();
        for b in &batches {
            let f = b.column(0).as_string::<i32>();
            let file = b.column(1).as_string::<i32>();
            for i in 0..b.num_rows() {
                out.push(FunctionStats {
                    function: f.value(i).to_string(),
                    file: file.value(i).to_string(),
                    calls: u64_at(b, 2, i).unwrap_or(0),
                    exceptions: u64_at(b, 3, i).unwrap_or(0),
                    total_ns: u64_at(b, 4, i).unwrap_or(0) as i64,
                    self_ns: u64_at(b, 5, i).unwrap_or(0) as i64,
                    first_call_seq: u64_at(b, 6, i).unwrap_or(0),
                });
            }
        }
        Ok(out)
    }

    /// The next (or previous) line event after (before) `from` at one of `breakpoints`,
    /// through DataFusion.
    pub fn breakpoint_scan_sql(
        &self,
        from: u64,
        direction: Direction,
        breakpoints: &[LineBreakpoint],
    ) -> Result<Option<u64>> {
        let reader = self.traces()[0].reader.clone();
        let codes = breakpoint_codes(&reader, breakpoints)?;
        if codes.is_empty() {
            return Ok(None);
        }
        let query = match direction {
            Direction::Forward => format!(
                "SELECT min(seq) FROM raw.events WHERE seq > {from} AND {}",
                hits_sql(&codes, "")
            ),
            Direction::Backward if from == 0 => return Ok(None),
            Direction::Backward => format!(
                "SELECT max(seq) FROM raw.events WHERE seq < {from} AND {}",
                hits_sql(&codes, "")
            ),
        };
        let (_, batches) = self.sql(&query)?;
        Ok(batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .and_then(|b| u64_at(b, 0, 0)))
    }

    /// Every execution of `file:line` (its line events), `offset`/`limit` paginated.
    pub fn goto_targets(
        &self,
        breakpoint: &LineBreakpoint,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<u64>> {
        let reader = self.traces()[0].reader.clone();
        let codes = breakpoint_codes(&reader, std::slice::from_ref(breakpoint))?;
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let query = format!(
            "SELECT seq FROM raw.events WHERE {} ORDER BY seq LIMIT {limit} OFFSET {offset}",
            hits_sql(&codes, "")
        );
        let (_, batches) = self.sql(&query)?;
        Ok(batches
            .iter()
            .flat_map(|b| (0..b.num_rows()).filter_map(move |i| u64_at(b, 0, i)))
            .collect())
    }

    /// The calls made by `call_id`, in call order: `(call_id, call_seq)`.
    pub fn call_children(&self, call_id: u64) -> Result<Vec<(u64, u64)>> {
        let (_, batches) = self.sql(&format!(
            "SELECT call_id, call_seq FROM raw.calls WHERE parent_call_id = {call_id} \
             ORDER BY call_seq"
        ))?;
        Ok(batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows()).filter_map(move |i| Some((u64_at(b, 0, i)?, u64_at(b, 1, i)?)))
            })
            .collect())
    }
}

/// `n` buckets over `first..=last`, read straight from the store (decoding `seq`, `kind`,
/// `depth`, `code_id` and `line` of every event in range). [`EventIndex::timeline`] answers
/// the same from block summaries and uses this only for short ranges.
///
/// [`EventIndex::timeline`]: crate::EventIndex::timeline
pub fn timeline_direct(
    reader: &TraceReader,
    first: u64,
    last: u64,
    n: u32,
    breakpoints: &[LineBreakpoint],
) -> Result<Vec<Bucket>> {
    let codes = breakpoint_codes(reader, breakpoints)?;
    let mut buckets = Buckets::new(first, last, n);
    buckets.add_events(reader, first..=last, &codes)?;
    Ok(buckets.finish())
}

/// Timeline buckets being filled: bucket `k` holds the seqs `s` with
/// `(s - first) * n / span == k`.
pub(crate) struct Buckets {
    first: u64,
    span: u128,
    n: u32,
    buckets: Vec<Bucket>,
}

impl Buckets {
    pub(crate) fn new(first: u64, last: u64, n: u32) -> Buckets {
        let n = n.max(1);
        Buckets {
            first,
            span: (last.saturating_sub(first) + 1).max(1) as u128,
            n,
            buckets: (0..n)
                .map(|index| Bucket {
                    index,
                    first_seq: u64::MAX,
                    last_seq: 0,
                    events: 0,
                    max_depth: 0,
                    exceptions: 0,
                    breakpoint_hits: 0,
                })
                .collect(),
        }
    }

    /// The bucket of `seq`.
    pub(crate) fn at(&mut self, seq: u64) -> &mut Bucket {
        let k = ((seq - self.first) as u128 * self.n as u128 / self.span) as usize;
        &mut self.buckets[k]
    }

    /// Adds every event of `range`, read from the store.
    pub(crate) fn add_events(
        &mut self,
        reader: &TraceReader,
        range: std::ops::RangeInclusive<u64>,
        codes: &HashSet<(u32, u32)>,
    ) -> Result<()> {
        let names = ["seq", "kind", "depth", "code_id", "line"];
        let scan = reader
            .scan(Table::Events, Some(range), Some(&names))
            .map_err(QueryError::from)?;
        let (exception, line) = (EventKind::Exception.code(), EventKind::Line.code());
        for batch in scan {
            let b = batch?;
            let seqs = b.column(0).as_primitive::<UInt64Type>();
            let kinds = b.column(1).as_primitive::<UInt8Type>();
            let depths = b.column(2).as_primitive::<UInt32Type>();
            let code_ids = b.column(3).as_primitive::<UInt32Type>();
            let lines = b.column(4).as_primitive::<UInt32Type>();
            for i in 0..b.num_rows() {
                let s = seqs.value(i);
                let bucket = self.at(s);
                bucket.first_seq = bucket.first_seq.min(s);
                bucket.last_seq = bucket.last_seq.max(s);
                bucket.events += 1;
                bucket.max_depth = bucket.max_depth.max(depths.value(i));
                let kind = kinds.value(i);
                if kind == exception {
                    bucket.exceptions += 1;
                }
                if kind == line
                    && !codes.is_empty()
                    && codes.contains(&(code_ids.value(i), lines.value(i)))
                {
                    bucket.breakpoint_hits += 1;
                }
            }
        }
        Ok(())
    }

    /// The buckets that hold events.
    pub(crate) fn finish(mut self) -> Vec<Bucket> {
        self.buckets.retain(|b| b.events > 0);
        self.buckets
    }
}

/// The calls whose frame ever held local `name` with a value for which `predicate` is true.
/// Segments whose int ranges rule out `hint` are skipped.
pub(crate) fn calls_ever_holding(
    reader: &TraceReader,
    name: &str,
    hint: &ValueHint,
    predicate: &mut impl FnMut(&Local) -> bool,
) -> Result<HashSet<u64>> {
    let mut out = HashSet::new();
    let mut segments = NamedLocals::new(reader, name);
    while let Some(segment) = segments.next(|index| ruled_out(reader, index, name, hint))? {
        let rows = segment.rows();
        for i in segment.local_rows(&rows) {
            if !out.contains(&rows.calls.value(i)) && predicate(&rows.local(i)) {
                out.insert(rows.calls.value(i));
            }
        }
    }
    Ok(out)
}

/// Whether `values` segment `index` cannot hold a value of `name` that `hint` allows.
fn ruled_out(
    reader: &TraceReader,
    index: usize,
    name: &str,
    hint: &ValueHint,
) -> pyttd_format::Result<bool> {
    Ok(match hint {
        ValueHint::IntIn(range) => !reader.zone_map(index)?.may_hold_int(name, range),
        ValueHint::Any => false,
    })
}

/// A stretch of seqs during which frame `call_id` held a value of a name for which a predicate
/// is true (from the event where the value became visible to the one before it changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSpan {
    pub seqs: std::ops::RangeInclusive<u64>,
    pub call_id: u64,
}

/// The [`HeldSpan`]s of local `name` and `predicate`, sorted by start; `None` when there are
/// more than `limit`. Segments whose int ranges rule out `hint` are skipped while no span is
/// open (a segment is read while one is, to find where it ends).
pub(crate) fn held_spans(
    reader: &TraceReader,
    name: &str,
    hint: &ValueHint,
    predicate: &mut impl FnMut(&Local) -> bool,
    limit: usize,
) -> Result<Option<Vec<HeldSpan>>> {
    let mut open: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    let mut spans: Vec<HeldSpan> = Vec::new();
    let deleted = pyttd_format::ValueTag::Deleted.code();
    let mut segments = NamedLocals::new(reader, name);
    // While a span is open, every segment is read to find where it ends.
    while let Some(segment) =
        segments.next(|index| Ok(open.is_empty() && ruled_out(reader, index, name, hint)?))?
    {
        let rows = segment.rows();
        for i in segment.local_rows(&rows) {
            let (call_id, seq) = (rows.calls.value(i), rows.seqs.value(i));
            let local = rows.local(i);
            let holds = local.tag != deleted && predicate(&local);
            match (open.get(&call_id).copied(), holds) {
                (None, true) => {
                    open.insert(call_id, seq);
                }
                (Some(start), false) => {
                    open.remove(&call_id);
                    if start < seq {
                        spans.push(HeldSpan {
                            seqs: start..=seq - 1,
                            call_id,
                        });
                    }
                }
                _ => {}
            }
        }
        if spans.len() + open.len() > limit {
            return Ok(None);
        }
    }
    spans.extend(open.into_iter().map(|(call_id, start)| HeldSpan {
        seqs: start..=u64::MAX,
        call_id,
    }));
    spans.sort_unstable_by_key(|s| *s.seqs.start());
    Ok(Some(spans))
}

impl TraceSession {
    /// The SQL form of [`breakpoint_scan_where`]: `condition` is SQL over the `raw.values`
    /// columns of rows of `name` (e.g. `int_value = 3`). Candidate hits come from one query,
    /// nearest first, and are confirmed against the frame's locals at the hit.
    pub fn breakpoint_scan_where_sql(
        &self,
        from: u64,
        direction: Direction,
        breakpoints: &[LineBreakpoint],
        name: &str,
        condition: &str,
    ) -> Result<Option<u64>> {
        let reader = self.traces()[0].reader.clone();
        let codes = breakpoint_codes(&reader, breakpoints)?;
        if codes.is_empty() {
            return Ok(None);
        }
        let quoted = name.replace('\'', "''");
        let (cmp, order) = match direction {
            Direction::Forward => (">", "ASC"),
            Direction::Backward => ("<", "DESC"),
        };
        // Candidates nearest first, a page at a time, each confirmed at its step.
        const PAGE: usize = 64;
        let mut from = from;
        loop {
            let query = format!(
                "SELECT e.seq, e.call_id FROM raw.events e WHERE e.seq {cmp} {from} AND {hits} \
                 AND e.call_id IN (SELECT call_id FROM raw.values WHERE role = 0 \
                 AND name = '{quoted}' AND ({condition})) ORDER BY e.seq {order} LIMIT {PAGE}",
                hits = hits_sql(&codes, "e.")
            );
            let (_, batches) = self.sql(&query)?;
            let candidates: Vec<(u64, u64)> = batches
                .iter()
                .flat_map(|b| {
                    (0..b.num_rows())
                        .filter_map(move |i| Some((u64_at(b, 0, i)?, u64_at(b, 1, i)?)))
                })
                .collect();
            for &(seq, call_id) in &candidates {
                let locals = frame_locals(&reader, seq, call_id)?;
                // The candidate query proved the frame once held a matching value; confirm
                // it holds one at this step with the same condition.
                if let Some(l) = locals.iter().find(|l| l.name == name)
                    && self.value_matches(l, condition)?
                {
                    return Ok(Some(seq));
                }
            }
            match candidates.last() {
                Some(&(seq, _)) if candidates.len() == PAGE => from = seq,
                _ => return Ok(None),
            }
        }
    }

    /// Whether one local satisfies a SQL `condition` over the value columns.
    fn value_matches(&self, l: &Local, condition: &str) -> Result<bool> {
        let lit = |v: Option<String>| v.unwrap_or_else(|| "NULL".into());
        let query = format!(
            "SELECT count(*) FROM (SELECT CAST({tag} AS TINYINT UNSIGNED) AS tag, \
             CAST({int} AS BIGINT) AS int_value, CAST({float} AS DOUBLE) AS float_value, \
             CAST({text} AS VARCHAR) AS text) WHERE {condition}",
            tag = l.tag,
            int = lit(l.int_value.map(|v| v.to_string())),
            float = lit(l.float_value.map(|v| format!("{v:?}"))),
            text = lit(l
                .text
                .as_ref()
                .map(|t| format!("'{}'", t.replace('\'', "''")))),
        );
        let (_, batches) = self.sql(&query)?;
        Ok(batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .and_then(|b| u64_at(b, 0, 0))
            .unwrap_or(0)
            > 0)
    }
}
