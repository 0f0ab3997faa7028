//! [`TraceWriter`]: appends record batches to a trace as checksummed segments, and writes the
//! footer index when the trace is finished.
//!
//! Flush policy: batches are buffered per table until the table holds `segment_rows` rows, then
//! written as one segment with a single `write(2)`. [`TraceWriter::flush`] writes everything
//! buffered (the recorder calls it at least every 100 ms, so a killed process loses at most that
//! much); [`TraceWriter::finish`] flushes and writes the footer. A writer dropped without
//! `finish` leaves a valid trace without footer, exactly like a crash.
//!
//! Block summaries (`blocks`, `block_lines`) are the exception: `flush` holds them back until
//! they cover [`SUMMARY_LAG_EVENTS`] events, since each segment costs a schema message and a
//! header whatever its size, and a reader rebuilds a summary the file lacks from the events
//! (SPEC.md, `blocks`). A block's `block_lines` rows are always written before its `blocks` row,
//! so a block that is in the file has its lines there too.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow_array::{Array, RecordBatch, UInt64Array};
use arrow_ipc::writer::{
    DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions, write_message,
};
use arrow_ipc::{CompressionType, MetadataVersion};
use arrow_schema::ArrowError;

use crate::error::{FormatError, Result};
use crate::layout::{
    BLOCK, FLAG_HAS_SEQ_RANGE, FileHeader, FooterEntry, SegmentHeader, encode_footer, pad_to_block,
};
use crate::schema::Table;
use crate::summary::summarize_events;
use crate::zone::ZoneMap;
use crate::{FORMAT_VERSION, SegmentInfo};

/// Compression of the Arrow buffers inside each segment body (Arrow IPC body compression).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Lz4,
    /// Zstandard at the given level (negative levels are zstd's fast modes).
    Zstd(i32),
}

impl Compression {
    /// The zstd level the writer uses by default (see `WriterOptions::default`).
    pub const DEFAULT_ZSTD: Compression = Compression::Zstd(1);
}

/// Settings of a [`TraceWriter`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub compression: Compression,
    /// A table's buffered rows are written as segments once they reach this count, and no
    /// segment holds more (point lookups decode a whole segment: smaller ones answer faster,
    /// larger ones compress a little better).
    pub segment_rows: usize,
}

impl Default for WriterOptions {
    /// Zstd level 1 (BENCHMARKS.md, "format") and 16Ki-row segments (a cold point lookup decodes
    /// one segment; BENCHMARKS.md, "navigation").
    fn default() -> Self {
        WriterOptions {
            compression: Compression::DEFAULT_ZSTD,
            segment_rows: 16_384,
        }
    }
}

/// The Arrow IPC options that write the bodies of the trace at `path` with `compression`.
fn ipc_options(path: &Path, compression: Compression) -> Result<IpcWriteOptions> {
    let (codec, level) = match compression {
        Compression::None => (None, None),
        Compression::Lz4 => (Some(CompressionType::LZ4_FRAME), None),
        Compression::Zstd(level) => (Some(CompressionType::ZSTD), Some(level)),
    };
    // Uncompressed buffers are 64-byte aligned so a reader can use them in place (SPEC.md,
    // "Zero-copy reads"); compressed ones are decoded into fresh memory anyway, and 8-byte
    // alignment saves about 30 bytes of padding per buffer in every segment.
    let alignment = if codec.is_none() { BLOCK } else { 8 };
    IpcWriteOptions::try_new(alignment, false, MetadataVersion::V5)
        .and_then(|o| o.try_with_compression(codec))
        .and_then(|o| o.try_with_compression_level(level))
        .map_err(|error| FormatError::Encode {
            path: path.to_path_buf(),
            table: Table::Run,
            error,
        })
}

/// Writes one trace file. See the module documentation for the flush policy.
#[derive(Debug)]
pub struct TraceWriter {
    path: PathBuf,
    file: File,
    offset: u64,
    entries: Vec<FooterEntry>,
    options: WriterOptions,
    ipc: IpcWriteOptions,
    /// The compression context of the current level, kept across segments instead of allocating
    /// one per segment (zstd still resets it for each buffer it compresses). Arrow fixes a
    /// context's level when it first compresses, so a new level gets a new one.
    ipc_context: IpcWriteContext,
    pending: Vec<Vec<RecordBatch>>,
    pending_rows: Vec<usize>,
    last_seq: Vec<Option<u64>>,
    scratch: Vec<u8>,
    /// Events summarized by the buffered `blocks` rows.
    summarized: u64,
}

