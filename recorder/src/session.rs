//! One recording: the state shared by the callbacks (any thread, GIL held) and the flush thread,
//! and [`Recorder`], which starts and stops it.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::PyList;
use pyttd_format::{
    CodeRow, OutputStream, RunRow, Table, ThreadRow, TraceWriter, WriterOptions, run_batch,
};
use rtrb::Consumer;

use crate::clock::Clock;
use crate::cpython::{self, CodeExtra, Layout};
use crate::error::RecorderError;
use crate::expand::Expander;
use crate::filter::{FileFilter, FunctionFilter};
use crate::flush::{FlushStats, Flusher};
use crate::hooks;
use crate::names::{NameId, Names};
use crate::redact::Redactor;
use crate::ring::{Aux, Rec};
use crate::stores::{LineStores, StoreOps};
use crate::values::{AddressHasher, FrameVals};

/// What to record and where.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The trace file to create (replaced if it exists).
    pub output: PathBuf,
    /// The script as given on the command line (the `run.script` column).
    pub script: String,
    /// Code in files under this directory is recorded, except the interpreter's own
    /// (`sys.prefix`, site-packages), unless `include_files` says otherwise (`filter.rs`).
    pub root: PathBuf,
    /// Directories never recorded, whatever the patterns say (pyttd's own package).
    pub exclude_dirs: Vec<PathBuf>,
    /// `--include-file`: record exactly the files these paths or globs match, wherever they are.
    pub include_files: Vec<String>,
    /// `--exclude-file`: never record the files these paths or globs match.
    pub exclude_files: Vec<String>,
    /// `--include`: record only functions whose name or qualified name matches one of these globs.
    pub include_functions: Vec<String>,
    /// `--exclude`: never record functions matching these globs.
    pub exclude_functions: Vec<String>,
    pub writer: WriterOptions,
    /// Records per ring of the first thread that records; every other thread's rings hold a
    /// quarter of that ([`Session::ring_capacity_of`]).
    pub ring_capacity: usize,
    /// Withhold values under secret names (on by default; `--no-redact` turns it off).
    pub redact: bool,
    /// Regular expressions for secret names, in addition to the defaults (`redact.rs`).
    pub secret_patterns: Vec<String>,
    /// Stop recording after this many events; the program runs on unrecorded.
    pub max_events: Option<u64>,
    /// The benchmark floor: the same callbacks on the same events, doing nothing (no event,
    /// value or row is recorded; the trace holds only the `run` row).
    pub floor: bool,
    /// Levels of children recorded below an expandable value (0: none).
    pub expand_depth: u32,
    /// Children recorded per value.
    pub expand_width: u32,
}

impl RecordOptions {
    pub fn new(output: PathBuf, script: String, root: PathBuf) -> Self {
        RecordOptions {
            output,
            script,
            root,
            exclude_dirs: Vec::new(),
            include_files: Vec::new(),
            exclude_files: Vec::new(),
            include_functions: Vec::new(),
            exclude_functions: Vec::new(),
            writer: WriterOptions::default(),
            ring_capacity: 1 << 16,
            redact: true,
            secret_patterns: Vec::new(),
            max_events: None,
            floor: false,
            expand_depth: 1,
            expand_width: 32,
        }
    }
}

/// What a finished recording wrote.
#[derive(Debug, Clone)]
pub struct RecordingStats {
    pub path: PathBuf,
    pub events: u64,
    /// Size of the finished trace file.
    pub bytes: u64,
    /// `TraceWriter::flush` calls (periodic and final).
    pub flushes: u64,
    /// Total time producers waited for ring space (backpressure).
    pub stall: Duration,
}

/// Per-code state, kept in the code object's extra slot.
#[derive(Debug)]
pub(crate) struct CodeInfo {
    pub generation: u64,
    pub recorded: bool,
    pub code_id: u32,
    pub first_line: u32,
    /// Byte offset of the first `RESUME` (PY_START's offset).
    pub start_offset: u32,
    /// Line of each instruction (index `offset / 2`); [`NO_LINE`] when it has none.
    pub lines: Box<[u32]>,
    /// `CO_OPTIMIZED`: locals live in `localsplus`; otherwise in the `f_locals` dict.
    pub optimized: bool,
    /// `co_localsplusnames` (numbered) and `co_localspluskinds`.
    pub slot_names: Box<[NameId]>,
    pub slot_kinds: Box<[u8]>,
    /// Per slot: the name is secret, its values are withheld.
    pub secret_slots: Box<[bool]>,
    /// Which slots each line may rebind (optimized code only).
    pub stores: LineStores,
    /// The code's name is secret: its return values are withheld.
    pub secret_return: bool,
    pub redact: Arc<Redactor>,
    pub expand: Arc<Expander>,
    pub names: Arc<Names>,
}

