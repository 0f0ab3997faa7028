//! The `repr()` of the objects `open()` returns, built here, and their repr stamps (DESIGN.md
//! 5.6): an `_io.TextIOWrapper` over an `_io.Buffered{Reader,Writer,Random}` over an
//! `_io.FileIO`, and such a buffered object alone.
//!
//! Their `repr()` (`<_io.TextIOWrapper name='data.txt' mode='r' encoding='utf-8'>`) is C code
//! that looks `name` up through the buffer and the raw file, and formats three texts: about 8,000
//! instructions, at every event of every frame holding an open file (a `with open(...) as f`
//! block, a generator over `f`). What it reads is few, fixed places, all reachable without
//! running Python code:
//! - `name`: a getset of the text and buffered types (their types are immutable: no class or
//!   instance attribute can shadow it) that reads the buffer's raw file's `name`, which `FileIO`
//!   keeps in its instance dict (its classes define no `name`); not shown when absent;
//! - `mode`: the text object's instance dict (no class in its MRO defines `mode`);
//! - `encoding`: the text object's `encoding` member.
//!
//! [`repr`] formats those parts as `_io` does (a name that is not an exact ASCII `str` or a small
//! `int`, a detached or uninitialized object, anything unexpected: the real `repr()` runs).
//! [`stamp`] hashes the text of the encoding and of the raw file's `name`, and the address and
//! version tag of the object's dict (a new tag from a global counter at every mutation and
//! creation: a tag names one dict in one state, so the same tag means the same `mode` object,
//! held by the dict all along). That tag also covers the object's children (its dict's entries,
//! `expand::items`) when every value in it is an exact `str`, `bytes`, `int`, `float`, `bool` or
//! `None`: immutable, with no children of its own. What the dicts hold is read once per pair of
//! states of the two dicts, not at every event. The stamp is only compared for the same address
//! (`values::unchanged`), like every repr stamp; it does not change when the file is closed (the
//! raw file's dict gains `__IOBase_closed`, which the repr does not show).
//!
//! Both also read each object's `ok` field (initialized): an `__init__` called again that fails
//! leaves the other fields in place, and the real `repr()` then raises (a text object) or leaves
//! the name out (a buffered one). Its offset is not published; [`init`] checks it on a fresh and
//! an initialized object of each type, and without that no file object is handled here.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::prelude::*;
use pyo3_ffi as ffi;

use crate::{cpython, render};

/// The `_io` types and the member offsets the stamps read.
struct FileTypes {
    text: usize,
    /// `TextIOWrapper.buffer` and `TextIOWrapper.encoding`.
    text_buffer: isize,
    text_encoding: isize,
    /// The `ok` field (an `int`: initialized) of the text object, and of each buffered type below.
    text_ok: isize,
    /// `BufferedReader`, `BufferedWriter`, `BufferedRandom`, each with its `raw` member's offset
    /// and its `ok` field's.
    buffered: [(usize, isize, isize); 3],
    file_io: usize,
}

static FILE_TYPES: OnceLock<Option<FileTypes>> = OnceLock::new();

/// Looks the `_io` types up (once per process). Without them, no file object gets a stamp.
pub(crate) fn init(py: Python<'_>) {
    FILE_TYPES.get_or_init(|| find(py).ok().flatten());
}

