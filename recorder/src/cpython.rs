//! The one place that knows CPython's private layouts: where a thread's current frame is, and
//! the fields of `_PyInterpreterFrame` and `PyCodeObject` the recorder reads (DESIGN.md 2.1–2.3).
//!
//! The offsets are a table per minor version, checked at `start` by [`self_check`]: a native probe
//! called from a known Python function reads its frame through the table and must find exactly
//! what the Python-level attributes say. A mismatch (an unknown patch release that moved a field,
//! a debug or free-threaded build) refuses to record instead of reading garbage.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::ptr;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3_ffi as ffi;

use crate::error::RecorderError;

/// Offsets into `PyThreadState`, `_PyInterpreterFrame` and `PyCodeObject` for one minor version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub minor: u8,
    /// 3.12: offset of `cframe` (a `_PyCFrame*` whose first field is `current_frame`);
    /// 3.13: offset of `current_frame` itself.
    tstate_frame: usize,
    via_cframe: bool,
    /// `PyThreadState.current_exception`, what `PyErr_Occurred` reads.
    tstate_exception: usize,
    /// `_co_firsttraceable` (the only code field used here that moved between 3.12 and 3.13;
    /// `co_extra` follows it).
    code_first_traceable: usize,
}

const FRAME_CODE: usize = 0;
const FRAME_PREVIOUS: usize = 8;
const FRAME_LOCALS: usize = 40;
const FRAME_OBJECT: usize = 48;
const FRAME_OWNER: usize = 70;
const FRAME_LOCALSPLUS: usize = 72;
const CODE_FLAGS: usize = 48;
const CODE_FIRSTLINENO: usize = 68;
const CODE_NLOCALSPLUS: usize = 72;
const CODE_LOCALSPLUSNAMES: usize = 96;
const CODE_LOCALSPLUSKINDS: usize = 104;
const CODE_QUALNAME: usize = 128;

/// `_PyLocals_Kind` bits of `co_localspluskinds` (the same on 3.12 and 3.13, DESIGN.md 2.3).
pub const CO_FAST_HIDDEN: u8 = 0x10;
pub const CO_FAST_CELL: u8 = 0x40;
pub const CO_FAST_FREE: u8 = 0x80;

/// `_PyInterpreterFrame.owner` of a C-stack shim (entry) frame.
pub const OWNED_BY_CSTACK: u8 = 3;

pub const LAYOUT_3_12: Layout = Layout {
    minor: 12,
    tstate_frame: 56,
    via_cframe: true,
    tstate_exception: 96,
    code_first_traceable: 176,
};

pub const LAYOUT_3_13: Layout = Layout {
    minor: 13,
    tstate_frame: 72,
    via_cframe: false,
    tstate_exception: 112,
    code_first_traceable: 184,
};

/// An executing frame (`_PyInterpreterFrame*`); only compared and read through [`Layout`].
pub type FramePtr = *const u8;

/// The calling thread's `PyThreadState`, read through [`Layout`].
#[derive(Debug, Clone, Copy)]
pub struct ThreadState(*const u8);

/// The calling thread's state, looked up once per callback.
///
/// # Safety
/// The caller holds the GIL.
#[inline]
pub unsafe fn thread_state() -> ThreadState {
    // SAFETY: guaranteed by the caller (with the GIL held the thread has a state).
    ThreadState(unsafe { ffi::PyThreadState_Get() } as *const u8)
}

impl Layout {
    /// The table for the running interpreter, from `Py_Version`.
    pub fn for_running_python() -> Result<Layout, RecorderError> {
        // SAFETY: `Py_Version` is a constant exported by every CPython >= 3.11.
        let hex = unsafe { ffi::Py_Version } as u32;
        let (major, minor) = (hex >> 24, (hex >> 16) & 0xff);
        match (major, minor) {
            (3, 12) => Ok(LAYOUT_3_12),
            (3, 13) => Ok(LAYOUT_3_13),
            _ => Err(RecorderError::UnsupportedPython {
                version: format!("{major}.{minor}"),
                reason: "pyttd records CPython 3.12 and 3.13".into(),
            }),
        }
    }

    /// The frame the calling thread is executing, or null when it runs no Python code.
    ///
    /// # Safety
    /// The caller holds the GIL and `self` is the running interpreter's verified layout.
    #[inline]
    pub unsafe fn current_frame(&self) -> FramePtr {
        // SAFETY: guaranteed by the caller.
        unsafe { self.frame_of(thread_state()) }
    }

