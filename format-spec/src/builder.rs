//! Row builders that turn events and values into v1 record batches, and [`TraceBuilder`], which
//! makes whole synthetic traces through the real writer (for fixtures, tests and benchmarks).

use std::sync::Arc;

use std::collections::HashMap;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt8Type, UInt32Type, UInt64Type};
use arrow_array::{
    ArrayRef, ArrowPrimitiveType, BooleanArray, DictionaryArray, Int32Array, Int64Array,
    PrimitiveArray, RecordBatch, StringArray, UInt8Array, UInt32Array, UInt64Array,
};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::Field;

use crate::error::Result;
use crate::reader::Event;
use crate::schema::{CodeKind, EventKind, OutputStream, Table, ValueRole, ValueTag};
use crate::writer::{TraceWriter, WriterOptions};

fn batch(table: Table, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(table.schema(), columns).expect("builders produce the v1 schema")
}

/// A primitive column being built from plain vectors, made an array at `finish`: a push is a
/// vector push (an Arrow builder checks its capacity and validity at every value). The validity
/// vector exists from the first null on. A run of nulls is counted and laid down in one go before
/// the next value (most value columns are null in most rows: a float column of an int's row).
struct Column<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    valid: Option<Vec<bool>>,
    /// The validity vector of the last batch, emptied, kept for its room.
    spare_valid: Vec<bool>,
    /// Nulls pushed since the last value, not yet in `values`.
    nulls: usize,
}

impl<T: ArrowPrimitiveType> Default for Column<T> {
    fn default() -> Self {
        Column {
            values: Vec::new(),
            valid: None,
            spare_valid: Vec::new(),
            nulls: 0,
        }
    }
}

impl<T: ArrowPrimitiveType> Column<T> {
    #[inline]
    fn push(&mut self, v: T::Native) {
        if self.nulls != 0 {
            self.lay_nulls();
        }
        self.values.push(v);
        if let Some(valid) = &mut self.valid {
            valid.push(true);
        }
    }

    #[inline]
    fn push_option(&mut self, v: Option<T::Native>) {
        match v {
            Some(v) => self.push(v),
            None => self.nulls += 1,
        }
    }

    /// Lays down the counted nulls.
    fn lay_nulls(&mut self) {
        let n = self.values.len();
        let len = n + std::mem::take(&mut self.nulls);
        self.values.resize(len, T::Native::default());
        let spare = &mut self.spare_valid;
        self.valid
            .get_or_insert_with(|| {
                let mut valid = std::mem::take(spare);
                valid.resize(n, true);
                valid
            })
            .resize(len, false);
    }

    /// The values pushed so far; the column is left empty, with room for as many again.
    fn finish(&mut self) -> PrimitiveArray<T> {
        if self.nulls != 0 {
            self.lay_nulls();
        }
        // The next batch gets as much room as this one had: a batch larger than the last one
        // would otherwise grow its vector by reallocating (copying) it again and again.
        let room = self.values.capacity();
        let values = std::mem::replace(&mut self.values, Vec::with_capacity(room));
        let nulls = self.valid.take().map(|valid| {
            let nulls = NullBuffer::from(valid.as_slice());
            self.spare_valid = valid;
            self.spare_valid.clear();
            nulls
        });
        PrimitiveArray::new(ScalarBuffer::from(values), nulls)
    }
}

/// A nullable `Utf8` column whose runs of nulls are counted, as [`Column`]'s are.
#[derive(Default)]
struct OptionalText {
    builder: StringBuilder,
    nulls: usize,
}

impl OptionalText {
    #[inline]
    fn append_option(&mut self, text: Option<&str>) {
        match text {
            Some(text) => {
                if self.nulls != 0 {
                    self.builder.append_nulls(std::mem::take(&mut self.nulls));
                }
                self.builder.append_value(text);
            }
            None => self.nulls += 1,
        }
    }

    fn finish(&mut self) -> StringArray {
        if self.nulls != 0 {
            self.builder.append_nulls(std::mem::take(&mut self.nulls));
        }
        self.builder.finish()
    }
}

/// A non-null `Boolean` column being built from a vector.
#[derive(Default)]
struct Flags(Vec<bool>);

impl Flags {
    #[inline]
    fn push(&mut self, v: bool) {
        self.0.push(v);
    }