fn find(py: Python<'_>) -> PyResult<Option<FileTypes>> {
    let io = py.import("_io")?;
    let ty =
        |name: &str| -> PyResult<*mut ffi::PyTypeObject> { Ok(io.getattr(name)?.as_ptr().cast()) };
    let text = ty("TextIOWrapper")?;
    let file_io = ty("FileIO")?;
    // SAFETY: GIL held; the types are live type objects (held by the `_io` module), whose
    // fields and member tables are read.
    let types = unsafe {
        let mut buffered = [(0usize, 0isize, 0isize); 3];
        for (slot, name) in
            buffered
                .iter_mut()
                .zip(["BufferedReader", "BufferedWriter", "BufferedRandom"])
        {
            let t = ty(name)?;
            let Some(raw) = member_offset(t, c"raw") else {
                return Ok(None);
            };
            // `ok` follows `raw` (`buffered` in bufferedio.c), checked below.
            *slot = (t as usize, raw, raw + std::mem::size_of::<usize>() as isize);
        }
        let usable = [text, file_io]
            .into_iter()
            .chain(
                buffered
                    .iter()
                    .map(|&(t, _, _)| t as *mut ffi::PyTypeObject),
            )
            .all(|t| (*t).tp_flags & ffi::Py_TPFLAGS_IMMUTABLETYPE != 0 && (*t).tp_dictoffset > 0);
        match (
            member_offset(text, c"buffer"),
            member_offset(text, c"encoding"),
        ) {
            (Some(text_buffer), Some(text_encoding)) if usable => FileTypes {
                text: text as usize,
                text_buffer,
                text_encoding,
                // The first field after the object header (`textio` in textio.c), checked below.
                text_ok: std::mem::size_of::<ffi::PyObject>() as isize,
                buffered,
                file_io: file_io as usize,
            },
            _ => return Ok(None),
        }
    };
    // Each `ok` offset reads 0 in a fresh object and 1 in an opened one.
    let bytes_io = io.getattr("BytesIO")?;
    let text_ok = (types.text, types.text_ok);
    for (t, ok) in std::iter::once(text_ok).chain(types.buffered.iter().map(|&(t, _, ok)| (t, ok)))
    {
        // SAFETY: GIL held; `t` is a live type object (held by the `_io` module).
        let (ty, inside) = unsafe {
            let t = t as *mut ffi::PyTypeObject;
            (
                Bound::from_borrowed_ptr(py, t.cast()),
                ok as usize + std::mem::size_of::<std::ffi::c_int>() <= (*t).tp_basicsize as usize,
            )
        };
        let fresh = ty.call_method1("__new__", (&ty,))?;
        // An explicit encoding: without one, `-X warn_default_encoding` would print a warning
        // on the program's stderr.
        let opened = if t == types.text {
            ty.call1((bytes_io.call0()?, "utf-8"))?
        } else {
            ty.call1((bytes_io.call0()?,))?
        };
        // SAFETY: `ok` lies within the objects' basic size (checked first); both are live.
        if !inside || unsafe { (int_at(fresh.as_ptr(), ok), int_at(opened.as_ptr(), ok)) } != (0, 1)
        {
            return Ok(None);
        }
    }
    Ok(Some(types))
}

/// `T_OBJECT` (`_Py_T_OBJECT`, deprecated in favour of `Py_T_OBJECT_EX` but what `_io`'s members
/// use): an object member that reads as `None` when unset.
const T_OBJECT: std::ffi::c_int = 6;

/// The offset of `t`'s object member `name` (a `PyMemberDef` of `t` itself).
///
/// # Safety
/// GIL held; `t` is a live type object.
unsafe fn member_offset(t: *mut ffi::PyTypeObject, name: &std::ffi::CStr) -> Option<isize> {
    // SAFETY: guaranteed by the caller; the member table ends with a null name.
    unsafe {
        let mut m = (*t).tp_members;
        while !m.is_null() && !(*m).name.is_null() {
            if std::ffi::CStr::from_ptr((*m).name) == name
                && matches!((*m).type_code, T_OBJECT | ffi::Py_T_OBJECT_EX)
            {
                return Some((*m).offset);
            }
            m = m.add(1);
        }
        None
    }
}

/// What the `repr()` of a file object reads (see the module's documentation), every pointer
/// borrowed from `obj`.
struct Parts {
    /// The type's name (`_io.TextIOWrapper`, `_io.BufferedReader`, ...).
    type_name: &'static std::ffi::CStr,
    /// Every value in the object's instance dict is an immutable scalar or text.
    plain: bool,
    /// The raw file's `name`: an exact `str` or `int`; null when it has none (then not shown).
    name: *mut ffi::PyObject,
    /// A text object's `mode` (its dict's entry: an exact `str`, null when absent) and encoding
    /// (an exact `str`); both null for a buffered object.
    mode: *mut ffi::PyObject,
    encoding: *mut ffi::PyObject,
    text: bool,
}

