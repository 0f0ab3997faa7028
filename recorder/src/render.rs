//! Rendering Python values into plain data on the producer (DESIGN.md 5.6), so the flush thread
//! never touches an object.
//!
//! `None`, `bool`, `int`, `float` and `str` (exact types) become typed values without calling
//! Python. Exact `list`, `tuple`, `dict`, `set` and `frozenset` are rendered here, as CPython's
//! `repr()` writes them, but stop at the text budget instead of rendering everything: a list of a
//! million elements costs as much as its first 256 characters. Their elements use the same fast
//! paths (`repr.rs` for floats and strings); anything else goes through `PyObject_Repr`, which
//! may run the program's `__repr__` (no monitoring event is produced while a callback runs),
//! unless that `__repr__` is one f-string of the object's attributes, which `plan.rs` follows
//! without running it.
//! A failing `repr()` is cleared at once and recorded as `<repr failed: TypeName>`, exactly like
//! a failing `repr()` of the whole value would be (a container's repr fails when an element's
//! does).
//!
//! Strings holding lone surrogates cannot be stored as UTF-8 `str` text: they are recorded as a
//! `repr` of type `str` with CPython's own `repr()` of the string (which escapes them). Text that
//! comes back from an arbitrary `__repr__` with lone surrogates has them written as `\udXXX`.

use std::fmt::Write as _;

use pyo3_ffi as ffi;
use pyttd_format::{ReprValue, Value};

use crate::cpython;
use crate::memo;
use crate::redact::Redactor;
use crate::repr::{float_repr, str_repr_in};

/// What a withheld value shows in a rendered container.
pub const REDACTED: &str = "<redacted>";

/// Characters of text kept per value (SPEC section 6, "Values": 256 by default).
pub const TEXT_CAP: usize = 256;

/// Ints beyond this many bits are not converted to decimal (quadratic in CPython).
const MAX_INT_BITS: i64 = 100_000;

/// Whether `obj` is immortal (never freed, never changes): `(int32)ob_refcnt < 0` on 64-bit
/// CPython 3.12 and 3.13.
///
/// # Safety
/// GIL held; `obj` is live.
#[inline]
pub unsafe fn is_immortal(obj: *mut ffi::PyObject) -> bool {
    // SAFETY: guaranteed by the caller.
    (unsafe { ffi::Py_REFCNT(obj) } as i32) < 0
}

/// `type(obj).__name__` as `tp_name` spells it (the part after the last dot).
///
/// # Safety
/// GIL held; `obj` is live.
pub unsafe fn type_name(obj: *mut ffi::PyObject) -> String {
    // SAFETY: every live object has a type with a NUL-terminated `tp_name`.
    let name = unsafe { std::ffi::CStr::from_ptr((*ffi::Py_TYPE(obj)).tp_name) };
    let name = name.to_string_lossy();
    name.rsplit('.').next().unwrap_or_default().to_string()
}

unsafe extern "C" {
    /// CPython 3.12+ (the versions the recorder supports).
    fn PyErr_GetRaisedException() -> *mut ffi::PyObject;
}

/// Takes the pending exception and returns its type's name (the exception is cleared).
///
/// # Safety
/// GIL held.
unsafe fn take_error() -> String {
    // SAFETY: GIL held.
    unsafe {
        let exc = PyErr_GetRaisedException();
        if exc.is_null() {
            return "SystemError".into();
        }
        let name = type_name(exc);
        cpython::decref(exc);
        name
    }
}

fn failed(type_name: String, error: &str) -> Value {
    Value::from(ReprValue {
        type_name,
        text: format!("<repr failed: {error}>"),
        truncated: false,
        length: None,
        object_id: None,
    })
}

/// A string had a lone surrogate where surrogates are not allowed.
pub(crate) struct Surrogate;

/// Appends the first `max` characters of the `str` object `obj` to `out`; true when it has more.
/// With `escape`, lone surrogates are written as `\udXXX`, otherwise they fail.
///
/// # Safety
/// GIL held; `obj` is a live `str` (exact or subclass).
pub(crate) unsafe fn read_str(
    obj: *mut ffi::PyObject,
    max: usize,
    escape: bool,
    out: &mut String,
) -> Result<bool, Surrogate> {
    // SAFETY: `obj` is a str; KIND/DATA/GET_LENGTH read its canonical representation.
    unsafe {
        let len = ffi::PyUnicode_GET_LENGTH(obj) as usize;
        let n = len.min(max);
        if let Some(text) = ascii(obj) {
            out.push_str(&text[..n]);
            return Ok(len > n);
        }
        let kind = ffi::PyUnicode_KIND(obj);
        let data = ffi::PyUnicode_DATA(obj);
        out.reserve(n);
        for i in 0..n {
            let cp = match kind {
                1 => *(data as *const u8).add(i) as u32,
                2 => *(data as *const u16).add(i) as u32,
                _ => *(data as *const u32).add(i),
            };
            match char::from_u32(cp) {
                Some(c) => out.push(c),
                None if escape => {
                    let _ = write!(out, "\\u{cp:04x}");
                }
                None => return Err(Surrogate),
            }
        }
        Ok(len > n)
    }
}