pub(crate) const NO_LINE: u32 = u32::MAX;

impl CodeInfo {
    #[inline]
    pub fn line_at(&self, offset: i64) -> Option<u32> {
        let i = usize::try_from(offset / 2).ok()?;
        self.lines.get(i).copied().filter(|&l| l != NO_LINE)
    }
}

/// What producers registered for the flush thread: new rings, `code` rows, and thread rows
/// (whose `first_seq` the merge fills in).
#[derive(Default)]
pub(crate) struct Registrations {
    pub rings: Vec<(u32, Consumer<Rec>, Consumer<Aux>)>,
    pub codes: Vec<CodeRow>,
    pub threads: Vec<ThreadRow>,
}

/// Suspended generators and coroutines by frame address.
#[derive(Debug, Default)]
pub(crate) struct SuspendedFrames {
    frames: Mutex<HashMap<usize, Suspended, BuildHasherDefault<AddressHasher>>>,
    /// How many `frames` holds: every call asks, and most programs have none.
    len: AtomicUsize,
}

impl SuspendedFrames {
    /// Takes what the frame at `frame` recorded when it was suspended.
    #[inline]
    pub fn take(&self, frame: usize) -> Option<Suspended> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut frames = self.frames.lock().expect("not poisoned");
        let taken = frames.remove(&frame);
        self.len.store(frames.len(), Ordering::Relaxed);
        taken
    }

    pub fn put(&self, frame: usize, suspended: Suspended) {
        let mut frames = self.frames.lock().expect("not poisoned");
        frames.insert(frame, suspended);
        self.len.store(frames.len(), Ordering::Relaxed);
    }
}

/// A generator or coroutine suspended at a `yield`/`await`, with what its frame last recorded.
#[derive(Debug)]
pub(crate) struct Suspended {
    pub call_id: u64,
    pub vals: FrameVals,
}

pub(crate) struct Session {
    pub layout: Layout,
    pub extra: CodeExtra,
    store_ops: StoreOps,
    pub generation: u64,
    pub tool: u8,
    pub clock: Clock,
    /// The next seq, and the watermark (DESIGN.md 5.3).
    pub next_seq: AtomicU64,
    /// The next call id; touched only with the GIL held.
    pub next_call_id: AtomicU64,
    pub next_thread_id: AtomicU32,
    pub next_code_id: AtomicU32,
    /// [`RecorderOptions::ring_capacity`].
    pub ring_capacity: usize,
    registrations: Mutex<Registrations>,
    /// Suspended generators by frame address; touched only with the GIL held.
    pub suspended: SuspendedFrames,
    /// `co_filename` → its resolved path when it is recorded.
    files: Mutex<HashMap<String, Option<String>>>,
    files_filter: FileFilter,
    functions_filter: FunctionFilter,
    cwd: PathBuf,
    /// No-op callbacks (`RecordOptions::floor`).
    pub floor: bool,
    pub stopping: AtomicBool,
    pub failed: AtomicBool,
    failure: Mutex<Option<String>>,
    pub stall_ns: AtomicU64,
    /// Callbacks running right now (one may have released the GIL inside a `repr()`): `stop`
    /// waits for none before it finishes and frees the session.
    pub in_callback: AtomicU32,
    pub exit_status: Mutex<i32>,
    pub flush_thread: OnceLock<Thread>,
    pub disable: Py<PyAny>,
    pub set_local_events: Py<PyAny>,
    pub redact: Arc<Redactor>,
    pub expand: Arc<Expander>,
    /// Variable names by number (`values` rows carry the number).
    pub names: Arc<Names>,
    /// Stop recording events once this many are recorded (`--max-events`).
    pub max_events: Option<u64>,
    /// `output` rows not yet taken by the flush thread, in write order.
    output: Mutex<Vec<(u64, u32, OutputStream, String)>>,
}