    /// Whether the thread of `tstate` has an exception set (`PyErr_Occurred`, without looking
    /// the thread state up again).
    ///
    /// # Safety
    /// The caller holds the GIL, `tstate` is its thread's state ([`thread_state`]) and `self` is
    /// the running interpreter's verified layout.
    #[inline]
    pub unsafe fn error_set(&self, tstate: ThreadState) -> bool {
        // SAFETY: guaranteed by the caller; a pointer field of this version's `PyThreadState`.
        unsafe { !read::<*const u8>(tstate.0, self.tstate_exception).is_null() }
    }

    /// The frame the thread of `tstate` is executing, or null when it runs no Python code.
    ///
    /// # Safety
    /// As [`Layout::error_set`].
    #[inline]
    pub unsafe fn frame_of(&self, tstate: ThreadState) -> FramePtr {
        // SAFETY: with the GIL held the thread state is valid; the offsets are this version's.
        unsafe {
            let slot = tstate.0.add(self.tstate_frame) as *const *const u8;
            if self.via_cframe {
                let cframe = *slot;
                if cframe.is_null() {
                    return ptr::null();
                }
                *(cframe as *const *const u8)
            } else {
                *slot
            }
        }
    }

    /// `_co_firsttraceable` of a code object.
    ///
    /// # Safety
    /// `code` is a live `PyCodeObject`.
    pub unsafe fn first_traceable(&self, code: *mut ffi::PyObject) -> u32 {
        // SAFETY: offset of an `int` field of `PyCodeObject` for this version.
        unsafe { read::<c_int>(code as *const u8, self.code_first_traceable) as u32 }
    }
}

/// # Safety
/// `base + offset` is a readable, aligned `T` inside a live object.
#[inline]
unsafe fn read<T: Copy>(base: *const u8, offset: usize) -> T {
    // SAFETY: guaranteed by the caller.
    unsafe { *(base.add(offset) as *const T) }
}

/// The code object a frame executes (`f_code`/`f_executable`; `None` in 3.13 shim frames).
///
/// # Safety
/// `frame` is a live `_PyInterpreterFrame` of the current thread (GIL held).
#[inline]
pub unsafe fn frame_code(frame: FramePtr) -> *mut ffi::PyObject {
    // SAFETY: guaranteed by the caller; offset 0 on both versions.
    unsafe { read(frame, FRAME_CODE) }
}

/// The calling frame (`previous`), possibly a shim frame or null.
///
/// # Safety
/// As [`frame_code`].
#[inline]
pub unsafe fn frame_previous(frame: FramePtr) -> FramePtr {
    // SAFETY: guaranteed by the caller.
    unsafe { read(frame, FRAME_PREVIOUS) }
}

unsafe extern "C" {
    /// CPython 3.12+ unstable API (`cpython/pyframe.h`): the line a frame is executing.
    fn PyUnstable_InterpreterFrame_GetLine(frame: *mut c_void) -> c_int;
}

/// The line `frame` is executing (its current instruction's), `None` if it has none.
///
/// # Safety
/// As [`frame_code`], and `frame` is not a shim frame.
pub unsafe fn frame_line(frame: FramePtr) -> Option<u32> {
    // SAFETY: guaranteed by the caller; the function only reads the frame and its code.
    let line = unsafe { PyUnstable_InterpreterFrame_GetLine(frame as *mut c_void) };
    u32::try_from(line).ok()
}

/// Who owns the frame: 0 thread, 1 generator, 2 frame object, 3 C stack (shim).
///
/// # Safety
/// As [`frame_code`].
#[inline]
pub unsafe fn frame_owner(frame: FramePtr) -> u8 {
    // SAFETY: guaranteed by the caller.
    unsafe { read(frame, FRAME_OWNER) }
}

/// Whether the frame has a frame object (`frame_obj`). Only through one can code outside the
/// frame rebind its fast locals (`f_locals` writes on 3.13, `PyFrame_LocalsToFast` on 3.12);
/// once made, it stays until the frame exits.
///
/// # Safety
/// As [`frame_code`].
#[inline]
pub unsafe fn frame_has_object(frame: FramePtr) -> bool {
    // SAFETY: guaranteed by the caller.
    !unsafe { read::<*const u8>(frame, FRAME_OBJECT) }.is_null()
}

/// The locals mapping of a non-optimized frame (module or class body; null otherwise).
///
/// # Safety
/// As [`frame_code`].
#[inline]
pub unsafe fn frame_locals(frame: FramePtr) -> *mut ffi::PyObject {
    // SAFETY: guaranteed by the caller.
    unsafe { read(frame, FRAME_LOCALS) }
}