/// The text of the `str` object `obj` when it is ASCII (one byte per character, stored as is).
///
/// # Safety
/// GIL held; `obj` is a live `str`, and the result is not used after it dies.
pub(crate) unsafe fn ascii<'a>(obj: *mut ffi::PyObject) -> Option<&'a str> {
    // SAFETY: guaranteed by the caller; an ASCII str's data is its `GET_LENGTH` bytes, all
    // below 128, which is valid UTF-8.
    unsafe {
        if ffi::PyUnicode_IS_ASCII(obj) == 0 {
            return None;
        }
        let len = ffi::PyUnicode_GET_LENGTH(obj) as usize;
        let bytes = std::slice::from_raw_parts(ffi::PyUnicode_DATA(obj) as *const u8, len);
        Some(std::str::from_utf8_unchecked(bytes))
    }
}

/// `v` in decimal, written at the end of `buf`.
pub(crate) fn decimal(v: i64, buf: &mut [u8; 20]) -> &str {
    let mut n = v.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    // SAFETY: `buf[at..]` holds only the ASCII digits and sign written above.
    unsafe { std::str::from_utf8_unchecked(&buf[at..]) }
}

/// Bounded output text.
struct Out<'a> {
    text: String,
    chars: usize,
    cap: usize,
    cut: bool,
    redact: &'a Redactor,
}

impl<'a> Out<'a> {
    /// An empty rendering bounded by the text cap.
    fn new(redact: &'a Redactor) -> Self {
        Out {
            // Most container texts are short; sized once, they are not regrown piece by piece.
            text: String::with_capacity(64),
            chars: 0,
            cap: TEXT_CAP,
            cut: false,
            redact,
        }
    }

    fn room(&self) -> usize {
        self.cap - self.chars
    }

    /// Appends as much of `s` as fits.
    fn push(&mut self, s: &str) {
        if self.cut {
            return;
        }
        let room = self.room();
        if s.len() <= room {
            self.text.push_str(s);
            self.chars += if s.is_ascii() {
                s.len()
            } else {
                s.chars().count()
            };
            return;
        }
        for c in s.chars() {
            if self.chars == self.cap {
                self.cut = true;
                return;
            }
            self.text.push(c);
            self.chars += 1;
        }
    }
}

/// Whether `obj` is rendered without running any `repr()`: an exact `None`, `bool`, `int`,
/// `float` or `str`.
///
/// # Safety
/// GIL held; `obj` is live.
#[inline]
pub unsafe fn is_plain(obj: *mut ffi::PyObject) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let t = ffi::Py_TYPE(obj);
        obj == ffi::Py_None()
            || t == &raw mut ffi::PyLong_Type
            || t == &raw mut ffi::PyFloat_Type
            || t == &raw mut ffi::PyUnicode_Type
            || t == &raw mut ffi::PyBool_Type
    }
}

/// The rendering of `obj` when it is `None`, a `bool`, an exact `int` of one digit or an exact
/// `float` (what [`render`] gives for it, read without a call); `None` for anything else.
///
/// # Safety
/// GIL held; `obj` is live.
#[inline]
pub unsafe fn scalar(obj: *mut ffi::PyObject) -> Option<Value> {
    // SAFETY: guaranteed by the caller; each typed read follows its exact-type check.
    unsafe {
        let t = ffi::Py_TYPE(obj);
        if t == &raw mut ffi::PyLong_Type {
            crate::cpython::compact_int(obj).map(Value::Int)
        } else if t == &raw mut ffi::PyFloat_Type {
            Some(Value::Float(ffi::PyFloat_AS_DOUBLE(obj)))
        } else if obj == ffi::Py_None() {
            Some(Value::None)
        } else if t == &raw mut ffi::PyBool_Type {
            Some(Value::Bool(obj == ffi::Py_True()))
        } else {
            None
        }
    }
}

/// Renders one value for a `values` row.
///
/// # Safety
/// GIL held; `obj` is live and the caller holds a reference to it for the duration of the call
/// (rendering may run Python code).
pub unsafe fn render(obj: *mut ffi::PyObject, redact: &Redactor) -> Value {
    // SAFETY: guaranteed by the caller, for every branch.
    unsafe {
        let t = ffi::Py_TYPE(obj);
        if obj == ffi::Py_None() {
            return Value::None;
        }
        if t == &raw mut ffi::PyBool_Type {
            return Value::Bool(obj == ffi::Py_True());
        }
        if t == &raw mut ffi::PyLong_Type {
            return int_value(obj);
        }
        if t == &raw mut ffi::PyFloat_Type {
            return Value::Float(ffi::PyFloat_AS_DOUBLE(obj));
        }
        if t == &raw mut ffi::PyUnicode_Type {
            let mut text = String::new();
            if let Ok(truncated) = read_str(obj, TEXT_CAP, false, &mut text) {
                return Value::Str { text, truncated };
            }
            // Lone surrogates: CPython's repr of a str is C code and escapes them.
        }
        let length = container_len(obj);
        let mut out = Out::new(redact);
        match render_into(obj, &mut out) {
            Ok(()) => Value::from(ReprValue {
                type_name: type_name(obj),
                text: out.text,
                truncated: out.cut,
                length,
                object_id: None,
            }),
            Err(error) => failed(type_name(obj), &error),
        }
    }
}

