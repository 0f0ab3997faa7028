//! [`TraceReader`]: opens a trace through `mmap`, indexes its segments (from the footer, or by
//! a recovery scan when there is none), and decodes segments zero-copy on demand.
//!
//! Body checksums are verified the first time a segment is decoded, so opening a large closed
//! trace touches only its footer. A recovery scan verifies every body as it goes, since that is
//! how it tells a complete segment from a torn one.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::{Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_buffer::Buffer;
use memmap2::Mmap;

use crate::error::{FormatError, Result};
use crate::layout::{BLOCK, BlockError, FOOTER_MAGIC, FileHeader, FooterEntry, SegmentHeader};
use crate::schema::{EventKind, Table};
use crate::zone::ZoneMap;
use crate::{FORMAT_VERSION, SegmentInfo};

/// Whether the trace was closed cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceState {
    /// The footer was present and verified: the file is whole.
    Complete,
    /// No valid footer (the writer crashed, was killed, or is still running). The segments
    /// listed are every complete, verified segment; `valid_bytes` of `file_bytes` were used.
    Recovered {
        valid_bytes: u64,
        file_bytes: u64,
        reason: String,
    },
}

/// One row of the `events` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub thread_id: u32,
    pub kind: EventKind,
    pub code_id: u32,
    pub line: u32,
    pub depth: u32,
    pub call_id: u64,
    pub ts_ns: i64,
}

const UNVERIFIED: u8 = 0;
const VERIFIED: u8 = 1;
const BAD: u8 = 2;

/// A read-only view of one trace file.
#[derive(Debug)]
pub struct TraceReader {
    path: PathBuf,
    data: Buffer,
    header: FileHeader,
    state: TraceState,
    segments: Vec<SegmentInfo>,
    by_table: HashMap<Table, Vec<usize>>,
    /// `(min_seq, max_seq, segment)` of every `events` segment, ascending.
    events_index: Vec<(u64, u64, usize)>,
    verified: Vec<AtomicU8>,
    zones: Vec<OnceLock<Arc<ZoneMap>>>,
    cache: SegmentCache,
}