/// The value of local slot `i` (DESIGN.md 2.4): null when unbound; a cell's content for cell
/// and free slots that hold a cell (null for an empty cell). Borrowed.
///
/// # Safety
/// As [`frame_code`]; `i < co_nlocalsplus` of the frame's code and `kind` its slot kind.
#[inline]
pub unsafe fn frame_local(frame: FramePtr, i: usize, kind: u8) -> *mut ffi::PyObject {
    // SAFETY: guaranteed by the caller; a cell's `ob_ref` is at its C struct's field.
    unsafe {
        let v: *mut ffi::PyObject = read(frame, FRAME_LOCALSPLUS + 8 * i);
        if !v.is_null()
            && kind & (CO_FAST_CELL | CO_FAST_FREE) != 0
            && ffi::Py_TYPE(v) == &raw mut ffi::PyCell_Type
        {
            return (*(v as *mut ffi::PyCellObject)).ob_ref;
        }
        v
    }
}

/// `co_localsplusnames` and `co_localspluskinds` (None when they do not look like a tuple of
/// `co_nlocalsplus` strings and as many kind bytes: a layout we do not know).
///
/// # Safety
/// GIL held; `code` is a live code object.
pub unsafe fn code_slots(code: *mut ffi::PyObject) -> Option<(Vec<String>, Vec<u8>)> {
    // SAFETY: guaranteed by the caller; types are checked before the typed reads.
    unsafe {
        let n = read::<c_int>(code as *const u8, CODE_NLOCALSPLUS) as isize;
        let names: *mut ffi::PyObject = read(code as *const u8, CODE_LOCALSPLUSNAMES);
        let kinds: *mut ffi::PyObject = read(code as *const u8, CODE_LOCALSPLUSKINDS);
        if names.is_null()
            || kinds.is_null()
            || ffi::PyTuple_CheckExact(names) == 0
            || ffi::PyBytes_CheckExact(kinds) == 0
            || ffi::PyTuple_GET_SIZE(names) != n
            || ffi::PyBytes_Size(kinds) != n
        {
            return None;
        }
        let bytes =
            std::slice::from_raw_parts(ffi::PyBytes_AsString(kinds) as *const u8, n as usize);
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let name = ffi::PyTuple_GET_ITEM(names, i);
            let mut size: ffi::Py_ssize_t = 0;
            if ffi::PyUnicode_Check(name) == 0 {
                return None;
            }
            let p = ffi::PyUnicode_AsUTF8AndSize(name, &mut size);
            if p.is_null() {
                ffi::PyErr_Clear();
                return None;
            }
            let s = std::slice::from_raw_parts(p as *const u8, size as usize);
            out.push(String::from_utf8_lossy(s).into_owned());
        }
        Some((out, bytes.to_vec()))
    }
}

/// `co_flags`.
///
/// # Safety
/// `code` is a live `PyCodeObject`.
pub unsafe fn code_flags(code: *mut ffi::PyObject) -> u32 {
    // SAFETY: guaranteed by the caller; same offset on both versions.
    unsafe { read::<c_int>(code as *const u8, CODE_FLAGS) as u32 }
}

/// The value of an exact `int` small enough to be stored in one digit (|v| < 2^30), read from the
/// object (`_PyLong_IsCompact` and `_PyLong_CompactValue` of `cpython/longintrepr.h`, the same on
/// 3.12 and 3.13: after the object header, `lv_tag` then the digits; a tag below 16 is compact,
/// its low two bits the sign: 0 positive, 1 zero, 2 negative). `None` for larger ints.
///
/// # Safety
/// GIL held; `obj` is a live exact `int`.
#[inline]
pub unsafe fn compact_int(obj: *mut ffi::PyObject) -> Option<i64> {
    const HEADER: usize = std::mem::size_of::<ffi::PyObject>();
    // SAFETY: guaranteed by the caller; an int object has `lv_tag` and at least one digit.
    unsafe {
        let tag = read::<usize>(obj as *const u8, HEADER);
        if tag >= 16 {
            return None;
        }
        let digit = read::<u32>(obj as *const u8, HEADER + std::mem::size_of::<usize>());
        Some((1 - (tag & 3) as i64) * i64::from(digit))
    }
}

// `PyDictObject` and `PyDictKeysObject` (`internal/pycore_dict.h`; the same on 3.12 and 3.13
// without free threading).
const DICT_KEYS: usize = 32;
const DICT_VALUES: usize = 40;
const KEYS_LOG2_INDEX_BYTES: usize = 9;
const KEYS_KIND: usize = 10;
const KEYS_NENTRIES: usize = 24;
const KEYS_INDICES: usize = 32;
/// `dk_kind`: `DICT_KEYS_GENERAL` entries are `(hash, key, value)`, `DICT_KEYS_UNICODE` ones
/// `(key, value)`.
const KEYS_GENERAL: u8 = 0;
const KEYS_UNICODE: u8 = 1;
const KEYS_SPLIT: u8 = 2;