/// Whether `obj` would render exactly as `cached` does, decided without allocating, for the
/// scalars whose rendering is their value: exact `None`, `bool`, `int` (64-bit), `float` (same
/// bits) and ASCII `str` (same text, not cut). `false` means "render it and compare".
///
/// # Safety
/// GIL held; `obj` is live.
#[inline]
pub unsafe fn renders_as(obj: *mut ffi::PyObject, cached: &Value) -> bool {
    // SAFETY: guaranteed by the caller; each typed read follows its exact-type check.
    unsafe {
        let t = ffi::Py_TYPE(obj);
        match cached {
            Value::Int(n) if t == &raw mut ffi::PyLong_Type => {
                if let Some(v) = crate::cpython::compact_int(obj) {
                    return v == *n;
                }
                let mut overflow = 0;
                let v = ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow);
                if v == -1 && !ffi::PyErr_Occurred().is_null() {
                    ffi::PyErr_Clear();
                    return false;
                }
                overflow == 0 && v == *n
            }
            Value::Float(x) if t == &raw mut ffi::PyFloat_Type => {
                ffi::PyFloat_AS_DOUBLE(obj).to_bits() == x.to_bits()
            }
            Value::Str {
                text,
                truncated: false,
            } if t == &raw mut ffi::PyUnicode_Type => {
                let len = ffi::PyUnicode_GET_LENGTH(obj) as usize;
                len == text.len()
                    && ffi::PyUnicode_KIND(obj) == 1
                    && text.is_ascii()
                    && std::slice::from_raw_parts(ffi::PyUnicode_DATA(obj) as *const u8, len)
                        == text.as_bytes()
            }
            Value::None => obj == ffi::Py_None(),
            Value::Bool(b) => t == &raw mut ffi::PyBool_Type && (obj == ffi::Py_True()) == *b,
            _ => false,
        }
    }
}

/// A stamp of `obj`'s repr for the objects whose repr can only change along with a version
/// CPython keeps: `(type, version)`, `None` for everything else. Equal stamps of the same address
/// mean the same rendering, so such values are not rendered again at every event:
/// - an exact module: its `__dict__`'s version tag. Every dict mutation takes a new tag from a
///   global counter, so a tag names one dict in one state; the repr reads the module's
///   `__name__`, `__spec__`, `__loader__` and `__file__` from that dict. (An attribute of the
///   `__spec__` object itself changing while the dict does not escapes this; DESIGN.md 5.6.)
/// - a class whose metaclass is `type`: [`type_repr_version`](crate::cpython::type_repr_version),
///   its version tag (new whenever the class, its `__module__` included, is modified) with its
///   `__qualname__` text.
/// - a function: its `__qualname__` when that string is immortal (top-level functions); the rest
///   of `<function NAME at 0x...>` is the address itself.
/// - a file object `open()` returns: [`openfiles::stamp`](crate::openfiles::stamp).
///
/// # Safety
/// GIL held; `obj` is live.
pub unsafe fn repr_stamp(obj: *mut ffi::PyObject) -> Option<(usize, u64)> {
    // SAFETY: guaranteed by the caller; each layout read follows its exact-type check.
    unsafe {
        let t = ffi::Py_TYPE(obj);
        if t == &raw mut ffi::PyModule_Type {
            let d = ffi::PyModule_GetDict(obj);
            if d.is_null() {
                ffi::PyErr_Clear();
                return None;
            }
            return Some((t as usize, crate::cpython::dict_version(d)));
        }
        if t == &raw mut ffi::PyType_Type {
            let ty = obj.cast::<ffi::PyTypeObject>();
            return Some((t as usize, crate::cpython::type_repr_version(ty)?));
        }
        if t == &raw mut ffi::PyFunction_Type {
            let qualname = (*obj.cast::<ffi::PyFunctionObject>()).func_qualname;
            if qualname.is_null() || !is_immortal(qualname) {
                return None;
            }
            return Some((t as usize, qualname as u64));
        }
        crate::openfiles::stamp(obj).map(|stamp| (t as usize, stamp))
    }
}

