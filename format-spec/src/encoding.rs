//! Column encoding (SPEC.md, "Column encoding"). Format 2: every 64-bit column's values are
//! stored byte-shuffled (byte `k` of row `i` at byte `k * rows + i`), and counter-like columns
//! are delta-coded first. Counters, timestamps and ids then become runs of equal bytes, which
//! zstd compresses several times faster and smaller than the raw little-endian words (whose
//! bytes change at every row and leave it only short matches). Format 3 adds: 32-bit columns
//! byte-shuffled too, and `Utf8` columns stored dictionary-encoded, so a text repeated within a
//! segment (a container's repr re-recorded at each change, a dict key) is stored once and its
//! rows cost a small index each, instead of an ever-growing offset each. Format 4 also
//! delta-codes the link ids (`object_id`, `children.parent_id`), which the recorder numbers as it
//! writes them (so they mostly grow by small steps; a shared set of children points back), with a
//! null row stored as the previous value so its delta is 0.
//!
//! The writer encodes a segment's batch just before Arrow IPC writes it; the reader decodes the
//! columns it decoded from IPC. Validity buffers are untouched.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::StringDictionaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, RecordBatch, make_array};
use arrow_buffer::{Buffer, MutableBuffer};
use arrow_data::ArrayData;
use arrow_schema::{ArrowError, DataType, Field, Schema};

use crate::schema::Table;

/// How one column is stored in a segment body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// As Arrow defines it.
    Plain,
    /// 64-bit values byte-shuffled, delta-coded first when `delta` (since 2.0).
    Words8 { delta: bool },
    /// 32-bit values byte-shuffled (since 3.0).
    Words4,
    /// A `Utf8` column, as `Dictionary(Int32, Utf8)` when that is smaller (since 3.0).
    Dictionary,
}

impl Stored {
    fn of(major: u16, table: Table, field: &Field) -> Stored {
        match field.data_type() {
            DataType::Int64 | DataType::UInt64 | DataType::Float64 if major >= 2 => {
                Stored::Words8 {
                    delta: is_delta(major, table, field),
                }
            }
            DataType::Int32 | DataType::UInt32 if major >= 3 => Stored::Words4,
            DataType::Utf8 if major >= 3 => Stored::Dictionary,
            _ => Stored::Plain,
        }
    }
}

/// The type a `Utf8` column may have in the body of a format-3 (and later) segment.
fn dictionary_of_utf8() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// Whether a shuffled column of `table` is delta-coded first: the table's seq column, its
/// `call_id` column, and `events.ts_ns`; from format 4 also the link ids `object_id` and
/// `children.parent_id`, which the recorder numbers as it writes them.
fn is_delta(major: u16, table: Table, field: &Field) -> bool {
    let name = field.name();
    Some(name.as_str()) == table.seq_column()
        || name == "call_id"
        || (table == Table::Events && name == "ts_ns")
        || (major >= 4
            && (name == "object_id" || (table == Table::Children && name == "parent_id")))
}

/// The columns of `table` that the current format stores delta-coded, in schema order (SPEC.md,
/// "Column encoding").
pub fn delta_coded_columns(table: Table) -> Vec<String> {
    table
        .schema()
        .fields()
        .iter()
        .filter(|f| Stored::of(crate::FORMAT_VERSION.0, table, f) == Stored::Words8 { delta: true })
        .map(|f| f.name().clone())
        .collect()
}

/// Whether `stored`, a field of a format-`major` segment body, may hold the table's column
/// `logical`: the same field, except that format 3 and later may store a `Utf8` column as
/// `Dictionary(Int32, Utf8)` (SPEC.md, "Column encoding").
pub(crate) fn stores(major: u16, logical: &Field, stored: &Field) -> bool {
    stored == logical
        || (major >= 3
            && logical.data_type() == &DataType::Utf8
            && stored.data_type() == &dictionary_of_utf8()
            && stored.clone().with_data_type(DataType::Utf8) == *logical)
}

