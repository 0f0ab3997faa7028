//! The Arrow IPC inside a segment body (SPEC.md, "Segment body"). Majors 1 to 3 store an Arrow
//! IPC *file* (schema, dictionary batches, record batch, footer repeating the schema); major 4
//! stores an Arrow IPC *stream* (schema, dictionary batches, record batch, end-of-stream marker),
//! which carries the schema once and no footer. Both are read the same way: locate the schema and
//! the blocks of the messages, check them, and decode the blocks with arrow-ipc's `FileDecoder`
//! (which decodes any encapsulated message, with a column projection).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::{FileDecoder, read_footer_length};
use arrow_ipc::{Block, MessageHeader, MetadataVersion};
use arrow_schema::{Schema, SchemaRef};

/// The first major version whose bodies are Arrow IPC streams.
pub(crate) const STREAM_MAJOR: u16 = 4;

/// Largest uncompressed length a compressed buffer may declare (SPEC.md, "Segment body").
pub const MAX_BUFFER_BYTES: i64 = 1 << 32;

/// Where the parts of one segment body are.
struct Layout {
    schema: Schema,
    version: MetadataVersion,
    dictionaries: Vec<Block>,
    batches: Vec<Block>,
    /// Blocks must end at or before this offset (the file footer, or the end-of-stream marker).
    end: usize,
}

impl Layout {
    fn of(body: &[u8], major: u16) -> Result<Layout, String> {
        if major >= STREAM_MAJOR {
            stream_layout(body)
        } else {
            file_layout(body)
        }
    }
}

/// An Arrow IPC file: everything is listed in its footer.
fn file_layout(body: &[u8]) -> Result<Layout, String> {
    let n = body.len();
    if n < 10 {
        return Err("segment body too short for an Arrow IPC file".into());
    }
    let trailer: [u8; 10] = body[n - 10..].try_into().expect("10 bytes");
    let footer_len = read_footer_length(trailer).map_err(|e| e.to_string())?;
    let footer_start = (n - 10)
        .checked_sub(footer_len)
        .ok_or("Arrow IPC footer length exceeds the body")?;
    let footer = arrow_ipc::root_as_footer(&body[footer_start..n - 10])
        .map_err(|e| format!("invalid Arrow IPC footer: {e}"))?;
    let schema = footer.schema().ok_or("Arrow IPC footer has no schema")?;
    Ok(Layout {
        schema: arrow_ipc::convert::fb_to_schema(schema),
        version: footer.version(),
        dictionaries: footer.dictionaries().iter().flatten().copied().collect(),
        batches: footer.recordBatches().iter().flatten().copied().collect(),
        end: footer_start,
    })
}

/// An Arrow IPC stream: walk its encapsulated messages (each a `0xFFFFFFFF` continuation, a
/// 32-bit length, a flatbuffer `Message` and its body) up to the end-of-stream marker.
fn stream_layout(body: &[u8]) -> Result<Layout, String> {
    let mut at = 0usize;
    let mut schema = None;
    let (mut dictionaries, mut batches) = (Vec::new(), Vec::new());
    loop {
        let prefix = body
            .get(at..at + 8)
            .ok_or("Arrow IPC stream ends without its end-of-stream marker")?;
        if prefix[..4] != [0xff; 4] {
            return Err(format!("no Arrow IPC message at byte {at} of the body"));
        }
        let len = i32::from_le_bytes(prefix[4..].try_into().expect("4 bytes"));
        let len = usize::try_from(len).map_err(|_| "negative Arrow IPC message length")?;
        if len == 0 {
            if at + 8 != body.len() {
                return Err("bytes follow the Arrow IPC end-of-stream marker".into());
            }
            break;
        }
        let meta = body
            .get(at + 8..(at + 8).saturating_add(len))
            .ok_or("truncated Arrow IPC message")?;
        let message = arrow_ipc::root_as_message(meta)
            .map_err(|e| format!("invalid Arrow IPC message: {e}"))?;
        let body_len =
            usize::try_from(message.bodyLength()).map_err(|_| "negative Arrow IPC body length")?;
        let meta_len = i32::try_from(8 + len).map_err(|_| "Arrow IPC message too long")?;
        let block = Block::new(at as i64, meta_len, body_len as i64);
        match message.header_type() {
            MessageHeader::Schema if schema.is_none() && at == 0 => {
                let fb = message
                    .header_as_schema()
                    .ok_or("invalid Arrow IPC schema")?;
                schema = Some((arrow_ipc::convert::fb_to_schema(fb), message.version()));
            }
            MessageHeader::DictionaryBatch if batches.is_empty() => dictionaries.push(block),
            MessageHeader::RecordBatch => batches.push(block),
            other => {
                return Err(format!(
                    "unexpected Arrow IPC message {other:?} at byte {at} of the body"
                ));
            }
        }
        at = (at + 8 + len)
            .checked_add(body_len)
            .filter(|&end| end <= body.len())
            .ok_or("Arrow IPC message lies outside the segment body")?;
    }
    let (schema, version) = schema.ok_or("Arrow IPC stream does not start with a schema")?;
    Ok(Layout {
        schema,
        version,
        dictionaries,
        batches,
        end: at,
    })
}