impl TraceReader {
    /// Opens `path`. Fails with a one-line error naming the file if it is not a pyttd trace,
    /// has an unsupported major version, or its footer index points at corrupt segments.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = std::fs::File::open(&path).map_err(|e| FormatError::io(&path, e))?;
        let len = file
            .metadata()
            .map_err(|e| FormatError::io(&path, e))?
            .len();
        if len < BLOCK as u64 {
            let reason = match len {
                0 => "the file is empty".to_string(),
                _ => format!("the file is {len} bytes, shorter than the {BLOCK}-byte file header"),
            };
            return Err(FormatError::NotATrace { path, reason });
        }
        // SAFETY: the map is read-only and private to this reader. pyttd's writer only ever
        // appends, so bytes already mapped never change; another program truncating the file
        // while it is open would fault the process (SIGBUS), as documented in SPEC.md.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| FormatError::io(&path, e))?;
        let data = buffer_over(map);
        let header_bytes: &[u8; BLOCK] = data[..BLOCK].try_into().expect("length checked");
        let header = match FileHeader::decode(header_bytes) {
            Ok(h) => h,
            Err(BlockError::BadMagic) => {
                let reason = "bad magic bytes at offset 0".to_string();
                return Err(FormatError::NotATrace { path, reason });
            }
            Err(BlockError::BadChecksum) => {
                return Err(FormatError::corrupt(
                    &path,
                    0,
                    "file header checksum mismatch",
                ));
            }
        };
        if !(1..=FORMAT_VERSION.0).contains(&header.major) {
            return Err(FormatError::UnsupportedVersion {
                path,
                found_major: header.major,
                found_minor: header.minor,
                supported_major: FORMAT_VERSION.0,
            });
        }
        let footer = crate::layout::decode_footer(&data).map(|(_, entries)| {
            let mismatch = first_footer_mismatch(&data, &entries);
            (entries, mismatch)
        });
        let (entries, state, verified) = match footer {
            Some((entries, None)) => (entries, TraceState::Complete, UNVERIFIED),
            // No footer, or one that disagrees with the segments: take the verified prefix.
            damaged => {
                let (entries, valid_bytes, mut reason) = recover(&data);
                if let Some((_, Some(at))) = damaged {
                    reason = format!(
                        "the footer index disagrees with the segment at byte {at} ({reason})"
                    );
                }
                let state = TraceState::Recovered {
                    valid_bytes,
                    file_bytes: len,
                    reason,
                };
                (entries, state, VERIFIED)
            }
        };
        let segments: Vec<SegmentInfo> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| SegmentInfo::new(i, e))
            .collect();
        let mut by_table: HashMap<Table, Vec<usize>> = HashMap::new();
        for s in &segments {
            if let Some(t) = s.table {
                by_table.entry(t).or_default().push(s.index);
            }
        }
        let events_index = segments
            .iter()
            .filter(|s| s.table == Some(Table::Events))
            .filter_map(|s| {
                s.seq_range
                    .as_ref()
                    .map(|r| (*r.start(), *r.end(), s.index))
            })
            .collect();
        let verified = segments.iter().map(|_| AtomicU8::new(verified)).collect();
        let zones = segments.iter().map(|_| OnceLock::new()).collect();
        Ok(TraceReader {
            path,
            data,
            header,
            state,
            segments,
            by_table,
            events_index,
            zones,
            verified,
            cache: SegmentCache::new(DEFAULT_CACHE_BYTES),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format version the file was written with.
    pub fn version(&self) -> (u16, u16) {
        (self.header.major, self.header.minor)
    }

    pub fn state(&self) -> &TraceState {
        &self.state
    }

    /// Size of the file when it was opened.
    pub fn file_len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Every segment in file order, including those of tables this version does not know.
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }

    /// The segments of `table`, in file (and therefore seq) order.
    pub fn table_segments(&self, table: Table) -> impl Iterator<Item = &SegmentInfo> {
        self.by_table
            .get(&table)
            .into_iter()
            .flatten()
            .map(|&i| &self.segments[i])
    }

    /// Total rows of `table`.
    pub fn row_count(&self, table: Table) -> u64 {
        self.table_segments(table).map(|s| s.row_count).sum()
    }

    /// Decodes segment `index` with all columns, through the bounded cache. This is the hot
    /// path of navigation: a warm lookup costs a hash-map probe.
    pub fn segment(&self, index: usize) -> Result<Arc<RecordBatch>> {
        if let Some(b) = self.cache.get(index) {
            return Ok(b);
        }
        let batch = Arc::new(self.decode(index, None)?);
        self.cache.insert(index, batch.clone());
        Ok(batch)
    }

    /// Decodes segment `index` keeping only the columns at `projection` (indices into the
    /// table's v1 schema). Not cached: for scans.
    pub fn read_segment(&self, index: usize, projection: Option<&[usize]>) -> Result<RecordBatch> {
        self.decode(index, projection)
    }

    /// The `events` segment whose seq range holds `seq`, if any.
    pub fn events_segment_of(&self, seq: u64) -> Option<usize> {
        let i = self.events_index.partition_point(|&(_, max, _)| max < seq);
        let &(min, _, seg) = self.events_index.get(i)?;
        (min <= seq).then_some(seg)
    }

    /// The event with sequence number `seq`, if the trace has it.
    pub fn event_at(&self, seq: u64) -> Result<Option<Event>> {
        let i = self.events_index.partition_point(|&(_, max, _)| max < seq);
        let Some(&(min, _, seg)) = self.events_index.get(i) else {
            return Ok(None);
        };
        if min > seq {
            return Ok(None);
        }
        let batch = self.segment(seg)?;
        let seqs = u64_column(&batch, 0);
        let row = seqs.values().partition_point(|&s| s < seq);
        if row >= seqs.len() || seqs.value(row) != seq {
            return Ok(None);
        }
        self.event_in(&batch, seg, row).map(Some)
    }

    /// Reads row `row` of a decoded `events` segment.
    pub fn event_in(&self, batch: &RecordBatch, seg: usize, row: usize) -> Result<Event> {
        let kind_code = u8_column(batch, 2).value(row);
        let kind = EventKind::from_code(kind_code).ok_or_else(|| {
            FormatError::corrupt(
                &self.path,
                self.segments[seg].offset,
                format!("unknown event kind code {kind_code} in row {row}"),
            )
        })?;
        Ok(Event {
            seq: u64_column(batch, 0).value(row),
            thread_id: u32_column(batch, 1).value(row),
            kind,
            code_id: u32_column(batch, 3).value(row),
            line: u32_column(batch, 4).value(row),
            depth: u32_column(batch, 5).value(row),
            call_id: u64_column(batch, 6).value(row),
            ts_ns: batch
                .column(7)
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .expect("events.ts_ns is Int64")
                .value(row),
        })
    }

    /// Streams `table` restricted to rows whose seq column lies in `seq_range` (all rows when
    /// `None`), keeping the named columns (all when `None`). Segments outside the range are
    /// never decoded.
    pub fn scan(
        &self,
        table: Table,
        seq_range: Option<RangeInclusive<u64>>,
        columns: Option<&[&str]>,
    ) -> Result<TableScan<'_>> {
        let schema = table.schema();
        if seq_range.is_some() && table.seq_column().is_none() {
            return Err(FormatError::SchemaMismatch {
                path: self.path.clone(),
                table,
                reason: "the table has no seq column to restrict by seq range".into(),
            });
        }
        let projection = match columns {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| {
                        schema.index_of(n).map_err(|_| FormatError::SchemaMismatch {
                            path: self.path.clone(),
                            table,
                            reason: format!("no column `{n}`"),
                        })
                    })
                    .collect::<Result<Vec<usize>>>()?,
            ),
        };
        let segments = self
            .table_segments(table)
            .filter(|_| seq_range.as_ref().is_none_or(|r| !r.is_empty()))
            .filter(|s| match (&seq_range, &s.seq_range) {
                (Some(want), Some(have)) => {
                    have.start() <= want.end() && want.start() <= have.end()
                }
                _ => true,
            })
            .map(|s| s.index)
            .collect();
        Ok(TableScan {
            reader: self,
            table,
            segments,
            next: 0,
            seq_range,
            projection,
        })
    }

    /// The zone map of segment `index` (SPEC.md, "Zone maps"): empty when the writer recorded
    /// none. Read from the body's Arrow schema once, after the body's checksum is verified (a
    /// damaged zone must never hide rows), and cached.
    pub fn zone_map(&self, index: usize) -> Result<Arc<ZoneMap>> {
        if let Some(z) = self.zones[index].get() {
            return Ok(z.clone());
        }
        let seg = &self.segments[index];
        let body = self.verified_body(index)?;
        // arrow-ipc's schema conversion panics on some crafted flatbuffers (a field without a
        // type's required parts): caught here as corruption, like a failed decode.
        let major = self.header.major;
        let zones = std::panic::catch_unwind(|| crate::body::schema_metadata(&body, major))
            .unwrap_or_else(|_| Err("segment body holds an invalid Arrow schema".into()))
            .map(|m| ZoneMap::from_metadata(&m))
            .map_err(|reason| FormatError::corrupt(&self.path, seg.offset, reason))?;
        Ok(self.zones[index].get_or_init(|| Arc::new(zones)).clone())
    }

    /// The body of segment `index`, its checksum verified (once per segment).
    fn verified_body(&self, index: usize) -> Result<Buffer> {
        let seg = &self.segments[index];
        let body_start = seg.offset as usize + BLOCK;
        let body = self
            .data
            .slice_with_length(body_start, seg.body_len as usize);
        match self.verified[index].load(Ordering::Acquire) {
            VERIFIED => {}
            BAD => return Err(self.bad_checksum(seg)),
            _ => {
                if SegmentHeader::checksum(&body) != seg.body_crc {
                    self.verified[index].store(BAD, Ordering::Release);
                    return Err(self.bad_checksum(seg));
                }
                self.verified[index].store(VERIFIED, Ordering::Release);
            }
        }
        Ok(body)
    }

    fn decode(&self, index: usize, projection: Option<&[usize]>) -> Result<RecordBatch> {
        let seg = &self.segments[index];
        let table = seg.table.ok_or_else(|| {
            FormatError::corrupt(
                &self.path,
                seg.offset,
                format!(
                    "segment of unknown table id {} cannot be decoded",
                    seg.table_id
                ),
            )
        })?;
        let body = self.verified_body(index)?;
        let expected = table.schema();
        let major = self.header.major;
        let all: Vec<usize>;
        let wanted = match projection {
            Some(p) => p,
            None => {
                all = (0..expected.fields().len()).collect();
                &all
            }
        };
        // A dense `events` segment (as many rows as seqs in its range) has, by the strict
        // ordering rule, `seq[i] = min_seq + i`: build that column instead of decompressing it.
        let dense_seq = seg
            .seq_range
            .as_ref()
            .filter(|_| table == Table::Events)
            .filter(|r| {
                r.end()
                    .checked_sub(*r.start())
                    .and_then(|d| d.checked_add(1))
                    == Some(seg.row_count)
            })
            .map(|r| *r.start())
            .filter(|_| wanted.contains(&0));
        let to_decode: Vec<usize> = match dense_seq {
            Some(_) => wanted.iter().copied().filter(|&c| c != 0).collect(),
            None => wanted.to_vec(),
        };
        let decoded = if to_decode.is_empty() {
            None
        } else {
            let result = std::panic::catch_unwind(|| {
                crate::body::decode(&body, &expected, major, Some(&to_decode))
            });
            Some(match result {
                // Formats 2 and 3 store columns encoded (SPEC.md, "Column encoding").
                Ok(Ok(b)) if self.header.major >= 2 => {
                    crate::encoding::decode(table, self.header.major, b)
                        .map_err(|reason| FormatError::corrupt(&self.path, seg.offset, reason))?
                }
                Ok(Ok(b)) => b,
                Ok(Err(reason)) => {
                    return Err(FormatError::corrupt(&self.path, seg.offset, reason));
                }
                Err(_) => {
                    return Err(FormatError::corrupt(
                        &self.path,
                        seg.offset,
                        "segment body is not decodable Arrow IPC",
                    ));
                }
            })
        };
        if let Some(batch) = &decoded
            && batch.num_rows() as u64 != seg.row_count
        {
            return Err(FormatError::corrupt(
                &self.path,
                seg.offset,
                format!(
                    "segment header says {} rows, body has {}",
                    seg.row_count,
                    batch.num_rows()
                ),
            ));
        }
        let batch = match (dense_seq, decoded) {
            (None, Some(batch)) => batch,
            (Some(min_seq), decoded) => {
                let seq: arrow_array::ArrayRef = Arc::new(UInt64Array::from_iter_values(
                    min_seq..min_seq + seg.row_count,
                ));
                let mut rest = decoded
                    .map(|b| b.columns().to_vec())
                    .unwrap_or_default()
                    .into_iter();
                let columns = wanted
                    .iter()
                    .map(|&c| match c {
                        0 => seq.clone(),
                        _ => rest.next().expect("one decoded column per projected index"),
                    })
                    .collect();
                let schema = Arc::new(expected.project(wanted).expect("projection checked"));
                RecordBatch::try_new(schema, columns).expect("columns match the v1 schema")
            }
            // An empty projection: no columns, only the row count.
            (None, None) => RecordBatch::try_new_with_options(
                Arc::new(arrow_schema::Schema::empty()),
                vec![],
                &arrow_array::RecordBatchOptions::new()
                    .with_row_count(Some(seg.row_count as usize)),
            )
            .expect("an empty batch with a row count is valid"),
        };
        Ok(batch)
    }

    fn bad_checksum(&self, seg: &SegmentInfo) -> FormatError {
        FormatError::corrupt(
            &self.path,
            seg.offset,
            format!("`{}` segment body checksum mismatch", seg.table_name()),
        )
    }
}