/// Whether every key of the dict `d` is an exact `str` (its keys table is of the `str`-only
/// kind, or split: an instance's shared keys; CPython turns either into the general kind as
/// soon as another key is stored): looking up a `str` in it never runs a key's `__eq__`.
///
/// # Safety
/// GIL held; `d` is a live dict.
pub unsafe fn dict_keys_all_str(d: *mut ffi::PyObject) -> bool {
    // SAFETY: guaranteed by the caller; the offsets are those of the dict's own structs.
    unsafe {
        let keys = read::<*const u8>(d as *const u8, DICT_KEYS);
        matches!(read::<u8>(keys, KEYS_KIND), KEYS_UNICODE | KEYS_SPLIT)
    }
}

/// The entry table of a dict with a combined table (a module's or a class body's namespace), in
/// the order `PyDict_Next` walks it: reading it directly costs a few instructions per entry
/// instead of two calls. Checked by [`self_check`].
#[derive(Debug, Clone, Copy)]
pub struct DictEntries {
    first: *const *mut ffi::PyObject,
    len: usize,
    /// Words per entry, and the key's word in it (the value's is the next).
    stride: usize,
    key: usize,
}

impl DictEntries {
    /// `None` for a split table (an instance's `__dict__`) or an unknown kind of keys: walk
    /// those with `PyDict_Next`.
    ///
    /// # Safety
    /// GIL held; `d` is a live exact dict, and nothing may change it while the entries are read.
    pub unsafe fn of(d: *mut ffi::PyObject) -> Option<DictEntries> {
        // SAFETY: guaranteed by the caller; the offsets are those of the dict's own structs.
        unsafe {
            let d = d as *const u8;
            if !read::<*const c_void>(d, DICT_VALUES).is_null() {
                return None;
            }
            let keys = read::<*const u8>(d, DICT_KEYS);
            let (stride, key) = match read::<u8>(keys, KEYS_KIND) {
                KEYS_GENERAL => (3, 1),
                KEYS_UNICODE => (2, 0),
                _ => return None,
            };
            let index_bytes = 1usize << read::<u8>(keys, KEYS_LOG2_INDEX_BYTES);
            let len = usize::try_from(read::<isize>(keys, KEYS_NENTRIES)).ok()?;
            Some(DictEntries {
                first: keys.add(KEYS_INDICES + index_bytes) as *const *mut ffi::PyObject,
                len,
                stride,
                key,
            })
        }
    }

    /// Entries used so far, deleted ones included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Entry `i`'s key and value; the value is null for a deleted entry.
    ///
    /// # Safety
    /// As [`DictEntries::of`], with the dict unchanged since; `i < len()`.
    #[inline]
    pub unsafe fn get(&self, i: usize) -> (*mut ffi::PyObject, *mut ffi::PyObject) {
        // SAFETY: guaranteed by the caller: the entry lies inside the live table.
        unsafe {
            let e = self.first.add(i * self.stride + self.key);
            (*e, *e.add(1))
        }
    }
}

/// Calls `f` with each entry (key, value) of the exact dict `d`, in the order `PyDict_Next`
/// walks them: read from the entry table in place when it is a combined one ([`DictEntries`]),
/// else with `PyDict_Next`. Stops when `f` returns false; returns whether the walk went to the
/// end.
///
/// # Safety
/// GIL held; `d` is a live exact dict; `f` runs no Python code and does not change the dict
/// (either could resize it and free the table being read).
#[inline]
pub unsafe fn each_entry(
    d: *mut ffi::PyObject,
    mut f: impl FnMut(*mut ffi::PyObject, *mut ffi::PyObject) -> bool,
) -> bool {
    // SAFETY: guaranteed by the caller; the table's address and length are read once.
    unsafe {
        if let Some(table) = DictEntries::of(d) {
            for i in 0..table.len() {
                let (k, v) = table.get(i);
                if !v.is_null() && !f(k, v) {
                    return false;
                }
            }
        } else {
            let (mut pos, mut k, mut v) = (0, ptr::null_mut(), ptr::null_mut());
            while ffi::PyDict_Next(d, &mut pos, &mut k, &mut v) != 0 {
                if !f(k, v) {
                    return false;
                }
            }
        }
        true
    }
}

