//! Fuzz target: any bytes, opened as a trace and read in every way the debugger reads one
//! (`common.rs`). Most mutations are caught by a checksum; see `open_trace_checksummed` for the
//! decoding behind them. See `fuzz/README.md`.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::check(data));