/// The session the callbacks see; null when not recording. Set and cleared with the GIL held.
pub(crate) static ACTIVE: AtomicPtr<Session> = AtomicPtr::new(std::ptr::null_mut());

static GENERATION: AtomicU64 = AtomicU64::new(0);
static EXTRA: OnceLock<Result<CodeExtra, String>> = OnceLock::new();

/// Frees a [`CodeInfo`] when its code object dies.
unsafe extern "C" fn free_code_info(p: *mut std::ffi::c_void) {
    if !p.is_null() {
        // SAFETY: every non-null value in our extra slot is a leaked `Box<CodeInfo>`.
        drop(unsafe { Box::from_raw(p as *mut CodeInfo) });
    }
}

pub(crate) fn unix_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Session {
    /// Records per ring of thread `thread_id`: the first thread's rings hold `ring_capacity`, the
    /// others' a quarter of it. A busy thread touches every page of its rings, and the flush thread
    /// may stage as many records again, so memory grows with the number of busy threads (8 busy
    /// threads took 196 MB with full-size rings, DESIGN.md 5.2); the first thread, often the only
    /// busy one, keeps the deepest buffer against the flush thread's pauses.
    pub fn ring_capacity_of(&self, thread_id: u32) -> usize {
        if thread_id == 0 {
            self.ring_capacity
        } else {
            (self.ring_capacity / 4).max(16)
        }
    }

    pub fn fail(&self, reason: &str) {
        let mut f = self.failure.lock().expect("not poisoned");
        if f.is_none() {
            *f = Some(reason.to_string());
        }
        self.failed.store(true, Ordering::Release);
    }

    pub fn wake_flusher(&self) {
        if let Some(t) = self.flush_thread.get() {
            t.unpark();
        }
    }

    /// `output` rows written since the last call.
    pub fn take_output(&self) -> Vec<(u64, u32, OutputStream, String)> {
        std::mem::take(&mut *self.output.lock().expect("not poisoned"))
    }

    /// Whether `--max-events` is reached: no further event is recorded.
    #[inline]
    pub fn limit_reached(&self) -> bool {
        self.max_events
            .is_some_and(|max| self.next_seq.load(Ordering::Acquire) >= max)
    }

    /// Rings, code rows and thread rows registered since the last call.
    pub fn take_registrations(&self) -> Registrations {
        std::mem::take(&mut *self.registrations.lock().expect("not poisoned"))
    }

    pub fn register_ring(
        &self,
        thread_id: u32,
        consumer: Consumer<Rec>,
        aux: Consumer<Aux>,
        row: ThreadRow,
    ) {
        let mut r = self.registrations.lock().expect("not poisoned");
        r.rings.push((thread_id, consumer, aux));
        r.threads.push(row);
    }

    /// Describes `code` on first sight (cold path: calls Python). Recorded code gets a code id,
    /// its `code` row and its local events.
    pub fn describe_code(&self, code: &Bound<'_, PyAny>) -> PyResult<CodeInfo> {
        let filename: String = code.getattr("co_filename")?.extract()?;
        let name: String = code.getattr("co_name")?.extract()?;
        let qualname: String = code.getattr("co_qualname")?.extract()?;
        let file = self
            .recorded_file(&filename)
            .filter(|_| self.functions_filter.records(&name, &qualname));
        let first_line: u32 = code.getattr("co_firstlineno")?.extract()?;
        // SAFETY: `code` is a live code object (checked by the caller); GIL held.
        let start_offset = 2 * unsafe { self.layout.first_traceable(code.as_ptr()) };
        let mut info = CodeInfo {
            generation: self.generation,
            recorded: file.is_some(),
            code_id: 0,
            first_line,
            start_offset,
            lines: Box::new([]),
            optimized: false,
            slot_names: Box::new([]),
            slot_kinds: Box::new([]),
            secret_slots: Box::new([]),
            stores: LineStores::default(),
            secret_return: false,
            redact: self.redact.clone(),
            expand: self.expand.clone(),
            names: self.names.clone(),
        };
        let Some(file) = file else {
            return Ok(info);
        };
        let co_code: Vec<u8> = code.getattr("co_code")?.extract()?;
        let mut lines = vec![NO_LINE; co_code.len() / 2];
        for item in code.call_method0("co_lines")?.try_iter()? {
            let (start, end, line): (usize, usize, Option<u32>) = item?.extract()?;
            for slot in lines.iter_mut().take(end / 2).skip(start / 2) {
                *slot = line.unwrap_or(NO_LINE);
            }
        }
        info.lines = lines.into_boxed_slice();
        // SAFETY: as above.
        let flags = unsafe { cpython::code_flags(code.as_ptr()) };
        info.optimized = flags & 0x1 != 0;
        // SAFETY: as above.
        let Some((names, kinds)) = (unsafe { cpython::code_slots(code.as_ptr()) }) else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "co_localsplusnames/co_localspluskinds do not match co_nlocalsplus (unsupported layout)",
            ));
        };
        info.secret_slots = names.iter().map(|n| self.redact.is_secret(n)).collect();
        info.slot_names = names.iter().map(|n| self.names.id(n)).collect();
        if info.optimized {
            info.stores = LineStores::of(&co_code, &info.lines, &kinds, &self.store_ops);
        }
        info.slot_kinds = kinds.into_boxed_slice();
        info.code_id = self.next_code_id.fetch_add(1, Ordering::Relaxed);
        info.secret_return = self.redact.is_secret(&name);
        let row = CodeRow {
            code_id: info.code_id,
            file,
            kind: hooks::code_kind(flags, name == "<module>"),
            name,
            qualname,
            first_line,
        };
        self.set_local_events
            .call1(code.py(), (self.tool, code, hooks::LOCAL_EVENTS))?;
        self.registrations
            .lock()
            .expect("not poisoned")
            .codes
            .push(row);
        Ok(info)
    }

    /// The resolved path of `filename` when code from it is recorded.
    fn recorded_file(&self, filename: &str) -> Option<String> {
        let mut files = self.files.lock().expect("not poisoned");
        if let Some(known) = files.get(filename) {
            return known.clone();
        }
        let path = self.cwd.join(filename);
        let resolved = std::fs::canonicalize(&path)
            .ok()
            .filter(|p| self.files_filter.records(p));
        let answer = resolved.map(|p| p.to_string_lossy().into_owned());
        files.insert(filename.to_string(), answer.clone());
        answer
    }
}