    fn finish(&mut self) -> BooleanArray {
        let room = self.0.capacity();
        BooleanArray::from(std::mem::replace(&mut self.0, Vec::with_capacity(room)))
    }
}

/// A dictionary-encoded string column (`Dictionary(Int32, Utf8)`, entries in first-seen order).
///
/// Callers pass the same few strings over and over. A caller that numbers its strings (the
/// recorder numbers variable names) passes the number too, and the entry is found by it in a
/// `Vec`; other text is hashed.
#[derive(Debug, Default)]
struct DictionaryColumn {
    keys: Vec<i32>,
    entries: Vec<Box<str>>,
    by_text: HashMap<Box<str>, i32>,
    /// By the caller's number of a string: its key + 1 in this batch's dictionary (0: none yet).
    by_id: Vec<i32>,
}

impl DictionaryColumn {
    fn key_of(&mut self, text: &str) -> i32 {
        if let Some(&key) = self.by_text.get(text) {
            return key;
        }
        let key = i32::try_from(self.entries.len()).expect("fewer than 2^31 entries");
        self.entries.push(text.into());
        self.by_text.insert(text.into(), key);
        key
    }

    fn append(&mut self, text: &str) {
        let key = self.key_of(text);
        self.keys.push(key);
    }

    /// Appends a key pushed before (see [`DictionaryColumn::key_of`]).
    fn append_key(&mut self, key: i32) {
        debug_assert!((key as usize) < self.entries.len());
        self.keys.push(key);
    }

    /// Appends `text`, which the caller numbers `id` (the same id always names the same text).
    fn append_numbered(&mut self, id: u32, text: &str) {
        let i = id as usize;
        if let Some(&k) = self.by_id.get(i)
            && k > 0
        {
            self.keys.push(k - 1);
            return;
        }
        let key = self.key_of(text);
        if self.by_id.len() <= i {
            self.by_id.resize(i + 1, 0);
        }
        self.by_id[i] = key + 1;
        self.keys.push(key);
    }

    /// The column so far; the builder starts over with an empty dictionary.
    fn finish(&mut self) -> DictionaryArray<Int32Type> {
        let room = self.keys.capacity();
        let keys = Int32Array::from(std::mem::replace(&mut self.keys, Vec::with_capacity(room)));
        let values = StringArray::from_iter_values(self.entries.iter());
        self.entries.clear();
        self.by_text.clear();
        self.by_id.clear();
        DictionaryArray::try_new(keys, Arc::new(values)).expect("every key names an entry")
    }
}

/// Builds `events` batches. Pushing is a handful of `Vec` pushes; `finish` hands the vectors
/// to Arrow without copying.
#[derive(Debug, Default)]
pub struct EventsBuilder {
    seq: Vec<u64>,
    thread_id: Vec<u32>,
    kind: Vec<u8>,
    code_id: Vec<u32>,
    line: Vec<u32>,
    depth: Vec<u32>,
    call_id: Vec<u64>,
    ts_ns: Vec<i64>,
}

impl EventsBuilder {
    pub fn with_capacity(n: usize) -> Self {
        EventsBuilder {
            seq: Vec::with_capacity(n),
            thread_id: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            code_id: Vec::with_capacity(n),
            line: Vec::with_capacity(n),
            depth: Vec::with_capacity(n),
            call_id: Vec::with_capacity(n),
            ts_ns: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, e: &Event) {
        self.seq.push(e.seq);
        self.thread_id.push(e.thread_id);
        self.kind.push(e.kind.code());
        self.code_id.push(e.code_id);
        self.line.push(e.line);
        self.depth.push(e.depth);
        self.call_id.push(e.call_id);
        self.ts_ns.push(e.ts_ns);
    }

    pub fn len(&self) -> usize {
        self.seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    /// The rows pushed so far as one batch; the builder is left empty, with as much room as it
    /// had (so that a batch larger than the last one does not regrow its vectors, copying them).
    pub fn finish(&mut self) -> RecordBatch {
        let b = std::mem::replace(self, EventsBuilder::with_capacity(self.seq.capacity()));
        batch(
            Table::Events,
            vec![
                Arc::new(UInt64Array::from(b.seq)),
                Arc::new(UInt32Array::from(b.thread_id)),
                Arc::new(UInt8Array::from(b.kind)),
                Arc::new(UInt32Array::from(b.code_id)),
                Arc::new(UInt32Array::from(b.line)),
                Arc::new(UInt32Array::from(b.depth)),
                Arc::new(UInt64Array::from(b.call_id)),
                Arc::new(Int64Array::from(b.ts_ns)),
            ],
        )
    }
}

/// A recorded value, as the `values` and `children` tables store it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Deleted,
    None,
    Bool(bool),
    Int(i64),
    /// An int outside 64 bits, as decimal digits.
    BigInt(String),
    Float(f64),
    Str {
        text: String,
        truncated: bool,
    },
    /// Boxed: the other kinds of value are what most rows hold, and stay small (32 bytes).
    Repr(Box<ReprValue>),
    Redacted {
        type_name: String,
    },
}

/// A value shown by its `repr()` text (SPEC.md, value tag `repr`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReprValue {
    pub type_name: String,
    pub text: String,
    pub truncated: bool,
    pub length: Option<u64>,
    pub object_id: Option<u64>,
}

