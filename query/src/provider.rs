//! DataFusion table providers over one trace: every format table as stored (`raw.*`), and the
//! user-facing `events` table, whose `kind`, `file` and `function` are decoded from codes.
//!
//! Scans stream one segment at a time (memory stays bounded whatever the trace size), decode only
//! the projected columns, and skip segments a filter excludes before anything is decoded: a
//! comparison of the seq column with a literal (`seq > N`, `seq BETWEEN a AND b`, `seq = N`) is
//! checked against each segment header's seq range, one of `thread_id`, `call_id`, `code_id` or
//! `line` against the segment's zone map (SPEC.md, "Zone maps"), and `file = '...'` or
//! `function = '...'` of `events` as the set of code ids with that name. Segments are split
//! into contiguous runs, one per partition, so a scan uses every core and each partition stays
//! in seq order.

use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Int32Array, RecordBatch, RecordBatchOptions, StringArray,
    UInt8Array, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use pyttd_format::{CodeKind, EventKind, Table, TraceReader};

use crate::canned::LineBreakpoint;

/// How batches of the stored table become rows of the provided one.
#[derive(Debug, Clone)]
enum Shape {
    /// The stored columns as they are.
    Raw,
    /// `events` with codes decoded (see [`events_schema`]).
    Events(Arc<CodeNames>),
}

/// `code_id` → position in `files`/`functions`, for the dictionary-encoded `file` and
/// `function` columns of `events`.
#[derive(Debug)]
pub struct CodeNames {
    index: Vec<Option<i32>>,
    files: ArrayRef,
    functions: ArrayRef,
    /// `code.kind`, by position as `files`.
    kinds: Vec<u8>,
}

impl CodeNames {
    /// Reads the `code` table.
    pub fn load(reader: &TraceReader) -> pyttd_format::Result<CodeNames> {
        let (mut files, mut functions, mut index) = (Vec::new(), Vec::new(), Vec::new());
        let mut kinds = Vec::new();
        let wanted = ["code_id", "file", "qualname", "kind"];
        for batch in reader.scan(Table::Code, None, Some(&wanted))? {
            let batch = batch?;
            let ids = column::<UInt32Array>(&batch, 0);
            let f = column::<StringArray>(&batch, 1);
            let q = column::<StringArray>(&batch, 2);
            let k = column::<UInt8Array>(&batch, 3);
            for i in 0..batch.num_rows() {
                let id = ids.value(i) as usize;
                if index.len() <= id {
                    index.resize(id + 1, None);
                }
                index[id] = Some(files.len() as i32);
                files.push(f.value(i).to_string());
                functions.push(q.value(i).to_string());
                kinds.push(k.value(i));
            }
        }
        Ok(CodeNames {
            index,
            files: Arc::new(StringArray::from(files)),
            functions: Arc::new(StringArray::from(functions)),
            kinds,
        })
    }

    fn strings(array: &ArrayRef) -> &StringArray {
        array.as_any().downcast_ref().expect("strings")
    }

