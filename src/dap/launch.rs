//! Recording the program a DAP client launches: `python -m pyttd record` in a child process,
//! its output kept away from the protocol stream.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What to run, from the `launch` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// A script path, or a module name with `module`.
    pub target: String,
    pub module: bool,
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub env: HashMap<String, String>,
}

/// Records `program` with `python` into `trace`; on failure, the last line the recording
/// printed on stderr says why.
pub fn record(python: &Path, program: &Program, trace: &Path) -> Result<(), String> {
    let mut command = Command::new(python);
    command.args(["-m", "pyttd", "record", "-o"]).arg(trace);
    if program.module {
        command.arg("-m");
    }
    command.arg(&program.target).args(&program.args);
    if let Some(cwd) = &program.cwd {
        command.current_dir(cwd);
    }
    command
        .envs(&program.env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if trace.is_file() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Err(format!(
        "recording {} failed ({}): {last}",
        program.target, output.status
    ))
}
