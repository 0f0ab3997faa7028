//! Byte layout of the container: file header, segment headers, footer and trailer.
//!
//! This module only turns structs into bytes and back; it does no I/O. All integers are
//! little-endian. `SPEC.md` ("Byte layout") is the normative description of every constant here.
//!
//! ```text
//! offset 0      64            64+64+B (padded to 64)                  end-32      end
//!        | file | seg header | Arrow IPC body      | pad | seg ... | footer | trailer |
//! ```

/// The eight bytes every trace starts with. The high-bit first byte and the CR LF pair catch
/// 7-bit and text-mode transfers, as in PNG.
pub const FILE_MAGIC: [u8; 8] = *b"\x89PYTTD\r\n";
/// Magic of a segment header.
pub const SEGMENT_MAGIC: [u8; 4] = *b"PSEG";
/// Magic that opens the footer.
pub const FOOTER_MAGIC: [u8; 4] = *b"PFTR";
/// The last eight bytes of a cleanly closed trace.
pub const END_MAGIC: [u8; 8] = *b"PYTTDEND";

/// Size of the file header, of every segment header, and the alignment of every body.
pub const BLOCK: usize = 64;
/// Size of one footer index entry.
pub const FOOTER_ENTRY_LEN: usize = 48;
/// Size of the fixed footer preamble (magic, reserved, entry count).
pub const FOOTER_PREAMBLE_LEN: usize = 16;
/// Size of the trailer at the very end of a closed trace.
pub const TRAILER_LEN: usize = 32;

/// Segment flag: `min_seq`/`max_seq` hold the range of the table's seq column.
pub const FLAG_HAS_SEQ_RANGE: u16 = 1;

/// Rounds `n` up to the next multiple of [`BLOCK`], saturating at `u64::MAX` (a corrupt length
/// then simply extends past the end of any file).
pub fn pad_to_block(n: u64) -> u64 {
    n.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64)
}

fn crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4-byte slice"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8-byte slice"))
}

/// The 64-byte header at offset 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub major: u16,
    pub minor: u16,
}

/// Why a fixed-size block could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockError {
    BadMagic,
    BadChecksum,
}

impl FileHeader {
    pub fn encode(&self) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        b[0..8].copy_from_slice(&FILE_MAGIC);
        b[8..10].copy_from_slice(&self.major.to_le_bytes());
        b[10..12].copy_from_slice(&self.minor.to_le_bytes());
        let c = crc(&b[..60]);
        b[60..64].copy_from_slice(&c.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8; BLOCK]) -> Result<Self, BlockError> {
        if b[0..8] != FILE_MAGIC {
            return Err(BlockError::BadMagic);
        }
        if crc(&b[..60]) != u32_at(b, 60) {
            return Err(BlockError::BadChecksum);
        }
        Ok(FileHeader {
            major: u16_at(b, 8),
            minor: u16_at(b, 10),
        })
    }
}

/// The 64-byte header in front of every segment body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub table_id: u16,
    pub flags: u16,
    pub row_count: u64,
    pub min_seq: u64,
    pub max_seq: u64,
    /// Length of the Arrow IPC body in bytes, without the padding that follows it.
    pub body_len: u64,
    pub body_crc: u32,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        b[0..4].copy_from_slice(&SEGMENT_MAGIC);
        b[4..6].copy_from_slice(&self.table_id.to_le_bytes());
        b[6..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..16].copy_from_slice(&self.row_count.to_le_bytes());
        b[16..24].copy_from_slice(&self.min_seq.to_le_bytes());
        b[24..32].copy_from_slice(&self.max_seq.to_le_bytes());
        b[32..40].copy_from_slice(&self.body_len.to_le_bytes());
        b[40..44].copy_from_slice(&self.body_crc.to_le_bytes());
        let c = crc(&b[..60]);
        b[60..64].copy_from_slice(&c.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<Self, BlockError> {
        if b.len() < BLOCK || b[0..4] != SEGMENT_MAGIC {
            return Err(BlockError::BadMagic);
        }
        if crc(&b[..60]) != u32_at(b, 60) {
            return Err(BlockError::BadChecksum);
        }
        Ok(SegmentHeader {
            table_id: u16_at(b, 4),
            flags: u16_at(b, 6),
            row_count: u64_at(b, 8),
            min_seq: u64_at(b, 16),
            max_seq: u64_at(b, 24),
            body_len: u64_at(b, 32),
            body_crc: u32_at(b, 40),
        })
    }

    /// Bytes this segment occupies in the file: header, body and padding.
    pub fn stride(&self) -> u64 {
        pad_to_block(self.body_len).saturating_add(BLOCK as u64)
    }

    pub fn has_seq_range(&self) -> bool {
        self.flags & FLAG_HAS_SEQ_RANGE != 0
    }

    /// Checksum of a body, as stored in `body_crc`.
    pub fn checksum(body: &[u8]) -> u32 {
        crc(body)
    }
}

