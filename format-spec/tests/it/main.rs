//! Integration tests of the trace format: one binary, one module per concern.

mod roundtrip;
mod spec;
