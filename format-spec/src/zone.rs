//! Zone maps: the minimum and maximum of the columns queries filter on, per segment, stored in
//! the segment body's Arrow schema metadata (SPEC.md, "Zone maps"). A reader skips a segment
//! whose zone excludes a filter without decoding it; a segment without a zone (written by format
//! 1.0, or a column this version does not describe) is never skipped.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use arrow_array::{Array, RecordBatch, UInt32Array, UInt64Array};

use crate::schema::Table;

/// Prefix of the schema-metadata keys that hold zones: `pyttd.zone.<column>` → `"<min>,<max>"`.
pub const ZONE_KEY_PREFIX: &str = "pyttd.zone.";

/// Prefix of the keys that hold, in a `values` segment, the range of one name's `int_value`:
/// `pyttd.int_range.<name>` → `"<min>,<max>"` (signed).
pub const INT_RANGE_KEY_PREFIX: &str = "pyttd.int_range.";

/// Present (value `"all"`) when the segment's int ranges list every name that has `int` rows.
pub const INT_RANGES_COMPLETE_KEY: &str = "pyttd.int_ranges";

/// A `values` segment with more distinct names than this gets no int ranges.
pub const MAX_INT_RANGE_NAMES: usize = 256;

impl Table {
    /// The integer columns whose range a writer records in each segment of this table.
    pub fn zone_columns(self) -> &'static [&'static str] {
        match self {
            Table::Events => &["thread_id", "code_id", "line", "call_id"],
            Table::Values => &["call_id"],
            Table::Calls => &["call_id", "thread_id", "code_id"],
            Table::Output => &["thread_id"],
            Table::Io | Table::Exceptions => &["thread_id", "call_id"],
            Table::Children => &["parent_id"],
            Table::Run | Table::Code | Table::Threads | Table::Blocks | Table::BlockLines => &[],
        }
    }
}

/// The zones of one segment: `(column, min..=max)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneMap {
    ranges: Vec<(String, RangeInclusive<u64>)>,
    /// `values` only: per name, the range of its `int` values; `None` when not recorded.
    int_ranges: Option<Vec<(String, RangeInclusive<i64>)>>,
}

impl ZoneMap {
    /// Computes the zones of `batch`, a batch of `table` with at least one row.
    pub fn of(table: Table, batch: &RecordBatch) -> ZoneMap {
        let ranges = table
            .zone_columns()
            .iter()
            .filter_map(|&name| {
                let column = batch.column_by_name(name)?;
                let any = column.as_any();
                let range = if let Some(a) = any.downcast_ref::<UInt32Array>() {
                    min_max(a.values().iter().map(|&v| u64::from(v)))
                } else if let Some(a) = any.downcast_ref::<UInt64Array>() {
                    min_max(a.values().iter().copied())
                } else {
                    None
                };
                range.map(|r| (name.to_string(), r))
            })
            .collect();
        let int_ranges = (table == Table::Values)
            .then(|| int_ranges_of(batch))
            .flatten();
        ZoneMap { ranges, int_ranges }
    }

    /// Reads the zones out of a segment schema's metadata. Keys that are not zones, and zone
    /// values that do not parse as `min,max` with `min <= max`, are ignored: a missing zone only
    /// means the segment cannot be skipped.
    pub fn from_metadata(metadata: &HashMap<String, String>) -> ZoneMap {
        let complete = metadata.get(INT_RANGES_COMPLETE_KEY).map(String::as_str) == Some("all");
        ZoneMap {
            ranges: ranges_under(metadata, ZONE_KEY_PREFIX),
            int_ranges: complete.then(|| ranges_under(metadata, INT_RANGE_KEY_PREFIX)),
        }
    }

    /// The schema metadata that stores these zones.
    pub fn to_metadata(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        write_ranges(&mut out, ZONE_KEY_PREFIX, &self.ranges);
        if let Some(ints) = &self.int_ranges {
            out.insert(INT_RANGES_COMPLETE_KEY.into(), "all".into());
            write_ranges(&mut out, INT_RANGE_KEY_PREFIX, ints);
        }
        out
    }

