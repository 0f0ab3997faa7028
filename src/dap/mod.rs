//! `pyttd dap`: a Debug Adapter Protocol server over a recorded trace, so VSCode, nvim-dap, Zed
//! or any DAP client can time-travel a Python program. It speaks DAP over stdio, or over one
//! loopback TCP connection with `--listen`.
//!
//! [`transport`] frames messages, [`adapter`] answers them from a [`Session`], [`launch`]
//! records a program when a client launches one.
//!
//! [`Session`]: crate::session::Session

mod adapter;
mod launch;
mod transport;

use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use anyhow::{Context, bail};

pub use adapter::Adapter;

/// Serves one client on stdin/stdout until it disconnects.
pub fn serve_stdio(python: Option<PathBuf>) -> anyhow::Result<()> {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    adapter::serve(&mut input, stdout.lock(), python)
}

/// Listens on `addr` (loopback only) and serves the first client that connects.
pub fn serve_tcp(addr: SocketAddr, python: Option<PathBuf>) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("--listen {addr}: only loopback addresses (127.0.0.1, ::1) are accepted");
    }
    let listener = TcpListener::bind(addr).with_context(|| format!("--listen {addr}"))?;
    let local = listener.local_addr()?;
    let mut err = io::stderr().lock();
    writeln!(err, "listening on {local}")?;
    err.flush()?;
    drop(err);
    let (stream, _) = listener
        .accept()
        .with_context(|| format!("accepting on {local}"))?;
    let mut input = BufReader::new(stream.try_clone()?);
    adapter::serve(&mut input, stream, python)
}
