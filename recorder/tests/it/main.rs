//! Integration tests of the recorder: one binary, one module per concern.

mod repr;