/// `batch` (rows of `table`) as the current format stores it, its schema carrying `metadata`.
pub(crate) fn encode(
    table: Table,
    batch: &RecordBatch,
    metadata: HashMap<String, String>,
) -> Result<RecordBatch, ArrowError> {
    let major = crate::FORMAT_VERSION.0;
    let columns = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            let stored = Stored::of(major, table, field);
            Ok(match stored {
                Stored::Plain => (field.as_ref().clone(), column.clone()),
                // No row's value is read back: the values stay as they are, unshuffled (a
                // column of a kind of value the segment does not hold, a float's in an
                // int-only segment).
                Stored::Words8 { .. } | Stored::Words4 if column.null_count() == column.len() => {
                    (field.as_ref().clone(), column.clone())
                }
                Stored::Words8 { delta } => {
                    // A null row of a delta-coded column repeats the previous value, so its
                    // delta is 0 rather than a jump to 0 and back.
                    let column = if delta && column.null_count() > 0 {
                        &carry_over_nulls(column)
                    } else {
                        column
                    };
                    (
                        field.as_ref().clone(),
                        transform(column, 8, |stored, out| shuffle(stored, delta, out)),
                    )
                }
                Stored::Words4 => (field.as_ref().clone(), transform(column, 4, shuffle4)),
                Stored::Dictionary => match dictionary_encode(column)? {
                    Some(dictionary) => (
                        field.as_ref().clone().with_data_type(dictionary_of_utf8()),
                        dictionary,
                    ),
                    None => (field.as_ref().clone(), column.clone()),
                },
            })
        })
        .collect::<Result<Vec<_>, ArrowError>>()?;
    let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, metadata)),
        columns,
    )
}

/// `batch` (columns of `table` as read from a segment of format `major`, any projection)
/// decoded to the table's types; an error names a column whose stored values are shorter than
/// its rows need.
pub(crate) fn decode(table: Table, major: u16, batch: RecordBatch) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    let stored: Vec<Stored> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            // A dictionary the table declares `Utf8` is an encoding; one it declares a
            // dictionary (`values.name`) is the column itself.
            DataType::Dictionary(..) if major >= 3 => {
                match table.schema().field_with_name(f.name()) {
                    Ok(logical) if logical.data_type() == &DataType::Utf8 => Stored::Dictionary,
                    _ => Stored::Plain,
                }
            }
            DataType::Utf8 => Stored::Plain,
            _ => Stored::of(major, table, f),
        })
        .collect();
    if stored.iter().all(|s| *s == Stored::Plain) {
        return Ok(batch);
    }
    let mut fields = Vec::with_capacity(stored.len());
    let mut columns = Vec::with_capacity(stored.len());
    for ((field, column), how) in schema.fields().iter().zip(batch.columns()).zip(stored) {
        let width = match how {
            Stored::Words8 { .. } => 8,
            Stored::Words4 => 4,
            _ => 0,
        };
        if width > 0 {
            let data = column.to_data();
            let stored = data.buffers().first().map_or(0, |b| b.len());
            if stored < (data.offset() + data.len()) * width {
                return Err(format!(
                    "column `{}` stores {stored} bytes of values for {} rows",
                    field.name(),
                    data.len()
                ));
            }
        }
        let (field, column) = match how {
            Stored::Plain => (field.as_ref().clone(), column.clone()),
            // No value to read back (see `encode`).
            Stored::Words8 { .. } | Stored::Words4 if column.null_count() == column.len() => {
                (field.as_ref().clone(), column.clone())
            }
            Stored::Words8 { delta } => (
                field.as_ref().clone(),
                transform(column, 8, |stored, out| {
                    unshuffle(stored, out);
                    if delta {
                        undelta(out);
                    }
                }),
            ),
            Stored::Words4 => (field.as_ref().clone(), transform(column, 4, unshuffle4)),
            Stored::Dictionary => (
                field.as_ref().clone().with_data_type(DataType::Utf8),
                dictionary_decode(column).map_err(|e| format!("column `{}`: {e}", field.name()))?,
            ),
        };
        fields.push(field);
        columns.push(column);
    }
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    // A dictionary may hold nulls its indices do not show: a non-nullable column decoded from
    // one is refused here.
    RecordBatch::try_new(Arc::new(schema), columns).map_err(|e| e.to_string())
}

/// Fewest rows a `Utf8` column needs to be stored as a dictionary: below, the dictionary's own
/// IPC message (a few hundred bytes) outweighs what it saves.
const DICTIONARY_MIN_ROWS: usize = 64;