impl From<ReprValue> for Value {
    fn from(r: ReprValue) -> Value {
        Value::Repr(Box::new(r))
    }
}

impl Value {
    pub fn tag(&self) -> ValueTag {
        match self {
            Value::Deleted => ValueTag::Deleted,
            Value::None => ValueTag::None,
            Value::Bool(_) => ValueTag::Bool,
            Value::Int(_) | Value::BigInt(_) => ValueTag::Int,
            Value::Float(_) => ValueTag::Float,
            Value::Str { .. } => ValueTag::Str,
            Value::Repr(_) => ValueTag::Repr,
            Value::Redacted { .. } => ValueTag::Redacted,
        }
    }

    /// The Python type name stored in `type_name`.
    pub fn type_name(&self) -> &str {
        match self {
            Value::Deleted => "",
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str { .. } => "str",
            Value::Repr(r) => &r.type_name,
            Value::Redacted { type_name } => type_name,
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str {
            text: v.to_string(),
            truncated: false,
        }
    }
}

/// The eight value columns shared by `values` and `children`.
#[derive(Default)]
struct ValueColumns {
    tag: Column<UInt8Type>,
    type_name: DictionaryColumn,
    /// The `type_name` key of each tag whose type name is fixed, once in the dictionary.
    fixed_type_keys: [Option<i32>; 8],
    int_value: Column<Int64Type>,
    float_value: Column<Float64Type>,
    text: OptionalText,
    truncated: Flags,
    length: Column<UInt64Type>,
    object_id: Column<UInt64Type>,
}

impl ValueColumns {
    fn push(&mut self, v: &Value) {
        let tag = v.tag().code();
        self.tag.push(tag);
        match v {
            Value::Repr(r) => self.type_name.append(&r.type_name),
            Value::Redacted { type_name } => self.type_name.append(type_name),
            // Every other kind of value has one type name per tag.
            _ => {
                let key = match self.fixed_type_keys[tag as usize] {
                    Some(key) => key,
                    None => {
                        let key = self.type_name.key_of(v.type_name());
                        self.fixed_type_keys[tag as usize] = Some(key);
                        key
                    }
                };
                self.type_name.append_key(key);
            }
        }
        let (int, float, text, truncated, length, object_id) = match v {
            Value::Deleted | Value::None | Value::Redacted { .. } => {
                (None, None, None, false, None, None)
            }
            Value::Bool(b) => (Some(*b as i64), None, None, false, None, None),
            Value::Int(i) => (Some(*i), None, None, false, None, None),
            Value::BigInt(s) => (None, None, Some(s.as_str()), false, None, None),
            Value::Float(f) => (None, Some(*f), None, false, None, None),
            Value::Str { text, truncated } => {
                (None, None, Some(text.as_str()), *truncated, None, None)
            }
            Value::Repr(r) => (
                None,
                None,
                Some(r.text.as_str()),
                r.truncated,
                r.length,
                r.object_id,
            ),
        };
        self.int_value.push_option(int);
        self.float_value.push_option(float);
        self.text.append_option(text);
        self.truncated.push(truncated);
        self.length.push_option(length);
        self.object_id.push_option(object_id);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        self.fixed_type_keys = [None; 8];
        vec![
            Arc::new(self.tag.finish()),
            Arc::new(self.type_name.finish()),
            Arc::new(self.int_value.finish()),
            Arc::new(self.float_value.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.truncated.finish()),
            Arc::new(self.length.finish()),
            Arc::new(self.object_id.finish()),
        ]
    }
}

/// Builds `values` batches.
#[derive(Default)]
pub struct ValuesBuilder {
    seq: Column<UInt64Type>,
    call_id: Column<UInt64Type>,
    name: DictionaryColumn,
    role: Column<UInt8Type>,
    snapshot: Flags,
    value: ValueColumns,
    rows: usize,
}

impl std::fmt::Debug for ValuesBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValuesBuilder")
            .field("rows", &self.rows)
            .finish()
    }
}