/// A running recording. [`Recorder::stop`] finishes the trace.
#[derive(Debug)]
pub struct Recorder {
    session: *const Session,
    flusher: Option<JoinHandle<Result<FlushStats, RecorderError>>>,
    output: PathBuf,
}

// SAFETY: `Recorder` only carries the pointer of an `Arc<Session>` (and `Session` is shared
// with the flush thread, so it is `Send + Sync`); `stop` may run on any thread holding the GIL.
unsafe impl Send for Recorder {}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("tool", &self.tool).finish()
    }
}

/// The `run.settings` JSON: what was recorded and what was withheld.
fn settings_json(options: &RecordOptions) -> String {
    let quote = |s: &str| {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    };
    let patterns: Vec<String> = options.secret_patterns.iter().map(|p| quote(p)).collect();
    let max = options
        .max_events
        .map_or_else(|| "null".to_string(), |n| n.to_string());
    format!(
        "{{\"redact\": {}, \"secret_patterns\": [{}], \"max_events\": {max}}}",
        options.redact,
        patterns.join(", ")
    )
}

/// In the child of a `fork()`: stops recording there without touching the parent's session
/// (its flush thread does not exist in the child; its rings would fill and block the child).
/// The child runs on unrecorded; the parent's recording is unaffected.
pub fn abandon_in_forked_child(py: Python<'_>) {
    let session = ACTIVE.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if session.is_null() {
        return;
    }
    // SAFETY: the session is leaked in the child (never freed here), so the pointer stays valid.
    let session = unsafe { &*session };
    hooks::uninstall(py, session);
}