/// `len()` of an exact builtin container (never calls Python).
///
/// # Safety
/// GIL held; `obj` is live.
unsafe fn container_len(obj: *mut ffi::PyObject) -> Option<u64> {
    // SAFETY: guaranteed by the caller; exact-type checks before the typed size reads.
    unsafe {
        if ffi::PyList_CheckExact(obj) != 0 {
            Some(ffi::PyList_GET_SIZE(obj) as u64)
        } else if ffi::PyTuple_CheckExact(obj) != 0 {
            Some(ffi::PyTuple_GET_SIZE(obj) as u64)
        } else if ffi::PyDict_CheckExact(obj) != 0 {
            Some(ffi::PyDict_Size(obj) as u64)
        } else if ffi::PySet_CheckExact(obj) != 0 || ffi::PyFrozenSet_CheckExact(obj) != 0 {
            Some(ffi::PySet_Size(obj) as u64)
        } else {
            None
        }
    }
}

/// An exact `int`: 64-bit, decimal digits, or a marked failure.
///
/// # Safety
/// GIL held; `obj` is a live exact int.
unsafe fn int_value(obj: *mut ffi::PyObject) -> Value {
    // SAFETY: guaranteed by the caller.
    if let Some(v) = unsafe { crate::cpython::compact_int(obj) } {
        return Value::Int(v);
    }
    let mut overflow = 0;
    // SAFETY: guaranteed by the caller.
    let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow) };
    if overflow == 0 {
        // SAFETY: GIL held.
        if v == -1 && unsafe { !ffi::PyErr_Occurred().is_null() } {
            // SAFETY: GIL held.
            return failed("int".into(), &unsafe { take_error() });
        }
        return Value::Int(v);
    }
    let mut text = String::new();
    // SAFETY: guaranteed by the caller.
    match unsafe { big_int_text(obj, &mut text) } {
        Ok(()) => Value::BigInt(text),
        Err(BigInt::Failed(error)) => failed("int".into(), &error),
        Err(BigInt::TooLarge(bits)) => Value::from(ReprValue {
            type_name: "int".into(),
            text: format!("<int with {bits} bits>"),
            truncated: true,
            length: None,
            object_id: None,
        }),
    }
}

enum BigInt {
    Failed(String),
    TooLarge(i64),
}

/// Decimal digits of an int beyond 64 bits (`str(int)`, which raises `ValueError` past
/// `sys.get_int_max_str_digits()`); very large ints are not converted at all.
///
/// # Safety
/// GIL held; `obj` is a live exact int.
unsafe fn big_int_text(obj: *mut ffi::PyObject, out: &mut String) -> Result<(), BigInt> {
    // SAFETY: guaranteed by the caller; every new reference is released.
    unsafe {
        let name = ffi::PyUnicode_InternFromString(c"bit_length".as_ptr());
        if name.is_null() {
            return Err(BigInt::Failed(take_error()));
        }
        let bits = ffi::PyObject_CallMethodNoArgs(obj, name);
        cpython::decref(name);
        if bits.is_null() {
            return Err(BigInt::Failed(take_error()));
        }
        let n = ffi::PyLong_AsLongLong(bits);
        cpython::decref(bits);
        if n == -1 && !ffi::PyErr_Occurred().is_null() {
            return Err(BigInt::Failed(take_error()));
        }
        if n > MAX_INT_BITS {
            return Err(BigInt::TooLarge(n));
        }
        let s = ffi::PyObject_Str(obj);
        if s.is_null() {
            return Err(BigInt::Failed(take_error()));
        }
        let r = read_str(s, usize::MAX, true, out);
        cpython::decref(s);
        let _ = r;
        Ok(())
    }
}