/// `flush` writes the buffered block summaries once they cover this many events (`finish`
/// always does): a reader of a trace cut off before them summarizes at most about this many
/// events again when it opens it.
pub const SUMMARY_LAG_EVENTS: u64 = 1 << 20;

impl TraceWriter {
    /// Creates `path` and writes the file header. An existing file there is replaced by a new
    /// one (unlinked, never truncated), so a reader that has the old trace mapped keeps it whole.
    pub fn create(path: impl AsRef<Path>, options: WriterOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(FormatError::io(&path, e));
            }
            _ => {}
        }
        let mut file = File::create_new(&path).map_err(|e| FormatError::io(&path, e))?;
        let header = FileHeader {
            major: FORMAT_VERSION.0,
            minor: FORMAT_VERSION.1,
        };
        file.write_all(&header.encode())
            .map_err(|e| FormatError::io(&path, e))?;
        let ipc = ipc_options(&path, options.compression)?;
        let n = Table::ALL.len();
        Ok(TraceWriter {
            path,
            file,
            offset: BLOCK as u64,
            entries: Vec::new(),
            options,
            ipc,
            ipc_context: IpcWriteContext::default(),
            pending: vec![Vec::new(); n],
            pending_rows: vec![0; n],
            last_seq: vec![None; n],
            scratch: Vec::new(),
            summarized: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written to the file so far (buffered rows not included).
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// The compression of the segments written from now on.
    pub fn compression(&self) -> Compression {
        self.options.compression
    }

    /// Changes the compression of the segments written from now on (those already written keep
    /// theirs: each body declares its own, SPEC.md section 7). The recorder raises the zstd level
    /// while its flush thread has time to spare.
    pub fn set_compression(&mut self, compression: Compression) -> Result<()> {
        if compression != self.options.compression {
            self.ipc = ipc_options(&self.path, compression)?;
            self.ipc_context = IpcWriteContext::default();
            self.options.compression = compression;
        }
        Ok(())
    }

    /// Rows per segment: a table's buffered rows are written once they reach this.
    pub fn segment_rows(&self) -> usize {
        self.options.segment_rows
    }

    /// Segments written so far.
    pub fn segments(&self) -> impl Iterator<Item = SegmentInfo> + '_ {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| SegmentInfo::new(i, e))
    }

    /// Buffers `batch` for `table`, writing a segment when the table reaches `segment_rows`.
    ///
    /// The batch must have exactly the table's v1 schema, and for tables with a seq column its
    /// rows must continue the table's non-decreasing seq order (strictly increasing for
    /// `events`). Empty batches are ignored.
    pub fn append(&mut self, table: Table, batch: RecordBatch) -> Result<()> {
        if matches!(table, Table::Blocks | Table::BlockLines) {
            let reason = "the writer derives this table from `events` itself".to_string();
            return Err(self.mismatch(table, reason));
        }
        self.check(table, &batch)?;
        if self.buffer(table, batch) {
            // Tables with lower ids (code, threads, calls) describe what later tables refer to:
            // write theirs first so a crash never leaves events pointing at unwritten rows.
            for earlier in Table::ALL.into_iter().take_while(|&e| e != table) {
                self.write_pending(earlier)?;
            }
            self.write_pending(table)?;
        }
        Ok(())
    }

    /// Writes every buffered row to the file (one segment per table with buffered rows), except
    /// block summaries that cover fewer than [`SUMMARY_LAG_EVENTS`] events (module docs).
    pub fn flush(&mut self) -> Result<()> {
        for table in Table::ALL {
            if !matches!(table, Table::Blocks | Table::BlockLines) {
                self.write_pending(table)?;
            }
        }
        if self.summarized >= SUMMARY_LAG_EVENTS {
            self.write_summaries()?;
        }
        Ok(())
    }

    /// Writes the buffered block summaries, lines first (module docs).
    fn write_summaries(&mut self) -> Result<()> {
        self.write_pending(Table::BlockLines)?;
        self.write_pending(Table::Blocks)?;
        self.summarized = 0;
        Ok(())
    }

    /// Flushes and asks the operating system to put the data on disk (`fsync`).
    pub fn sync(&mut self) -> Result<()> {
        self.flush()?;
        self.file
            .sync_data()
            .map_err(|e| FormatError::io(&self.path, e))
    }

    /// Flushes, writes the footer index and trailer, and closes the file. Returns its size.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.write_summaries()?;
        let footer = encode_footer(&self.entries, self.offset);
        self.file
            .write_all(&footer)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| FormatError::io(&self.path, e))?;
        Ok(self.offset + footer.len() as u64)
    }

    fn check(&self, table: Table, batch: &RecordBatch) -> Result<()> {
        let expected = table.schema();
        let schema = batch.schema();
        if !std::sync::Arc::ptr_eq(&schema, &expected) && schema.fields() != expected.fields() {
            let reason = expected
                .fields()
                .iter()
                .zip(schema.fields().iter())
                .find(|(e, g)| e != g)
                .map(|(e, g)| {
                    format!(
                        "column `{}` is {} {} but the spec says `{}` {} {}",
                        g.name(),
                        g.data_type(),
                        if g.is_nullable() { "null" } else { "not null" },
                        e.name(),
                        e.data_type(),
                        if e.is_nullable() { "null" } else { "not null" },
                    )
                })
                .unwrap_or_else(|| {
                    format!(
                        "{} columns given, {} expected",
                        schema.fields().len(),
                        expected.fields().len()
                    )
                });
            return Err(self.mismatch(table, reason));
        }
        let Some(seq) = seq_values(table, batch) else {
            return Ok(());
        };
        let strict = table == Table::Events;
        let mut prev = self.last_seq[table as usize - 1];
        if let Some(last) = self.pending[table as usize - 1]
            .last()
            .and_then(|b| seq_values(table, b))
            .and_then(|s| s.values().last().copied())
        {
            prev = Some(last);
        }
        for &s in seq.values() {
            if let Some(p) = prev
                && (s < p || (strict && s == p))
            {
                return Err(self.mismatch(
                    table,
                    format!(
                        "rows are not in {} order of `{}`: {s} follows {p}",
                        if strict {
                            "increasing"
                        } else {
                            "non-decreasing"
                        },
                        table.seq_column().unwrap_or("seq"),
                    ),
                ));
            }
            prev = Some(s);
        }
        Ok(())
    }

    fn mismatch(&self, table: Table, reason: String) -> FormatError {
        FormatError::SchemaMismatch {
            path: self.path.clone(),
            table,
            reason,
        }
    }

    fn write_pending(&mut self, table: Table) -> Result<()> {
        let t = table as usize - 1;
        if self.pending_rows[t] == 0 {
            return Ok(());
        }
        let batches = std::mem::take(&mut self.pending[t]);
        self.pending_rows[t] = 0;
        let batch = if batches.len() == 1 {
            batches.into_iter().next().expect("one batch")
        } else {
            arrow_select::concat::concat_batches(&table.schema(), &batches).map_err(|error| {
                FormatError::Encode {
                    path: self.path.clone(),
                    table,
                    error,
                }
            })?
        };
        // Segments hold at most `segment_rows` rows, however much was buffered: a reader
        // decodes a whole segment to look up one row.
        let size = self.options.segment_rows.max(1);
        for start in (0..batch.num_rows()).step_by(size) {
            let part = batch.slice(start, size.min(batch.num_rows() - start));
            self.write_segment(table, &part)?;
            if table == Table::Events {
                // The block summaries follow their events into the file (SPEC.md, `blocks`).
                let (blocks, lines) = summarize_events(&part);
                self.summarized += part.num_rows() as u64;
                let lines_full = self.buffer(Table::BlockLines, lines);
                if self.buffer(Table::Blocks, blocks) {
                    self.write_summaries()?;
                } else if lines_full {
                    self.write_pending(Table::BlockLines)?;
                }
            }
        }
        Ok(())
    }

    /// Adds `batch` (if it has rows) to `table`'s buffered rows; true when they fill a segment.
    fn buffer(&mut self, table: Table, batch: RecordBatch) -> bool {
        if batch.num_rows() == 0 {
            return false;
        }
        let t = table as usize - 1;
        self.pending_rows[t] += batch.num_rows();
        self.pending[t].push(batch);
        self.pending_rows[t] >= self.options.segment_rows
    }

    fn write_segment(&mut self, table: Table, batch: &RecordBatch) -> Result<()> {
        let encode_err = |error| FormatError::Encode {
            path: self.path.clone(),
            table,
            error,
        };
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        out.resize(BLOCK, 0);
        // The segment's zones ride in its schema metadata (SPEC.md, "Zone maps"), and its
        // columns are stored encoded (SPEC.md, "Column encoding").
        let zones = ZoneMap::of(table, batch);
        let stored =
            crate::encoding::encode(table, batch, zones.to_metadata()).map_err(encode_err)?;
        write_stream(&mut out, &stored, &self.ipc, &mut self.ipc_context).map_err(encode_err)?;
        let body_len = (out.len() - BLOCK) as u64;
        let (flags, min_seq, max_seq) = match seq_values(table, batch) {
            Some(s) if !s.is_empty() => (FLAG_HAS_SEQ_RANGE, s.value(0), s.value(s.len() - 1)),
            _ => (0, 0, 0),
        };
        let header = SegmentHeader {
            table_id: table.id(),
            flags,
            row_count: batch.num_rows() as u64,
            min_seq,
            max_seq,
            body_len,
            body_crc: SegmentHeader::checksum(&out[BLOCK..]),
        };
        out[..BLOCK].copy_from_slice(&header.encode());
        out.resize(BLOCK + pad_to_block(body_len) as usize, 0);
        self.file
            .write_all(&out)
            .map_err(|e| FormatError::io(&self.path, e))?;
        self.entries.push(FooterEntry {
            offset: self.offset,
            header,
        });
        self.offset += out.len() as u64;
        if flags != 0 {
            self.last_seq[table as usize - 1] = Some(max_seq);
        }
        self.scratch = out;
        Ok(())
    }
}