/// The object pointer stored at `offset` in `obj` (null when unset): a member's or a slot's.
///
/// # Safety
/// GIL held; `obj` is live and `offset` is an object pointer field of its type.
#[inline]
pub unsafe fn object_at(obj: *mut ffi::PyObject, offset: isize) -> *mut ffi::PyObject {
    // SAFETY: guaranteed by the caller.
    unsafe { *obj.cast::<u8>().offset(offset).cast::<*mut ffi::PyObject>() }
}

unsafe extern "C" {
    /// CPython 3.12+ unstable API (`cpython/object.h`): gives `t` a valid version tag if it has
    /// none (as any attribute lookup on it would); 0 when CPython has no tag left to give.
    fn PyUnstable_Type_AssignVersionTag(t: *mut ffi::PyTypeObject) -> c_int;
}

/// `t`'s version tag, assigned now if it has none yet; `None` when CPython cannot give it one.
/// A type gets a new tag whenever it is modified, and tags are never reused.
///
/// # Safety
/// GIL held; `t` is a live type.
pub unsafe fn type_version(t: *mut ffi::PyTypeObject) -> Option<u32> {
    // SAFETY: guaranteed by the caller; reading and assigning a live type's tag.
    unsafe {
        if (*t).tp_flags & ffi::Py_TPFLAGS_VALID_VERSION_TAG == 0
            && PyUnstable_Type_AssignVersionTag(t) == 0
        {
            return None;
        }
        Some((*t).tp_version_tag).filter(|&tag| tag != 0)
    }
}