/// One footer index entry: where a segment is and what its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FooterEntry {
    pub offset: u64,
    pub header: SegmentHeader,
}

/// Encodes the footer (preamble + entries) followed by the trailer.
pub fn encode_footer(entries: &[FooterEntry], footer_offset: u64) -> Vec<u8> {
    let mut b =
        Vec::with_capacity(FOOTER_PREAMBLE_LEN + entries.len() * FOOTER_ENTRY_LEN + TRAILER_LEN);
    b.extend_from_slice(&FOOTER_MAGIC);
    b.extend_from_slice(&[0u8; 4]);
    b.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        let h = &e.header;
        b.extend_from_slice(&e.offset.to_le_bytes());
        b.extend_from_slice(&h.table_id.to_le_bytes());
        b.extend_from_slice(&h.flags.to_le_bytes());
        b.extend_from_slice(&h.body_crc.to_le_bytes());
        b.extend_from_slice(&h.row_count.to_le_bytes());
        b.extend_from_slice(&h.min_seq.to_le_bytes());
        b.extend_from_slice(&h.max_seq.to_le_bytes());
        b.extend_from_slice(&h.body_len.to_le_bytes());
    }
    let footer_len = b.len() as u64;
    let footer_crc = crc(&b);
    b.extend_from_slice(&footer_offset.to_le_bytes());
    b.extend_from_slice(&footer_len.to_le_bytes());
    b.extend_from_slice(&footer_crc.to_le_bytes());
    b.extend_from_slice(&[0u8; 4]);
    b.extend_from_slice(&END_MAGIC);
    b
}

/// Decodes the footer of a whole file image, if the file ends with a valid trailer and footer.
///
/// Returns `None` when there is no trailer or when anything about it does not verify: the
/// caller then recovers the file by scanning (SPEC.md, "Reading a trace without a footer").
/// Returns the footer's offset and its entries, in file order.
pub fn decode_footer(file: &[u8]) -> Option<(u64, Vec<FooterEntry>)> {
    let len = file.len();
    if len < BLOCK + FOOTER_PREAMBLE_LEN + TRAILER_LEN {
        return None;
    }
    let t = &file[len - TRAILER_LEN..];
    if t[24..32] != END_MAGIC {
        return None;
    }
    let footer_offset = u64_at(t, 0);
    let footer_len = u64_at(t, 8);
    let footer_crc = u32_at(t, 16);
    let end = footer_offset.checked_add(footer_len)?;
    if footer_offset < BLOCK as u64 || end != (len - TRAILER_LEN) as u64 {
        return None;
    }
    let f = &file[footer_offset as usize..end as usize];
    if f.len() < FOOTER_PREAMBLE_LEN || f[0..4] != FOOTER_MAGIC || crc(f) != footer_crc {
        return None;
    }
    let count = u64_at(f, 8);
    let expected = (count as u128) * FOOTER_ENTRY_LEN as u128 + FOOTER_PREAMBLE_LEN as u128;
    if expected != f.len() as u128 {
        return None;
    }
    let entries = f[FOOTER_PREAMBLE_LEN..]
        .chunks_exact(FOOTER_ENTRY_LEN)
        .map(|e| FooterEntry {
            offset: u64_at(e, 0),
            header: SegmentHeader {
                table_id: u16_at(e, 8),
                flags: u16_at(e, 10),
                body_crc: u32_at(e, 12),
                row_count: u64_at(e, 16),
                min_seq: u64_at(e, 24),
                max_seq: u64_at(e, 32),
                body_len: u64_at(e, 40),
            },
        })
        .collect();
    Some((footer_offset, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_header_round_trips_and_detects_a_flipped_bit() {
        let h = SegmentHeader {
            table_id: 4,
            flags: FLAG_HAS_SEQ_RANGE,
            row_count: 10,
            min_seq: 5,
            max_seq: 14,
            body_len: 1000,
            body_crc: 0xdead_beef,
        };
        let mut b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        assert_eq!(h.stride(), 64 + 1024);
        b[20] ^= 1;
        assert_eq!(SegmentHeader::decode(&b), Err(BlockError::BadChecksum));
    }

    #[test]
    fn file_header_rejects_other_magic() {
        let mut b = FileHeader { major: 1, minor: 0 }.encode();
        assert_eq!(FileHeader::decode(&b).map(|h| h.major), Ok(1));
        b[1] = b'X';
        assert_eq!(FileHeader::decode(&b), Err(BlockError::BadMagic));
    }
}