    /// Every code id with its position in `files`, `functions` and `kinds`.
    fn ids(&self) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.index
            .iter()
            .enumerate()
            .filter_map(|(id, at)| at.map(|at| (id as u32, at as usize)))
    }

    /// The qualified name and file of `code_id`.
    pub fn name_of(&self, code_id: u32) -> Option<(&str, &str)> {
        let at = self.index.get(code_id as usize).copied().flatten()? as usize;
        Some((
            Self::strings(&self.functions).value(at),
            Self::strings(&self.files).value(at),
        ))
    }

    /// `(code_id, line)` of every code in a breakpoint's file, with that breakpoint's line.
    pub fn at_lines(&self, breakpoints: &[LineBreakpoint]) -> HashSet<(u32, u32)> {
        let files = Self::strings(&self.files);
        let mut out = HashSet::new();
        for (id, at) in self.ids() {
            for bp in breakpoints.iter().filter(|bp| files.value(at) == bp.file) {
                out.insert((id, bp.line));
            }
        }
        out
    }

    /// Whether `code_id` is a generator, coroutine or async generator (its frames suspend).
    pub fn is_suspendable(&self, code_id: u32) -> bool {
        let at = self.index.get(code_id as usize).copied().flatten();
        at.is_some_and(|at| {
            !matches!(
                CodeKind::from_code(self.kinds[at as usize]),
                Some(CodeKind::Function | CodeKind::Module)
            )
        })
    }

    /// Code ids of generators, coroutines and async generators: frames that suspend.
    pub fn suspendable(&self) -> HashSet<u32> {
        self.ids()
            .filter(|&(_, at)| {
                !matches!(
                    CodeKind::from_code(self.kinds[at]),
                    Some(CodeKind::Function | CodeKind::Module)
                )
            })
            .map(|(id, _)| id)
            .collect()
    }

    /// Code ids of functions named `name`: their qualified name is `name` or ends in `.name`.
    pub fn functions_named(&self, name: &str) -> HashSet<u32> {
        let functions = Self::strings(&self.functions);
        self.ids()
            .filter(|&(_, at)| {
                let q = functions.value(at);
                q == name || q.rsplit_once('.').is_some_and(|(_, last)| last == name)
            })
            .map(|(id, _)| id)
            .collect()
    }

    /// Code ids of `file` (absolute, as `code.file` stores it).
    pub fn in_file(&self, file: &str) -> Vec<u32> {
        let files = Self::strings(&self.files);
        self.ids()
            .filter(|&(_, at)| files.value(at) == file)
            .map(|(id, _)| id)
            .collect()
    }

    /// The code ids whose `file` (or `function`, the qualified name) is `text`.
    fn code_ids_where(&self, column: &str, text: &str) -> Vec<u64> {
        let names = Self::strings(match column {
            "file" => &self.files,
            _ => &self.functions,
        });
        self.ids()
            .filter(|&(_, at)| names.value(at) == text)
            .map(|(id, _)| u64::from(id))
            .collect()
    }

    fn keys(&self, code_ids: &UInt32Array) -> Int32Array {
        code_ids
            .iter()
            .map(|id| id.and_then(|id| self.index.get(id as usize).copied().flatten()))
            .collect()
    }
}

fn column<T: 'static>(batch: &RecordBatch, i: usize) -> &T {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<T>()
        .expect("the format crate checked the schema")
}

fn dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The user-facing `events` schema.
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new("thread_id", DataType::UInt32, false),
        Field::new("kind", dictionary(), false),
        Field::new("file", dictionary(), true),
        Field::new("function", dictionary(), true),
        Field::new("line", DataType::UInt32, false),
        Field::new("depth", DataType::UInt32, false),
        Field::new("call_id", DataType::UInt64, false),
        Field::new("ts_ns", DataType::Int64, false),
        Field::new("code_id", DataType::UInt32, false),
    ]))
}

/// The stored `events` column each `events` column is computed from.
const EVENTS_SOURCE: [&str; 10] = [
    "seq",
    "thread_id",
    "kind",
    "code_id",
    "code_id",
    "line",
    "depth",
    "call_id",
    "ts_ns",
    "code_id",
];

/// A table of one trace.
#[derive(Debug)]
pub struct SegmentTable {
    reader: Arc<TraceReader>,
    table: Table,
    schema: SchemaRef,
    shape: Shape,
}

impl SegmentTable {
    /// The stored table `table`, columns as the spec lists them.
    pub fn raw(reader: Arc<TraceReader>, table: Table) -> SegmentTable {
        SegmentTable {
            reader,
            table,
            schema: table.schema(),
            shape: Shape::Raw,
        }
    }

    /// The user-facing `events` table.
    pub fn events(reader: Arc<TraceReader>, names: Arc<CodeNames>) -> SegmentTable {
        SegmentTable {
            reader,
            table: Table::Events,
            schema: events_schema(),
            shape: Shape::Events(names),
        }
    }