/// The schema-level metadata of a segment body.
pub(crate) fn schema_metadata(body: &[u8], major: u16) -> Result<HashMap<String, String>, String> {
    Ok(Layout::of(body, major)?.schema.metadata().clone())
}

/// Decodes the one record batch of a segment body, the columns of `projection` (all of the
/// table's v1 columns when `None`), as stored (the column encoding is undone by the caller).
pub(crate) fn decode(
    body: &Buffer,
    expected: &SchemaRef,
    major: u16,
    projection: Option<&[usize]>,
) -> Result<RecordBatch, String> {
    let layout = Layout::of(body, major)?;
    // Minor versions may append columns; the v1 columns must come first, unchanged (as the
    // major version stores them).
    let known = expected.fields().len();
    let stored = layout.schema.fields();
    if stored.len() < known
        || !expected
            .fields()
            .iter()
            .zip(stored)
            .all(|(logical, stored)| crate::encoding::stores(major, logical, stored))
    {
        return Err("segment schema differs from the table's v1 schema".into());
    }
    if layout.batches.len() != 1 {
        return Err(format!(
            "segment holds {} record batches, not 1",
            layout.batches.len()
        ));
    }
    let projection: Vec<usize> = match projection {
        Some(p) => p.to_vec(),
        None => (0..known).collect(),
    };
    let mut decoder =
        FileDecoder::new(Arc::new(layout.schema), layout.version).with_projection(projection);
    let block_slice = |block: &Block| -> Result<Buffer, String> {
        let start = usize::try_from(block.offset()).map_err(|_| "negative block offset")?;
        let len = usize::try_from(block.metaDataLength()).map_err(|_| "bad metadata length")?
            + usize::try_from(block.bodyLength()).map_err(|_| "bad body length")?;
        if start.checked_add(len).is_none_or(|end| end > layout.end) {
            return Err("Arrow IPC block lies outside the segment body".into());
        }
        check_buffers(body, block)?;
        Ok(body.slice_with_length(start, len))
    };
    for block in &layout.dictionaries {
        let data = block_slice(block)?;
        decoder
            .read_dictionary(block, &data)
            .map_err(|e| e.to_string())?;
    }
    let block = &layout.batches[0];
    let data = block_slice(block)?;
    decoder
        .read_record_batch(block, &data)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "segment holds no record batch".into())
}

/// Rejects a message whose buffers reach past its body (arrow-ipc would panic slicing them), and
/// compressed buffers whose 8-byte uncompressed-length prefix exceeds [`MAX_BUFFER_BYTES`]:
/// arrow-ipc allocates that length before decompressing, so a crafted file (valid checksums,
/// absurd length) would otherwise abort the process on allocation.
fn check_buffers(body: &[u8], block: &Block) -> Result<(), String> {
    let start = usize::try_from(block.offset()).map_err(|_| "negative block offset")?;
    let meta_len = usize::try_from(block.metaDataLength()).map_err(|_| "bad metadata length")?;
    let meta = body
        .get(start..start.saturating_add(meta_len))
        .ok_or("Arrow IPC block lies outside the segment body")?;
    // Encapsulated message: optional 0xFFFFFFFF continuation, i32 length, flatbuffer.
    let skip = if meta.starts_with(&[0xff; 4]) { 4 } else { 0 };
    let len_bytes: [u8; 4] = meta
        .get(skip..skip + 4)
        .and_then(|b| b.try_into().ok())
        .ok_or("truncated Arrow IPC message")?;
    let msg_len =
        usize::try_from(i32::from_le_bytes(len_bytes)).map_err(|_| "bad message length")?;
    let msg = meta
        .get(skip + 4..(skip + 4).saturating_add(msg_len))
        .ok_or("truncated Arrow IPC message")?;
    let message =
        arrow_ipc::root_as_message(msg).map_err(|e| format!("invalid Arrow IPC message: {e}"))?;
    let batch = match message.header_type() {
        MessageHeader::RecordBatch => message.header_as_record_batch(),
        MessageHeader::DictionaryBatch => {
            message.header_as_dictionary_batch().and_then(|d| d.data())
        }
        _ => None,
    };
    let Some(batch) = batch else {
        return Ok(());
    };
    let compressed = batch.compression().is_some();
    let body_start = start + meta_len;
    let body_len = usize::try_from(block.bodyLength()).map_err(|_| "bad body length")?;
    for buffer in batch.buffers().into_iter().flatten() {
        // Every buffer lies inside its own message's body (arrow-ipc would panic slicing it).
        let inside = usize::try_from(buffer.offset())
            .ok()
            .zip(usize::try_from(buffer.length()).ok())
            .and_then(|(o, l)| o.checked_add(l))
            .is_some_and(|end| end <= body_len);
        if !inside {
            return Err("Arrow IPC buffer lies outside its message body".into());
        }
        if !compressed || buffer.length() < 8 {
            continue;
        }
        let declared = usize::try_from(buffer.offset())
            .ok()
            .and_then(|o| body_start.checked_add(o))
            .and_then(|at| body.get(at..at.checked_add(8)?))
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or("Arrow IPC buffer lies outside the segment body")?;
        if declared > MAX_BUFFER_BYTES {
            return Err(format!(
                "a compressed buffer declares {declared} uncompressed bytes (limit {MAX_BUFFER_BYTES})"
            ));
        }
    }
    Ok(())
}
