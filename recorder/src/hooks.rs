//! The native `sys.monitoring` callbacks (raw `METH_FASTCALL` functions) and the mapping of
//! monitoring events to trace events (DESIGN.md 3.3), with each thread's shadow stack.
//!
//! Callbacks are infallible: they return `None`, or `DISABLE` only for local events; every
//! internal failure is caught, marks the session failed, and recording stops at the next event.

use std::cell::RefCell;
use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3_ffi as ffi;
use pyttd_format::{CodeKind, EventKind, ThreadRow, ValueRole};
use rtrb::{Producer, RingBuffer};

use crate::cpython::{self, FramePtr, OWNED_BY_CSTACK};
use crate::render;
use crate::ring::{Aux, Rec};
use crate::session::{ACTIVE, CodeInfo, Session, Suspended};
use crate::values::{self, FrameVals, Recent};

// `sys.monitoring.events` bits (the same on 3.12 and 3.13, DESIGN.md 3.1).
const PY_START: u32 = 1;
const PY_RESUME: u32 = 2;
const PY_RETURN: u32 = 4;
const PY_YIELD: u32 = 8;
const LINE: u32 = 32;
const JUMP: u32 = 128;
const STOP_ITERATION: u32 = 512;
const RAISE: u32 = 1024;
const EXCEPTION_HANDLED: u32 = 2048;
const PY_UNWIND: u32 = 4096;
const PY_THROW: u32 = 8192;

/// Enabled for every code object; only the first PY_START of unrecorded code reaches us.
pub(crate) const GLOBAL_EVENTS: u32 = PY_START | RAISE | EXCEPTION_HANDLED | PY_UNWIND | PY_THROW;
/// Enabled per recorded code object at its first sight.
pub(crate) const LOCAL_EVENTS: u32 =
    LINE | JUMP | PY_RETURN | PY_YIELD | PY_RESUME | STOP_ITERATION;

const CO_OPTIMIZED: u32 = 0x1;
const CO_GENERATOR: u32 = 0x20;
const CO_COROUTINE: u32 = 0x80;
const CO_ASYNC_GENERATOR: u32 = 0x200;