impl ValuesBuilder {
    pub fn push(
        &mut self,
        seq: u64,
        call_id: u64,
        name: &str,
        role: ValueRole,
        snapshot: bool,
        value: &Value,
    ) {
        self.name.append(name);
        self.push_rest(seq, call_id, role, snapshot, value);
    }

    /// As [`ValuesBuilder::push`], for a caller that numbers its names: `name_id` always means
    /// the same `name` (faster: the name's dictionary entry is found by its number).
    #[allow(clippy::too_many_arguments)]
    pub fn push_numbered(
        &mut self,
        seq: u64,
        call_id: u64,
        name_id: u32,
        name: &str,
        role: ValueRole,
        snapshot: bool,
        value: &Value,
    ) {
        self.name.append_numbered(name_id, name);
        self.push_rest(seq, call_id, role, snapshot, value);
    }

    fn push_rest(&mut self, seq: u64, call_id: u64, role: ValueRole, snapshot: bool, v: &Value) {
        self.seq.push(seq);
        self.call_id.push(call_id);
        self.role.push(role.code());
        self.snapshot.push(snapshot);
        self.value.push(v);
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn finish(&mut self) -> RecordBatch {
        self.rows = 0;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.seq.finish()),
            Arc::new(self.call_id.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.role.finish()),
            Arc::new(self.snapshot.finish()),
        ];
        cols.extend(self.value.finish());
        batch(Table::Values, cols)
    }
}

/// Builds `children` record batches, one row per child of an expanded value.
#[derive(Default)]
pub struct ChildrenBuilder {
    seq: Column<UInt64Type>,
    parent_id: Column<UInt64Type>,
    position: Column<UInt32Type>,
    key: StringBuilder,
    value: ValueColumns,
    rows: usize,
}

impl std::fmt::Debug for ChildrenBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildrenBuilder")
            .field("rows", &self.rows)
            .finish()
    }
}

impl ChildrenBuilder {
    pub fn push(&mut self, seq: u64, parent_id: u64, position: u32, key: &str, value: &Value) {
        self.seq.push(seq);
        self.parent_id.push(parent_id);
        self.position.push(position);
        self.key.append_value(key);
        self.value.push(value);
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn finish(&mut self) -> RecordBatch {
        self.rows = 0;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.seq.finish()),
            Arc::new(self.parent_id.finish()),
            Arc::new(self.position.finish()),
            Arc::new(self.key.finish()),
        ];
        cols.extend(self.value.finish());
        batch(Table::Children, cols)
    }
}

/// Makes a whole synthetic trace through the real writer: the run row, code objects, threads,
/// calls, events, value changes and output. Call [`TraceBuilder::flush_into`] periodically to
/// stream a large trace into a writer with bounded memory.
#[derive(Debug)]
pub struct TraceBuilder {
    next_seq: u64,
    next_call: u64,
    ts_ns: i64,
    /// Per thread: the stack of (call_id, code_id).
    stacks: Vec<Vec<(u64, u32)>>,
    code_count: u32,
    run: Option<RecordBatch>,
    code: Vec<CodeRow>,
    threads: Vec<ThreadRow>,
    calls: Vec<CallRow>,
    events: EventsBuilder,
    values: ValuesBuilder,
    children: ChildrenBuilder,
    output: Vec<(u64, u32, OutputStream, String)>,
    exceptions: Vec<(u64, u32, u64, String, Option<String>)>,
    event_count: u64,
}