/// The objects a file object's `repr()` reads from, found without looking into a dict, every
/// pointer borrowed from `obj`.
struct Chain {
    /// The object's instance dict (null: none yet).
    dict: *mut ffi::PyObject,
    /// The raw file's instance dict (null: none).
    raw_dict: *mut ffi::PyObject,
    /// A text object's encoding (an exact `str`); null for a buffered object.
    encoding: *mut ffi::PyObject,
    text: bool,
}

/// The chain of `obj` when it is a file object of the shape above (before what its dicts hold
/// is checked: [`parts`]), else `None`.
///
/// # Safety
/// GIL held; `obj` is live. The pointers are borrowed: no Python code may run while they are
/// used.
unsafe fn chain(obj: *mut ffi::PyObject) -> Option<Chain> {
    let types = FILE_TYPES.get()?.as_ref()?;
    // SAFETY: guaranteed by the caller; every field read follows its exact-type check, at an
    // offset the type itself publishes (member table, `tp_dictoffset`).
    unsafe {
        let ty = ffi::Py_TYPE(obj);
        let t = ty as usize;
        if t != types.text && !types.buffered.iter().any(|&(b, _, _)| b == t) {
            return None;
        }
        let text = t == types.text;
        // An object whose `__init__` failed (or never ran) is not initialized: its `repr()`
        // raises or leaves the name out, whatever its other fields still hold.
        if text && int_at(obj, types.text_ok) <= 0 {
            return None;
        }
        let dict = cpython::object_at(obj, (*ty).tp_dictoffset);
        if !dict.is_null() && ffi::PyDict_CheckExact(dict) == 0 {
            return None;
        }
        let (buffer, encoding) = if text {
            let encoding = cpython::object_at(obj, types.text_encoding);
            if encoding.is_null() || ffi::PyUnicode_CheckExact(encoding) == 0 {
                return None;
            }
            (cpython::object_at(obj, types.text_buffer), encoding)
        } else {
            (obj, std::ptr::null_mut())
        };
        // A detached text object (null buffer) shows no name: its repr runs.
        if buffer.is_null() {
            return None;
        }
        let tb = ffi::Py_TYPE(buffer) as usize;
        let &(_, raw_offset, ok) = types.buffered.iter().find(|&&(b, _, _)| b == tb)?;
        if int_at(buffer, ok) <= 0 {
            return None;
        }
        let raw = cpython::object_at(buffer, raw_offset);
        if raw.is_null() || ffi::Py_TYPE(raw) as usize != types.file_io {
            return None;
        }
        let raw_dict = cpython::object_at(raw, (*ffi::Py_TYPE(raw)).tp_dictoffset);
        if !raw_dict.is_null() && ffi::PyDict_CheckExact(raw_dict) == 0 {
            return None;
        }
        Some(Chain {
            dict,
            raw_dict,
            encoding,
            text,
        })
    }
}

/// The parts of `obj` when it is a file object of the shape above, else `None`.
///
/// # Safety
/// GIL held; `obj` is live. The parts are borrowed: no Python code may run while they are used.
unsafe fn parts(obj: *mut ffi::PyObject) -> Option<Parts> {
    // SAFETY: guaranteed by the caller; the dicts are exact dicts (`chain`), scanned without
    // running Python code.
    unsafe {
        let chain = chain(obj)?;
        // The object's dict: its children, and a text object's `mode`.
        let own = scan(chain.dict, c"mode")?;
        let mode = if chain.text {
            own.found
        } else {
            std::ptr::null_mut()
        };
        if !mode.is_null() && ffi::PyUnicode_CheckExact(mode) == 0 {
            return None;
        }
        let name = scan(chain.raw_dict, c"name")?.found;
        if !name.is_null()
            && ffi::PyUnicode_CheckExact(name) == 0
            && ffi::PyLong_CheckExact(name) == 0
        {
            return None;
        }
        Some(Parts {
            type_name: std::ffi::CStr::from_ptr((*ffi::Py_TYPE(obj)).tp_name),
            plain: own.plain,
            name,
            mode,
            encoding: chain.encoding,
            text: chain.text,
        })
    }
}