/// `code.kind` from `co_flags`. Module bodies and class bodies both lack `CO_OPTIMIZED`; only
/// the former is named `<module>`, and class bodies count as functions (DESIGN.md 7.3).
pub fn code_kind(flags: u32, named_module: bool) -> CodeKind {
    if flags & CO_ASYNC_GENERATOR != 0 {
        CodeKind::AsyncGenerator
    } else if flags & CO_COROUTINE != 0 {
        CodeKind::Coroutine
    } else if flags & CO_GENERATOR != 0 {
        CodeKind::Generator
    } else if flags & CO_OPTIMIZED == 0 && named_module {
        CodeKind::Module
    } else {
        CodeKind::Function
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Start,
    Resume,
    Throw,
    Return,
    Yield,
    Unwind,
    Raise,
    Handled,
    Line,
    Jump,
}

impl Ev {
    /// Events that may be disabled per location (DESIGN.md 3.2).
    fn is_local(self) -> bool {
        matches!(
            self,
            Ev::Start | Ev::Resume | Ev::Return | Ev::Yield | Ev::Line | Ev::Jump
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ret {
    None,
    Disable,
}

/// One recorded frame on a thread's shadow stack.
#[derive(Debug)]
struct Frame {
    frame: usize,
    call_id: u64,
    last_line: u32,
    vals: FrameVals,
}

/// A thread's recording state.
struct Local {
    generation: u64,
    thread_id: u32,
    producer: Producer<Rec>,
    aux: Producer<Aux>,
    /// The rows of the event being recorded, pushed to `aux` just before its record.
    pending: Vec<Aux>,
    stack: Vec<Frame>,
    /// Value caches of returned frames, emptied, for the next calls to reuse (a call then
    /// allocates nothing for its locals).
    spare: Vec<FrameVals>,
    /// What objects showed when the locals showing them moved on (values.rs).
    recent: Recent,
    since_wake: usize,
    /// Records between two wake-ups of the flush thread: a quarter of the ring.
    wake_every: usize,
}

/// Spare value caches kept per thread (one per level of a typical call depth).
const SPARE_FRAME_VALS: usize = 64;

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

macro_rules! callback {
    ($name:ident, $ev:expr) => {
        unsafe extern "C" fn $name(
            _slf: *mut ffi::PyObject,
            args: *mut *mut ffi::PyObject,
            nargs: ffi::Py_ssize_t,
        ) -> *mut ffi::PyObject {
            // SAFETY: CPython calls us with the GIL held and `nargs` valid arguments.
            unsafe { dispatch($ev, args, nargs) }
        }
    };
}

callback!(on_start, Ev::Start);
callback!(on_resume, Ev::Resume);
callback!(on_throw, Ev::Throw);
callback!(on_return, Ev::Return);
callback!(on_yield, Ev::Yield);
callback!(on_unwind, Ev::Unwind);
callback!(on_raise, Ev::Raise);
callback!(on_handled, Ev::Handled);
callback!(on_line, Ev::Line);
callback!(on_jump, Ev::Jump);

const CALLBACKS: [(u32, &CStr, cpython::RawCallback); 11] = [
    (PY_START, c"pyttd_py_start", on_start),
    (PY_RESUME, c"pyttd_py_resume", on_resume),
    (PY_THROW, c"pyttd_py_throw", on_throw),
    (PY_RETURN, c"pyttd_py_return", on_return),
    (PY_YIELD, c"pyttd_py_yield", on_yield),
    (PY_UNWIND, c"pyttd_py_unwind", on_unwind),
    (RAISE, c"pyttd_raise", on_raise),
    (STOP_ITERATION, c"pyttd_stop_iteration", on_raise),
    (EXCEPTION_HANDLED, c"pyttd_exception_handled", on_handled),
    (LINE, c"pyttd_line", on_line),
    (JUMP, c"pyttd_jump", on_jump),
];

/// Registers the callbacks and enables the global events.
pub(crate) fn install(
    py: Python<'_>,
    monitoring: &Bound<'_, PyAny>,
    session: &Session,
) -> Result<(), crate::RecorderError> {
    for (bit, name, callback) in CALLBACKS {
        let f = cpython::native_function(py, name, callback)?;
        monitoring.call_method1("register_callback", (session.tool, bit, f))?;
    }
    monitoring.call_method1("set_events", (session.tool, GLOBAL_EVENTS))?;
    Ok(())
}

/// Disables every event, unregisters the callbacks and frees the tool id. With the GIL held no
/// callback is in flight afterwards.
pub(crate) fn uninstall(py: Python<'_>, session: &Session) {
    let Ok(monitoring) = py.import("sys").and_then(|s| s.getattr("monitoring")) else {
        return;
    };
    let _ = monitoring.call_method1("set_events", (session.tool, 0));
    for (bit, _, _) in CALLBACKS {
        let _ = monitoring.call_method1("register_callback", (session.tool, bit, py.None()));
    }
    let _ = monitoring.call_method1("free_tool_id", (session.tool,));
}

/// Makes the calling thread thread 0 (it started the recording).
pub(crate) fn register_current_thread(py: Python<'_>, session: &Session) {
    LOCAL.with(|cell| {
        let mut local = cell.borrow_mut();
        *local = Some(new_local(py, session));
    });
}

/// Records the calling thread's running frames as the recording's starting context: each
/// recorded frame on the stack, outermost first, gets a `call` event at the line it is executing,
/// with its locals, as if it had started now (SPEC section 6, `events`). Later events of those
/// frames then nest as they do in the program.
pub(crate) fn record_running_stack(session: &Session) -> Result<(), String> {
    let mut frames = Vec::new();
    // SAFETY: GIL held; walking `previous` from the live current frame visits live frames.
    unsafe {
        let mut f = session.layout.current_frame();
        while !f.is_null() && frames.len() < 100_000 {
            if cpython::frame_owner(f) != OWNED_BY_CSTACK {
                frames.push(f);
            }
            f = cpython::frame_previous(f);
        }
    }
    for &frame in frames.iter().rev() {
        // SAFETY: GIL held; the frame is live (it is on the running stack) and not a shim.
        unsafe {
            let code = cpython::frame_code(frame);
            let Some(info) = code_info(session, code)? else {
                continue;
            };
            if !info.recorded {
                continue;
            }
            let line = cpython::frame_line(frame);
            LOCAL.with(|cell| {
                let mut slot = cell
                    .try_borrow_mut()
                    .map_err(|_| "re-entered the recorder".to_string())?;
                let local = slot.as_mut().ok_or("the thread is not registered")?;
                local.pending.clear();
                emit_call(
                    session,
                    local,
                    EventKind::Call,
                    info,
                    frame,
                    line,
                    Ev::Start,
                    std::ptr::null_mut(),
                )
            })?;
        }
    }
    Ok(())
}

/// The calling thread's `thread_id` in this recording (registering the thread if it has not
/// recorded an event yet); `None` while the recorder itself is running on this thread.
pub(crate) fn current_thread_id(py: Python<'_>, session: &Session) -> Option<u32> {
    LOCAL.with(|cell| {
        let mut slot = cell.try_borrow_mut().ok()?;
        if slot
            .as_ref()
            .is_none_or(|l| l.generation != session.generation)
        {
            *slot = Some(new_local(py, session));
        }
        slot.as_ref().map(|l| l.thread_id)
    })
}

unsafe extern "C" {
    fn PyThread_get_thread_native_id() -> std::ffi::c_ulong;
}

fn new_local(py: Python<'_>, session: &Session) -> Local {
    let thread_id = session.next_thread_id.fetch_add(1, Ordering::Relaxed);
    // SAFETY: both only read the calling thread's identifiers.
    let (ident, native_id) = unsafe {
        (
            ffi::PyThread_get_thread_ident() as u64,
            PyThread_get_thread_native_id() as u64,
        )
    };
    let name = thread_name(py, ident).unwrap_or_else(|| {
        if thread_id == 0 {
            "MainThread".to_string()
        } else {
            format!("Thread-{ident}")
        }
    });
    let capacity = session.ring_capacity_of(thread_id);
    let (producer, consumer) = RingBuffer::new(capacity);
    let (aux, aux_consumer) = RingBuffer::new(capacity);
    session.register_ring(
        thread_id,
        consumer,
        aux_consumer,
        ThreadRow {
            thread_id,
            ident,
            native_id: Some(native_id),
            name,
            first_seq: 0,
        },
    );
    Local {
        generation: session.generation,
        thread_id,
        producer,
        aux,
        pending: Vec::new(),
        stack: Vec::new(),
        spare: Vec::new(),
        recent: Recent::default(),
        since_wake: 0,
        wake_every: capacity / 4,
    }
}

/// `threading._active[ident].name`, without creating a `_DummyThread` (and without importing
/// `threading` if the program has not).
fn thread_name(py: Python<'_>, ident: u64) -> Option<String> {
    let modules = py.import("sys").ok()?.getattr("modules").ok()?;
    let threading = modules.get_item("threading").ok()?;
    let thread = threading
        .getattr("_active")
        .ok()?
        .call_method1("get", (ident,))
        .ok()?;
    if thread.is_none() {
        return None;
    }
    thread.getattr("name").ok()?.extract().ok()
}

/// # Safety
/// Called by CPython with the GIL held and `nargs` arguments at `args`.
unsafe fn dispatch(
    ev: Ev,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    let session = ACTIVE.load(Ordering::Acquire);
    let mut ret = Ret::None;
    if !session.is_null() && nargs >= 2 {
        // SAFETY: a non-null `ACTIVE` stays valid until `stop`, which clears it with the GIL
        // held after unregistering every callback, then waits until `in_callback` is 0; we hold
        // the GIL, and count ourselves in before anything could release it.
        let session = unsafe { &*session };
        // Only GIL holders change the count, so a plain load and store suffice (no atomic
        // read-modify-write on every event); `stop` reads it with the GIL released.
        let count = session.in_callback.load(Ordering::Relaxed);
        session.in_callback.store(count + 1, Ordering::Release);
        let _leave = Leave(&session.in_callback);
        // SAFETY: `nargs >= 2` arguments are valid for the duration of the call.
        let (code, a1, a2) = unsafe {
            (
                *args,
                *args.add(1),
                if nargs >= 3 {
                    *args.add(2)
                } else {
                    std::ptr::null_mut()
                },
            )
        };
        // SAFETY: GIL held.
        let tstate = unsafe { cpython::thread_state() };
        if !session.failed.load(Ordering::Relaxed) && !session.limit_reached() {
            // SAFETY: GIL held; the arguments are live for the call; `tstate` is this thread's.
            let outcome = catch_unwind(AssertUnwindSafe(|| unsafe {
                event(session, tstate, ev, code, a1, a2)
            }));
            match outcome {
                Ok(Ok(r)) => ret = r,
                Ok(Err(reason)) => session.fail(&reason),
                Err(_) => session.fail("a recorder callback panicked"),
            }
        }
        // SAFETY: GIL held, `tstate` is this thread's and the layout verified; nothing we called
        // may leave an exception set for the program.
        unsafe {
            if session.layout.error_set(tstate) {
                ffi::PyErr_Clear();
            }
        }
        if ret == Ret::Disable && ev.is_local() {
            let disable = session.disable.as_ptr();
            // SAFETY: `DISABLE` is kept alive by the session; return a new reference.
            unsafe { ffi::Py_IncRef(disable) };
            return disable;
        }
    }
    // SAFETY: returning a new reference to None.
    unsafe {
        let none = ffi::Py_None();
        ffi::Py_IncRef(none);
        none
    }
}

/// Counts a callback out of [`Session::in_callback`] however it returns.
struct Leave<'a>(&'a std::sync::atomic::AtomicU32);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        // GIL held (see `dispatch`).
        let count = self.0.load(Ordering::Relaxed);
        self.0.store(count - 1, Ordering::Release);
    }
}

/// An int argument (offset or line); -1 when it is not one.
///
/// # Safety
/// GIL held; `obj` is a live object or null.
unsafe fn int_arg(obj: *mut ffi::PyObject) -> i64 {
    if obj.is_null() {
        return -1;
    }
    // Offsets and lines are small ints: read in place, without a call.
    // SAFETY: guaranteed by the caller.
    let exact = unsafe { ffi::PyLong_CheckExact(obj) } != 0;
    // SAFETY: `compact_int` is given a live exact int.
    if exact && let Some(v) = unsafe { cpython::compact_int(obj) } {
        return v;
    }
    // SAFETY: guaranteed by the caller.
    let v = unsafe { ffi::PyLong_AsLongLong(obj) };
    if v == -1 {
        // SAFETY: GIL held.
        unsafe { ffi::PyErr_Clear() };
    }
    v
}

/// The per-code info, describing the code object on first sight.
///
/// # Safety
/// GIL held; `code` is a live object.
unsafe fn code_info<'a>(
    session: &Session,
    code: *mut ffi::PyObject,
) -> Result<Option<&'a CodeInfo>, String> {
    // SAFETY: guaranteed by the caller.
    if !unsafe { cpython::is_code(code) } {
        return Ok(None);
    }
    // SAFETY: GIL held, `code` is a code object.
    let existing = unsafe { session.extra.get(code) } as *mut CodeInfo;
    // SAFETY: every value in our slot is a `Box<CodeInfo>` that lives as long as the code object,
    // which outlives this callback; only GIL holders touch it.
    if let Some(info) = unsafe { existing.as_ref() }
        && info.generation == session.generation
    {
        return Ok(Some(info));
    }
    // SAFETY: GIL held (we are in a callback).
    let py = unsafe { Python::assume_attached() };
    // SAFETY: `code` is a live object, borrowed for this call.
    let bound = unsafe { Bound::from_borrowed_ptr(py, code) };
    let fresh = session
        .describe_code(&bound)
        .map_err(|e| format!("cannot describe a code object: {e}"))?;
    if existing.is_null() {
        let boxed = Box::into_raw(Box::new(fresh));
        // SAFETY: GIL held; the slot takes ownership of the box (freed with the code object).
        if !unsafe { session.extra.set(code, boxed.cast()) } {
            // SAFETY: not stored, so still ours.
            drop(unsafe { Box::from_raw(boxed) });
            return Err("cannot store per-code state".into());
        }
        // SAFETY: just stored; lives as long as the code object.
        Ok(Some(unsafe { &*boxed }))
    } else {
        // A code object from an earlier recording in this process: reuse its box.
        // SAFETY: ours, and only touched with the GIL held.
        unsafe { *existing = fresh };
        // SAFETY: as above.
        Ok(Some(unsafe { &*existing }))
    }
}