/// Appends `repr(obj)` to `out`, stopping at its budget. `Err` carries the name of the exception
/// that made the repr fail (already cleared).
///
/// # Safety
/// GIL held; `obj` is live and referenced by the caller.
unsafe fn render_into(obj: *mut ffi::PyObject, out: &mut Out) -> Result<(), String> {
    if out.cut {
        return Ok(());
    }
    // SAFETY: guaranteed by the caller, for every branch; references taken here are released.
    unsafe {
        let t = ffi::Py_TYPE(obj);
        if obj == ffi::Py_None() {
            out.push("None");
        } else if t == &raw mut ffi::PyBool_Type {
            out.push(if obj == ffi::Py_True() {
                "True"
            } else {
                "False"
            });
        } else if t == &raw mut ffi::PyLong_Type {
            let mut overflow = 0;
            let v = match crate::cpython::compact_int(obj) {
                Some(v) => v,
                None => ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow),
            };
            if overflow == 0 {
                if v == -1 && !ffi::PyErr_Occurred().is_null() {
                    return Err(take_error());
                }
                // Formatted on the stack: an int in a container is the commonest element.
                let mut digits = [0u8; 20];
                out.push(decimal(v, &mut digits));
            } else {
                let mut text = String::new();
                match big_int_text(obj, &mut text) {
                    Ok(()) => out.push(&text),
                    Err(BigInt::Failed(e)) => return Err(e),
                    // Not rendered: make the whole repr a marked failure rather than guess.
                    Err(BigInt::TooLarge(_)) => return Err("ValueError".into()),
                }
            }
        } else if t == &raw mut ffi::PyFloat_Type {
            let mut text = String::new();
            float_repr(ffi::PyFloat_AS_DOUBLE(obj), &mut text);
            out.push(&text);
        } else if t == &raw mut ffi::PyUnicode_Type {
            // Up to the cap is read, whatever the room left: the quotes depend on it.
            let room = out.room();
            let mut owned = String::new();
            let text = match ascii(obj) {
                Some(text) => Ok(&text[..text.len().min(TEXT_CAP)]),
                None => read_str(obj, TEXT_CAP, false, &mut owned).map(|_| owned.as_str()),
            };
            match text {
                Ok(text) => {
                    let before = out.text.len();
                    let cut = str_repr_in(text, TEXT_CAP, room, &mut out.text);
                    let added = &out.text[before..];
                    out.chars += if added.is_ascii() {
                        added.len()
                    } else {
                        added.chars().count()
                    };
                    if cut {
                        out.cut = true;
                    }
                }
                Err(Surrogate) => python_repr(obj, out)?,
            }
        } else if ffi::PyList_CheckExact(obj) != 0 {
            if ffi::PyList_GET_SIZE(obj) == 0 {
                out.push("[]");
                return Ok(());
            }
            sequence(obj, out, "[", "]", |i| {
                (i < ffi::PyList_GET_SIZE(obj)).then(|| ffi::PyList_GET_ITEM(obj, i))
            })?;
        } else if ffi::PyTuple_CheckExact(obj) != 0 {
            let n = ffi::PyTuple_GET_SIZE(obj);
            if n == 0 {
                out.push("()");
                return Ok(());
            }
            if n == 1 {
                sequence(obj, out, "(", ",)", |i| {
                    (i < 1).then(|| ffi::PyTuple_GET_ITEM(obj, i))
                })?;
            } else {
                sequence(obj, out, "(", ")", |i| {
                    (i < n).then(|| ffi::PyTuple_GET_ITEM(obj, i))
                })?;
            }
        } else if ffi::PyDict_CheckExact(obj) != 0 {
            dict(obj, out)?;
        } else if ffi::PySet_CheckExact(obj) != 0 || ffi::PyFrozenSet_CheckExact(obj) != 0 {
            set(obj, out, ffi::PyFrozenSet_CheckExact(obj) != 0)?;
        } else {
            python_repr(obj, out)?;
        }
    }
    Ok(())
}

/// Enters `obj` as CPython's container reprs do (`Py_ReprEnter`, see [`memo::enter`]):
/// `Ok(true)` when `obj` is already being rendered further up (write `...`). When it returns
/// `Ok(false)`, [`repr_leave`] must follow.
///
/// # Safety
/// GIL held; `obj` live and referenced.
unsafe fn repr_enter(obj: *mut ffi::PyObject) -> Result<bool, String> {
    // SAFETY: guaranteed by the caller.
    match unsafe { memo::enter(obj) } {
        memo::Entry::Entered => Ok(false),
        memo::Entry::Inside => {
            memo::mark();
            Ok(true)
        }
        // SAFETY: guaranteed by the caller.
        memo::Entry::Register => match unsafe { ffi::Py_ReprEnter(obj) } {
            0 => {
                memo::entered(obj);
                Ok(false)
            }
            r if r > 0 => {
                memo::mark();
                Ok(true)
            }
            // SAFETY: GIL held.
            _ => Err(unsafe { take_error() }),
        },
    }
}

/// Leaves `obj` after a [`repr_enter`] that entered it.
///
/// # Safety
/// GIL held; `obj` live.
unsafe fn repr_leave(obj: *mut ffi::PyObject) {
    if memo::leave() {
        // SAFETY: guaranteed by the caller.
        unsafe { ffi::Py_ReprLeave(obj) };
    }
}

/// A list or tuple: `item(i)` is the borrowed `i`-th item or `None` past the end (re-checked
/// before every item, as CPython does, since an element's repr may mutate the list).
///
/// # Safety
/// GIL held; `obj` live and referenced.
unsafe fn sequence(
    obj: *mut ffi::PyObject,
    out: &mut Out,
    open: &str,
    close: &str,
    item: impl Fn(ffi::Py_ssize_t) -> Option<*mut ffi::PyObject>,
) -> Result<(), String> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if repr_enter(obj)? {
            out.push(&open[..1]);
            out.push("...");
            out.push(&close[close.len() - 1..]);
            return Ok(());
        }
        out.push(open);
        let mut i = 0;
        let mut result = Ok(());
        while !out.cut {
            let Some(x) = item(i) else { break };
            if i > 0 {
                out.push(", ");
            }
            cpython::incref(x);
            result = render_into(x, out);
            cpython::decref(x);
            if result.is_err() {
                break;
            }
            i += 1;
        }
        repr_leave(obj);
        result?;
        out.push(close);
    }
    Ok(())
}

