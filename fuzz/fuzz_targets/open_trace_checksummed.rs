//! Fuzz target: any bytes, with every checksum made valid before the trace is read, so that
//! mutations reach what the checksums guard — segment headers' fields, the Arrow IPC bodies and
//! the footer index — instead of stopping at a CRC mismatch. See `fuzz/README.md`.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pyttd_format::layout::{
    BLOCK, FOOTER_MAGIC, FileHeader, FooterEntry, SEGMENT_MAGIC, SegmentHeader, encode_footer,
};

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Rewrites the file header's, every segment's and the footer's checksums (and the footer's
/// entries) to match the bytes, walking segments as a recovery scan does.
fn make_checksums_valid(b: &mut Vec<u8>) {
    if b.len() < BLOCK {
        return;
    }
    let header = FileHeader {
        major: u16_at(b, 8),
        minor: u16_at(b, 10),
    };
    b[..BLOCK].copy_from_slice(&header.encode());
    let mut entries = Vec::new();
    let mut at = BLOCK;
    while at + BLOCK <= b.len() && b[at..at + 4] == SEGMENT_MAGIC {
        let mut h = SegmentHeader {
            table_id: u16_at(b, at + 4),
            flags: u16_at(b, at + 6),
            row_count: u64_at(b, at + 8),
            min_seq: u64_at(b, at + 16),
            max_seq: u64_at(b, at + 24),
            body_len: u64_at(b, at + 32),
            body_crc: 0,
        };
        let body = at + BLOCK;
        let Some(body_end) = usize::try_from(h.body_len)
            .ok()
            .and_then(|n| body.checked_add(n))
        else {
            break;
        };
        if body_end > b.len() {
            break;
        }
        h.body_crc = SegmentHeader::checksum(&b[body..body_end]);
        b[at..body].copy_from_slice(&h.encode());
        entries.push(FooterEntry {
            offset: at as u64,
            header: h,
        });
        match usize::try_from(h.stride())
            .ok()
            .and_then(|s| at.checked_add(s))
        {
            Some(next) => at = next,
            None => break,
        }
    }
    // Where the input has a footer, make it the valid footer of the segments found.
    if at + 4 <= b.len() && b[at..at + 4] == FOOTER_MAGIC {
        b.truncate(at);
        b.extend_from_slice(&encode_footer(&entries, at as u64));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    make_checksums_valid(&mut bytes);
    common::check(&bytes);
});