/// Streaming scan over one table; see [`TraceReader::scan`].
#[derive(Debug)]
pub struct TableScan<'a> {
    reader: &'a TraceReader,
    table: Table,
    segments: Vec<usize>,
    next: usize,
    seq_range: Option<RangeInclusive<u64>>,
    projection: Option<Vec<usize>>,
}

impl TableScan<'_> {
    /// Number of segments the scan will decode (after pruning by seq range).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn next_batch(&mut self, index: usize) -> Result<RecordBatch> {
        match self.seq_range.clone() {
            None => self.reader.read_segment(index, self.projection.as_deref()),
            Some(range) => {
                self.reader
                    .read_segment_in(index, self.table, range, self.projection.as_deref())
            }
        }
    }
}

impl TraceReader {
    /// Decodes segment `index` of `table` (not cached) keeping the columns at `projection`,
    /// and only the rows whose seq column lies in `range`.
    pub fn read_segment_in(
        &self,
        index: usize,
        table: Table,
        range: RangeInclusive<u64>,
        projection: Option<&[usize]>,
    ) -> Result<RecordBatch> {
        let schema = table.schema();
        let Some(seq_name) = table.seq_column() else {
            return Err(FormatError::SchemaMismatch {
                path: self.path.clone(),
                table,
                reason: "the table has no seq column to restrict by seq range".into(),
            });
        };
        let seq_col = schema.index_of(seq_name).expect("seq column exists");
        // Decode with the seq column as well, slice to the range, then drop it if unwanted.
        let mut proj = projection
            .map(<[usize]>::to_vec)
            .unwrap_or_else(|| (0..schema.fields().len()).collect());
        let seq_pos = match proj.iter().position(|&c| c == seq_col) {
            Some(p) => p,
            None => {
                proj.push(seq_col);
                proj.len() - 1
            }
        };
        let batch = self.read_segment(index, Some(&proj))?;
        let seqs = u64_column(&batch, seq_pos).values();
        let lo = seqs.partition_point(|&s| s < *range.start());
        let hi = seqs.partition_point(|&s| s <= *range.end()).max(lo);
        let sliced = batch.slice(lo, hi - lo);
        if projection.is_none_or(|p| p.contains(&seq_col)) {
            Ok(sliced)
        } else {
            let keep: Vec<usize> = (0..proj.len() - 1).collect();
            Ok(sliced.project(&keep).expect("indices in range"))
        }
    }
}