/// Stores text the program wrote to `sys.stdout` (`stream` 1) or `sys.stderr` (2) as an `output`
/// row: seq of the latest event recorded before the write, the writing thread. Does nothing when
/// not recording.
pub fn record_output(py: Python<'_>, stream: u8, text: &str) {
    let session = ACTIVE.load(Ordering::Acquire);
    if session.is_null() || text.is_empty() {
        return;
    }
    // SAFETY: a non-null `ACTIVE` stays valid until `stop` clears it, with the GIL held; we
    // hold the GIL.
    let session = unsafe { &*session };
    let Some(stream) = OutputStream::from_code(stream) else {
        return;
    };
    let Some(thread_id) = hooks::current_thread_id(py, session) else {
        return;
    };
    let seq = session.next_seq.load(Ordering::Acquire).saturating_sub(1);
    session
        .output
        .lock()
        .expect("not poisoned")
        .push((seq, thread_id, stream, text.to_string()));
}

impl Recorder {
    /// Checks the interpreter, creates the trace, hooks `sys.monitoring` and starts the flush
    /// thread. The calling thread is thread 0.
    pub fn start(py: Python<'_>, options: RecordOptions) -> Result<Recorder, RecorderError> {
        let redact = Arc::new(if options.redact {
            Redactor::new(&options.secret_patterns)
                .map_err(|e| RecorderError::InvalidOption(format!("--secret-pattern: {e}")))?
        } else {
            Redactor::disabled()
        });
        let functions_filter =
            FunctionFilter::new(&options.include_functions, &options.exclude_functions)?;
        let layout = Layout::for_running_python()?;
        cpython::self_check(py, layout)?;
        if !ACTIVE.load(Ordering::Acquire).is_null() {
            return Err(RecorderError::AlreadyRecording);
        }
        let extra = EXTRA
            .get_or_init(|| CodeExtra::request(py, layout, free_code_info))
            .clone()
            .map_err(RecorderError::Internal)?;

        let store_ops = StoreOps::of_running_python(py)?;
        crate::openfiles::init(py);
        let sys = py.import("sys")?;
        let monitoring = sys.getattr("monitoring")?;
        let mut tool = None;
        for id in [0u8, 3, 4] {
            if monitoring
                .call_method1("use_tool_id", (id, "pyttd"))
                .is_ok()
            {
                tool = Some(id);
                break;
            }
        }
        let tool = tool.ok_or(RecorderError::NoFreeTool)?;
        let release_tool = |py: Python<'_>| {
            let _ = monitoring.call_method1("free_tool_id", (tool,));
            let _ = py;
        };

        let setup = || -> Result<(Arc<Session>, RunRow, TraceWriter), RecorderError> {
            let mut system = Vec::new();
            for attr in ["prefix", "base_prefix", "exec_prefix", "base_exec_prefix"] {
                let p: String = sys.getattr(attr)?.extract()?;
                system.push(PathBuf::from(p));
            }
            if let Ok(site) = py.import("site") {
                if let Ok(dirs) = site.call_method0("getsitepackages") {
                    for d in dirs.try_iter()? {
                        system.push(PathBuf::from(d?.extract::<String>()?));
                    }
                }
                if let Ok(d) = site.call_method0("getusersitepackages")
                    && let Ok(d) = d.extract::<String>()
                {
                    system.push(PathBuf::from(d));
                }
            }
            let cwd = std::env::current_dir().map_err(|e| RecorderError::Python(e.to_string()))?;
            let files_filter = FileFilter::new(
                &options.root,
                system,
                &options.exclude_dirs,
                &options.include_files,
                &options.exclude_files,
                &cwd,
            )?;
            let argv: Vec<String> = sys
                .getattr("argv")?
                .cast_into::<PyList>()
                .map_err(|e| RecorderError::Python(e.to_string()))?
                .extract()?;
            let start_unix_ns = unix_ns();
            let run = RunRow {
                run_id: format!(
                    "{:016x}{:016x}",
                    start_unix_ns as u64,
                    std::process::id() as u64
                ),
                script: options.script.clone(),
                argv,
                cwd: cwd.to_string_lossy().into_owned(),
                python_version: Python::version_str()
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                pyttd_version: env!("CARGO_PKG_VERSION").to_string(),
                start_unix_ns,
                end_unix_ns: None,
                exit_status: None,
                state: "running".into(),
                event_count: 0,
                settings: Some(settings_json(&options)),
            };
            let mut writer = TraceWriter::create(&options.output, options.writer.clone())?;
            writer.append(Table::Run, run_batch(&run))?;
            writer.flush()?;
            let session = Arc::new(Session {
                layout,
                extra,
                store_ops,
                generation: GENERATION.fetch_add(1, Ordering::Relaxed) + 1,
                tool,
                clock: Clock::start(),
                next_seq: AtomicU64::new(0),
                next_call_id: AtomicU64::new(1),
                next_thread_id: AtomicU32::new(0),
                next_code_id: AtomicU32::new(1),
                ring_capacity: options.ring_capacity.max(16),
                registrations: Mutex::new(Registrations::default()),
                suspended: SuspendedFrames::default(),
                files: Mutex::new(HashMap::new()),
                files_filter,
                functions_filter: functions_filter.clone(),
                cwd,
                floor: options.floor,
                stopping: AtomicBool::new(false),
                failed: AtomicBool::new(false),
                failure: Mutex::new(None),
                stall_ns: AtomicU64::new(0),
                in_callback: AtomicU32::new(0),
                exit_status: Mutex::new(0),
                flush_thread: OnceLock::new(),
                disable: monitoring.getattr("DISABLE")?.unbind(),
                set_local_events: monitoring.getattr("set_local_events")?.unbind(),
                redact: redact.clone(),
                expand: Arc::new(Expander::new(options.expand_depth, options.expand_width)),
                names: Arc::new(Names::new()),
                max_events: options.max_events,
                output: Mutex::new(Vec::new()),
            });
            Ok((session, run, writer))
        };
        let (session, run, writer) = match setup() {
            Ok(s) => s,
            Err(e) => {
                release_tool(py);
                return Err(e);
            }
        };

