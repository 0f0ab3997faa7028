//! What both fuzz targets do with a file: open it and read it in every way the debugger reads
//! one. The reader must never panic, and every error it returns must be one line naming the file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pyttd_format::{FormatError, Table, TraceReader};

/// The reader maps files, so each input goes through a file: one per fuzzing process.
pub fn scratch() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("pyttd-fuzz-{}.pyttd", std::process::id()))
    })
}

fn one_line(err: &FormatError, path: &Path) {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "error spans lines: {msg:?}");
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name the file: {msg}"
    );
}

pub fn read_everything(path: &Path) {
    let reader = match TraceReader::open(path) {
        Ok(r) => r,
        Err(e) => return one_line(&e, path),
    };
    for i in 0..reader.segments().len() {
        if let Err(e) = reader.segment(i) {
            one_line(&e, path);
        }
    }
    let mut seqs = vec![0, 1, u64::MAX];
    for s in reader.table_segments(Table::Events) {
        if let Some(range) = &s.seq_range {
            let (lo, hi) = (*range.start(), *range.end());
            seqs.extend([lo, hi, lo / 2 + hi / 2, hi.wrapping_add(1)]);
        }
    }
    for seq in seqs {
        if let Err(e) = reader.event_at(seq) {
            one_line(&e, path);
        }
    }
    for table in Table::ALL {
        let first_column = table.schema().field(0).name().clone();
        // Ranges only where the table has a seq column: `scan` with a range on `run`, `code`
        // or `threads` panics whatever the file (test
        // `a_seq_range_on_a_table_without_seq_column_does_not_panic`).
        let ranges: Vec<_> = reader
            .table_segments(table)
            .filter(|_| table.seq_column().is_some())
            .filter_map(|s| s.seq_range.clone())
            .filter(|r| r.start() <= r.end())
            .take(2)
            .map(Some)
            .chain([None])
            .collect();
        for range in ranges {
            let columns = range.as_ref().map(|_| [first_column.as_str()]);
            let scan = reader.scan(table, range, columns.as_ref().map(|c| &c[..]));
            for batch in scan.expect("the first column exists") {
                if let Err(e) = batch {
                    one_line(&e, path);
                }
            }
        }
    }
}

/// Writes `bytes` to this process's scratch file and reads it. A new file each time: a map of
/// the previous input must never see this one's bytes.
pub fn check(bytes: &[u8]) {
    let path = scratch();
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).expect("write the input to a scratch file");
    read_everything(path);
}