impl Default for TraceBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceBuilder {
    /// A trace of a run of `synthetic.py` with one thread, `MainThread` (thread id 0).
    pub fn new() -> Self {
        let mut b = TraceBuilder {
            next_seq: 0,
            next_call: 1,
            ts_ns: 0,
            stacks: Vec::new(),
            code_count: 0,
            run: None,
            code: Vec::new(),
            threads: Vec::new(),
            calls: Vec::new(),
            events: EventsBuilder::default(),
            values: ValuesBuilder::default(),
            children: ChildrenBuilder::default(),
            output: Vec::new(),
            exceptions: Vec::new(),
            event_count: 0,
        };
        b.run = Some(run_row("synthetic.py", "running", None, 0));
        b.thread("MainThread");
        b
    }

    /// Adds a thread; returns its thread id.
    pub fn thread(&mut self, name: &str) -> u32 {
        let id = self.stacks.len() as u32;
        self.stacks.push(Vec::new());
        self.threads.push(ThreadRow {
            thread_id: id,
            ident: 140_000_000_000 + id as u64,
            native_id: Some(1000 + id as u64),
            name: name.to_string(),
            first_seq: self.next_seq,
        });
        id
    }

    /// Adds a code object; returns its code id.
    pub fn code(&mut self, file: &str, qualname: &str, first_line: u32, kind: CodeKind) -> u32 {
        self.code_count += 1;
        let id = self.code_count;
        self.code.push(CodeRow {
            code_id: id,
            file: file.to_string(),
            name: qualname.rsplit('.').next().unwrap_or(qualname).to_string(),
            qualname: qualname.to_string(),
            first_line,
            kind,
        });
        id
    }