        let flusher = Flusher::new(session.clone(), writer);
        let handle = std::thread::Builder::new()
            .name("pyttd-flush".into())
            .spawn(move || flusher.run(run))
            .map_err(|e| RecorderError::Internal(format!("cannot start the flush thread: {e}")))?;
        let _ = session.flush_thread.set(handle.thread().clone());

        let raw = Arc::into_raw(session);
        ACTIVE.store(raw as *mut Session, Ordering::Release);
        // SAFETY: `raw` is the session just published; GIL held.
        let session = unsafe { &*raw };
        let hooked = hooks::install(py, &monitoring, session);
        let recorder = Recorder {
            session: raw,
            flusher: Some(handle),
            output: options.output.clone(),
        };
        match hooked {
            Ok(()) => {
                hooks::register_current_thread(py, session);
                if let Err(reason) = hooks::record_running_stack(session) {
                    session.fail(&reason);
                }
                Ok(recorder)
            }
            Err(e) => {
                let _ = recorder.stop(py, 1);
                Err(e)
            }
        }
    }

    /// Unhooks, drains every ring, writes the final `run` row with `exit_status` and closes the
    /// trace.
    pub fn stop(
        mut self,
        py: Python<'_>,
        exit_status: i32,
    ) -> Result<RecordingStats, RecorderError> {
        // SAFETY: `self.session` came from `Arc::into_raw` in `start` and is released only here.
        let session = unsafe { Arc::from_raw(self.session) };
        hooks::uninstall(py, &session);
        ACTIVE.store(std::ptr::null_mut(), Ordering::Release);
        // A callback on another thread may be inside a `repr()` that released the GIL: let it
        // finish (its event still reaches the flush thread) before the final drain.
        if session.in_callback.load(Ordering::Acquire) != 0 {
            py.detach(|| {
                while session.in_callback.load(Ordering::Acquire) != 0 {
                    std::thread::sleep(Duration::from_micros(100));
                }
            });
        }
        *session.exit_status.lock().expect("not poisoned") = exit_status;
        session.stopping.store(true, Ordering::Release);
        session.wake_flusher();
        let handle = self.flusher.take().expect("stopped once");
        let result = py.detach(|| handle.join());
        let stats = match result {
            Ok(r) => r?,
            Err(_) => return Err(RecorderError::Internal("the flush thread panicked".into())),
        };
        if let Some(reason) = session.failure.lock().expect("not poisoned").clone() {
            return Err(RecorderError::Internal(reason));
        }
        Ok(RecordingStats {
            path: self.output.clone(),
            events: stats.events,
            bytes: stats.bytes,
            flushes: stats.flushes,
            stall: Duration::from_nanos(session.stall_ns.load(Ordering::Relaxed)),
        })
    }
}
