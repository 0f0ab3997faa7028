//! `pyttd replay TRACE --goto SEQ`: the stack and locals at one step, for terminal users.

use std::io::Write;
use std::path::Path;

use crate::session::{Session, SessionError};

pub fn replay(path: &Path, goto: Option<u64>, out: &mut dyn Write) -> anyhow::Result<()> {
    // Reader errors name the file already; the session's own ones do not.
    let mut session = Session::open(path).map_err(|e| match e {
        SessionError::Format(_) | SessionError::Query(_) => anyhow::Error::new(e),
        e => anyhow::anyhow!("{}: {e}", path.display()),
    })?;
    let (first, last) = session.bounds();
    let seq = goto.unwrap_or(first);
    if seq > last {
        anyhow::bail!(
            "{}: no step {seq}: the recording has steps 0 to {last}",
            path.display()
        );
    }
    let stop = session.goto(seq)?;
    let e = stop.event;
    let thread = session
        .threads()
        .iter()
        .find(|t| t.thread_id == e.thread_id)
        .map_or_else(|| e.thread_id.to_string(), |t| t.name.clone());
    writeln!(
        out,
        "step {seq} of {last}: {} at line {} (thread {thread})",
        e.kind.as_str(),
        e.line
    )?;
    writeln!(out, "stack (innermost first):")?;
    let frames = session.stack()?;
    for f in &frames {
        writeln!(out, "  {} ({}:{})", f.function, f.file, f.frame.line)?;
    }
    if let Some(top) = frames.first() {
        writeln!(out, "locals of {}:", top.function)?;
        let locals = session.locals(top.frame.call_id)?;
        if locals.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for l in locals {
            writeln!(out, "  {} = {}", l.name, l.value())?;
        }
    }
    for (role, v) in session.event_values()? {
        writeln!(out, "{}: {}", role.as_str(), v.value())?;
    }
    Ok(())
}