    /// The seq the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn event(&mut self, thread: u32, kind: EventKind, line: u32) -> (u64, u64) {
        let stack = &self.stacks[thread as usize];
        let &(call_id, code_id) = stack.last().expect("event inside a call");
        let seq = self.next_seq;
        self.next_seq += 1;
        self.ts_ns += event_gap_ns(seq);
        self.events.push(&Event {
            seq,
            thread_id: thread,
            kind,
            code_id,
            line,
            depth: (stack.len() - 1) as u32,
            call_id,
            ts_ns: self.ts_ns,
        });
        self.event_count += 1;
        (seq, call_id)
    }

    /// A call of `code_id` on `thread`, with its arguments; returns the new call id.
    pub fn call(&mut self, thread: u32, code_id: u32, line: u32, args: &[(&str, Value)]) -> u64 {
        let call_id = self.next_call;
        self.next_call += 1;
        let stack = &mut self.stacks[thread as usize];
        let parent = stack.last().map(|&(c, _)| c);
        let depth = stack.len() as u32;
        stack.push((call_id, code_id));
        self.calls.push(CallRow {
            call_id,
            parent_call_id: parent,
            thread_id: thread,
            code_id,
            depth,
            call_seq: self.next_seq,
        });
        let (seq, _) = self.event(thread, EventKind::Call, line);
        for (name, v) in args {
            self.values
                .push(seq, call_id, name, ValueRole::Local, true, v);
        }
        call_id
    }

    /// A line event in the current frame of `thread`; `changes` are the locals that became
    /// visible at this line.
    pub fn line(&mut self, thread: u32, line: u32, changes: &[(&str, Value)]) -> u64 {
        self.line_with_rows(thread, line, changes, false)
    }

    /// A line event at which the recorder wrote a periodic snapshot: every bound local of the
    /// frame, as snapshot rows (SPEC section 6, `values`).
    pub fn line_snapshot(&mut self, thread: u32, line: u32, locals: &[(&str, Value)]) -> u64 {
        self.line_with_rows(thread, line, locals, true)
    }

    fn line_with_rows(
        &mut self,
        thread: u32,
        line: u32,
        rows: &[(&str, Value)],
        snapshot: bool,
    ) -> u64 {
        let (seq, call_id) = self.event(thread, EventKind::Line, line);
        for (name, v) in rows {
            self.values
                .push(seq, call_id, name, ValueRole::Local, snapshot, v);
        }
        seq
    }

    /// A return from the current frame of `thread` with `value`.
    pub fn ret(&mut self, thread: u32, line: u32, value: Value) -> u64 {
        let (seq, call_id) = self.event(thread, EventKind::Return, line);
        self.values
            .push(seq, call_id, "", ValueRole::Return, false, &value);
        self.stacks[thread as usize].pop();
        seq
    }

    /// An exception raised in the current frame of `thread`.
    pub fn exception(&mut self, thread: u32, line: u32, type_name: &str, message: &str) -> u64 {
        let (seq, call_id) = self.event(thread, EventKind::Exception, line);
        self.exceptions.push((
            seq,
            thread,
            call_id,
            type_name.to_string(),
            Some(message.to_string()),
        ));
        seq
    }

    /// The current frame of `thread` exits by exception.
    pub fn unwind(&mut self, thread: u32, line: u32) -> u64 {
        let (seq, _) = self.event(thread, EventKind::Unwind, line);
        self.stacks[thread as usize].pop();
        seq
    }

    /// The children of the value with object id `parent_id` (keys and values, in display
    /// order), recorded at the latest event: the one whose row holds that id.
    pub fn children(&mut self, parent_id: u64, children: &[(&str, Value)]) {
        let seq = self.next_seq.saturating_sub(1);
        for (position, (key, value)) in children.iter().enumerate() {
            self.children
                .push(seq, parent_id, position as u32, key, value);
        }
    }

    /// Text the program wrote, attributed to the latest event.
    pub fn output(&mut self, thread: u32, stream: OutputStream, text: &str) {
        let seq = self.next_seq.saturating_sub(1);
        self.output.push((seq, thread, stream, text.to_string()));
    }

    /// Appends everything built so far to `writer` and empties the builder (ids and seqs go on).
    pub fn flush_into(&mut self, writer: &mut TraceWriter) -> Result<()> {
        if let Some(run) = self.run.take() {
            writer.append(Table::Run, run)?;
        }
        writer.append(Table::Code, code_batch(&std::mem::take(&mut self.code)))?;
        writer.append(
            Table::Threads,
            threads_batch(&std::mem::take(&mut self.threads)),
        )?;
        writer.append(Table::Calls, calls_batch(&std::mem::take(&mut self.calls)))?;
        writer.append(Table::Events, self.events.finish())?;
        writer.append(Table::Values, self.values.finish())?;
        writer.append(Table::Children, self.children.finish())?;
        writer.append(
            Table::Output,
            output_batch(&std::mem::take(&mut self.output)),
        )?;
        writer.append(
            Table::Exceptions,
            exceptions_batch(&std::mem::take(&mut self.exceptions)),
        )?;
        Ok(())
    }

    /// Writes the final `run` row (state `finished`, `exit_status`) and finishes the trace.
    pub fn finish_into(mut self, mut writer: TraceWriter, exit_status: i32) -> Result<u64> {
        self.flush_into(&mut writer)?;
        writer.append(
            Table::Run,
            run_row(
                "synthetic.py",
                "finished",
                Some(exit_status),
                self.event_count,
            ),
        )?;
        writer.finish()
    }

    /// Writes the whole trace to `path` and finishes it; returns the file size.
    pub fn write(self, path: impl AsRef<std::path::Path>, options: WriterOptions) -> Result<u64> {
        let writer = TraceWriter::create(path, options)?;
        self.finish_into(writer, 0)
    }
}

/// A deterministic, jittered gap between events (30–157 ns), so synthetic timestamps compress
/// like measured ones rather than like a counter.
fn event_gap_ns(seq: u64) -> i64 {
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    30 + (x & 127) as i64
}

fn run_row(script: &str, state: &str, exit_status: Option<i32>, events: u64) -> RecordBatch {
    run_batch(&RunRow {
        run_id: "00000000000000000000000000000000".to_string(),
        script: script.to_string(),
        argv: vec![script.to_string()],
        cwd: "/synthetic".to_string(),
        python_version: "3.12.1".to_string(),
        pyttd_version: env!("CARGO_PKG_VERSION").to_string(),
        start_unix_ns: 1_700_000_000_000_000_000,
        end_unix_ns: exit_status.map(|_| 1_700_000_001_000_000_000),
        exit_status,
        state: state.to_string(),
        event_count: events,
        settings: None,
    })
}

