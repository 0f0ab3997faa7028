//! The locals of one frame at one seq, rebuilt as SPEC section 6 (`values`) says: from the latest
//! snapshot of the frame at or before the seq, then its changes in order.
//!
//! `values` segments are read backwards from the seq until that snapshot (or the frame's call
//! event) is behind: a frame takes a snapshot at least every 256 of its events, so this touches
//! the segments covering those events, not the whole trace.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, BooleanArray, DictionaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
    UInt8Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use pyttd_format::{Table, TraceReader, ValueRole, ValueTag};

use crate::value::render;

/// One local as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Local {
    pub name: String,
    pub tag: u8,
    pub type_name: String,
    pub int_value: Option<i64>,
    pub float_value: Option<f64>,
    pub text: Option<String>,
    pub truncated: bool,
    pub length: Option<u64>,
    pub object_id: Option<u64>,
    /// The seq of the row the value comes from.
    pub seq: u64,
}

impl Local {
    /// Whether `other` holds the same recorded value (whatever its name or seq).
    pub fn same_value(&self, other: &Local) -> bool {
        (
            self.tag,
            &self.type_name,
            self.int_value,
            &self.text,
            self.truncated,
            self.length,
        ) == (
            other.tag,
            &other.type_name,
            other.int_value,
            &other.text,
            other.truncated,
            other.length,
        ) && self.float_value.map(f64::to_bits) == other.float_value.map(f64::to_bits)
    }

    /// The value as Python's `repr()` shows it.
    pub fn value(&self) -> String {
        render(
            self.tag,
            self.int_value,
            self.float_value,
            self.text.as_deref(),
            self.truncated,
        )
        .unwrap_or_default()
    }
}

/// The schema of `locals_at`.
pub fn locals_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("call_id", DataType::UInt64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("int_value", DataType::Int64, true),
        Field::new("float_value", DataType::Float64, true),
        Field::new("text", DataType::Utf8, true),
        Field::new("truncated", DataType::Boolean, false),
        Field::new("length", DataType::UInt64, true),
        Field::new("object_id", DataType::UInt64, true),
        Field::new("since_seq", DataType::UInt64, false),
    ]))
}

/// The frame of event `seq` (or frame `call_id`) at `seq`, as rows of [`locals_schema`], in
/// name order. Empty when the trace has no event `seq`.
pub fn locals_at(
    reader: &TraceReader,
    seq: u64,
    call_id: Option<u64>,
) -> pyttd_format::Result<RecordBatch> {
    let call_id = match call_id {
        Some(c) => Some(c),
        None => reader.event_at(seq)?.map(|e| e.call_id),
    };
    let locals = match call_id {
        Some(c) => frame_locals(reader, seq, c)?,
        None => Vec::new(),
    };
    let c = call_id.unwrap_or(0);
    let batch = RecordBatch::try_new(
        locals_schema(),
        vec![
            Arc::new(UInt64Array::from(vec![c; locals.len()])),
            Arc::new(StringArray::from_iter_values(
                locals.iter().map(|l| &l.name),
            )),
            Arc::new(StringArray::from_iter_values(
                locals.iter().map(Local::value),
            )),
            Arc::new(StringArray::from_iter_values(
                locals.iter().map(|l| &l.type_name),
            )),
            Arc::new(Int64Array::from_iter(locals.iter().map(|l| l.int_value))),
            Arc::new(Float64Array::from_iter(
                locals.iter().map(|l| l.float_value),
            )),
            Arc::new(StringArray::from_iter(
                locals.iter().map(|l| l.text.as_deref()),
            )),
            Arc::new(BooleanArray::from_iter(
                locals.iter().map(|l| Some(l.truncated)),
            )),
            Arc::new(UInt64Array::from_iter(locals.iter().map(|l| l.length))),
            Arc::new(UInt64Array::from_iter(locals.iter().map(|l| l.object_id))),
            Arc::new(UInt64Array::from_iter_values(locals.iter().map(|l| l.seq))),
        ],
    )
    .expect("columns match the schema");
    Ok(batch)
}