/// A `Utf8` column as `Dictionary(Int32, Utf8)`, each distinct text once in first-seen order;
/// `None` when it is short or no text repeats (or all rows are null): a dictionary would then
/// store the same texts, plus an index per row and its own IPC message. Even a column of mostly
/// distinct texts (the reprs of a dict that changes at every line) is smaller as a dictionary:
/// its indices compress better than its offsets.
fn dictionary_encode(column: &ArrayRef) -> Result<Option<ArrayRef>, ArrowError> {
    let texts = column.as_string::<i32>();
    if texts.len() < DICTIONARY_MIN_ROWS {
        return Ok(None);
    }
    let mut builder = StringDictionaryBuilder::<Int32Type>::with_capacity(
        texts.len(),
        texts.len().min(1024),
        texts.value_data().len().min(1 << 16),
    );
    for text in texts {
        match text {
            Some(t) => {
                builder.append(t)?;
            }
            None => builder.append_null(),
        }
    }
    let dictionary = builder.finish();
    let texts_shown = texts.len() - texts.null_count();
    Ok((dictionary.values().len() < texts_shown).then(|| Arc::new(dictionary) as ArrayRef))
}

/// The inverse of [`dictionary_encode`] (any valid `Dictionary(Int32, Utf8)` array).
fn dictionary_decode(column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let dictionary = column
        .as_dictionary_opt::<Int32Type>()
        .ok_or_else(|| ArrowError::SchemaError("not an Int32-keyed dictionary".into()))?;
    if dictionary.values().data_type() != &DataType::Utf8 {
        return Err(ArrowError::SchemaError(
            "dictionary values are not Utf8".into(),
        ));
    }
    arrow_select::take::take(dictionary.values().as_ref(), dictionary.keys(), None)
}

/// A copy of the `width`-byte fixed-width column `column` whose value bytes are
/// `f(its value bytes, output)`.
fn transform(column: &ArrayRef, width: usize, f: impl FnOnce(&[u8], &mut [u8])) -> ArrayRef {
    let data = column.to_data();
    let rows = data.len();
    let bytes =
        &data.buffers()[0].as_slice()[data.offset() * width..(data.offset() + rows) * width];
    let mut out = MutableBuffer::from_len_zeroed(rows * width);
    f(bytes, out.as_slice_mut());
    let nulls = data.nulls().cloned();
    let encoded = ArrayData::builder(data.data_type().clone())
        .len(rows)
        .add_buffer(Buffer::from(out))
        .nulls(nulls)
        .build()
        .expect("same type, length and validity as the column");
    make_array(encoded)
}

/// `column` (of 64-bit values, with nulls) with each null row's value slot holding the previous
/// row's value (0 before the first valid row); validity unchanged.
fn carry_over_nulls(column: &ArrayRef) -> ArrayRef {
    let data = column.to_data();
    let nulls = data.nulls().cloned();
    transform(column, 8, |stored, out| {
        let mut prev = [0u8; 8];
        for (i, (word, slot)) in stored
            .chunks_exact(8)
            .zip(out.chunks_exact_mut(8))
            .enumerate()
        {
            if nulls.as_ref().is_none_or(|n| n.is_valid(i)) {
                prev.copy_from_slice(word);
            }
            slot.copy_from_slice(&prev);
        }
    })
}