/// # Safety
/// GIL held; `obj` a live exact dict, referenced.
unsafe fn dict(obj: *mut ffi::PyObject, out: &mut Out) -> Result<(), String> {
    // SAFETY: guaranteed by the caller; key and value are held while rendered.
    unsafe {
        if ffi::PyDict_Size(obj) == 0 {
            out.push("{}");
            return Ok(());
        }
        if repr_enter(obj)? {
            out.push("{...}");
            return Ok(());
        }
        out.push("{");
        let mut pos: ffi::Py_ssize_t = 0;
        let (mut k, mut v) = (std::ptr::null_mut(), std::ptr::null_mut());
        let mut first = true;
        let mut result = Ok(());
        while !out.cut && ffi::PyDict_Next(obj, &mut pos, &mut k, &mut v) != 0 {
            if !first {
                out.push(", ");
            }
            first = false;
            cpython::incref(k);
            cpython::incref(v);
            let secret = is_secret_key(k, out.redact);
            result = render_into(k, out);
            if result.is_ok() {
                out.push(": ");
                if secret {
                    out.push(REDACTED);
                } else {
                    result = render_into(v, out);
                }
            }
            cpython::decref(k);
            cpython::decref(v);
            if result.is_err() {
                break;
            }
        }
        repr_leave(obj);
        result?;
        out.push("}");
    }
    Ok(())
}

/// # Safety
/// GIL held; `obj` a live exact set or frozenset, referenced.
unsafe fn set(obj: *mut ffi::PyObject, out: &mut Out, frozen: bool) -> Result<(), String> {
    // SAFETY: guaranteed by the caller; the iterator and items are released.
    unsafe {
        let name = if frozen { "frozenset" } else { "set" };
        if ffi::PySet_Size(obj) == 0 {
            out.push(name);
            out.push("()");
            return Ok(());
        }
        if repr_enter(obj)? {
            out.push(name);
            out.push("(...)");
            return Ok(());
        }
        if frozen {
            out.push("frozenset(");
        }
        out.push("{");
        let it = ffi::PyObject_GetIter(obj);
        let mut result = if it.is_null() {
            Err(take_error())
        } else {
            Ok(())
        };
        if !it.is_null() {
            let mut first = true;
            while !out.cut {
                let x = ffi::PyIter_Next(it);
                if x.is_null() {
                    if !ffi::PyErr_Occurred().is_null() {
                        result = Err(take_error());
                    }
                    break;
                }
                if !first {
                    out.push(", ");
                }
                first = false;
                result = render_into(x, out);
                cpython::decref(x);
                if result.is_err() {
                    break;
                }
            }
            cpython::decref(it);
        }
        repr_leave(obj);
        result?;
        out.push("}");
        if frozen {
            out.push(")");
        }
    }
    Ok(())
}

/// How redaction replaces an object's own `repr()`.
pub(crate) enum Redaction {
    /// A dict subclass holding a secret key: its items rendered by the recorder, redacted.
    Items,
    /// An object whose own repr may show a secret attribute or field. (Module and class reprs
    /// show no attribute values.)
    Withheld,
}

/// Whether (and how) redaction replaces `obj`'s own `repr()`.
///
/// # Safety
/// GIL held; `obj` live and referenced.
pub(crate) unsafe fn redaction(obj: *mut ffi::PyObject, redact: &Redactor) -> Option<Redaction> {
    if !redact.is_enabled() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    unsafe {
        if ffi::PyDict_Check(obj) != 0 && dict_has_secret_key(obj, redact) {
            Some(Redaction::Items)
        } else if has_custom_repr(obj)
            && ffi::PyModule_Check(obj) == 0
            && ffi::PyType_Check(obj) == 0
            && (has_secret_attribute(obj, redact) || crate::plan::reads_secret(obj, redact))
        {
            Some(Redaction::Withheld)
        } else {
            None
        }
    }
}

/// `PyObject_Repr`, bounded.
///
/// # Safety
/// GIL held; `obj` live and referenced.
unsafe fn python_repr(obj: *mut ffi::PyObject, out: &mut Out) -> Result<(), String> {
    // SAFETY: guaranteed by the caller; the result is released.
    unsafe {
        // The same object's repr at this event, when an open scope kept it (memo.rs). A kept
        // object passed the checks below when it was kept, earlier in this event, and its text
        // was taken then.
        let kept = memo::kept(obj);
        if kept.is_none() {
            match redaction(obj, out.redact) {
                Some(Redaction::Items) => {
                    out.push(&type_name(obj));
                    out.push("(");
                    dict(obj, out)?;
                    out.push(")");
                    return Ok(());
                }
                Some(Redaction::Withheld) => {
                    out.push(&format!(
                        "<{} object: repr withheld, secret attributes>",
                        type_name(obj)
                    ));
                    return Ok(());
                }
                None => {}
            }
        }
        let (r, owned, marks) = match kept {
            Some(Ok((r, marks))) => (r, false, marks),
            Some(Err(error)) => return Err(error),
            None => {
                // A plain f-string `__repr__` is followed without running it (plan.rs), and a
                // file's repr is built here (openfiles.rs).
                let r = crate::plan::repr(obj)
                    .or_else(|| crate::openfiles::repr(obj))
                    .unwrap_or_else(|| {
                        // The `__repr__` must see the containers being rendered around it.
                        memo::register();
                        // (`object.__repr__` runs none, unless looking `__module__` up in a class
                        // dict that holds a key other than a `str` runs that key's `__eq__`.)
                        if has_custom_repr(obj)
                            || !crate::plan::class_keys_all_str(ffi::Py_TYPE(obj))
                        {
                            memo::note_python();
                        }
                        ffi::PyObject_Repr(obj)
                    });
                if r.is_null() {
                    let error = take_error();
                    memo::keep_failure(obj, &error);
                    return Err(error);
                }
                // Looked for in the whole text, before any cut.
                let marks = memo::marks_recursion(r);
                (r, !memo::keep(obj, r, marks), marks)
            }
        };
        if marks {
            memo::mark();
        }
        let mut text = String::new();
        let more = read_str(r, out.room(), true, &mut text).unwrap_or(false);
        if owned {
            cpython::decref(r);
        }
        out.push(&text);
        if more {
            out.cut = true;
        }
    }
    Ok(())
}