impl Iterator for TableScan<'_> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let &index = self.segments.get(self.next)?;
        self.next += 1;
        Some(self.next_batch(index))
    }
}

/// Wraps the map in an Arrow buffer so decoded arrays borrow the file's bytes (zero-copy).
fn buffer_over(map: Mmap) -> Buffer {
    let len = map.len();
    let ptr = NonNull::new(map.as_ptr() as *mut u8).unwrap_or(NonNull::dangling());
    // SAFETY: `ptr` points at `len` readable bytes owned by `map`; moving `map` into the Arc
    // keeps them mapped for as long as any Buffer slice refers to them. The bytes are never
    // written through this pointer.
    unsafe { Buffer::from_custom_allocation(ptr, len, Arc::new(map)) }
}

/// The offset of the first footer entry that does not point at a segment header saying the same
/// thing, if any.
fn first_footer_mismatch(data: &[u8], entries: &[FooterEntry]) -> Option<u64> {
    entries
        .iter()
        .map(|e| e.offset)
        .zip(entries)
        .find_map(|(at, e)| {
            let fits = at
                .checked_add(e.header.stride())
                .is_some_and(|end| end <= data.len() as u64);
            let same = fits
                && at.is_multiple_of(BLOCK as u64)
                && SegmentHeader::decode(&data[at as usize..at as usize + BLOCK])
                    .is_ok_and(|h| h == e.header);
            (!same).then_some(at)
        })
}