/// A version of what `type.__repr__` and `object.__repr__` read from `t`: its `__module__` and
/// `__qualname__`. The version tag covers `__module__` (setting it modifies the type), but on
/// 3.13 assigning `__qualname__` keeps the tag, so a heap type's qualname text is folded in by
/// its string hash (cached in the string; an exact `str` never runs Python to hash). `None`
/// when there is no tag or the qualname is not an exact `str`.
///
/// # Safety
/// GIL held; `t` is a live type.
pub unsafe fn type_repr_version(t: *mut ffi::PyTypeObject) -> Option<u64> {
    // SAFETY: guaranteed by the caller; `ht_qualname` is read only from a heap type.
    unsafe {
        let tag = u64::from(type_version(t)?);
        if (*t).tp_flags & ffi::Py_TPFLAGS_HEAPTYPE == 0 {
            // A static type's name is fixed at compile time.
            return Some(tag);
        }
        let qualname = (*t.cast::<ffi::PyHeapTypeObject>()).ht_qualname;
        if qualname.is_null() || ffi::PyUnicode_CheckExact(qualname) == 0 {
            return None;
        }
        let hash = ffi::PyObject_Hash(qualname);
        if hash == -1 {
            ffi::PyErr_Clear();
            return None;
        }
        Some(hash as u64 ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

/// `Py_XINCREF`, inline: what `Py_IncRef` does, without the call into the interpreter.
///
/// # Safety
/// GIL held; `o` is null or live.
#[inline(always)]
pub unsafe fn incref(o: *mut ffi::PyObject) {
    if !o.is_null() {
        // SAFETY: guaranteed by the caller.
        unsafe { ffi::Py_INCREF(o) }
    }
}

/// `Py_XDECREF`, inline: what `Py_DecRef` does, without the call into the interpreter.
///
/// # Safety
/// GIL held; `o` is null or a live object the caller holds a reference to.
#[inline(always)]
pub unsafe fn decref(o: *mut ffi::PyObject) {
    if !o.is_null() {
        // SAFETY: guaranteed by the caller.
        unsafe { ffi::Py_DECREF(o) }
    }
}

/// Whether `code` is really a code object (`PyCode_Type`).
///
/// # Safety
/// `code` is a live object (GIL held).
pub unsafe fn is_code(code: *mut ffi::PyObject) -> bool {
    // SAFETY: reading an object's type is always valid for a live object.
    unsafe { ffi::Py_TYPE(code) == &raw mut ffi::PyCode_Type }
}

thread_local! {
    /// What the probe saw: (frame code, localsplus[0], co_flags, co_firstlineno, co_nlocalsplus,
    /// co_qualname, frame_obj).
    static PROBE: Cell<Option<[usize; 7]>> = const { Cell::new(None) };
    static PROBE_LAYOUT: Cell<Option<Layout>> = const { Cell::new(None) };
}

/// The native probe: reads its caller's frame through the table under test.
unsafe extern "C" fn probe(
    _slf: *mut ffi::PyObject,
    _args: *mut *mut ffi::PyObject,
    _nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    if let Some(layout) = PROBE_LAYOUT.with(Cell::get) {
        // SAFETY: called by CPython with the GIL held; a builtin call pushes no frame, so the
        // current frame is the Python function that called the probe. Every read stays inside
        // the frame and code object if the table is right; a wrong table is what this detects,
        // and the reads are limited to the first 200 bytes of objects at least that large.
        let seen = unsafe {
            let frame = layout.current_frame();
            if frame.is_null() {
                None
            } else {
                let code = frame_code(frame) as *const u8;
                let local0: usize = read(frame, FRAME_LOCALSPLUS);
                Some([
                    code as usize,
                    local0,
                    read::<c_int>(code, CODE_FLAGS) as usize,
                    read::<c_int>(code, CODE_FIRSTLINENO) as usize,
                    read::<c_int>(code, CODE_NLOCALSPLUS) as usize,
                    read::<usize>(code, CODE_QUALNAME),
                    read::<usize>(frame, FRAME_OBJECT),
                ])
            }
        };
        PROBE.with(|p| p.set(seen));
    }
    // SAFETY: returning a new reference to None.
    unsafe {
        let none = ffi::Py_None();
        ffi::Py_IncRef(none);
        none
    }
}

/// Refuses builds whose object layout differs (debug `Py_TRACE_REFS`, free-threaded), then runs
/// the probe from a known function and compares what the table reads with the truth.
pub fn self_check(py: Python<'_>, layout: Layout) -> Result<(), RecorderError> {
    let unsupported = |reason: String| RecorderError::UnsupportedPython {
        version: Python::version_str()
            .split_whitespace()
            .next()
            .unwrap_or("?")
            .into(),
        reason,
    };
    // Told by `sys` rather than `sysconfig`, whose import (threading, its config data) was a tenth
    // of `pyttd record`'s start-up: `sys.getobjects` exists only in `Py_TRACE_REFS` builds, and
    // a free-threaded build's ABI flags hold `t`.
    let sys = py.import("sys").map_err(|e| unsupported(e.to_string()))?;
    let trace_refs = sys.hasattr("getobjects").unwrap_or(false);
    let abiflags: String = sys
        .getattr("abiflags")
        .and_then(|f| f.extract())
        .unwrap_or_default();
    for (var, built) in [
        ("Py_TRACE_REFS", trace_refs),
        ("Py_GIL_DISABLED", abiflags.contains('t')),
    ] {
        if built {
            return Err(unsupported(format!(
                "interpreters built with {var} are not supported"
            )));
        }
    }

    let func = native_function(py, c"_pyttd_layout_probe", probe)
        .map_err(|e| unsupported(e.to_string()))?;

    let globals = PyDict::new(py);
    let check = || -> PyResult<Result<(), String>> {
        globals.set_item("probe", &func)?;
        globals.set_item("getframe", py.import("sys")?.getattr("_getframe")?)?;
        py.run(
            c"def pyttd_layout_check(argument):\n    frame = getframe()\n    probe()\n    return frame\n",
            Some(&globals),
            None,
        )?;
        let target = globals
            .get_item("pyttd_layout_check")?
            .expect("defined above");
        let code = target.getattr("__code__")?;
        let argument = PyTuple::new(py, [1234567u64])?;
        PROBE_LAYOUT.with(|p| p.set(Some(layout)));
        PROBE.with(|p| p.set(None));
        let result = target.call1((&argument,));
        PROBE_LAYOUT.with(|p| p.set(None));
        let frame = result?;
        let Some(seen) = PROBE.with(Cell::get) else {
            return Ok(Err("no current frame found".into()));
        };
        let flags: usize = code.getattr("co_flags")?.extract()?;
        let firstlineno: usize = code.getattr("co_firstlineno")?.extract()?;
        let qualname = code.getattr("co_qualname")?;
        let expected = [
            ("the frame's code", code.as_ptr() as usize, seen[0]),
            ("the first local", argument.as_ptr() as usize, seen[1]),
            ("co_flags", flags, seen[2]),
            ("co_firstlineno", firstlineno, seen[3]),
            ("co_nlocalsplus", 2, seen[4]),
            ("co_qualname", qualname.as_ptr() as usize, seen[5]),
            ("frame_obj", frame.as_ptr() as usize, seen[6]),
        ];
        if let Some((what, _, _)) = expected.iter().find(|(_, want, got)| want != got) {
            return Ok(Err(format!(
                "the frame layout does not match ({what} differs)"
            )));
        }
        // `_co_firsttraceable` indexes the code's first RESUME instruction.
        // SAFETY: `code` is a live code object; the offset is checked right here.
        let first = unsafe { layout.first_traceable(code.as_ptr()) } as usize;
        let co_code: Vec<u8> = code.getattr("co_code")?.extract()?;
        let resume: u8 = py
            .import("opcode")?
            .getattr("opmap")?
            .get_item("RESUME")?
            .extract()?;
        if co_code.get(2 * first) != Some(&resume) {
            return Ok(Err(
                "the code layout does not match (_co_firsttraceable)".into()
            ));
        }
        // Dicts with str keys only, with other keys, and with deleted entries: the entry table
        // read directly must hold what `items()` says, in its order.
        let dicts = py.eval(
            c"[{'a': 1, 'b': 2, 'c': 3}, {1: 'x', 'y': 2.5}, \
               (lambda d: (d.pop('b'), d)[1])({'a': 1, 'b': 2, 'c': 3})]",
            None,
            None,
        )?;
        for d in dicts.try_iter()? {
            let d = d?;
            let want: Vec<(usize, usize)> = d
                .call_method0("items")?
                .try_iter()?
                .map(|kv| {
                    let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = kv?.extract()?;
                    Ok((k.as_ptr() as usize, v.as_ptr() as usize))
                })
                .collect::<PyResult<_>>()?;
            // SAFETY: `d` is a live exact dict that nothing changes while it is read.
            let got: Option<Vec<(usize, usize)>> = unsafe {
                DictEntries::of(d.as_ptr()).map(|e| {
                    (0..e.len())
                        .map(|i| e.get(i))
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k as usize, v as usize))
                        .collect()
                })
            };
            if got.as_ref() != Some(&want) {
                return Ok(Err("the dict layout does not match".into()));
            }
        }
        // An exception raised here must be what the thread state's field holds, and clearing
        // it must empty the field.
        // SAFETY: GIL held; the probe exception is set, fetched (a new reference, released
        // below) and so cleared again before anything else runs; a pending one is fetched
        // first and handed back (`PyErr_SetRaisedException` takes its reference).
        let exception_found = unsafe {
            let tstate = thread_state();
            let field = tstate.0.add(layout.tstate_exception) as *const *mut ffi::PyObject;
            // One already set (none is, where this runs) is put back afterwards.
            let pending = ffi::PyErr_GetRaisedException();
            let before = (*field).is_null();
            ffi::PyErr_SetString(ffi::PyExc_ValueError, c"pyttd layout probe".as_ptr());
            let seen = *field;
            let raised = ffi::PyErr_GetRaisedException();
            let found = before && !raised.is_null() && seen == raised && (*field).is_null();
            ffi::Py_XDECREF(raised);
            if !pending.is_null() {
                ffi::PyErr_SetRaisedException(pending);
            }
            found
        };
        if !exception_found {
            return Ok(Err(
                "the thread state layout does not match (current_exception)".into(),
            ));
        }
        Ok(Ok(()))
    };
    match check() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(reason)) => Err(unsupported(format!(
            "{reason}; this Python release is not supported yet"
        ))),
        Err(e) => Err(unsupported(e.to_string())),
    }
}