    /// False when the segment (of `values`) certainly holds no `int` row of `name` with an
    /// `int_value` in `wanted`.
    pub fn may_hold_int(&self, name: &str, wanted: &RangeInclusive<i64>) -> bool {
        let Some(ints) = &self.int_ranges else {
            return true;
        };
        ints.iter()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, have)| have.start() <= wanted.end() && wanted.start() <= have.end())
    }

    /// The range of `column` in the segment, when the writer recorded it.
    pub fn range(&self, column: &str) -> Option<RangeInclusive<u64>> {
        self.ranges
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, r)| r.clone())
    }

    /// False when the segment certainly holds no row whose `column` lies in `wanted`.
    pub fn may_overlap(&self, column: &str, wanted: &RangeInclusive<u64>) -> bool {
        self.range(column)
            .is_none_or(|have| have.start() <= wanted.end() && wanted.start() <= have.end())
    }

    /// False when the segment certainly holds no row whose `column` is one of `values`.
    pub fn may_contain_any(&self, column: &str, values: &[u64]) -> bool {
        self.range(column)
            .is_none_or(|have| values.iter().any(|v| have.contains(v)))
    }

    /// Every `(column, range)`, by column name (as read back from a segment).
    pub fn iter(&self) -> impl Iterator<Item = (&str, RangeInclusive<u64>)> {
        self.ranges.iter().map(|(c, r)| (c.as_str(), r.clone()))
    }

    /// `values` only: per name, the range of its `int` values, when the writer recorded them.
    pub fn int_ranges(&self) -> Option<&[(String, RangeInclusive<i64>)]> {
        self.int_ranges.as_deref()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty() && self.int_ranges.is_none()
    }
}

/// Per name, the range of `int_value` over the `int` rows of a `values` batch; `None` when the
/// batch has more than [`MAX_INT_RANGE_NAMES`] distinct names.
fn int_ranges_of(batch: &RecordBatch) -> Option<Vec<(String, RangeInclusive<i64>)>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type, UInt8Type};
    let names = batch.column_by_name("name")?.as_dictionary::<Int32Type>();
    let dictionary = names.values().as_string::<i32>();
    if dictionary.len() > MAX_INT_RANGE_NAMES {
        return None;
    }
    let tags = batch.column_by_name("tag")?.as_primitive::<UInt8Type>();
    let ints = batch
        .column_by_name("int_value")?
        .as_primitive::<Int64Type>();
    let (int_tag, bool_tag, float_tag) = (
        crate::ValueTag::Int.code(),
        crate::ValueTag::Bool.code(),
        crate::ValueTag::Float.code(),
    );
    // Per dictionary key first; keys of equal names are merged below. The range covers every
    // value that can compare equal to an int: ints and bools (`True == 1`) by value; floats
    // and ints beyond 64 bits widen it to the whole i64 range (SPEC.md, "Zone maps").
    let mut by_key: Vec<Option<RangeInclusive<i64>>> = vec![None; dictionary.len()];
    for i in 0..batch.num_rows() {
        let tag = tags.value(i);
        let (lo, hi) = match () {
            _ if (tag == int_tag || tag == bool_tag) && ints.is_valid(i) => {
                (ints.value(i), ints.value(i))
            }
            _ if tag == int_tag || tag == float_tag => (i64::MIN, i64::MAX),
            _ => continue,
        };
        let slot = &mut by_key[names.keys().value(i) as usize];
        *slot = Some(match slot.take() {
            None => lo..=hi,
            Some(r) => lo.min(*r.start())..=hi.max(*r.end()),
        });
    }
    let mut out: Vec<(String, RangeInclusive<i64>)> = Vec::new();
    for (key, range) in by_key.into_iter().enumerate() {
        let Some(r) = range else { continue };
        let name = dictionary.value(key);
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, have)) => *have = *have.start().min(r.start())..=*have.end().max(r.end()),
            None => out.push((name.to_string(), r)),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Some(out)
}

