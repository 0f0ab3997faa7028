//! Integration tests of the trace format: one binary, one module per concern.

mod fixtures;
mod robustness;
mod roundtrip;
mod spec;