/// Whether the dict key `k` is a `str` naming a secret.
///
/// # Safety
/// GIL held; `k` live.
pub(crate) unsafe fn is_secret_key(k: *mut ffi::PyObject, redact: &Redactor) -> bool {
    if !redact.is_enabled() {
        return false;
    }
    // SAFETY: guaranteed by the caller.
    unsafe {
        if ffi::PyUnicode_Check(k) == 0 {
            return false;
        }
        // An interned name (most keys) is answered by its address.
        let immortal = is_immortal(k);
        if immortal && let Some(known) = redact.key_answer(k as usize) {
            return known;
        }
        let secret = match ascii(k) {
            Some(key) => redact.is_secret(key),
            None => {
                let mut key = String::new();
                read_key(k, &mut key);
                redact.is_secret(&key)
            }
        };
        if immortal {
            redact.remember_key(k as usize, secret);
        }
        secret
    }
}

/// # Safety
/// GIL held; `d` a live dict.
unsafe fn dict_has_secret_key(d: *mut ffi::PyObject, redact: &Redactor) -> bool {
    // SAFETY: guaranteed by the caller; `PyDict_Next` runs no Python code.
    unsafe {
        let mut pos: ffi::Py_ssize_t = 0;
        let (mut k, mut v) = (std::ptr::null_mut(), std::ptr::null_mut());
        while ffi::PyDict_Next(d, &mut pos, &mut k, &mut v) != 0 {
            if is_secret_key(k, redact) {
                return true;
            }
        }
        false
    }
}

/// Whether `obj`'s type has its own `__repr__` (not `object.__repr__`, which shows no state).
///
/// # Safety
/// GIL held; `obj` live.
pub(crate) unsafe fn has_custom_repr(obj: *mut ffi::PyObject) -> bool {
    // SAFETY: reading type slots of live types.
    unsafe {
        let base = &raw mut ffi::PyBaseObject_Type;
        (*ffi::Py_TYPE(obj)).tp_repr.map(|f| f as usize) != (*base).tp_repr.map(|f| f as usize)
    }
}

/// Whether `obj` has an attribute or field whose name is secret: keys of its instance `__dict__`,
/// names in its type's `__slots__`, `_fields` (namedtuples) and `__dataclass_fields__`.
///
/// # Safety
/// GIL held; `obj` live and referenced.
unsafe fn has_secret_attribute(obj: *mut ffi::PyObject, redact: &Redactor) -> bool {
    // SAFETY: guaranteed by the caller; every new reference is released, errors cleared.
    unsafe {
        let t = ffi::Py_TYPE(obj);
        if (*t).tp_dictoffset != 0 {
            let d = ffi::PyObject_GenericGetDict(obj, std::ptr::null_mut());
            if d.is_null() {
                ffi::PyErr_Clear();
            } else {
                let found = ffi::PyDict_Check(d) != 0 && dict_has_secret_key(d, redact);
                cpython::decref(d);
                if found {
                    return true;
                }
            }
        }
        // The type's field names change only with the type, which then gets a new version tag.
        let fields_secret = || type_fields_secret(t, redact);
        match crate::cpython::type_version(t) {
            Some(tag) => redact.type_answer((t as usize, tag), fields_secret),
            None => fields_secret(),
        }
    }
}