/// Appends `batch` to `out` as a whole Arrow IPC stream (schema, dictionaries, the batch and the
/// end-of-stream marker), exactly as `arrow_ipc::writer::StreamWriter` writes it, but compressing
/// with `context`, which the caller keeps from one segment to the next.
fn write_stream(
    out: &mut Vec<u8>,
    batch: &RecordBatch,
    options: &IpcWriteOptions,
    context: &mut IpcWriteContext,
) -> std::result::Result<(), ArrowError> {
    let generator = IpcDataGenerator::default();
    let mut dictionaries = DictionaryTracker::new(false);
    let schema = generator.schema_to_bytes_with_dictionary_tracker(
        batch.schema_ref(),
        &mut dictionaries,
        options,
    );
    write_message(&mut *out, schema, options)?;
    let (encoded_dictionaries, encoded_batch) =
        generator.encode(batch, &mut dictionaries, options, context)?;
    for dictionary in encoded_dictionaries {
        write_message(&mut *out, dictionary, options)?;
    }
    write_message(&mut *out, encoded_batch, options)?;
    // End of stream (metadata version 5): the continuation marker and a zero length.
    out.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    Ok(())
}

/// The table's seq column of `batch`, when the table has one.
fn seq_values(table: Table, batch: &RecordBatch) -> Option<&UInt64Array> {
    let name = table.seq_column()?;
    batch
        .column_by_name(name)?
        .as_any()
        .downcast_ref::<UInt64Array>()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{DictionaryArray, Int64Array, types::Int32Type};
    use arrow_ipc::writer::StreamWriter;

    use super::*;

    /// The bytes `StreamWriter` writes for `batch`, with a context of its own.
    fn stream_writer_bytes(batch: &RecordBatch, options: &IpcWriteOptions) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w =
            StreamWriter::try_new_with_options(&mut out, batch.schema_ref(), options.clone())
                .unwrap();
        w.write(batch).unwrap();
        w.finish().unwrap();
        drop(w);
        out
    }

    #[test]
    fn a_segment_body_is_the_stream_arrow_writes_whatever_the_context_compressed_before() {
        let batch = |offset: i64| {
            let ops = ["load", "store", "load", "jump"];
            let dictionary: DictionaryArray<Int32Type> = (0..1_000)
                .map(|i| ops[(i + offset).rem_euclid(4) as usize])
                .collect();
            RecordBatch::try_from_iter([
                (
                    "n",
                    Arc::new(Int64Array::from_iter_values(offset..offset + 1_000)) as _,
                ),
                ("op", Arc::new(dictionary) as _),
            ])
            .unwrap()
        };
        for compression in [
            Compression::Zstd(1),
            Compression::Zstd(9),
            Compression::Lz4,
            Compression::None,
        ] {
            let options = ipc_options(Path::new("t.pyttd"), compression).unwrap();
            let mut context = IpcWriteContext::default();
            for offset in [0, 5_000, -3] {
                let mut out = Vec::new();
                write_stream(&mut out, &batch(offset), &options, &mut context).unwrap();
                assert_eq!(
                    out,
                    stream_writer_bytes(&batch(offset), &options),
                    "{compression:?}"
                );
            }
        }
    }
}