/// The `"min,max"` values of the keys under `prefix`, by the rest of the key, sorted; values
/// that do not parse or have `min > max` are left out.
fn ranges_under<T: std::str::FromStr + PartialOrd>(
    metadata: &HashMap<String, String>,
    prefix: &str,
) -> Vec<(String, RangeInclusive<T>)> {
    let mut out: Vec<(String, RangeInclusive<T>)> = metadata
        .iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix(prefix)?;
            let (lo, hi) = value.split_once(',')?;
            let (lo, hi) = (lo.parse::<T>().ok()?, hi.parse::<T>().ok()?);
            (lo <= hi).then(|| (name.to_string(), lo..=hi))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn write_ranges<T: std::fmt::Display>(
    out: &mut HashMap<String, String>,
    prefix: &str,
    ranges: &[(String, RangeInclusive<T>)],
) {
    for (name, r) in ranges {
        out.insert(
            format!("{prefix}{name}"),
            format!("{},{}", r.start(), r.end()),
        );
    }
}

fn min_max(values: impl Iterator<Item = u64>) -> Option<RangeInclusive<u64>> {
    values.fold(None, |acc, v| match acc {
        None => Some(v..=v),
        Some(r) => Some(v.min(*r.start())..=v.max(*r.end())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_round_trip_through_metadata() {
        let z = ZoneMap {
            ranges: vec![("call_id".into(), 3..=9), ("line".into(), 1..=40)],
            int_ranges: Some(vec![("i".into(), -5..=12)]),
        };
        assert_eq!(ZoneMap::from_metadata(&z.to_metadata()), z);
        assert!(z.may_overlap("line", &(40..=50)));
        assert!(!z.may_overlap("line", &(41..=50)));
        assert!(z.may_overlap("thread_id", &(7..=7)), "no zone: cannot skip");
        assert!(!z.may_contain_any("call_id", &[1, 2, 10]));
        assert!(z.may_contain_any("call_id", &[1, 9]));
        assert!(z.may_hold_int("i", &(12..=20)));
        assert!(!z.may_hold_int("i", &(13..=20)));
        assert!(
            !z.may_hold_int("j", &(0..=0)),
            "complete ranges: no int rows of j"
        );
        assert!(
            ZoneMap::default().may_hold_int("j", &(0..=0)),
            "no ranges: cannot skip"
        );
    }

    #[test]
    fn malformed_zone_values_are_ignored() {
        let metadata: HashMap<String, String> = [
            ("pyttd.zone.line", "9,3"),
            ("pyttd.zone.call_id", "x,4"),
            ("pyttd.zone.thread_id", "2,2"),
            ("other", "1,2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let z = ZoneMap::from_metadata(&metadata);
        assert_eq!(z.range("thread_id"), Some(2..=2));
        assert_eq!(z.range("line"), None);
        assert_eq!(z.range("call_id"), None);
    }

    #[test]
    fn events_zones_cover_every_row() {
        let mut b = crate::EventsBuilder::with_capacity(3);
        for (seq, thread_id, line, call_id) in [(0, 2, 5, 7), (1, 2, 9, 7), (2, 4, 6, 8)] {
            b.push(&crate::Event {
                seq,
                thread_id,
                kind: crate::EventKind::Line,
                code_id: 3,
                line,
                depth: 0,
                call_id,
                ts_ns: 0,
            });
        }
        let z = ZoneMap::of(Table::Events, &b.finish());
        assert_eq!(z.range("thread_id"), Some(2..=4));
        assert_eq!(z.range("line"), Some(5..=9));
        assert_eq!(z.range("code_id"), Some(3..=3));
        assert_eq!(z.range("call_id"), Some(7..=8));
        assert_eq!(z.range("depth"), None);
    }
}