/// Handles one monitoring event.
///
/// # Safety
/// GIL held; `tstate` is this thread's state; `code`, `a1`, `a2` are the callback's live
/// arguments (`a2` may be null).
unsafe fn event(
    session: &Session,
    tstate: cpython::ThreadState,
    ev: Ev,
    code: *mut ffi::PyObject,
    a1: *mut ffi::PyObject,
    a2: *mut ffi::PyObject,
) -> Result<Ret, String> {
    // SAFETY: guaranteed by the caller.
    let Some(info) = (unsafe { code_info(session, code)? }) else {
        return Ok(Ret::None);
    };
    if !info.recorded {
        return Ok(if ev.is_local() {
            Ret::Disable
        } else {
            Ret::None
        });
    }
    // SAFETY: GIL held.
    let a1 = unsafe { int_arg(a1) };
    let mut line = match ev {
        Ev::Line => u32::try_from(a1).ok(),
        Ev::Jump => {
            // SAFETY: GIL held.
            let dest = unsafe { int_arg(a2) };
            let to = info.line_at(dest);
            if dest < a1 && to.is_some() && to == info.line_at(a1) {
                to
            } else {
                // Forward jumps and jumps to another line are LINE's business.
                return Ok(Ret::Disable);
            }
        }
        _ => info.line_at(a1),
    };
    if session.floor {
        // The same callbacks on the same events (backward jumps within a line included), doing
        // nothing.
        return Ok(Ret::None);
    }
    // SAFETY: GIL held, `tstate` is this thread's, verified layout.
    let frame = unsafe { session.layout.frame_of(tstate) };
    // SAFETY: a non-null current frame is live while its code runs our callback.
    if frame.is_null() || unsafe { cpython::frame_code(frame) } != code {
        return Err("the executing frame does not match the event (unsupported layout?)".into());
    }
    if ev == Ev::Start {
        line = line.or(Some(info.first_line));
    }

    LOCAL.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| "re-entered the recorder".to_string())?;
        if slot
            .as_ref()
            .is_none_or(|l| l.generation != session.generation)
        {
            // SAFETY: GIL held (callback).
            let py = unsafe { Python::assume_attached() };
            *slot = Some(new_local(py, session));
        }
        let local = slot.as_mut().expect("just set");
        local.pending.clear();
        // SAFETY: GIL held; `frame` is the live current frame; `a2` the callback's argument.
        unsafe { step(session, local, ev, info, frame, a1, line, a2) }
    })
}