/// Byte `k` of row `i`'s 32-bit word to `out[k * n + i]`.
fn shuffle4(stored: &[u8], out: &mut [u8]) {
    to_planes::<4>(stored, out, |bytes| {
        u64::from(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    });
}

/// The inverse of [`shuffle4`].
fn unshuffle4(stored: &[u8], out: &mut [u8]) {
    let n = stored.len() / 4;
    let (p0, rest) = stored.split_at(n);
    let (p1, rest) = rest.split_at(n);
    let (p2, p3) = rest.split_at(n);
    for (i, w) in out.chunks_exact_mut(4).enumerate() {
        w.copy_from_slice(&[p0[i], p1[i], p2[i], p3[i]]);
    }
}

/// Prefix sums (wrapping) of little-endian words stored in `bytes`, in place.
fn undelta(bytes: &mut [u8]) {
    let mut sum = 0u64;
    for chunk in bytes.chunks_exact_mut(8) {
        sum = sum.wrapping_add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        chunk.copy_from_slice(&sum.to_le_bytes());
    }
}

/// Byte `k` of row `i`'s word (`stored` holds them little-endian; with `delta_coded`, its
/// difference from row `i - 1`'s, wrapping) to `out[k * n + i]`.
fn shuffle(stored: &[u8], delta_coded: bool, out: &mut [u8]) {
    let mut prev = 0u64;
    to_planes::<8>(stored, out, |bytes| {
        let w = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        if delta_coded {
            let d = w.wrapping_sub(prev);
            prev = w;
            d
        } else {
            w
        }
    });
}

/// The `W`-byte rows of `stored`, each read by `word` (in row order), as `W` planes of one byte
/// per row in `out`: byte `k` of row `i` to `out[k * n + i]`. Eight rows at a time through an
/// 8x8 byte transpose in registers (a 4-byte row's high bytes are zero and not stored).
fn to_planes<const W: usize>(stored: &[u8], out: &mut [u8], mut word: impl FnMut(&[u8]) -> u64) {
    let n = stored.len() / W;
    let full = n - n % 8;
    let mut planes = out.chunks_exact_mut(n.max(1));
    let mut planes: [&mut [u8]; W] = std::array::from_fn(|_| planes.next().unwrap_or_default());
    for (group, rows) in stored[..full * W].chunks_exact(8 * W).enumerate() {
        let rows: [u64; 8] = std::array::from_fn(|r| word(&rows[r * W..r * W + W]));
        let i = group * 8;
        for (plane, bytes) in planes.iter_mut().zip(transpose(rows)) {
            plane[i..i + 8].copy_from_slice(&bytes.to_le_bytes());
        }
    }
    for i in full..n {
        let w = word(&stored[i * W..i * W + W]);
        for (k, plane) in planes.iter_mut().enumerate() {
            plane[i] = (w >> (8 * k)) as u8;
        }
    }
}

/// The inverse of [`shuffle`]: `stored` holds 8 planes of `n` bytes; `out` gets the words.
fn unshuffle(stored: &[u8], out: &mut [u8]) {
    let n = stored.len() / 8;
    let full = n - n % 8;
    for i in (0..full).step_by(8) {
        let mut planes = [0u64; 8];
        for (k, plane) in planes.iter_mut().enumerate() {
            *plane = u64::from_le_bytes(stored[k * n + i..k * n + i + 8].try_into().expect("8"));
        }
        for (r, row) in transpose(planes).into_iter().enumerate() {
            out[(i + r) * 8..(i + r) * 8 + 8].copy_from_slice(&row.to_le_bytes());
        }
    }
    for i in full..n {
        for k in 0..8 {
            out[i * 8 + k] = stored[k * n + i];
        }
    }
}

/// Transposes an 8x8 byte matrix held as 8 little-endian words (row `r`, byte `c`) into
/// (row `c`, byte `r`); its own inverse.
fn transpose(mut a: [u64; 8]) -> [u64; 8] {
    for r in 0..4 {
        let t = ((a[r] >> 32) ^ a[r + 4]) & 0x0000_0000_FFFF_FFFF;
        a[r] ^= t << 32;
        a[r + 4] ^= t;
    }
    for r in [0, 1, 4, 5] {
        let t = ((a[r] >> 16) ^ a[r + 2]) & 0x0000_FFFF_0000_FFFF;
        a[r] ^= t << 16;
        a[r + 2] ^= t;
    }
    for r in [0, 2, 4, 6] {
        let t = ((a[r] >> 8) ^ a[r + 1]) & 0x00FF_00FF_00FF_00FF;
        a[r] ^= t << 8;
        a[r + 1] ^= t;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, StringArray, UInt32Array, UInt64Array};
    use proptest::prelude::*;

    fn bytes_of(words: &[u64]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn naive_shuffle(words: &[u64]) -> Vec<u8> {
        let n = words.len();
        let mut out = vec![0u8; n * 8];
        for (i, w) in words.iter().enumerate() {
            for k in 0..8 {
                out[k * n + i] = (w >> (8 * k)) as u8;
            }
        }
        out
    }

    #[test]
    fn shuffled_bytes_are_planes_of_one_byte_per_row() {
        let words: Vec<u64> = (0..19u64)
            .map(|i| 0x0807_0605_0403_0201 + (i << 56))
            .collect();
        let mut out = vec![0u8; words.len() * 8];
        shuffle(&bytes_of(&words), false, &mut out);
        assert_eq!(out, naive_shuffle(&words));
        assert_eq!(&out[..19], &[1u8; 19]);
        assert_eq!(out[7 * 19 + 18], 8 + 18);
        // Delta-coded: row 0 as is, then differences (wrapping).
        let deltas: Vec<u64> = std::iter::once(words[0])
            .chain(words.windows(2).map(|w| w[1].wrapping_sub(w[0])))
            .collect();
        shuffle(&bytes_of(&words), true, &mut out);
        assert_eq!(out, naive_shuffle(&deltas));
    }

    proptest! {
        #[test]
        fn shuffles_match_the_naive_planes(words in proptest::collection::vec(any::<u64>(), 0..40)) {
            let mut out = vec![0u8; words.len() * 8];
            shuffle(&bytes_of(&words), false, &mut out);
            prop_assert_eq!(&out, &naive_shuffle(&words));
            let narrow: Vec<u8> = words.iter().flat_map(|w| (*w as u32).to_le_bytes()).collect();
            let mut out4 = vec![0u8; narrow.len()];
            shuffle4(&narrow, &mut out4);
            let n = words.len();
            for (i, w) in words.iter().enumerate() {
                for k in 0..4 {
                    prop_assert_eq!(out4[k * n + i], (w >> (8 * k)) as u8);
                }
            }
            let mut back = vec![0u8; narrow.len()];
            unshuffle4(&out4, &mut back);
            prop_assert_eq!(back, narrow);
        }
    }

    #[test]
    fn shuffled_32_bit_words_are_planes_of_one_byte_per_row() {
        let words: Vec<u32> = (0..7u32).map(|i| 0x0403_0201 + (i << 24)).collect();
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut out = vec![0u8; bytes.len()];
        shuffle4(&bytes, &mut out);
        assert_eq!(&out[..7], &[1u8; 7]);
        assert_eq!(&out[7..14], &[2u8; 7]);
        assert_eq!(&out[21..], &[4, 5, 6, 7, 8, 9, 10]);
        let mut back = vec![0u8; bytes.len()];
        unshuffle4(&out, &mut back);
        assert_eq!(back, bytes);
    }

    #[test]
    fn format_3_stores_texts_once_per_segment_and_reads_them_back() {
        let schema = Table::Output.schema();
        let texts: Vec<&str> = ["a", "bb", "a", "a", "bb", ""].repeat(11);
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match f.data_type() {
                    DataType::Utf8 => Arc::new(StringArray::from_iter_values(&texts)),
                    DataType::UInt64 => Arc::new(UInt64Array::from_iter_values(0..66)),
                    DataType::UInt32 => Arc::new(UInt32Array::from_iter_values(7..73)),
                    _ => Arc::new(arrow_array::UInt8Array::from_iter_values([1; 66])),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let encoded = encode(Table::Output, &batch, HashMap::new()).unwrap();
        let text = encoded
            .column_by_name("text")
            .unwrap()
            .as_dictionary::<Int32Type>();
        assert_eq!(
            text.values()
                .as_string::<i32>()
                .iter()
                .flatten()
                .collect::<Vec<_>>(),
            ["a", "bb", ""]
        );
        assert_eq!(text.keys().values()[..7], [0, 1, 0, 0, 1, 2, 0]);
        for (logical, stored) in schema.fields().iter().zip(encoded.schema().fields()) {
            assert!(stores(3, logical, stored), "{stored:?}");
            assert_eq!(stores(2, logical, stored), logical == stored);
        }
        assert_eq!(decode(Table::Output, 3, encoded).unwrap(), batch);
        // Distinct texts, and short columns, are stored as they are.
        let unique: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..66).map(|i| format!("{i}")),
        ));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                batch.column(0).clone(),
                batch.column(1).clone(),
                batch.column(2).clone(),
                unique,
            ],
        )
        .unwrap();
        let encoded = encode(Table::Output, &batch, HashMap::new()).unwrap();
        assert_eq!(encoded.schema().field(3).data_type(), &DataType::Utf8);
        assert_eq!(decode(Table::Output, 3, encoded).unwrap(), batch);
        let nulls: ArrayRef = Arc::new(StringArray::from(vec![None::<&str>; 70]));
        assert!(dictionary_encode(&nulls).unwrap().is_none());
        let short = batch.slice(0, DICTIONARY_MIN_ROWS - 1);
        let encoded = encode(Table::Output, &short, HashMap::new()).unwrap();
        assert_eq!(encoded.schema().field(3).data_type(), &DataType::Utf8);
    }

    #[test]
    fn an_all_null_column_is_stored_as_it_is_and_reads_back_null() {
        let mut values = crate::builder::ValuesBuilder::default();
        for i in 0..20 {
            let value = crate::builder::Value::Int(i);
            values.push(i as u64, 1, "x", crate::ValueRole::Local, false, &value);
        }
        let batch = values.finish();
        let float = batch.schema().index_of("float_value").unwrap();
        assert_eq!(batch.column(float).null_count(), 20);
        // Whatever the null rows hold (not zeros, here) is stored untouched.
        let garbage: ArrayRef = Arc::new(Float64Array::new(
            vec![1.5; 20].into(),
            Some(arrow_buffer::NullBuffer::new_null(20)),
        ));
        let mut columns = batch.columns().to_vec();
        columns[float] = garbage.clone();
        let batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
        let encoded = encode(Table::Values, &batch, HashMap::new()).unwrap();
        assert_eq!(
            encoded.column(float).to_data().buffers()[0],
            garbage.to_data().buffers()[0]
        );
        let int = batch.schema().index_of("int_value").unwrap();
        assert_ne!(
            encoded.column(int).to_data().buffers()[0],
            batch.column(int).to_data().buffers()[0]
        );
        assert_eq!(
            decode(Table::Values, crate::FORMAT_VERSION.0, encoded).unwrap(),
            batch
        );
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_the_identity(
            values in prop::collection::vec(any::<Option<i64>>(), 0..100),
            offset in 0usize..5,
        ) {
            let schema = Table::Events.schema();
            let n = values.len();
            let col = |i: usize| -> ArrayRef {
                match schema.field(i).data_type() {
                    DataType::UInt64 => Arc::new(UInt64Array::from_iter_values(
                        values.iter().map(|v| v.unwrap_or(7) as u64),
                    )),
                    DataType::Int64 => Arc::new(Int64Array::from_iter_values(
                        values.iter().map(|v| v.unwrap_or(-7)),
                    )),
                    DataType::UInt32 => Arc::new(UInt32Array::from_iter_values(
                        values.iter().map(|v| v.unwrap_or(3) as u32),
                    )),
                    _ => Arc::new(arrow_array::UInt8Array::from_iter_values(
                        values.iter().map(|v| v.unwrap_or(1) as u8),
                    )),
                }
            };
            let batch = RecordBatch::try_new(
                schema.clone(),
                (0..schema.fields().len()).map(col).collect(),
            ).unwrap();
            let batch = batch.slice(offset.min(n), n - offset.min(n));
            let encoded = encode(Table::Events, &batch, HashMap::new()).unwrap();
            prop_assert_eq!(decode(Table::Events, crate::FORMAT_VERSION.0, encoded).unwrap(), batch);
        }

        #[test]
        fn nullable_floats_round_trip_with_their_nulls(
            values in prop::collection::vec(any::<Option<f64>>(), 0..70),
        ) {
            let floats: ArrayRef = Arc::new(Float64Array::from(values.clone()));
            let shuffled = transform(&floats, 8, |b, o| shuffle(b, false, o));
            let roundtrip = transform(&shuffled, 8, unshuffle);
            let got = roundtrip.as_any().downcast_ref::<Float64Array>().unwrap();
            prop_assert_eq!(got.nulls(), floats.nulls());
            for (i, v) in values.iter().enumerate() {
                if let Some(x) = v {
                    prop_assert_eq!(got.value(i).to_bits(), x.to_bits());
                }
            }
        }
    }
}
