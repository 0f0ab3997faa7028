//! The extension module `pyttd._native`: what the thin Python package in `python/pyttd/` calls.

use pyo3::pymodule;

/// Native core of pyttd (Rust). Use the `pyttd` package rather than importing this directly.
#[pymodule(name = "_native")]
mod native {
    use std::ffi::OsString;
    use std::path::{Path, PathBuf};
    use std::time::Instant;

    use anyhow::Context;
    use pyo3::exceptions::PySystemExit;
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyList};
    use pyttd_recorder::{RecordOptions, Recorder};

    use crate::cli::{self, RecordArgs, RunEnv, Target};
    use crate::trace_rows;

    /// Run the pyttd command line with `argv` (program name first) and return its exit code.
    #[pyfunction]
    fn main(py: Python<'_>, argv: Vec<OsString>) -> i32 {
        let invocation = match cli::parse(argv) {
            Ok(invocation) => invocation,
            Err(code) => return code,
        };
        match invocation.into_record() {
            // Recording runs the script in this interpreter: it needs the GIL throughout.
            Ok(args) => match record(py, &args) {
                Ok(code) => code,
                Err(error) => {
                    cli::report_error(&error);
                    1
                }
            },
            Err(invocation) => {
                let env = RunEnv {
                    python_version: Some(python_version(py)),
                    python_executable: python_executable(py),
                };
                // The other commands touch no Python objects; let other Python threads run.
                py.detach(|| cli::execute(invocation, &env))
            }
        }
    }

    /// `sys.executable`, when Python knows it.
    fn python_executable(py: Python<'_>) -> Option<std::path::PathBuf> {
        let exe = py.import("sys").ok()?.getattr("executable").ok()?;
        let exe: String = exe.extract().ok()?;
        (!exe.is_empty()).then(|| exe.into())
    }

    /// A table's name and its `(column, type)` pairs.
    type TableColumns = (String, Vec<(String, String)>);

    /// A trace opened for queries (`pyttd.open`).
    #[pyclass(frozen, name = "Trace", module = "pyttd._native")]
    struct Trace {
        /// Locked for `attach`, which adds schemas; queries take it too.
        session: std::sync::Mutex<pyttd_query::TraceSession>,
    }

    /// A query result: an Arrow stream (`__arrow_c_stream__`) that pyarrow, polars and duckdb
    /// take without copying.
    #[pyclass(frozen, name = "QueryResult", module = "pyttd._native")]
    struct QueryResult {
        schema: arrow_schema::SchemaRef,
        batches: Vec<arrow_array::RecordBatch>,
    }

    fn query_error(e: pyttd_query::QueryError) -> PyErr {
        match e {
            pyttd_query::QueryError::Sql(_)
            | pyttd_query::QueryError::ReadOnly(_)
            | pyttd_query::QueryError::Attach { .. } => {
                pyo3::exceptions::PyValueError::new_err(e.to_string())
            }
            pyttd_query::QueryError::Format(_) => {
                pyo3::exceptions::PyOSError::new_err(e.to_string())
            }
            _ => pyo3::exceptions::PyRuntimeError::new_err(e.to_string()),
        }
    }

    /// Opens the trace at `path` for SQL queries.
    #[pyfunction]
    fn open_trace(py: Python<'_>, path: PathBuf) -> PyResult<Trace> {
        let session = py
            .detach(|| pyttd_query::TraceSession::open(&path))
            .map_err(query_error)?;
        Ok(Trace {
            session: std::sync::Mutex::new(session),
        })
    }

    #[pymethods]
    impl Trace {
        /// Runs one read-only SQL statement.
        fn sql(&self, py: Python<'_>, query: &str) -> PyResult<QueryResult> {
            let (schema, batches) = py
                .detach(|| self.session().sql(query))
                .map_err(query_error)?;
            Ok(QueryResult { schema, batches })
        }

        /// `{table: [(column, type), ...]}` of the user-facing tables.
        fn tables(&self, py: Python<'_>) -> PyResult<Vec<TableColumns>> {
            let tables = py.detach(|| self.session().tables()).map_err(query_error)?;
            Ok(tables.into_iter().map(|t| (t.name, t.columns)).collect())
        }

        /// Attaches the trace at `path` as schema `name` (`name.events`, ...).
        fn attach(&self, py: Python<'_>, name: &str, path: PathBuf) -> PyResult<()> {
            py.detach(|| self.session().attach(name, &path))
                .map_err(query_error)
        }
    }

    impl Trace {
        fn session(&self) -> std::sync::MutexGuard<'_, pyttd_query::TraceSession> {
            // A panic while locked leaves the session as it was: queries do not mutate it.
            self.session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }

    #[pymethods]
    impl QueryResult {
        /// The Arrow PyCapsule stream protocol.
        #[pyo3(signature = (requested_schema = None))]
        fn __arrow_c_stream__<'py>(
            &self,
            py: Python<'py>,
            requested_schema: Option<Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, pyo3::types::PyCapsule>> {
            // A requested schema is a hint (the spec lets producers ignore it).
            let _ = requested_schema;
            let reader = arrow_array::RecordBatchIterator::new(
                self.batches.clone().into_iter().map(Ok),
                self.schema.clone(),
            );
            let stream = arrow_array::ffi_stream::FFI_ArrowArrayStream::new(Box::new(reader));
            pyo3::types::PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
        }

        /// Rows in the result.
        #[getter]
        fn num_rows(&self) -> usize {
            self.batches.iter().map(|b| b.num_rows()).sum()
        }

        /// Column names.
        #[getter]
        fn columns(&self) -> Vec<String> {
            self.schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        }

        fn __len__(&self) -> usize {
            self.num_rows()
        }

        fn __repr__(&self) -> String {
            format!(
                "<pyttd QueryResult: {} rows, columns {:?}>",
                self.num_rows(),
                self.columns()
            )
        }
    }

    /// Every row of the trace at `path` that the end-to-end tests check, as plain tuples:
    /// `{"state", "run", "code", "threads", "calls", "events", "values", "exceptions"}` (see `src/trace_rows.rs` for the
    /// tuple layouts). A test helper until `pyttd` has a query API; not a stable interface.
    #[pyfunction]
    fn read_trace<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
        let rows = py
            .detach(|| trace_rows::read(&path))
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("{e:#}")))?;
        let d = PyDict::new(py);
        d.set_item("state", rows.state)?;
        d.set_item("run", rows.run)?;
        d.set_item("code", rows.code)?;
        d.set_item("threads", rows.threads)?;
        d.set_item("calls", rows.calls)?;
        d.set_item("events", rows.events)?;
        d.set_item("values", rows.values)?;
        d.set_item("value_object_ids", rows.value_object_ids)?;
        d.set_item("children", rows.children)?;
        d.set_item("exceptions", rows.exceptions)?;
        d.set_item("output", rows.output)?;
        d.set_item("settings", rows.settings)?;
        Ok(d)
    }

    /// The `events` of the trace at `path` as `(seq, thread_id, kind, qualname, line, depth,
    /// call_id)` tuples. A test helper, like `read_trace`.
    #[pyfunction]
    fn read_events(py: Python<'_>, path: PathBuf) -> PyResult<Vec<trace_rows::EventRow>> {
        py.detach(|| trace_rows::read(&path))
            .map(|rows| rows.events)
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("{e:#}")))
    }

    /// The recording the Python API started (`pyttd.start_recording`), with its start time.
    static API_RECORDING: std::sync::Mutex<Option<(Recorder, Instant)>> =
        std::sync::Mutex::new(None);

    /// Starts recording this process into `path` (`pyttd.start_recording`): code in files under
    /// `root` (or as the file patterns say), the calling thread's running frames first.
    #[pyfunction]
    #[pyo3(signature = (path, script, root, exclude_dirs, include, exclude, include_files,
        exclude_files, redact, secret_patterns, max_events, expand_depth=1, expand_width=32))]
    #[allow(clippy::too_many_arguments)]
    fn start_recording(
        py: Python<'_>,
        path: PathBuf,
        script: String,
        root: PathBuf,
        exclude_dirs: Vec<PathBuf>,
        include: Vec<String>,
        exclude: Vec<String>,
        include_files: Vec<String>,
        exclude_files: Vec<String>,
        redact: bool,
        secret_patterns: Vec<String>,
        max_events: Option<u64>,
        expand_depth: u32,
        expand_width: u32,
    ) -> PyResult<()> {
        // The lock is never held across Python calls: a thread waiting for it would hold the GIL.
        if is_recording() {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "pyttd is already recording (call pyttd.stop_recording() first)",
            ));
        }
        let mut options = RecordOptions::new(path, script, root);
        options.exclude_dirs = exclude_dirs;
        options.include_functions = include;
        options.exclude_functions = exclude;
        options.include_files = include_files;
        options.exclude_files = exclude_files;
        options.redact = redact;
        options.secret_patterns = secret_patterns;
        options.max_events = max_events;
        options.expand_depth = expand_depth;
        options.expand_width = expand_width;
        let recorder = Recorder::start(py, options).map_err(|e| match e {
            pyttd_recorder::RecorderError::InvalidOption(m) => {
                pyo3::exceptions::PyValueError::new_err(m)
            }
            pyttd_recorder::RecorderError::AlreadyRecording => {
                pyo3::exceptions::PyRuntimeError::new_err(e.to_string())
            }
            other => pyo3::exceptions::PyOSError::new_err(other.to_string()),
        })?;
        *API_RECORDING.lock().unwrap_or_else(|e| e.into_inner()) = Some((recorder, Instant::now()));
        Ok(())
    }

    /// Stops the recording `start_recording` started and finishes its trace; `None` when none
    /// is running. Otherwise `{"path", "events", "bytes", "flushes", "stall_seconds",
    /// "elapsed_seconds"}`.
    #[pyfunction]
    fn stop_recording<'py>(py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let taken = API_RECORDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some((recorder, started)) = taken else {
            return Ok(None);
        };
        let stats = recorder
            .stop(py, 0)
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
        let d = PyDict::new(py);
        d.set_item("path", &stats.path)?;
        d.set_item("events", stats.events)?;
        d.set_item("bytes", stats.bytes)?;
        d.set_item("flushes", stats.flushes)?;
        d.set_item("stall_seconds", stats.stall.as_secs_f64())?;
        d.set_item("elapsed_seconds", started.elapsed().as_secs_f64())?;
        Ok(Some(d))
    }

    /// Called by `os._exit(code)` while recording (see `pyttd._capture`): finishes the running
    /// recording with exit status `code`, so the trace is whole, before the process ends.
    #[pyfunction]
    fn exit_hook(py: Python<'_>, code: i32) {
        let taken = API_RECORDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((recorder, _)) = taken {
            match recorder.stop(py, code) {
                Ok(stats) => eprintln!(
                    "pyttd: recorded {} events ({}) to {} (os._exit)",
                    stats.events,
                    human_bytes(stats.bytes),
                    stats.path.display()
                ),
                Err(error) => eprintln!("pyttd: error: {error}"),
            }
        }
    }

    /// `os.register_at_fork(after_in_child=...)`: the child of a fork does not record (the
    /// parent's recording goes on).
    #[pyfunction]
    fn after_fork_in_child(py: Python<'_>) {
        pyttd_recorder::abandon_in_forked_child(py);
        if let Some(recording) = API_RECORDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            // Its flush thread lives in the parent only: never stopped or dropped here.
            std::mem::forget(recording);
        }
    }

    /// Whether `start_recording` started a recording that is still running.
    #[pyfunction]
    fn is_recording() -> bool {
        API_RECORDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The text the recorder builds for `repr(obj)` without running it (a plain f-string
    /// `__repr__`), or `None` when recording runs the real `repr()` (a test helper).
    #[pyfunction]
    fn planned_repr(obj: &Bound<'_, PyAny>) -> Option<String> {
        pyttd_recorder::planned_repr(obj)
    }

    /// The text the recorder builds for `repr(obj)` of a file object `open()` returned, or
    /// `None` when recording runs the real `repr()` (a test helper).
    #[pyfunction]
    fn file_repr(obj: &Bound<'_, PyAny>) -> Option<String> {
        pyttd_recorder::built_file_repr(obj)
    }

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("__version__", env!("CARGO_PKG_VERSION"))
    }

    /// The running interpreter's version as `sys.version_info` spells it, for example `3.12.1`.
    fn python_version(py: Python<'_>) -> String {
        let info = py.version_info();
        let suffix = info.suffix.unwrap_or_default();
        format!("{}.{}.{}{suffix}", info.major, info.minor, info.patch)
    }

    /// `pyttd record`: runs the script as `python SCRIPT ARGS...` would (or the module as
    /// `python -m MODULE ARGS...` would), recording it, and returns its exit status.
    fn record(py: Python<'_>, args: &RecordArgs) -> anyhow::Result<i32> {
        let sys = py.import("sys")?;
        let path = sys
            .getattr("path")?
            .cast_into::<PyList>()
            .map_err(PyErr::from)?;
        // (what runs, `run.script`, the recorded directory, the file tracebacks start at)
        let (run, script_text, dir, absolute) = match &args.target {
            Target::Script(script) => {
                if !script.exists() {
                    anyhow::bail!("{}: No such file or directory", script.display());
                }
                // `python script.py` runs the script under its absolute path (`__file__`,
                // tracebacks) and puts its real directory first on `sys.path`.
                let absolute = std::path::absolute(script).with_context(|| {
                    format!("{}: cannot make the path absolute", script.display())
                })?;
                let real =
                    std::fs::canonicalize(script).with_context(|| script.display().to_string())?;
                let dir = real.parent().unwrap_or(Path::new("/")).to_path_buf();
                let mut argv = vec![script.as_os_str().to_os_string()];
                argv.extend(args.args.iter().cloned());
                sys.setattr("argv", PyList::new(py, &argv)?)?;
                if path.len() > 0 {
                    path.set_item(0, dir.as_os_str())?;
                } else {
                    path.insert(0, dir.as_os_str())?;
                }
                (
                    Run::Path(absolute.clone()),
                    script.display().to_string(),
                    dir,
                    Some(absolute),
                )
            }
            Target::Module(module) => {
                // `python -m` puts the current directory first on `sys.path`; runpy sets
                // `sys.argv[0]` to the module's file (`alter_sys=True`).
                let cwd = std::env::current_dir().context("the current directory")?;
                let mut argv = vec![OsString::from("-m")];
                argv.extend(args.args.iter().cloned());
                sys.setattr("argv", PyList::new(py, &argv)?)?;
                if path.len() > 0 {
                    path.set_item(0, cwd.as_os_str())?;
                } else {
                    path.insert(0, cwd.as_os_str())?;
                }
                let dir = std::fs::canonicalize(&cwd).unwrap_or(cwd);
                (
                    Run::Module(module.clone()),
                    format!("-m {module}"),
                    dir,
                    None,
                )
            }
        };
        let pyttd_dir = py
            .import("pyttd")?
            .getattr("__file__")?
            .extract::<PathBuf>()?
            .parent()
            .map(Path::to_path_buf);
        let capture = py.import("pyttd._capture")?;
        let environ = py.import("os")?.getattr("environ")?;
        environ.set_item("PYTTD_RECORDING", "1")?;

        // The floor writes no trace worth keeping: its (empty) trace goes to a temporary file.
        let output = if args.floor {
            std::env::temp_dir().join(format!("pyttd-floor-{}.pyttd", std::process::id()))
        } else {
            args.output.clone()
        };
        let mut options = RecordOptions::new(output, script_text, dir.clone());
        options.exclude_dirs.extend(pyttd_dir);
        options.include_functions = args.include.clone();
        options.exclude_functions = args.exclude.clone();
        options.include_files = args.include_files.clone();
        options.exclude_files = args.exclude_files.clone();
        options.floor = args.floor;
        options.expand_depth = args.expand_depth;
        options.expand_width = args.expand_width;
        options.redact = !args.no_redact;
        options.secret_patterns = args.secret_patterns.clone();
        options.max_events = args.max_events;
        let started = Instant::now();
        let recorder = Recorder::start(py, options)?;
        // Where `os._exit` (exit_hook) can finish it, and the API sees it running.
        *API_RECORDING.lock().unwrap_or_else(|e| e.into_inner()) = Some((recorder, started));
        let captured = capture.call_method0("install");
        let outcome = captured
            .and_then(|_| match &run {
                // As `python SCRIPT` runs it (`pyttd/_script.py`).
                Run::Path(p) => py
                    .import("pyttd._script")?
                    .call_method1("run_script", (p.as_os_str(),)),
                Run::Module(m) => {
                    let kwargs = PyDict::new(py);
                    kwargs.set_item("run_name", "__main__")?;
                    kwargs.set_item("alter_sys", true)?;
                    py.import("runpy")?
                        .call_method("run_module", (m.as_str(),), Some(&kwargs))
                }
            })
            .map(|_| ());
        let status = match outcome {
            Ok(()) => 0,
            Err(error) => exit_status_of(py, error, absolute.as_deref()),
        };
        // Like the interpreter at exit: wait for the program's non-daemon threads.
        if let Ok(threading) = sys.getattr("modules")?.get_item("threading") {
            let _ = threading.call_method0("_shutdown");
        }
        let _ = capture.call_method0("uninstall");
        let taken = API_RECORDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some((recorder, _)) = taken else {
            // The program stopped the recording itself (`pyttd.stop_recording()`).
            let _ = environ.del_item("PYTTD_RECORDING");
            return Ok(status);
        };
        let stats = recorder.stop(py, status);
        let _ = environ.del_item("PYTTD_RECORDING");
        let stats = stats?;
        let elapsed = started.elapsed();
        if args.floor {
            let _ = std::fs::remove_file(&stats.path);
            eprintln!(
                "pyttd: floor run (no-op callbacks, nothing recorded) in {:.2}s",
                elapsed.as_secs_f64()
            );
            return Ok(status);
        }
        let limit = match args.max_events {
            Some(max) if stats.events >= max => " (stopped at --max-events)",
            _ => "",
        };
        eprintln!(
            "pyttd: recorded {} events{limit} ({}) in {:.2}s to {}",
            stats.events,
            human_bytes(stats.bytes),
            elapsed.as_secs_f64(),
            stats.path.display()
        );
        Ok(status)
    }

    /// What `record` runs: a script (`pyttd/_script.py`) or a module (runpy).
    enum Run {
        Path(PathBuf),
        Module(String),
    }

    /// Stores text the program wrote to `sys.stdout` (`stream` 1) or `sys.stderr` (2) in the
    /// running recording's `output` table (called by `pyttd._capture`).
    #[pyfunction]
    fn record_output(py: Python<'_>, stream: u8, text: &str) {
        pyttd_recorder::record_output(py, stream, text);
    }

    /// The exit status `python script.py` has when the script raised `error`, after printing
    /// what the interpreter prints for it.
    /// `script`: the traceback is cut to start there (`None`: shown from the runner's frame on).
    fn exit_status_of(py: Python<'_>, error: PyErr, script: Option<&Path>) -> i32 {
        if error.is_instance_of::<PySystemExit>(py) {
            let code = error.value(py).getattr("code").ok();
            return match code {
                None => 1,
                Some(code) if code.is_none() => 0,
                Some(code) => match code.extract::<i32>() {
                    Ok(n) => n,
                    Err(_) => {
                        // Python prints any other exit object and exits with 1.
                        let text = code.str().map(|s| s.to_string()).unwrap_or_default();
                        let _ = py.import("sys").and_then(|sys| {
                            sys.getattr("stderr")?
                                .call_method1("write", (format!("{text}\n"),))
                        });
                        1
                    }
                },
            };
        }
        // The traceback starts at the script: drop the runner's frames above it.
        let script = script.map(|s| s.to_string_lossy().into_owned());
        let mut tb = error.traceback(py).map(|tb| tb.into_any());
        while let Some(t) = tb.clone() {
            let Some(script) = script.as_deref() else {
                break;
            };
            let file: Option<String> = t
                .getattr("tb_frame")
                .and_then(|f| f.getattr("f_code"))
                .and_then(|c| c.getattr("co_filename"))
                .and_then(|f| f.extract())
                .ok();
            if file.as_deref() == Some(script) {
                break;
            }
            tb = t.getattr("tb_next").ok().filter(|n| !n.is_none());
        }
        let value = error.value(py);
        let tb = tb.unwrap_or_else(|| py.None().into_bound(py));
        let _ = value.setattr("__traceback__", &tb);
        let printed = py.import("sys").and_then(|sys| {
            sys.getattr("excepthook")?
                .call1((value.get_type(), value, &tb))
        });
        if printed.is_err() {
            error.print(py);
        }
        1
    }

    fn human_bytes(n: u64) -> String {
        match n {
            n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
            n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
            n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
            n => format!("{n} B"),
        }
    }
}