/// Shadow-stack bookkeeping, the frame's values, and the event record for one recorded event.
///
/// # Safety
/// GIL held; `frame` is the live current frame executing `info`'s code; `arg` is the callback's
/// third argument (return value, exception) or null.
#[allow(clippy::too_many_arguments)]
unsafe fn step(
    session: &Session,
    local: &mut Local,
    ev: Ev,
    info: &CodeInfo,
    frame: FramePtr,
    offset: i64,
    line: Option<u32>,
    arg: *mut ffi::PyObject,
) -> Result<Ret, String> {
    let fp = frame as usize;
    let kind = match ev {
        Ev::Start => {
            session.suspended.take(fp);
            // SAFETY: guaranteed by the caller.
            return unsafe {
                emit_call(session, local, EventKind::Call, info, frame, line, ev, arg)
            };
        }
        Ev::Throw => {
            let entry = session
                .suspended
                .take(fp)
                .filter(|_| offset >= info.start_offset as i64);
            // SAFETY: guaranteed by the caller.
            return unsafe {
                match entry {
                    Some(s) => emit_resume(session, local, info, frame, s, line),
                    None => emit_call(session, local, EventKind::Call, info, frame, line, ev, arg),
                }
            };
        }
        Ev::Resume => {
            let entry = session.suspended.take(fp);
            // SAFETY: guaranteed by the caller.
            return unsafe {
                match entry {
                    Some(s) => emit_resume(session, local, info, frame, s, line),
                    // Suspended before recording started: a new call as far as the trace knows.
                    None => emit_call(
                        session,
                        local,
                        EventKind::Resume,
                        info,
                        frame,
                        line,
                        ev,
                        arg,
                    ),
                }
            };
        }
        Ev::Return => EventKind::Return,
        Ev::Yield => EventKind::Yield,
        Ev::Unwind => EventKind::Unwind,
        Ev::Raise => EventKind::Exception,
        Ev::Handled => EventKind::ExceptionHandled,
        Ev::Line | Ev::Jump => EventKind::Line,
    };
    // SAFETY: guaranteed by the caller.
    if !unsafe { sync_top(local, frame) } {
        // A frame the recorder did not see start (it began before recording).
        // SAFETY: guaranteed by the caller.
        unsafe { emit_call(session, local, kind, info, frame, line, ev, arg)? };
    } else {
        let depth = local.stack.len() as u32 - 1;
        let top = local.stack.last_mut().expect("synced");
        // A frame unwinding from cleanup code (a `with` block's exit re-raising) is back at the
        // instruction where the exception met it, as CPython (and `sys.settrace`) report it;
        // the callback's offset is the cleanup's, which has no line or the `with` line.
        let line = match ev {
            // SAFETY: `frame` is the live current frame executing `info`'s code (caller).
            Ev::Unwind => unsafe { cpython::frame_line(frame) }.or(line),
            _ => line,
        };
        let line = line.unwrap_or(top.last_line);
        // The lines whose instructions ran since the frame's previous event. Exception events
        // may follow cleanup code of other lines: they read every slot.
        let lines = matches!(ev, Ev::Line | Ev::Jump | Ev::Return | Ev::Yield)
            .then_some((top.last_line, line));
        top.last_line = line;
        let call_id = top.call_id;
        // SAFETY: guaranteed by the caller.
        unsafe {
            top.vals.observe(
                info,
                frame,
                false,
                lines,
                &mut local.pending,
                &mut local.recent,
            );
            event_rows(ev, info, arg, &mut local.pending);
        }
        emit(
            session,
            local,
            kind,
            info.code_id,
            line,
            depth,
            call_id,
            None,
        )?;
    }
    match ev {
        Ev::Return | Ev::Unwind => {
            if let Some(top) = local.stack.pop() {
                let mut vals = top.vals;
                vals.retire(&mut local.recent);
                if local.spare.len() < SPARE_FRAME_VALS {
                    vals.clear();
                    local.spare.push(vals);
                }
            }
        }
        Ev::Yield => {
            if let Some(top) = local.stack.pop() {
                session.suspended.put(
                    fp,
                    Suspended {
                        call_id: top.call_id,
                        vals: top.vals,
                    },
                );
            }
        }
        _ => {}
    }
    Ok(Ret::None)
}