/// The locals of frame `call_id` at `seq`, in name order.
pub fn frame_locals(
    reader: &TraceReader,
    seq: u64,
    call_id: u64,
) -> pyttd_format::Result<Vec<Local>> {
    let segments: Vec<usize> = reader
        .table_segments(Table::Values)
        .filter(|s| s.seq_range.as_ref().is_none_or(|r| *r.start() <= seq))
        .map(|s| s.index)
        .collect();
    // Rows of the frame at or before `seq`, newest segment first, each segment's rows in order.
    let mut found: Vec<Vec<Local>> = Vec::new();
    let mut snapshot: Option<u64> = None;
    // Nothing of the frame is older than its call event; looked up only when no snapshot is
    // found in the newest segments.
    let mut floor: Option<u64> = None;
    for &index in segments.iter().rev() {
        let info = &reader.segments()[index];
        if let Some(range) = &info.seq_range
            && !(snapshot.is_none() && found.is_empty())
        {
            let stop = match snapshot {
                Some(s) => s,
                None => match floor {
                    Some(f) => f,
                    None => *floor.insert(call_seq(reader, seq, call_id)?.unwrap_or(0)),
                },
            };
            if *range.end() < stop {
                break;
            }
        }
        if !reader
            .zone_map(index)?
            .may_contain_any("call_id", &[call_id])
        {
            continue;
        }
        let batch = reader.segment(index)?;
        let (rows, newest_snapshot) = frame_rows(&batch, seq, call_id);
        if snapshot.is_none() {
            snapshot = newest_snapshot;
        }
        found.push(rows);
    }
    let mut state: BTreeMap<String, Local> = BTreeMap::new();
    let from = snapshot.unwrap_or(0);
    for rows in found.into_iter().rev() {
        for l in rows {
            if l.seq < from {
                continue;
            }
            if l.tag == ValueTag::Deleted.code() {
                state.remove(&l.name);
            } else {
                state.insert(l.name.clone(), l);
            }
        }
    }
    Ok(state.into_values().collect())
}

/// The seq of the `call` event of `call_id`, looked up backwards from `seq` in `calls`.
pub fn call_seq(reader: &TraceReader, seq: u64, call_id: u64) -> pyttd_format::Result<Option<u64>> {
    let segments: Vec<usize> = reader
        .table_segments(Table::Calls)
        .filter(|s| s.seq_range.as_ref().is_none_or(|r| *r.start() <= seq))
        .map(|s| s.index)
        .collect();
    for &index in segments.iter().rev() {
        if !reader
            .zone_map(index)?
            .may_contain_any("call_id", &[call_id])
        {
            continue;
        }
        let batch = reader.segment(index)?;
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .expect("call_id");
        let seqs = batch
            .column(batch.schema().index_of("call_seq").expect("v1 column"))
            .as_any()
            .downcast_ref::<UInt64Array>()
            .expect("call_seq")
            .clone();
        if let Some(i) = (0..ids.len()).rev().find(|&i| ids.value(i) == call_id) {
            return Ok(Some(seqs.value(i)));
        }
    }
    Ok(None)
}

/// The columns of a decoded `values` batch, read by name: the whole table or a projection
/// holding at least `seq`, `call_id`, `name`, `role`, `tag`, `type_name`, `int_value`,
/// `float_value`, `text` and `truncated` (the others read as null / false when absent).
pub(crate) struct ValueRows<'a> {
    pub seqs: &'a UInt64Array,
    pub calls: &'a UInt64Array,
    pub roles: &'a UInt8Array,
    pub names: &'a DictionaryArray<Int32Type>,
    pub name_values: &'a StringArray,
    snaps: Option<&'a BooleanArray>,
    tags: &'a UInt8Array,
    types: &'a DictionaryArray<Int32Type>,
    type_values: &'a StringArray,
    ints: &'a Int64Array,
    floats: &'a Float64Array,
    texts: &'a StringArray,
    cut: &'a BooleanArray,
    lengths: Option<&'a UInt64Array>,
    objects: Option<&'a UInt64Array>,
}

