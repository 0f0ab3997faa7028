//! Column encoding of format 2 (SPEC.md, "Column encoding"): every 64-bit column's values are
//! stored byte-shuffled (byte `k` of row `i` at byte `k * rows + i`), and counter-like columns
//! are delta-coded first. Counters, timestamps and ids then become runs of equal bytes, which
//! zstd compresses several times faster and smaller than the raw little-endian words (whose
//! bytes change at every row and leave it only short matches).
//!
//! The writer encodes a segment's batch just before Arrow IPC writes it; the reader decodes the
//! columns it decoded from IPC. Validity buffers are untouched.

use arrow_array::{ArrayRef, RecordBatch, make_array};
use arrow_buffer::{Buffer, MutableBuffer};
use arrow_data::ArrayData;
use arrow_schema::{DataType, Field};

use crate::schema::Table;

/// Whether a column is stored shuffled: every 64-bit fixed-width column, in every table.
pub(crate) fn is_shuffled(field: &Field) -> bool {
    matches!(
        field.data_type(),
        DataType::Int64 | DataType::UInt64 | DataType::Float64
    )
}

/// Whether a shuffled column of `table` is delta-coded first: the table's seq column, its
/// `call_id` column, and `events.ts_ns`.
pub(crate) fn is_delta(table: Table, field: &Field) -> bool {
    let name = field.name();
    Some(name.as_str()) == table.seq_column()
        || name == "call_id"
        || (table == Table::Events && name == "ts_ns")
}

/// The columns of `table` that format 2 stores delta-coded, in schema order (SPEC.md, "Column
/// encoding").
pub fn delta_coded_columns(table: Table) -> Vec<String> {
    table
        .schema()
        .fields()
        .iter()
        .filter(|f| is_shuffled(f) && is_delta(table, f))
        .map(|f| f.name().clone())
        .collect()
}

/// `batch` with its 64-bit columns encoded for writing.
pub(crate) fn encode(table: Table, batch: &RecordBatch) -> RecordBatch {
    let columns = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            if is_shuffled(field) {
                let delta_coded = is_delta(table, field);
                transform(column, |stored, out| shuffle(stored, delta_coded, out))
            } else {
                column.clone()
            }
        })
        .collect();
    RecordBatch::try_new(batch.schema(), columns).expect("encoding keeps every column's type")
}

/// `batch` (columns of `table` as read from a format-2 segment, any projection) decoded; an
/// error names a column whose stored values are shorter than its rows need.
pub(crate) fn decode(table: Table, batch: RecordBatch) -> Result<RecordBatch, String> {
    if !batch.schema().fields().iter().any(|f| is_shuffled(f)) {
        return Ok(batch);
    }
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let data = column.to_data();
        let stored = data.buffers().first().map_or(0, |b| b.len());
        if is_shuffled(field) && stored < (data.offset() + data.len()) * 8 {
            return Err(format!(
                "column `{}` stores {stored} bytes of values for {} rows",
                field.name(),
                data.len()
            ));
        }
    }
    let columns = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            if is_shuffled(field) {
                let delta_coded = is_delta(table, field);
                transform(column, |stored, out| {
                    unshuffle(stored, out);
                    if delta_coded {
                        undelta(out);
                    }
                })
            } else {
                column.clone()
            }
        })
        .collect();
    Ok(RecordBatch::try_new(batch.schema(), columns).expect("decoding keeps every column's type"))
}

/// A copy of the 64-bit column `column` whose value bytes are `f(its value bytes, output)`.
fn transform(column: &ArrayRef, f: impl FnOnce(&[u8], &mut [u8])) -> ArrayRef {
    let data = column.to_data();
    let rows = data.len();
    let bytes = &data.buffers()[0].as_slice()[data.offset() * 8..(data.offset() + rows) * 8];
    let mut out = MutableBuffer::from_len_zeroed(rows * 8);
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

/// Prefix sums (wrapping) of little-endian words stored in `bytes`, in place.
fn undelta(bytes: &mut [u8]) {
    let mut sum = 0u64;
    for chunk in bytes.chunks_exact_mut(8) {
        sum = sum.wrapping_add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        chunk.copy_from_slice(&sum.to_le_bytes());
    }
}

/// Byte `k` of row `i`'s word (`stored` holds them little-endian; with `delta_coded`, its
/// difference from row `i - 1`'s, wrapping) to `out[k * n + i]`, eight rows at a time through an
/// 8x8 byte transpose in registers.
fn shuffle(stored: &[u8], delta_coded: bool, out: &mut [u8]) {
    let n = stored.len() / 8;
    let mut prev = 0u64;
    let mut next = |i: usize| {
        let w = u64::from_le_bytes(stored[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        if delta_coded {
            let d = w.wrapping_sub(prev);
            prev = w;
            d
        } else {
            w
        }
    };
    let full = n - n % 8;
    for i in (0..full).step_by(8) {
        let rows: [u64; 8] = std::array::from_fn(|r| next(i + r));
        for (k, plane) in transpose(rows).into_iter().enumerate() {
            out[k * n + i..k * n + i + 8].copy_from_slice(&plane.to_le_bytes());
        }
    }
    for i in full..n {
        for (k, b) in next(i).to_le_bytes().into_iter().enumerate() {
            out[k * n + i] = b;
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
    use arrow_array::{Array, Float64Array, Int64Array, UInt32Array, UInt64Array};
    use proptest::prelude::*;
    use std::sync::Arc;

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
            let encoded = encode(Table::Events, &batch);
            prop_assert_eq!(decode(Table::Events, encoded).unwrap(), batch);
        }

        #[test]
        fn nullable_floats_round_trip_with_their_nulls(
            values in prop::collection::vec(any::<Option<f64>>(), 0..70),
        ) {
            let floats: ArrayRef = Arc::new(Float64Array::from(values.clone()));
            let shuffled = transform(&floats, |b, o| shuffle(b, false, o));
            let roundtrip = transform(&shuffled, unshuffle);
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