/// The rows an event carries besides the locals: the value of a `return`/`yield`, the exception
/// of an `exception` event (its `values` row and its `exceptions` row).
///
/// # Safety
/// GIL held; `arg` is null or the callback's live argument.
unsafe fn event_rows(ev: Ev, info: &CodeInfo, arg: *mut ffi::PyObject, out: &mut Vec<Aux>) {
    if arg.is_null() {
        return;
    }
    // SAFETY: guaranteed by the caller; the argument is referenced by the caller of the callback.
    unsafe {
        match ev {
            Ev::Return | Ev::Yield => {
                values::value_rows(ValueRole::Return, arg, info.secret_return, info, out)
            }
            Ev::Raise => {
                values::value_rows(ValueRole::Exception, arg, false, info, out);
                out.push(Aux::Exception {
                    type_name: render::exception_type_name(arg),
                    message: render::exception_message(arg, &info.redact),
                });
            }
            _ => {}
        }
    }
}

/// Makes the shadow stack's top the current frame: pops entries of frames that left without an
/// event. False when the frame is not on the stack at all.
///
/// # Safety
/// GIL held; `frame` is the live current frame.
unsafe fn sync_top(local: &mut Local, frame: FramePtr) -> bool {
    let fp = frame as usize;
    if local.stack.last().is_some_and(|f| f.frame == fp) {
        return true;
    }
    let Some(i) = local.stack.iter().rposition(|f| f.frame == fp) else {
        return false;
    };
    // Only trust the match if the entries above it are really gone from the frame chain.
    let mut chain = Vec::new();
    // SAFETY: walking `previous` from the live current frame visits live frames only.
    unsafe {
        let mut f = frame;
        while !f.is_null() && chain.len() < 10_000 {
            if cpython::frame_owner(f) != OWNED_BY_CSTACK {
                chain.push(f as usize);
            }
            f = cpython::frame_previous(f);
        }
    }
    local.stack.truncate(i + 1);
    local.stack.retain(|f| chain.contains(&f.frame));
    local.stack.last().is_some_and(|f| f.frame == fp)
}