/// Recovery scan of a file without a valid footer: every complete segment whose header and
/// body checksums verify, stopping at the first that does not (the torn tail).
fn recover(data: &[u8]) -> (Vec<FooterEntry>, u64, String) {
    let mut entries = Vec::new();
    let mut at = BLOCK as u64;
    let len = data.len() as u64;
    let reason = loop {
        if at == len {
            break "no footer: the writer did not finish (crash, kill, or still recording)".into();
        }
        if len - at < BLOCK as u64 {
            break format!("torn segment header at byte {at}");
        }
        let block = &data[at as usize..at as usize + BLOCK];
        if block[0..4] == FOOTER_MAGIC {
            break format!("damaged footer at byte {at}");
        }
        let header = match SegmentHeader::decode(block) {
            Ok(h) => h,
            Err(_) => break format!("invalid segment header at byte {at}"),
        };
        let Some(end) = at.checked_add(header.stride()).filter(|&e| e <= len) else {
            break format!("torn segment at byte {at}");
        };
        let body = &data[at as usize + BLOCK..(at + BLOCK as u64 + header.body_len) as usize];
        if SegmentHeader::checksum(body) != header.body_crc {
            break format!("segment at byte {at} fails its checksum");
        }
        entries.push(FooterEntry { offset: at, header });
        at = end;
    };
    (entries, at, reason)
}