impl<'a> ValueRows<'a> {
    pub fn new(batch: &'a RecordBatch) -> ValueRows<'a> {
        let col = |name: &str| batch.column_by_name(name);
        let need = |name: &str| col(name).expect("a values column the scan decoded");
        let names = need("name").as_dictionary::<Int32Type>();
        let types = need("type_name").as_dictionary::<Int32Type>();
        ValueRows {
            seqs: need("seq").as_primitive(),
            calls: need("call_id").as_primitive(),
            roles: need("role").as_primitive(),
            names,
            name_values: names.values().as_string(),
            snaps: col("snapshot").map(|c| c.as_boolean()),
            tags: need("tag").as_primitive(),
            types,
            type_values: types.values().as_string(),
            ints: need("int_value").as_primitive(),
            floats: need("float_value").as_primitive(),
            texts: need("text").as_string(),
            cut: need("truncated").as_boolean(),
            lengths: col("length").map(|c| c.as_primitive()),
            objects: col("object_id").map(|c| c.as_primitive()),
        }
    }

    /// Whether row `i` is a snapshot row.
    pub fn snapshot(&self, i: usize) -> bool {
        self.snaps.is_some_and(|s| s.value(i))
    }

    /// Row `i` as a [`Local`].
    pub fn local(&self, i: usize) -> Local {
        let opt = |a: Option<&UInt64Array>| a.filter(|a| a.is_valid(i)).map(|a| a.value(i));
        Local {
            name: self
                .name_values
                .value(self.names.keys().value(i) as usize)
                .to_string(),
            tag: self.tags.value(i),
            type_name: self
                .type_values
                .value(self.types.keys().value(i) as usize)
                .to_string(),
            int_value: self.ints.is_valid(i).then(|| self.ints.value(i)),
            float_value: self.floats.is_valid(i).then(|| self.floats.value(i)),
            text: self
                .texts
                .is_valid(i)
                .then(|| self.texts.value(i).to_string()),
            truncated: self.cut.value(i),
            length: opt(self.lengths),
            object_id: opt(self.objects),
            seq: self.seqs.value(i),
        }
    }
}

/// The `local` rows of `call_id` with seq ≤ `seq` in one `values` segment that still matter: from
/// the newest snapshot among them on (every row when the segment holds none), with that
/// snapshot's seq. Older rows are never decoded: a long-running frame has thousands of rows in a
/// segment, and a reader needs only those since its last snapshot.
fn frame_rows(batch: &RecordBatch, seq: u64, call_id: u64) -> (Vec<Local>, Option<u64>) {
    let rows = ValueRows::new(batch);
    let seqs = rows.seqs.values();
    let end = seqs.partition_point(|&s| s <= seq);
    let of_frame =
        |i: usize| rows.calls.value(i) == call_id && rows.roles.value(i) == ValueRole::Local.code();
    let snapshot = (0..end)
        .rev()
        .find(|&i| of_frame(i) && rows.snapshot(i))
        .map(|i| seqs[i]);
    let start = snapshot.map_or(0, |s| seqs[..end].partition_point(|&x| x < s));
    let out = (start..end)
        .filter(|&i| of_frame(i))
        .map(|i| rows.local(i))
        .collect();
    (out, snapshot)
}

/// The `return` and `exception` rows at `seq` (the value a `return` or `yield` event hands
/// back, the exception object of an `exception` event), with their role.
pub fn return_values(
    reader: &TraceReader,
    seq: u64,
) -> pyttd_format::Result<Vec<(ValueRole, Local)>> {
    let mut out = Vec::new();
    for info in reader.table_segments(Table::Values) {
        if info.seq_range.as_ref().is_some_and(|r| !r.contains(&seq)) {
            continue;
        }
        let batch = reader.segment(info.index)?;
        let rows = ValueRows::new(&batch);
        let values = rows.seqs.values();
        for i in values.partition_point(|&s| s < seq)..values.partition_point(|&s| s <= seq) {
            if let Some(role) = ValueRole::from_code(rows.roles.value(i))
                && role != ValueRole::Local
            {
                out.push((role, rows.local(i)));
            }
        }
    }
    Ok(out)
}

/// The recorded children of the value with `object_id` seen at `seq` (the seq of the `values`
/// or `children` row that holds it), in display order; `name` is each child's key.
///
/// From format 5.0 values with the same children share them: the rows of `object_id` are at the
/// seq of the first value that had it, at or before `seq`, found through the segments'
/// `parent_id` zones (SPEC.md, `children`). Before 5.0 they are at `seq` itself.
pub fn children_of(
    reader: &TraceReader,
    seq: u64,
    object_id: u64,
) -> pyttd_format::Result<Vec<Local>> {
    let shared = reader.version().0 >= pyttd_format::SHARED_CHILDREN_MAJOR;
    let mut out = Vec::new();
    // From 5.0 every earlier segment's zone is read; one that cannot be (a damaged body) is
    // passed over unless the rows could be in it: nothing was found, or they were found in a
    // segment next to it (one value's rows are written together, and may straddle two).
    let mut damaged: Vec<(usize, pyttd_format::FormatError)> = Vec::new();
    let mut found_in: Vec<usize> = Vec::new();
    for (ordinal, info) in reader.table_segments(Table::Children).enumerate() {
        let outside = info
            .seq_range
            .as_ref()
            .is_some_and(|r| *r.start() > seq || (!shared && *r.end() < seq));
        if outside {
            continue;
        }
        if shared {
            match reader.zone_map(info.index) {
                Ok(zone) if !zone.may_contain_any("parent_id", &[object_id]) => continue,
                Ok(_) => {}
                Err(e) => {
                    damaged.push((ordinal, e));
                    continue;
                }
            }
        }
        let before = out.len();
        let batch = reader.segment(info.index)?;
        let col = |name: &str| batch.column_by_name(name).expect("a v1 children column");
        let seqs = col("seq").as_primitive::<arrow_array::types::UInt64Type>();
        let parents = col("parent_id").as_primitive::<arrow_array::types::UInt64Type>();
        let positions = col("position").as_primitive::<arrow_array::types::UInt32Type>();
        let keys = col("key").as_string::<i32>();
        let tags = col("tag").as_primitive::<arrow_array::types::UInt8Type>();
        let types = col("type_name").as_dictionary::<Int32Type>();
        let type_values = types.values().as_string::<i32>();
        let ints = col("int_value").as_primitive::<arrow_array::types::Int64Type>();
        let floats = col("float_value").as_primitive::<arrow_array::types::Float64Type>();
        let texts = col("text").as_string::<i32>();
        let cut = col("truncated").as_boolean();
        let lengths = col("length").as_primitive::<arrow_array::types::UInt64Type>();
        let objects = col("object_id").as_primitive::<arrow_array::types::UInt64Type>();
        let values = seqs.values();
        let mut rows: Vec<(u32, Local)> = Vec::new();
        let first = if shared {
            0
        } else {
            values.partition_point(|&s| s < seq)
        };
        for i in first..values.partition_point(|&s| s <= seq) {
            if parents.value(i) != object_id {
                continue;
            }
            let local = Local {
                name: keys.value(i).to_string(),
                tag: tags.value(i),
                type_name: type_values
                    .value(types.keys().value(i) as usize)
                    .to_string(),
                int_value: ints.is_valid(i).then(|| ints.value(i)),
                float_value: floats.is_valid(i).then(|| floats.value(i)),
                text: texts.is_valid(i).then(|| texts.value(i).to_string()),
                truncated: cut.value(i),
                length: lengths.is_valid(i).then(|| lengths.value(i)),
                object_id: objects.is_valid(i).then(|| objects.value(i)),
                seq,
            };
            rows.push((positions.value(i), local));
        }
        rows.sort_by_key(|(p, _)| *p);
        out.extend(rows.into_iter().map(|(_, l)| l));
        if out.len() > before {
            found_in.push(ordinal);
        }
    }
    let near = |d: usize| found_in.is_empty() || found_in.iter().any(|&f| f.abs_diff(d) <= 1);
    if let Some((_, e)) = damaged.into_iter().find(|(d, _)| near(*d)) {
        return Err(e);
    }
    Ok(out)
}

/// Every change of local `name`, in frame `call_id` or in every frame, in seq order, at most
/// `limit`: `(call_id, value)`. A frame's first value (an argument, from its call snapshot)
/// counts as a change; a row restating the frame's previous value does not.
pub fn variable_changes(
    reader: &TraceReader,
    name: &str,
    call_id: Option<u64>,
    limit: usize,
) -> pyttd_format::Result<Vec<(u64, Local)>> {
    let mut out = Vec::new();
    let mut last: HashMap<u64, Local> = HashMap::new();
    let mut segments = NamedLocals::new(reader, name);
    let elsewhere = |index: usize| match call_id {
        Some(c) => Ok(!reader.zone_map(index)?.may_contain_any("call_id", &[c])),
        None => Ok(false),
    };
    while let Some(segment) = segments.next(elsewhere)? {
        let rows = segment.rows();
        for i in segment.local_rows(&rows) {
            let call = rows.calls.value(i);
            if call_id.is_some_and(|c| call != c) {
                continue;
            }
            let value = rows.local(i);
            if last.get(&call).is_some_and(|prev| prev.same_value(&value)) {
                continue;
            }
            last.insert(call, value.clone());
            out.push((call, value));
            if out.len() >= limit {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

/// The columns of `values` a value scan decodes.
const VALUE_SCAN_COLUMNS: [&str; 12] = [
    "seq",
    "call_id",
    "name",
    "role",
    "tag",
    "int_value",
    "float_value",
    "text",
    "truncated",
    "type_name",
    "length",
    "object_id",
];

/// The `values` segments holding a local named `name`, in seq order, each decoded with the
/// columns a value scan reads (not through the cache: scans touch many segments once).
pub(crate) struct NamedLocals<'r> {
    reader: &'r TraceReader,
    name: &'r str,
    projection: Vec<usize>,
    segments: std::vec::IntoIter<usize>,
}

/// One segment of [`NamedLocals`].
pub(crate) struct NamedSegment {
    batch: RecordBatch,
    /// Which dictionary keys of `name` are the name sought (a dictionary may hold a name more
    /// than once: batches concatenated into a segment keep each one's entries).
    keys: Vec<bool>,
}

impl<'r> NamedLocals<'r> {
    pub fn new(reader: &'r TraceReader, name: &'r str) -> Self {
        let schema = Table::Values.schema();
        let projection = VALUE_SCAN_COLUMNS
            .iter()
            .map(|n| schema.index_of(n).expect("v1 column"))
            .collect();
        let segments: Vec<usize> = reader
            .table_segments(Table::Values)
            .map(|s| s.index)
            .collect();
        NamedLocals {
            reader,
            name,
            projection,
            segments: segments.into_iter(),
        }
    }

    /// The next segment that holds the name, among those `skip` (asked before decoding) does
    /// not rule out.
    pub fn next(
        &mut self,
        mut skip: impl FnMut(usize) -> pyttd_format::Result<bool>,
    ) -> pyttd_format::Result<Option<NamedSegment>> {
        for index in self.segments.by_ref() {
            if skip(index)? {
                continue;
            }
            let batch = self.reader.read_segment(index, Some(&self.projection))?;
            let rows = ValueRows::new(&batch);
            let keys: Vec<bool> = (0..rows.name_values.len())
                .map(|k| rows.name_values.value(k) == self.name)
                .collect();
            if keys.contains(&true) {
                return Ok(Some(NamedSegment { batch, keys }));
            }
        }
        Ok(None)
    }
}

impl NamedSegment {
    pub fn rows(&self) -> ValueRows<'_> {
        ValueRows::new(&self.batch)
    }

    /// The rows of `rows` (this segment's) that are a `local` row of the name, in order.
    pub fn local_rows<'a>(&'a self, rows: &'a ValueRows<'a>) -> impl Iterator<Item = usize> + 'a {
        let local = ValueRole::Local.code();
        (0..self.batch.num_rows()).filter(move |&i| {
            self.keys[rows.names.keys().value(i) as usize] && rows.roles.value(i) == local
        })
    }
}