/// Leaked `PyMethodDef`s live forever; so do the raw pointers handed to CPython here.
pub type RawCallback = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *mut *mut ffi::PyObject,
    ffi::Py_ssize_t,
) -> *mut ffi::PyObject;

/// A builtin function object calling `callback` with `METH_FASTCALL`.
pub fn native_function<'py>(
    py: Python<'py>,
    name: &'static std::ffi::CStr,
    callback: RawCallback,
) -> PyResult<Bound<'py, PyAny>> {
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFast: callback,
        },
        ml_flags: ffi::METH_FASTCALL,
        ml_doc: ptr::null(),
    }));
    // SAFETY: `def` is leaked, so it outlives the function object; GIL held.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyCFunction_NewEx(def, ptr::null_mut(), ptr::null_mut()),
        )
    }
}

/// The per-code extra slot (`PyUnstable_Code_{Get,Set}Extra`), owning a `Box<T>`.
#[derive(Debug, Clone, Copy)]
pub struct CodeExtra {
    index: ffi::Py_ssize_t,
    /// Offset of `co_extra` in `PyCodeObject`.
    offset: usize,
}

/// `_PyCodeObjectExtra`, what `co_extra` points to (the same in 3.12 and 3.13).
#[repr(C)]
struct CodeObjectExtra {
    ce_size: ffi::Py_ssize_t,
    ce_extras: [*mut c_void; 1],
}