/// One row of the `run` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    pub run_id: String,
    pub script: String,
    pub argv: Vec<String>,
    pub cwd: String,
    pub python_version: String,
    pub pyttd_version: String,
    pub start_unix_ns: i64,
    pub end_unix_ns: Option<i64>,
    pub exit_status: Option<i32>,
    /// `running` or `finished`.
    pub state: String,
    pub event_count: u64,
    pub settings: Option<String>,
}

/// The `run` batch holding one row.
pub fn run_batch(r: &RunRow) -> RecordBatch {
    let mut argv = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(
        Field::new_list_field(arrow_schema::DataType::Utf8, false),
    ));
    for a in &r.argv {
        argv.values().append_value(a);
    }
    argv.append(true);
    let s = |v: &str| -> ArrayRef { Arc::new(arrow_array::StringArray::from(vec![v])) };
    batch(
        Table::Run,
        vec![
            s(&r.run_id),
            s(&r.script),
            Arc::new(argv.finish()),
            s(&r.cwd),
            s(&r.python_version),
            s(&r.pyttd_version),
            Arc::new(Int64Array::from(vec![r.start_unix_ns])),
            Arc::new(Int64Array::from(vec![r.end_unix_ns])),
            Arc::new(arrow_array::Int32Array::from(vec![r.exit_status])),
            s(&r.state),
            Arc::new(UInt64Array::from(vec![r.event_count])),
            Arc::new(arrow_array::StringArray::from(vec![r.settings.as_deref()])),
        ],
    )
}

/// One row of the `code` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    pub code_id: u32,
    pub file: String,
    pub name: String,
    pub qualname: String,
    pub first_line: u32,
    pub kind: CodeKind,
}

/// The `code` batch holding `rows`.
pub fn code_batch(rows: &[CodeRow]) -> RecordBatch {
    batch(
        Table::Code,
        vec![
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.code_id),
            )),
            Arc::new(arrow_array::StringArray::from_iter_values(
                rows.iter().map(|r| &r.file),
            )),
            Arc::new(arrow_array::StringArray::from_iter_values(
                rows.iter().map(|r| &r.name),
            )),
            Arc::new(arrow_array::StringArray::from_iter_values(
                rows.iter().map(|r| &r.qualname),
            )),
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.first_line),
            )),
            Arc::new(UInt8Array::from_iter_values(
                rows.iter().map(|r| r.kind.code()),
            )),
        ],
    )
}

/// One row of the `threads` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRow {
    pub thread_id: u32,
    pub ident: u64,
    pub native_id: Option<u64>,
    pub name: String,
    pub first_seq: u64,
}

/// The `threads` batch holding `rows`.
pub fn threads_batch(rows: &[ThreadRow]) -> RecordBatch {
    batch(
        Table::Threads,
        vec![
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.thread_id),
            )),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.ident))),
            Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.native_id))),
            Arc::new(arrow_array::StringArray::from_iter_values(
                rows.iter().map(|r| &r.name),
            )),
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.first_seq),
            )),
        ],
    )
}

/// One row of the `calls` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRow {
    pub call_id: u64,
    pub parent_call_id: Option<u64>,
    pub thread_id: u32,
    pub code_id: u32,
    pub depth: u32,
    pub call_seq: u64,
}

/// The `calls` batch holding `rows`.
pub fn calls_batch(rows: &[CallRow]) -> RecordBatch {
    // Column by column from the rows (a builder checks its room and validity at every value).
    let u64s = |f: fn(&CallRow) -> u64| UInt64Array::from_iter_values(rows.iter().map(f));
    let u32s = |f: fn(&CallRow) -> u32| UInt32Array::from_iter_values(rows.iter().map(f));
    batch(
        Table::Calls,
        vec![
            Arc::new(u64s(|r| r.call_id)),
            Arc::new(UInt64Array::from_iter(
                rows.iter().map(|r| r.parent_call_id),
            )),
            Arc::new(u32s(|r| r.thread_id)),
            Arc::new(u32s(|r| r.code_id)),
            Arc::new(u32s(|r| r.depth)),
            Arc::new(u64s(|r| r.call_seq)),
        ],
    )
}