/// What [`scan`] found in an instance dict.
struct Scan {
    /// The value of the entry asked for (null when the dict is null or has none).
    found: *mut ffi::PyObject,
    /// Every value in the dict is an immutable scalar, text or `bytes`.
    plain: bool,
}

/// Looks for the entry `key` in the instance dict `d` (null: none) and checks its values; `None`
/// when `d` is large or has a key that is not an exact `str` (finding the entry could then run
/// Python code: a key's `__eq__`).
///
/// # Safety
/// GIL held; `d` is null or a live exact dict.
unsafe fn scan(d: *mut ffi::PyObject, key: &std::ffi::CStr) -> Option<Scan> {
    let mut scan = Scan {
        found: std::ptr::null_mut(),
        plain: true,
    };
    if d.is_null() {
        return Some(scan);
    }
    let key = key.to_bytes();
    // SAFETY: guaranteed by the caller; the walk runs no Python code, so the dict stays as it is.
    unsafe {
        if ffi::PyDict_Size(d) > MAX_ENTRIES {
            return None;
        }
        let exact_str_keys = cpython::each_entry(d, |k, v| {
            if ffi::PyUnicode_CheckExact(k) == 0 {
                return false;
            }
            if render::ascii(k).is_some_and(|k| k.as_bytes() == key) {
                scan.found = v;
            }
            // Immutable, with no children of its own: a plain scalar or text, or `bytes`.
            scan.plain &= render::is_plain(v) || ffi::PyBytes_CheckExact(v) != 0;
            true
        });
        exact_str_keys.then_some(scan)
    }
}

/// The repr stamp of `obj` when it is a file object of the shape above, else `None`: its type,
/// the address and version tag of its dict (its children and its `mode`: a tag names one dict in
/// one state, so the same tag means the same entries, held by the dict all along), its
/// encoding's text and its raw file's `name`'s. Every value in its own dict must be an immutable
/// scalar or text, with no children of its own. What the dicts hold is read once per pair of
/// dict states ([`VERIFIED`], which keeps the name's hash), not at every event.
///
/// # Safety
/// GIL held; `obj` is live.
pub(crate) unsafe fn stamp(obj: *mut ffi::PyObject) -> Option<u64> {
    // SAFETY: guaranteed by the caller; the chain is read at once, no Python code running.
    unsafe {
        let chain = chain(obj)?;
        let key = [
            chain.dict as usize,
            dict_tag(chain.dict),
            chain.raw_dict as usize,
            dict_tag(chain.raw_dict),
        ];
        let slot = &VERIFIED[(key[1] ^ key[3].rotate_left(17)) % VERIFIED.len()];
        let known = slot[..4]
            .iter()
            .zip(key)
            .all(|(kept, k)| kept.load(Ordering::Relaxed) == k);
        let name = if known {
            slot[4].load(Ordering::Relaxed) as u64
        } else {
            let p = parts(obj)?;
            if !p.plain {
                return None;
            }
            let mut h = foldhash::fast::FixedState::default().build_hasher();
            hash_content(p.name, &mut h)?;
            let name = h.finish();
            for (kept, k) in slot.iter().zip(key.into_iter().chain([name as usize])) {
                kept.store(k, Ordering::Relaxed);
            }
            name
        };
        let mut h = foldhash::fast::FixedState::default().build_hasher();
        h.write_usize(ffi::Py_TYPE(obj) as usize);
        h.write_usize(key[0]);
        h.write_usize(key[1]);
        h.write_u64(name);
        hash_content(chain.encoding, &mut h)?;
        Some(h.finish())
    }
}

/// Pairs of dict states (address and version tag of a file object's dict, then of its raw
/// file's) whose entries [`parts`] found stampable, with the hash of the raw file's `name` in
/// the second state. Read and written with the GIL held; a slot's words are compared together.
static VERIFIED: [[AtomicUsize; 5]; 64] = [const { [const { AtomicUsize::new(0) }; 5] }; 64];

/// The version tag of the dict `d` (0 for null).
///
/// # Safety
/// GIL held; `d` is null or a live dict.
unsafe fn dict_tag(d: *mut ffi::PyObject) -> usize {
    if d.is_null() {
        return 0;
    }
    // SAFETY: guaranteed by the caller.
    unsafe { cpython::dict_version(d) as usize }
}