/// Opens a call for `frame`: a new shadow-stack entry whose locals are recorded as a snapshot.
///
/// # Safety
/// As [`step`].
#[allow(clippy::too_many_arguments)]
unsafe fn emit_call(
    session: &Session,
    local: &mut Local,
    kind: EventKind,
    info: &CodeInfo,
    frame: FramePtr,
    line: Option<u32>,
    ev: Ev,
    arg: *mut ffi::PyObject,
) -> Result<Ret, String> {
    // Only GIL holders number calls: a plain load and store (no locked read-modify-write on
    // every call), as for `next_seq`.
    let call_id = session.next_call_id.load(Ordering::Relaxed);
    session.next_call_id.store(call_id + 1, Ordering::Relaxed);
    let parent = local.stack.last().map(|f| f.call_id);
    let depth = local.stack.len() as u32;
    let line = line.unwrap_or(info.first_line);
    let mut vals = local.spare.pop().unwrap_or_default();
    // SAFETY: guaranteed by the caller.
    unsafe {
        vals.observe(
            info,
            frame,
            true,
            None,
            &mut local.pending,
            &mut local.recent,
        );
        event_rows(ev, info, arg, &mut local.pending);
    }
    local.stack.push(Frame {
        frame: frame as usize,
        call_id,
        last_line: line,
        vals,
    });
    emit(
        session,
        local,
        kind,
        info.code_id,
        line,
        depth,
        call_id,
        Some(parent.unwrap_or(0)),
    )?;
    Ok(Ret::None)
}