fn u64_column(batch: &RecordBatch, i: usize) -> &UInt64Array {
    batch
        .column(i)
        .as_any()
        .downcast_ref()
        .expect("validated v1 schema: UInt64")
}

fn u32_column(batch: &RecordBatch, i: usize) -> &UInt32Array {
    batch
        .column(i)
        .as_any()
        .downcast_ref()
        .expect("validated v1 schema: UInt32")
}

fn u8_column(batch: &RecordBatch, i: usize) -> &arrow_array::UInt8Array {
    batch
        .column(i)
        .as_any()
        .downcast_ref()
        .expect("validated v1 schema: UInt8")
}

/// Bytes a decoded batch refers to. Not `get_array_memory_size`, which reports the capacity of
/// the underlying allocation: for a zero-copy batch that is the whole mapped file.
fn decoded_bytes(batch: &RecordBatch) -> usize {
    fn data_bytes(d: &arrow_data::ArrayData) -> usize {
        d.buffers().iter().map(|b| b.len()).sum::<usize>()
            + d.nulls().map_or(0, |n| n.buffer().len())
            + d.child_data().iter().map(data_bytes).sum::<usize>()
    }
    batch
        .columns()
        .iter()
        .map(|c| data_bytes(&c.to_data()))
        .sum()
}

/// Decoded segments kept for navigation, bounded by their in-memory size.
const DEFAULT_CACHE_BYTES: usize = 256 << 20;

#[derive(Debug)]
struct SegmentCache {
    max_bytes: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    entries: HashMap<usize, (Arc<RecordBatch>, u64)>,
    bytes: usize,
    tick: u64,
}

impl SegmentCache {
    fn new(max_bytes: usize) -> Self {
        SegmentCache {
            max_bytes,
            inner: Mutex::default(),
        }
    }

    fn get(&self, index: usize) -> Option<Arc<RecordBatch>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.entries.get_mut(&index)?;
        entry.1 = tick;
        Some(entry.0.clone())
    }

    fn insert(&self, index: usize, batch: Arc<RecordBatch>) {
        let size = decoded_bytes(&batch);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while inner.bytes + size > self.max_bytes && !inner.entries.is_empty() {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(&k, _)| k)
                .expect("non-empty");
            if let Some((b, _)) = inner.entries.remove(&oldest) {
                inner.bytes -= decoded_bytes(&b);
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        if let Some((old, _)) = inner.entries.insert(index, (batch, tick)) {
            inner.bytes -= decoded_bytes(&old);
        }
        inner.bytes += size;
    }
}