/// Whether a name in the `__slots__` of `t` or of a class it inherits from, or in its `_fields`
/// or `__dataclass_fields__`, is secret.
///
/// # Safety
/// GIL held; `t` live.
unsafe fn type_fields_secret(t: *mut ffi::PyTypeObject, redact: &Redactor) -> bool {
    // SAFETY: guaranteed by the caller; every new reference is released, errors cleared.
    unsafe {
        // Each class's own `__slots__` (the attribute would show only the nearest one's).
        let mro = (*t).tp_mro;
        if !mro.is_null() && ffi::PyTuple_Check(mro) != 0 {
            for i in 0..ffi::PyTuple_GET_SIZE(mro) {
                let class = ffi::PyTuple_GET_ITEM(mro, i);
                if ffi::PyType_Check(class) == 0 {
                    continue;
                }
                // (`tp_dict` is null for builtin static types on 3.12+.)
                let dict = ffi::PyType_GetDict(class.cast());
                if dict.is_null() {
                    ffi::PyErr_Clear();
                    continue;
                }
                let slots = ffi::PyDict_GetItemString(dict, c"__slots__".as_ptr());
                let found = !slots.is_null() && names_secret(slots, redact);
                cpython::decref(dict);
                if found {
                    return true;
                }
            }
        }
        // A metaclass's `__getattr__` (or a descriptor's `__get__`) may run: it must see the
        // containers being rendered, and what it changes is not what this event saw so far.
        memo::register();
        memo::note_python();
        for attr in [c"_fields", c"__dataclass_fields__"] {
            let v = ffi::PyObject_GetAttrString(t as *mut ffi::PyObject, attr.as_ptr());
            if v.is_null() {
                ffi::PyErr_Clear();
                continue;
            }
            let found = names_secret(v, redact);
            cpython::decref(v);
            if found {
                return true;
            }
        }
        false
    }
}

/// Whether `v` (a str, a tuple/list of str, or a dict with str keys) names a secret.
///
/// # Safety
/// GIL held; `v` live and referenced.
unsafe fn names_secret(v: *mut ffi::PyObject, redact: &Redactor) -> bool {
    // SAFETY: guaranteed by the caller; typed access after the type checks.
    unsafe {
        if ffi::PyUnicode_Check(v) != 0 {
            return is_secret_key(v, redact);
        }
        if ffi::PyDict_Check(v) != 0 {
            return dict_has_secret_key(v, redact);
        }
        if ffi::PyTuple_Check(v) != 0 {
            return (0..ffi::PyTuple_GET_SIZE(v))
                .any(|i| is_secret_key(ffi::PyTuple_GET_ITEM(v, i), redact));
        }
        if ffi::PyList_Check(v) != 0 {
            return (0..ffi::PyList_GET_SIZE(v))
                .any(|i| is_secret_key(ffi::PyList_GET_ITEM(v, i), redact));
        }
        false
    }
}

/// `exc.args` of an exception instance, as a bounded repr (no `str(exc)`: that may run code).
///
/// # Safety
/// GIL held; `exc` live.
pub unsafe fn exception_message(exc: *mut ffi::PyObject, redact: &Redactor) -> Option<String> {
    // SAFETY: guaranteed by the caller; `args` is read from the C struct of an exception instance.
    unsafe {
        if ffi::PyExceptionInstance_Check(exc) == 0 {
            return None;
        }
        let args = (*(exc as *mut ffi::PyBaseExceptionObject)).args;
        if args.is_null() {
            return None;
        }
        cpython::incref(args);
        let mut out = Out::new(redact);
        let r = render_into(args, &mut out);
        cpython::decref(args);
        r.ok().map(|()| out.text)
    }
}

/// The exception's type as a traceback names it: `ValueError`, `json.decoder.JSONDecodeError`.
///
/// # Safety
/// GIL held; `exc` live.
pub unsafe fn exception_type_name(exc: *mut ffi::PyObject) -> String {
    // SAFETY: guaranteed by the caller; attribute reads of a type object, errors cleared.
    unsafe {
        let t = ffi::Py_TYPE(exc) as *mut ffi::PyObject;
        let attr = |name: &std::ffi::CStr| -> Option<String> {
            let v = ffi::PyObject_GetAttrString(t, name.as_ptr());
            if v.is_null() {
                ffi::PyErr_Clear();
                return None;
            }
            let mut s = String::new();
            let ok = ffi::PyUnicode_Check(v) != 0 && read_str(v, 1000, true, &mut s).is_ok();
            cpython::decref(v);
            ok.then_some(s)
        };
        let qualname = attr(c"__qualname__").unwrap_or_else(|| type_name(exc));
        match attr(c"__module__") {
            Some(m) if m != "builtins" && m != "__main__" => format!("{m}.{qualname}"),
            _ => qualname,
        }
    }
}

/// Equality of recorded values for change detection (floats by bits, so NaN equals itself).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// A dict key (a `str`) as text, lone surrogates written as `\udXXX`.
///
/// # Safety
/// GIL held; `k` is a live `str`.
pub unsafe fn read_key(k: *mut ffi::PyObject, out: &mut String) {
    // SAFETY: guaranteed by the caller; escaping never fails.
    let _ = unsafe { read_str(k, usize::MAX, true, out) };
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn decimal_matches_to_string() {
        for v in [
            0,
            7,
            -1,
            10,
            -10,
            1_234_567,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut buf = [0u8; 20];
            assert_eq!(decimal(v, &mut buf), v.to_string());
        }
    }
}