/// Resumes a suspended generator or coroutine with what its frame last recorded.
///
/// # Safety
/// As [`step`].
unsafe fn emit_resume(
    session: &Session,
    local: &mut Local,
    info: &CodeInfo,
    frame: FramePtr,
    s: Suspended,
    line: Option<u32>,
) -> Result<Ret, String> {
    let depth = local.stack.len() as u32;
    let line = line.unwrap_or(info.first_line);
    let mut vals = s.vals;
    // SAFETY: guaranteed by the caller.
    unsafe {
        vals.observe(
            info,
            frame,
            false,
            None,
            &mut local.pending,
            &mut local.recent,
        )
    };
    local.stack.push(Frame {
        frame: frame as usize,
        call_id: s.call_id,
        last_line: line,
        vals,
    });
    emit(
        session,
        local,
        EventKind::Resume,
        info.code_id,
        line,
        depth,
        s.call_id,
        None,
    )?;
    Ok(Ret::None)
}

/// The critical section (DESIGN.md 5.1 step 5): no Python C-API from here on.
/// `opens_call` carries the parent call id (0 = none) when the event opens its call.
#[allow(clippy::too_many_arguments)]
#[inline]
fn emit(
    session: &Session,
    local: &mut Local,
    kind: EventKind,
    code_id: u32,
    line: u32,
    depth: u32,
    call_id: u64,
    opens_call: Option<u64>,
) -> Result<(), String> {
    // The event's rows first: the flush thread finds them whenever it finds the record.
    let naux = local.pending.len() as u32;
    // All of them in one write when they fit (one index update for the flush thread to see),
    // else one by one as space comes. No row or a single row (the usual cases) cost no chunk
    // or drain.
    match local.pending.len() {
        0 => {}
        1 => {
            let aux = local.pending.pop().expect("one row");
            push_aux(session, &mut local.aux, aux)?;
        }
        n => {
            if let Ok(chunk) = local.aux.write_chunk_uninit(n) {
                chunk.fill_from_iter(local.pending.drain(..));
            }
            for aux in local.pending.drain(..) {
                push_aux(session, &mut local.aux, aux)?;
            }
        }
    }
    let seq = session.next_seq.load(Ordering::Acquire);
    let ts = session.clock.now();
    let rec = Rec {
        seq,
        call_id,
        parent_call_id: opens_call.unwrap_or(0),
        ts,
        code_id,
        line,
        depth,
        kind: kind.code(),
        opens_call: opens_call.is_some(),
        naux,
    };
    // A full ring is found by the push itself (one look at the flush thread's position, not
    // two). Waiting here keeps `seq` unpublished: no other thread numbers an event meanwhile
    // (we hold the GIL), and the flush thread's watermark stays below it.
    if let Err(rtrb::PushError::Full(rec)) = local.producer.push(rec) {
        wait_for_space(session, || local.producer.is_full())?;
        local
            .producer
            .push(rec)
            .map_err(|_| "a ring with free space refused a record".to_string())?;
    }
    // No other thread numbers an event between the load above and this store: callbacks hold
    // the GIL, and nothing in between runs Python code.
    session.next_seq.store(seq + 1, Ordering::Release);
    local.since_wake += 1;
    if local.since_wake >= local.wake_every {
        local.since_wake = 0;
        session.wake_flusher();
    }
    Ok(())
}