    /// What `filters` (ANDed) say about the rows a scan needs: a seq range, and ranges or
    /// value sets of zone-mapped columns (`file = '...'` and `function = '...'` of `events`
    /// become sets of code ids).
    fn pruning(&self, filters: &[Expr]) -> Pruning {
        let mut p = Pruning::default();
        let zone_columns = self.table.zone_columns();
        for f in filters {
            for conjunct in conjuncts(f) {
                if let Some(col) = self.table.seq_column()
                    && let Some(b) = column_bounds(conjunct, col)
                {
                    p.seq = intersect(&p.seq, &b);
                    continue;
                }
                if let Some((col, b)) = zone_columns
                    .iter()
                    .find_map(|&c| column_bounds(conjunct, c).map(|b| (c, b)))
                {
                    p.narrow(col, b);
                    continue;
                }
                if let Shape::Events(names) = &self.shape
                    && let Some((col, text)) = string_equality(conjunct)
                {
                    let ids = names.code_ids_where(col, &text);
                    p.narrow_set("code_id", ids);
                }
            }
        }
        p
    }
}

/// What a scan's filters allow, for skipping segments.
#[derive(Debug, Clone)]
struct Pruning {
    seq: RangeInclusive<u64>,
    ranges: Vec<(&'static str, RangeInclusive<u64>)>,
    sets: Vec<(&'static str, Vec<u64>)>,
}

impl Default for Pruning {
    fn default() -> Self {
        Pruning {
            seq: 0..=u64::MAX,
            ranges: Vec::new(),
            sets: Vec::new(),
        }
    }
}

impl Pruning {
    fn is_unconstrained(&self) -> bool {
        self.seq == (0..=u64::MAX) && self.ranges.is_empty() && self.sets.is_empty()
    }

    fn narrow(&mut self, column: &'static str, bounds: RangeInclusive<u64>) {
        match self.ranges.iter_mut().find(|(c, _)| *c == column) {
            Some((_, r)) => *r = intersect(r, &bounds),
            None => self.ranges.push((column, bounds)),
        }
    }

    fn narrow_set(&mut self, column: &'static str, mut values: Vec<u64>) {
        match self.sets.iter_mut().find(|(c, _)| *c == column) {
            Some((_, v)) => v.retain(|x| values.contains(x)),
            None => {
                values.sort_unstable();
                self.sets.push((column, values));
            }
        }
    }

    /// False when segment `index`'s zone map excludes every row the filters allow. A segment
    /// whose zones cannot be read is kept: decoding it reports the damage.
    fn zones_allow(&self, reader: &TraceReader, index: usize) -> bool {
        if self.ranges.is_empty() && self.sets.is_empty() {
            return true;
        }
        if self.ranges.iter().any(|(_, r)| r.is_empty())
            || self.sets.iter().any(|(_, v)| v.is_empty())
        {
            return false;
        }
        let Ok(zones) = reader.zone_map(index) else {
            return true;
        };
        self.ranges.iter().all(|(c, r)| zones.may_overlap(c, r))
            && self.sets.iter().all(|(c, v)| zones.may_contain_any(c, v))
    }
}

fn intersect(a: &RangeInclusive<u64>, b: &RangeInclusive<u64>) -> RangeInclusive<u64> {
    *a.start().max(b.start())..=*a.end().min(b.end())
}

/// The terms of an AND chain.
fn conjuncts(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            let mut v = conjuncts(left);
            v.extend(conjuncts(right));
            v
        }
        e => vec![e],
    }
}

/// `file = 'text'` or `function = 'text'` (either side, through casts of the literal).
fn string_equality(expr: &Expr) -> Option<(&'static str, String)> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = expr
    else {
        return None;
    };
    let ((Expr::Column(c), lit) | (lit, Expr::Column(c))) = (left.as_ref(), right.as_ref()) else {
        return None;
    };
    let col = match c.name.as_str() {
        "file" => "file",
        "function" => "function",
        _ => return None,
    };
    string_literal(lit).map(|s| (col, s))
}

fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Literal(v, _) => scalar_string(v),
        Expr::Cast(c) => string_literal(&c.expr),
        Expr::TryCast(c) => string_literal(&c.expr),
        _ => None,
    }
}

fn scalar_string(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        ScalarValue::Dictionary(_, inner) => scalar_string(inner),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for SegmentTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters on seq and zone-mapped columns prune segments; DataFusion still applies
        // them to the rows.
        Ok(filters
            .iter()
            .map(
                |f| match self.pruning(std::slice::from_ref(*f)).is_unconstrained() {
                    true => TableProviderFilterPushDown::Unsupported,
                    false => TableProviderFilterPushDown::Inexact,
                },
            )
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        let mut stats = Statistics::new_unknown(&self.schema);
        stats.num_rows = Precision::Exact(self.reader.row_count(self.table) as usize);
        Some(stats)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let pruning = self.pruning(filters);
        let range = pruning.seq.clone();
        let columns: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let schema = Arc::new(self.schema.project(&columns)?);
        let segments: Vec<usize> = self
            .reader
            .table_segments(self.table)
            .filter(|s| {
                s.seq_range
                    .as_ref()
                    .is_none_or(|have| have.start() <= range.end() && range.start() <= have.end())
            })
            .filter(|_| range.start() <= range.end())
            .filter(|s| pruning.zones_allow(&self.reader, s.index))
            .map(|s| s.index)
            .collect();
        let parts = state
            .config()
            .target_partitions()
            .clamp(1, segments.len().max(1));
        let per = segments.len().div_ceil(parts).max(1);
        // An empty scan is still one (empty) partition.
        let chunks: Vec<&[usize]> = if segments.is_empty() {
            vec![&[]]
        } else {
            segments.chunks(per).collect()
        };
        let partitions: Vec<Arc<dyn PartitionStream>> = chunks
            .into_iter()
            .map(|chunk| {
                Arc::new(SegmentStream {
                    reader: self.reader.clone(),
                    table: self.table,
                    schema: schema.clone(),
                    columns: columns.clone(),
                    shape: self.shape.clone(),
                    segments: chunk.to_vec(),
                    range: range.clone(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            partitions,
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

/// A seq range no row is in.
#[allow(clippy::reversed_empty_ranges)]
const EMPTY: RangeInclusive<u64> = 1..=0;

/// The range of values of the integer column `col` a filter allows, when it is a comparison of
/// the column with a literal (or a BETWEEN, or an AND of such).
fn column_bounds(expr: &Expr, col: &str) -> Option<RangeInclusive<u64>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if *op == Operator::And {
                let (a, b) = (column_bounds(left, col), column_bounds(right, col));
                return match (a, b) {
                    (Some(a), Some(b)) => Some(*a.start().max(b.start())..=*a.end().min(b.end())),
                    (Some(r), None) | (None, Some(r)) => Some(r),
                    (None, None) => None,
                };
            }
            let (op, value) = match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) if c.name == col => (*op, v),
                (Expr::Literal(v, _), Expr::Column(c)) if c.name == col => (op.swap()?, v),
                _ => return None,
            };
            let v = literal_i128(value)?;
            let clamp = |x: i128| x.clamp(0, u64::MAX as i128) as u64;
            match op {
                Operator::Eq => Some(clamp(v)..=clamp(v)),
                Operator::Gt => Some(clamp(v + 1)..=u64::MAX),
                Operator::GtEq => Some(clamp(v)..=u64::MAX),
                Operator::Lt if v <= 0 => Some(EMPTY),
                Operator::Lt => Some(0..=clamp(v - 1)),
                Operator::LtEq if v < 0 => Some(EMPTY),
                Operator::LtEq => Some(0..=clamp(v)),
                _ => None,
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => match (expr.as_ref(), low.as_ref(), high.as_ref()) {
            (Expr::Column(c), Expr::Literal(lo, _), Expr::Literal(hi, _)) if c.name == col => {
                let (lo, hi) = (literal_i128(lo)?, literal_i128(hi)?);
                if hi < lo.max(0) {
                    return Some(EMPTY);
                }
                Some(lo.clamp(0, u64::MAX as i128) as u64..=hi.min(u64::MAX as i128) as u64)
            }
            _ => None,
        },
        _ => None,
    }
}

fn literal_i128(v: &ScalarValue) -> Option<i128> {
    Some(match v {
        ScalarValue::Int8(Some(x)) => *x as i128,
        ScalarValue::Int16(Some(x)) => *x as i128,
        ScalarValue::Int32(Some(x)) => *x as i128,
        ScalarValue::Int64(Some(x)) => *x as i128,
        ScalarValue::UInt8(Some(x)) => *x as i128,
        ScalarValue::UInt16(Some(x)) => *x as i128,
        ScalarValue::UInt32(Some(x)) => *x as i128,
        ScalarValue::UInt64(Some(x)) => *x as i128,
        _ => return None,
    })
}

/// One partition: a contiguous run of segments, decoded one at a time.
#[derive(Debug)]
struct SegmentStream {
    reader: Arc<TraceReader>,
    table: Table,
    schema: SchemaRef,
    /// Indices into the provided schema.
    columns: Vec<usize>,
    shape: Shape,
    segments: Vec<usize>,
    range: RangeInclusive<u64>,
}

impl PartitionStream for SegmentStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let reader = self.reader.clone();
        let (table, schema, shape) = (self.table, self.schema.clone(), self.shape.clone());
        let columns = self.columns.clone();
        let range = self.range.clone();
        let full_range = *range.start() == 0 && *range.end() == u64::MAX;
        // The stored columns to decode, in order of first use.
        let stored = table.schema();
        let sources: Vec<&str> = match shape {
            Shape::Raw => columns
                .iter()
                .map(|&c| stored.field(c).name().as_str())
                .collect(),
            Shape::Events(_) => columns.iter().map(|&c| EVENTS_SOURCE[c]).collect(),
        };
        let mut wanted: Vec<&str> = Vec::new();
        for s in &sources {
            if !wanted.contains(s) {
                wanted.push(s);
            }
        }
        if wanted.is_empty() {
            // `count(*)`: no column is needed, only row counts; decode the cheapest one.
            wanted.push(
                table
                    .seq_column()
                    .unwrap_or(stored.field(0).name().as_str()),
            );
        }
        let wanted: Vec<String> = wanted.into_iter().map(String::from).collect();
        let sources: Vec<String> = sources.into_iter().map(String::from).collect();
        let batches = self.segments.clone().into_iter().map(move |seg| {
            let names: Vec<&str> = wanted.iter().map(String::as_str).collect();
            let seq_range = (!full_range).then(|| range.clone());
            let batch = scan_one(&reader, table, seg, seq_range, &names)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let arrays: Vec<ArrayRef> = columns
                .iter()
                .zip(&sources)
                .map(|(&c, source)| {
                    let raw =
                        batch.column(wanted.iter().position(|w| w == source).expect("decoded"));
                    match &shape {
                        Shape::Raw => raw.clone(),
                        Shape::Events(names) => events_column(c, raw, names),
                    }
                })
                .collect();
            let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
            Ok(RecordBatch::try_new_with_options(
                schema.clone(),
                arrays,
                &options,
            )?)
        });
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::iter(batches),
        ))
    }
}