impl CodeExtra {
    /// Requests an index whose values CPython frees with `free` when the code object dies, and
    /// checks that `layout`'s `co_extra` offset reads what CPython's own accessor reads.
    pub fn request(
        py: Python<'_>,
        layout: Layout,
        free: ffi::freefunc,
    ) -> Result<CodeExtra, String> {
        // SAFETY: GIL held (`py`); `free` is a plain function.
        let index = unsafe { ffi::PyUnstable_Eval_RequestCodeExtraIndex(free) };
        if index < 0 {
            return Err("no free code extra index".into());
        }
        // `co_extra` is the pointer after `_co_firsttraceable` (an int) in 3.12 and 3.13.
        let extra = CodeExtra {
            index,
            offset: (layout.code_first_traceable + 4).next_multiple_of(8),
        };
        extra.check(py)?;
        Ok(extra)
    }

    /// Stores a marker in a fresh code object's slot through CPython's setter and reads it back
    /// both ways. The marker is then cleared in place: the setter would hand it to `free`.
    fn check(self, py: Python<'_>) -> Result<(), String> {
        let code = py
            .eval(c"(lambda: None).__code__", None, None)
            .map_err(|e| format!("cannot compile the code extra probe: {e}"))?;
        let code = code.as_ptr();
        let mut marker = 0u8;
        let marker = (&raw mut marker).cast::<c_void>();
        // SAFETY: GIL held; `code` is a live code object (held by the binding above), its slot
        // empty (fresh), and the index was handed out by CPython.
        unsafe {
            if !self.set(code, marker) {
                return Err("cannot store per-code state".into());
            }
            let mut api = ptr::null_mut();
            if ffi::PyUnstable_Code_GetExtra(code, self.index, &mut api) != 0 {
                ffi::PyErr_Clear();
            }
            match self.slot(code) {
                Some(slot) if api == marker && *slot == marker => {
                    *slot = ptr::null_mut();
                    Ok(())
                }
                _ => {
                    // The marker stays where CPython put it: keep the code object alive, so
                    // `free` never sees it.
                    ffi::Py_IncRef(code);
                    Err("co_extra is not where this version keeps it".into())
                }
            }
        }
    }

    /// Where `code`'s slot for this index is, if it has one.
    ///
    /// # Safety
    /// GIL held; `code` is a live code object.
    #[inline]
    unsafe fn slot(self, code: *mut ffi::PyObject) -> Option<*mut *mut c_void> {
        // SAFETY: `co_extra` at the offset checked by `request`: null or a `_PyCodeObjectExtra`
        // with `ce_size` slots, which only GIL holders change.
        unsafe {
            let extra = read::<*mut CodeObjectExtra>(code as *const u8, self.offset);
            if extra.is_null() || (*extra).ce_size <= self.index {
                return None;
            }
            Some(
                (&raw mut (*extra).ce_extras)
                    .cast::<*mut c_void>()
                    .add(self.index as usize),
            )
        }
    }

    /// The pointer stored in `code`'s slot, or null: read in place (CPython's accessor asks the
    /// thread state for the interpreter's index count at every call).
    ///
    /// # Safety
    /// GIL held; `code` is a live code object.
    #[inline]
    pub unsafe fn get(self, code: *mut ffi::PyObject) -> *mut c_void {
        // SAFETY: guaranteed by the caller.
        match unsafe { self.slot(code) } {
            // SAFETY: a slot of a live code object.
            Some(slot) => unsafe { *slot },
            None => ptr::null_mut(),
        }
    }

    /// Stores `value` in `code`'s slot (the previous value is freed by the caller).
    ///
    /// # Safety
    /// GIL held; `code` is a live code object; `value` is what the free function expects.
    pub unsafe fn set(self, code: *mut ffi::PyObject, value: *mut c_void) -> bool {
        // SAFETY: guaranteed by the caller.
        let ok = unsafe { ffi::PyUnstable_Code_SetExtra(code, self.index, value) } == 0;
        if !ok {
            // SAFETY: GIL held.
            unsafe { ffi::PyErr_Clear() };
        }
        ok
    }
}

/// The version tag of a dict (PEP 509; kept by CPython 3.12 and 3.13): a new one from a global
/// counter at every mutation and at creation, so a tag names one dict in one state.
///
/// # Safety
/// GIL held; `d` is a live dict.
pub(crate) unsafe fn dict_version(d: *mut ffi::PyObject) -> u64 {
    // SAFETY: guaranteed by the caller.
    #[allow(deprecated)]
    unsafe {
        (*d.cast::<ffi::PyDictObject>()).ma_version_tag
    }
}