/// Pushes one row to the auxiliary ring, waiting for space if it is full.
#[inline]
fn push_aux(session: &Session, ring: &mut Producer<Aux>, aux: Aux) -> Result<(), String> {
    if ring.is_full() {
        wait_for_space(session, || ring.is_full())?;
    }
    ring.push(aux)
        .map_err(|_| "a ring with free space refused a row".to_string())
}

/// Backpressure (DESIGN.md 5.5): a ring (events or auxiliary rows) is full, so wait for the flush
/// thread — keeping the GIL, with the event's seq not yet published. The flush thread drains both
/// rings whatever the watermark, so space always comes. Nothing is dropped.
#[cold]
fn wait_for_space(session: &Session, is_full: impl Fn() -> bool) -> Result<(), String> {
    let started = Instant::now();
    let mut spins = 0u32;
    while is_full() {
        if session.failed.load(Ordering::Relaxed) {
            return Err("the flush thread failed".into());
        }
        session.wake_flusher();
        if spins < 64 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }
    session
        .stall_ns
        .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_kind_from_flags() {
        // Flags as CPython 3.12/3.13 set them for each kind of code object.
        assert_eq!(code_kind(0x0, true), CodeKind::Module);
        assert_eq!(code_kind(0x0, false), CodeKind::Function); // class body
        assert_eq!(code_kind(0x3, false), CodeKind::Function);
        assert_eq!(code_kind(0x23, false), CodeKind::Generator);
        assert_eq!(code_kind(0x83, false), CodeKind::Coroutine);
        assert_eq!(code_kind(0x203, false), CodeKind::AsyncGenerator);
        // A generator-based coroutine (`types.coroutine`) keeps CO_GENERATOR.
        assert_eq!(code_kind(0x123, false), CodeKind::Generator);
    }
}