/// Decodes one segment's `names` columns, restricted to `seq_range`.
fn scan_one(
    reader: &TraceReader,
    table: Table,
    segment: usize,
    seq_range: Option<RangeInclusive<u64>>,
    names: &[&str],
) -> pyttd_format::Result<RecordBatch> {
    let schema = table.schema();
    let projection: Vec<usize> = names
        .iter()
        .map(|n| schema.index_of(n).expect("a stored column"))
        .collect();
    match seq_range {
        None => reader.read_segment(segment, Some(&projection)),
        Some(range) => reader.read_segment_in(segment, table, range, Some(&projection)),
    }
}

/// Column `c` of `events` from its stored column.
fn events_column(c: usize, raw: &ArrayRef, names: &CodeNames) -> ArrayRef {
    match c {
        2 => {
            let codes = raw.as_any().downcast_ref::<UInt8Array>().expect("kind");
            let keys: Int32Array = codes.iter().map(|k| k.map(i32::from)).collect();
            let values: StringArray = (0..=7u8)
                .map(|k| EventKind::from_code(k).map(EventKind::as_str))
                .collect();
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values))
                    .expect("keys in range"),
            )
        }
        3 | 4 => {
            let ids = raw.as_any().downcast_ref::<UInt32Array>().expect("code_id");
            let values = if c == 3 {
                &names.files
            } else {
                &names.functions
            };
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(names.keys(ids), values.clone())
                    .expect("keys in range"),
            )
        }
        _ => raw.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};
    use pyttd_format::{CodeKind, TraceBuilder, Value, WriterOptions};

    /// Segment indices of `events` a scan with `filters` reads.
    fn scanned(table: &SegmentTable, filters: &[Expr]) -> Vec<usize> {
        let p = table.pruning(filters);
        table
            .reader
            .table_segments(Table::Events)
            .filter(|s| p.zones_allow(&table.reader, s.index))
            .map(|s| s.index)
            .collect()
    }

    #[test]
    fn zone_maps_skip_segments_by_thread_call_code_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pyttd");
        let mut w = pyttd_format::TraceWriter::create(&path, WriterOptions::default()).unwrap();
        let mut b = TraceBuilder::new();
        let module = b.code("/a.py", "<module>", 1, CodeKind::Module);
        let f = b.code("/b.py", "f", 10, CodeKind::Function);
        // Segment 1: thread 0, the module, lines 1..=2. Segment 2: thread 1 in f, lines 10..=11.
        b.call(0, module, 1, &[]);
        b.line(0, 2, &[]);
        b.flush_into(&mut w).unwrap();
        w.flush().unwrap();
        let t = b.thread("worker");
        b.call(t, f, 10, &[]);
        b.line(t, 11, &[]);
        b.ret(t, 11, Value::None);
        b.finish_into(w, 0).unwrap();
        let reader = Arc::new(TraceReader::open(&path).unwrap());
        let names = Arc::new(CodeNames::load(&reader).unwrap());
        let events = SegmentTable::events(reader.clone(), names);
        let all: Vec<usize> = reader
            .table_segments(Table::Events)
            .map(|s| s.index)
            .collect();
        assert_eq!(all.len(), 2);
        let (first, second) = (vec![all[0]], vec![all[1]]);
        assert_eq!(scanned(&events, &[col("thread_id").eq(lit(1u32))]), second);
        assert_eq!(scanned(&events, &[col("line").lt_eq(lit(2u32))]), first);
        assert_eq!(scanned(&events, &[col("call_id").eq(lit(2u64))]), second);
        assert_eq!(scanned(&events, &[col("call_id").eq(lit(1u64))]), first);
        assert_eq!(scanned(&events, &[col("file").eq(lit("/a.py"))]), first);
        assert_eq!(scanned(&events, &[col("function").eq(lit("f"))]), second);
        let none: Vec<usize> = Vec::new();
        assert_eq!(
            scanned(&events, &[col("file").eq(lit("/nowhere.py"))]),
            none
        );
        assert_eq!(
            scanned(
                &events,
                &[col("thread_id")
                    .eq(lit(0u32))
                    .and(col("line").gt(lit(5u32)))]
            ),
            none
        );
        // Filters the zones cannot judge keep every segment.
        assert_eq!(scanned(&events, &[col("depth").eq(lit(0u32))]), all);
        assert_eq!(
            scanned(
                &events,
                &[col("line").eq(lit(2u32)).or(col("line").eq(lit(11u32)))]
            ),
            all
        );
    }
}