/// Adds what `obj` (null, an exact `str` or an exact `int`) shows to `h`.
///
/// # Safety
/// GIL held; `obj` is null or live.
unsafe fn hash_content(obj: *mut ffi::PyObject, h: &mut impl Hasher) -> Option<()> {
    // SAFETY: guaranteed by the caller; a str's canonical representation is read in place.
    unsafe {
        if obj.is_null() {
            h.write_u8(0);
        } else if ffi::PyUnicode_CheckExact(obj) != 0 {
            let len = ffi::PyUnicode_GET_LENGTH(obj) as usize;
            let kind = ffi::PyUnicode_KIND(obj) as usize;
            h.write_u8(1);
            h.write_usize(kind);
            h.write(std::slice::from_raw_parts(
                ffi::PyUnicode_DATA(obj) as *const u8,
                len * kind,
            ));
        } else {
            h.write_u8(2);
            h.write_i64(cpython::compact_int(obj)?);
        }
        Some(())
    }
}

/// The `repr()` of `obj`, built here, when it is a file object of the shape above (a new
/// reference), else `None`: `<_io.TextIOWrapper name='f.txt' mode='r' encoding='utf-8'>`,
/// `<_io.BufferedReader name='f.bin'>`, as `_io`'s C code formats them.
///
/// # Safety
/// GIL held; `obj` is live.
pub(crate) unsafe fn repr(obj: *mut ffi::PyObject) -> Option<*mut ffi::PyObject> {
    // SAFETY: guaranteed by the caller; the parts are read at once, no Python code running.
    unsafe {
        let p = parts(obj)?;
        let mut text = String::with_capacity(80);
        text.push('<');
        text.push_str(p.type_name.to_str().ok()?);
        if !p.name.is_null() {
            text.push_str(" name=");
            push_repr(p.name, &mut text)?;
        }
        if p.text {
            if !p.mode.is_null() {
                text.push_str(" mode=");
                push_repr(p.mode, &mut text)?;
            }
            text.push_str(" encoding=");
            push_repr(p.encoding, &mut text)?;
        }
        text.push('>');
        let r = ffi::PyUnicode_FromStringAndSize(text.as_ptr().cast(), text.len() as isize);
        if r.is_null() {
            ffi::PyErr_Clear();
        }
        (!r.is_null()).then_some(r)
    }
}

/// The text [`repr`] builds for `obj`, or `None` when its real `repr()` must run (for tests).
pub fn built_file_repr(obj: &Bound<'_, PyAny>) -> Option<String> {
    init(obj.py());
    // SAFETY: a `Bound` proves the GIL is held and `obj` referenced; `repr` gives a new
    // reference, owned by the `Bound` made from it.
    unsafe {
        let r = repr(obj.as_ptr())?;
        Bound::from_owned_ptr(obj.py(), r).extract().ok()
    }
}

/// Appends `repr(obj)` for an exact ASCII `str` or a compact `int`; `None` for anything else
/// (the real repr runs).
///
/// # Safety
/// GIL held; `obj` is live.
unsafe fn push_repr(obj: *mut ffi::PyObject, out: &mut String) -> Option<()> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if ffi::PyUnicode_CheckExact(obj) != 0 {
            // ASCII only: which other characters `repr()` escapes depends on the Unicode
            // version of the running Python.
            pyttd_format::repr::str_repr(render::ascii(obj)?, usize::MAX, out);
        } else {
            out.push_str(render::decimal(cpython::compact_int(obj)?, &mut [0; 20]));
        }
        Some(())
    }
}

/// The `int` field at `offset` in `obj`.
///
/// # Safety
/// GIL held; `offset` is an `int` field's offset in `obj`'s type (checked at `init`).
unsafe fn int_at(obj: *mut ffi::PyObject, offset: isize) -> std::ffi::c_int {
    // SAFETY: guaranteed by the caller.
    unsafe { *obj.cast::<u8>().offset(offset).cast::<std::ffi::c_int>() }
}

/// Entries looked at in one instance dict; a larger one gets no stamp.
const MAX_ENTRIES: isize = 8;