/// An `output` batch from `(seq, thread_id, stream, text)` rows.
pub fn output_batch(rows: &[(u64, u32, OutputStream, String)]) -> RecordBatch {
    batch(
        Table::Output,
        vec![
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(UInt8Array::from_iter_values(
                rows.iter().map(|r| r.2.code()),
            )),
            Arc::new(arrow_array::StringArray::from_iter_values(
                rows.iter().map(|r| &r.3),
            )),
        ],
    )
}

/// An `exceptions` batch from `(seq, thread_id, call_id, type_name, message)` rows.
pub fn exceptions_batch(rows: &[(u64, u32, u64, String, Option<String>)]) -> RecordBatch {
    batch(
        Table::Exceptions,
        vec![
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(arrow_array::StringArray::from_iter_values(
                rows.iter().map(|r| &r.3),
            )),
            Arc::new(arrow_array::StringArray::from_iter(
                rows.iter().map(|r| r.4.as_deref()),
            )),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;

    fn texts(column: &DictionaryArray<Int32Type>) -> Vec<String> {
        let values = column.values().as_string::<i32>();
        column
            .keys()
            .iter()
            .map(|k| values.value(k.expect("no nulls") as usize).to_string())
            .collect()
    }

    #[test]
    fn a_column_keeps_its_nulls_and_values_across_batches_of_any_mix() {
        let mut column = Column::<Int64Type>::default();
        let batches: [&[Option<i64>]; 5] = [
            &[None, None, None],
            &[Some(4), None, Some(-2), None, None],
            &[],
            &[None, Some(7)],
            &[Some(1), Some(2)],
        ];
        for rows in batches {
            for &v in rows {
                column.push_option(v);
            }
            let array = column.finish();
            let read: Vec<Option<i64>> = array.iter().collect();
            assert_eq!(read, rows);
            // A null row's slot holds 0, so the bytes written for a batch depend on its rows
            // alone.
            let slots: Vec<i64> = array.values().to_vec();
            let zeroed: Vec<i64> = rows.iter().map(|v| v.unwrap_or(0)).collect();
            assert_eq!(slots, zeroed);
        }
    }

    #[test]
    fn dictionary_column_keys_numbered_and_plain_text_alike() {
        let mut column = DictionaryColumn::default();
        column.append_numbered(3, "alpha");
        column.append_numbered(3, "alpha");
        column.append("alpha");
        column.append_numbered(0, "");
        column.append("omega");
        column.append_numbered(9, "omega");
        let first = column.finish();
        assert_eq!(
            texts(&first),
            ["alpha", "alpha", "alpha", "", "omega", "omega"]
        );
        assert_eq!(first.values().len(), 3);
        // A finished column starts over with an empty dictionary, numbers included.
        column.append_numbered(9, "omega");
        column.append("beta");
        column.append_numbered(3, "alpha");
        let second = column.finish();
        assert_eq!(texts(&second), ["omega", "beta", "alpha"]);
        assert_eq!(second.values().len(), 3);
    }

    #[test]
    fn value_type_names_come_from_the_value() {
        let mut values = ValuesBuilder::default();
        let repr = |type_name: &str| {
            Value::from(ReprValue {
                type_name: type_name.into(),
                text: "[]".into(),
                truncated: false,
                length: Some(0),
                object_id: Some(1),
            })
        };
        for v in [
            Value::Int(1),
            repr("list"),
            Value::Int(2),
            Value::None,
            repr("dict"),
        ] {
            values.push_numbered(0, 1, 7, "x", ValueRole::Local, false, &v);
        }
        let batch = values.finish();
        let column = batch
            .column_by_name("type_name")
            .expect("values has type_name")
            .as_dictionary::<Int32Type>();
        assert_eq!(texts(column), ["int", "list", "int", "NoneType", "dict"]);
        // The next batch has its own dictionary.
        values.push_numbered(1, 1, 7, "x", ValueRole::Local, false, &repr("set"));
        values.push_numbered(1, 1, 7, "x", ValueRole::Local, false, &Value::Int(3));
        let batch = values.finish();
        let column = batch
            .column_by_name("type_name")
            .unwrap()
            .as_dictionary::<Int32Type>();
        assert_eq!(texts(column), ["set", "int"]);
    }
}
