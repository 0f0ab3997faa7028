//! `repr()` without running Python, for a class whose `__repr__` is one f-string of its own
//! attributes: `def __repr__(self): return f"Node({self.x}, {self.y!r})"`.
//!
//! Such a `__repr__` reads the named attributes of `self`, formats each, and joins the pieces
//! with the f-string's constant text. When every attribute read runs no Python (the type's
//! `__getattribute__` is the generic one, and each name is a slot, an instance attribute or a
//! plain class attribute) and every value read is an exact `str`, `int`, `float`, `bool` or
//! `None` (whose `str()`, `repr()` and `ascii()` run no Python either), the recorder can build
//! the same text itself: the same reads, the same conversions, the same join. Rendering a
//! container of such objects at every event then costs no Python call per element.
//!
//! A plan is made once per type (keyed by its address and version tag: a type gets a new tag
//! whenever it or a base is modified, and tags are never reused) by reading the function's
//! bytecode. Anything else in it (a global, a call, a method, a format spec, a closure, a
//! decorator's wrapper) gives no plan, and the real `__repr__` runs. So does any surprise when a
//! plan is followed: a missing attribute, a value of another type, an error while converting it.
//! Nothing observable has happened by then, so the real call sees the same object.
//!
//! Reading an attribute looks its name up in dicts (the classes' and the instance's): a dict
//! holding a key that is not an exact `str` could run that key's `__eq__` on a hash collision,
//! so a type whose classes hold one has no plan, and an instance whose dict holds one is
//! rendered by its real `repr()`. A plan holds a reference to the code it was read from (so that
//! a new `__code__` can never be taken for it) and to its attribute names, never to the function
//! (which the type holds for as long as its tag is unchanged) or anything the function reaches.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3_ffi as ffi;

use pyttd_format::Value;

use crate::cpython;
use crate::redact::Redactor;
use crate::render;

/// Types whose plans (or lack of one) a thread remembers; past it, it forgets them all.
const MAX_TYPES: usize = 512;

/// Pieces a plan may join, at most.
const MAX_PIECES: usize = 32;

unsafe extern "C" {
    /// CPython's MRO lookup without calling descriptors (`cpython/object.h`, exported by 3.12
    /// and 3.13): a borrowed reference, or null (with no exception set) when no class has it.
    fn _PyType_Lookup(t: *mut ffi::PyTypeObject, name: *mut ffi::PyObject) -> *mut ffi::PyObject;
}

/// How an attribute's value becomes text: `{v}` and `{v!s}` (the same for the types a plan
/// reads), `{v!r}`, `{v!a}`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Conversion {
    Str,
    Repr,
    Ascii,
}

#[derive(Debug, PartialEq)]
enum Piece {
    Text(Box<str>),
    /// `self.<name>`, converted; `name` is a strong reference to an exact `str`. `slot`: the
    /// offset of the instance's slot that holds it, when the type's attribute of that name is a
    /// `__slots__` member (read there directly, as its descriptor would: [`read`]).
    Attribute {
        name: usize,
        conversion: Conversion,
        slot: Option<isize>,
    },
}

/// The pieces of one `__repr__`, the function (borrowed: the type holds it while its tag holds)
/// and the code (a strong reference, released with the plan) they were read from.
struct Plan {
    /// Unique to this plan, across threads and time ([`SERIALS`]).
    serial: u64,
    function: usize,
    code: usize,
    pieces: Box<[Piece]>,
    /// The attributes the pieces format, in order: each name, and its slot when it has one
    /// (checks go through these, not the pieces).
    attributes: Box<[(usize, Option<isize>)]>,
}

/// Serial numbers of plans: a [`Reads`] taken under one plan is checked only under the same one
/// (the plan of a type rebuilt after its `__code__` changed, or made by another thread, is
/// another).
static SERIALS: AtomicU64 = AtomicU64::new(1);

struct Plans {
    /// (type address, version tag) → its plan, or `None` when it has none.
    by_type: HashMap<TypeKey, Option<Rc<Plan>>, foldhash::fast::FixedState>,
    /// The entry looked up last (a container's elements are mostly of one type).
    last: Option<(TypeKey, Option<Rc<Plan>>)>,
}

/// A type's address and version tag.
type TypeKey = (usize, u32);

/// The plan a check looked up last, kept by the caller across the checks of one shape
/// ([`Reads::matches`]); dropped with the GIL held (it may hold the last reference to a plan
/// this thread has since forgotten).
#[derive(Default)]
pub(crate) struct LastPlan(Option<(TypeKey, Rc<Plan>)>);

thread_local! {
    // Never dropped with its references: a thread's plans outlive it (a code object and a few
    // names per class), since a thread-local destructor may run without the GIL.
    static PLANS: RefCell<std::mem::ManuallyDrop<Plans>> = const {
        RefCell::new(std::mem::ManuallyDrop::new(Plans {
            by_type: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0)),
            last: None,
        }))
    };
}

/// The text `repr(obj)` gives, as a new `str` reference, when `obj`'s type has a plan and
/// following it met no surprise; `None` when the real `repr()` must run.
///
/// # Safety
/// GIL held; `obj` is live and referenced by the caller.
pub(crate) unsafe fn repr(obj: *mut ffi::PyObject) -> Option<*mut ffi::PyObject> {
    let mut text = String::with_capacity(32);
    // SAFETY: guaranteed by the caller.
    unsafe {
        with_plan(ffi::Py_TYPE(obj), |plan| {
            plan.follow(obj, &mut text, |_| Some(()))
        })?;
        let r = ffi::PyUnicode_FromStringAndSize(text.as_ptr().cast(), text.len() as isize);
        if r.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        Some(r)
    }
}

/// The text [`repr`] builds for `obj`, or `None` when its real `repr()` must run (for tests).
pub fn planned_repr(obj: &pyo3::Bound<'_, pyo3::PyAny>) -> Option<String> {
    use pyo3::types::PyAnyMethods;
    // SAFETY: a `Bound` proves the GIL is held and `obj` referenced; `repr` gives a new
    // reference, owned by the `Bound` made from it.
    unsafe {
        let r = repr(obj.as_ptr())?;
        pyo3::Bound::from_owned_ptr(obj.py(), r).extract().ok()
    }
}

/// What a planned `repr()` of an object read: its type (address and version tag) and the value
/// of each attribute it formats, in order. An object of the same type whose attributes render
/// as the same values has the same text (`str()`, `repr()` and `ascii()` of the same `str`,
/// `int`, `float`, `bool` or `None` are the same), found without formatting it.
#[derive(Debug)]
pub(crate) struct Reads {
    type_key: (usize, u32),
    /// The plan the values were read under.
    serial: u64,
    /// Each value read, with the address of the object it was read from when that object was
    /// immortal (never freed, so the same address is the same value), else 0.
    values: Box<[(Value, usize)]>,
}

impl Reads {
    /// The reads of `obj`'s planned `repr()`, when it has a plan that gives the text `shown`
    /// (`obj`'s rendering, cut at `cut`) and each value read is one [`render::renders_as`] can
    /// confirm. (A text kept earlier in the event, before some other `__repr__` changed `obj`,
    /// is not what the plan gives now: such a rendering is checked by its text instead.)
    ///
    /// # Safety
    /// GIL held; `obj` is live and referenced by the caller.
    pub unsafe fn of(
        obj: *mut ffi::PyObject,
        redact: &Redactor,
        shown: &str,
        cut: bool,
    ) -> Option<Reads> {
        // SAFETY: guaranteed by the caller.
        let (reads, text) = unsafe { Reads::read(obj, redact)? };
        let same = if cut {
            text.len() > shown.len() && text.starts_with(shown)
        } else {
            text == shown
        };
        same.then_some(reads)
    }

    /// The reads of `obj`'s planned `repr()` and the whole text it gives, when it has a plan
    /// and is not redacted, and each value read is one [`render::renders_as`] can confirm.
    ///
    /// # Safety
    /// GIL held; `obj` is live and referenced by the caller.
    pub unsafe fn read(obj: *mut ffi::PyObject, redact: &Redactor) -> Option<(Reads, String)> {
        // SAFETY: guaranteed by the caller.
        unsafe {
            if render::redaction(obj, redact).is_some() {
                return None;
            }
            let t = ffi::Py_TYPE(obj);
            let mut values = Vec::new();
            let mut text = String::with_capacity(32);
            let mut serial = 0;
            let tag = with_plan(t, |plan| {
                serial = plan.serial;
                // Sized once: boxing the vector then moves nothing.
                values.reserve_exact(plan.attributes().len());
                plan.follow(obj, &mut text, |value| {
                    let rendered = render::render(value, redact);
                    let confirmed = render::renders_as(value, &rendered);
                    let immortal = if render::is_immortal(value) {
                        value as usize
                    } else {
                        0
                    };
                    values.push((rendered, immortal));
                    confirmed.then_some(())
                })
            })?;
            let reads = Reads {
                type_key: (t as usize, tag),
                serial,
                values: values.into_boxed_slice(),
            };
            Some((reads, text))
        }
    }

    /// Whether `obj` is of the same type, still planned the same way, not redacted, and its
    /// attributes render as the values read. `last`: the plan the caller's check looked up
    /// last (the objects a shape checks are mostly of one type).
    ///
    /// # Safety
    /// GIL held; `obj` is live and referenced by the caller; `last` is dropped with the GIL held.
    pub unsafe fn matches(
        &self,
        obj: *mut ffi::PyObject,
        redact: &Redactor,
        last: &mut LastPlan,
    ) -> bool {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let t = ffi::Py_TYPE(obj);
            if t as usize != self.type_key.0 || cpython::type_version(t) != Some(self.type_key.1) {
                return false;
            }
            // Whether redaction withholds the repr depends on the type (the same under its tag)
            // and on the instance's dict, when it has one.
            let per_instance = (*t).tp_dictoffset != 0 || ffi::PyDict_Check(obj) != 0;
            if per_instance {
                if render::redaction(obj, redact).is_some() {
                    return false;
                }
                // Deciding redaction may have run Python code (a metaclass's `__getattr__`)
                // that changed the type or `obj.__class__`: the plan kept for the tag read above
                // would no longer be the object's own.
                let t = ffi::Py_TYPE(obj);
                if t as usize != self.type_key.0
                    || cpython::type_version(t) != Some(self.type_key.1)
                {
                    return false;
                }
            }
            let check = |plan: &Plan| {
                if plan.serial != self.serial
                    || function_code(plan.function) != plan.code
                    || !instance_keys_all_str(obj)
                {
                    return false;
                }
                let mut values = self.values.iter();
                plan.attributes().all(|(name, slot)| {
                    let Some((expected, immortal)) = values.next() else {
                        return false;
                    };
                    match slot {
                        // Read in place and borrowed: nothing below runs Python code, so the
                        // instance keeps it meanwhile.
                        Some(offset) => {
                            let value = cpython::object_at(obj, offset);
                            (*immortal != 0 && value as usize == *immortal)
                                || (!value.is_null()
                                    && render::is_plain(value)
                                    && render::renders_as(value, expected))
                        }
                        None => read(obj, name, None).is_some_and(|value| {
                            let same = render::renders_as(value, expected);
                            cpython::decref(value);
                            same
                        }),
                    }
                })
            };
            // The plan this thread has for the type (or had: one it has forgotten or made
            // again since has another serial, which the check compares), looked at where it is
            // kept: nothing the check does runs Python code or looks a plan up.
            let known = match &last.0 {
                Some((key, plan)) if *key == self.type_key => Some(check(plan)),
                _ => PLANS.with_borrow(|plans| {
                    let plan = match &plans.last {
                        Some((key, Some(plan))) if *key == self.type_key => plan,
                        _ => plans.by_type.get(&self.type_key)?.as_ref()?,
                    };
                    last.0 = Some((self.type_key, plan.clone()));
                    Some(check(plan))
                }),
            };
            // A type this thread has no plan for yet (the value was read on another thread).
            known.unwrap_or_else(|| with_plan(t, |plan| check(plan).then_some(())).is_some())
        }
    }
}

/// Runs `f` on the plan of type `t` (made now if this thread has none for its version tag),
/// and returns the tag, or `None` when `t` has no plan or `f` gave up.
///
/// # Safety
/// GIL held; `t` is a live type.
unsafe fn with_plan(t: *mut ffi::PyTypeObject, f: impl FnOnce(&Plan) -> Option<()>) -> Option<u32> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if (*t).tp_flags & ffi::Py_TPFLAGS_HEAPTYPE == 0 {
            return None;
        }
        let tag = cpython::type_version(t)?;
        let key = (t as usize, tag);
        let (plan, released) = PLANS.with_borrow_mut(|plans| {
            if let Some((last, plan)) = &plans.last
                && *last == key
            {
                return (plan.clone(), None);
            }
            let mut forgotten = None;
            let plan = match plans.by_type.get(&key) {
                Some(plan) => plan.clone(),
                None => {
                    if plans.by_type.len() >= MAX_TYPES {
                        forgotten = Some(std::mem::take(&mut plans.by_type));
                    }
                    let plan = Plan::of(t, tag).map(Rc::new);
                    plans.by_type.insert(key, plan.clone());
                    plan
                }
            };
            let previous = plans.last.replace((key, plan.clone()));
            (plan, Some((forgotten, previous)))
        });
        // The plans forgotten and the last entry replaced, released outside the borrow:
        // releasing a function may run a weakref callback.
        drop(released);
        let plan = plan?;
        // The tag holds the type's attributes, so `__repr__` is the same function; its
        // `__code__` may have been replaced.
        if function_code(plan.function) != plan.code {
            return None;
        }
        f(&plan)?;
        Some(tag)
    }
}

impl Plan {
    /// The plan of `t`'s `__repr__`, when its attribute reads run no Python and its bytecode is
    /// one f-string of attributes of `self`.
    ///
    /// # Safety
    /// GIL held; `t` is a live type.
    unsafe fn of(t: *mut ffi::PyTypeObject, tag: u32) -> Option<Plan> {
        // SAFETY: guaranteed by the caller. No Python runs here: every dict looked up in holds
        // only exact `str` keys (checked first), and the code's attributes are C getters. The
        // references taken by `read_pieces` are released on every path that gives no plan.
        unsafe {
            if (*t).tp_getattro.map(|f| f as usize)
                != Some(ffi::PyObject_GenericGetAttr as *const () as usize)
                || !class_keys_all_str(t)
            {
                return None;
            }
            let function = lookup(t, "__repr__")?;
            if ffi::Py_TYPE(function) != &raw mut ffi::PyFunction_Type {
                return None;
            }
            let code = ffi::PyFunction_GetCode(function);
            let pieces = read_pieces(code)?;
            let plain = pieces.iter().all(|piece| match piece {
                Piece::Attribute { name, .. } => plain_attribute(t, *name as *mut ffi::PyObject),
                Piece::Text(_) => true,
            });
            if !plain || cpython::type_version(t) != Some(tag) {
                release_pieces(&pieces);
                return None;
            }
            let pieces = pieces
                .into_iter()
                .map(|piece| match piece {
                    Piece::Attribute {
                        name, conversion, ..
                    } => Piece::Attribute {
                        name,
                        conversion,
                        slot: slot_offset(t, name as *mut ffi::PyObject),
                    },
                    text => text,
                })
                .collect::<Vec<_>>();
            cpython::incref(code);
            Some(Plan {
                serial: SERIALS.fetch_add(1, Ordering::Relaxed),
                function: function as usize,
                code: code as usize,
                attributes: pieces
                    .iter()
                    .filter_map(|piece| match piece {
                        Piece::Attribute { name, slot, .. } => Some((*name, *slot)),
                        Piece::Text(_) => None,
                    })
                    .collect(),
                pieces: pieces.into_boxed_slice(),
            })
        }
    }

    /// Builds `obj`'s text into `text`; `None` at the first surprise (an exception is never
    /// left set).
    ///
    /// # Safety
    /// GIL held; `obj` is live, of the type this plan was made for.
    unsafe fn follow(
        &self,
        obj: *mut ffi::PyObject,
        text: &mut String,
        mut each: impl FnMut(*mut ffi::PyObject) -> Option<()>,
    ) -> Option<()> {
        // SAFETY: guaranteed by the caller.
        if !unsafe { instance_keys_all_str(obj) } {
            return None;
        }
        for piece in &self.pieces {
            match piece {
                Piece::Text(s) => text.push_str(s),
                Piece::Attribute {
                    name,
                    conversion,
                    slot,
                } => {
                    // SAFETY: guaranteed by the caller; the type's reads run no Python (checked
                    // when the plan was made, under the same version tag); the value is
                    // released.
                    unsafe {
                        let value = read(obj, *name as *mut ffi::PyObject, *slot)?;
                        let done = each(value).and_then(|()| convert(value, *conversion, text));
                        cpython::decref(value);
                        done?;
                    }
                }
            }
        }
        Some(())
    }

    /// The attributes it formats, in order: each name, and its slot when it has one.
    fn attributes(
        &self,
    ) -> impl ExactSizeIterator<Item = (*mut ffi::PyObject, Option<isize>)> + '_ {
        self.attributes
            .iter()
            .map(|&(name, slot)| (name as *mut ffi::PyObject, slot))
    }
}

impl Drop for Plan {
    /// Plans are dropped with the GIL held: when a thread forgets them ([`with_plan`]), never at
    /// its exit.
    fn drop(&mut self) {
        // SAFETY: the plan holds these references; the GIL is held (above).
        unsafe {
            release_pieces(&self.pieces);
            cpython::decref(self.code as *mut ffi::PyObject);
        }
    }
}

/// `_PyType_Lookup(t, name)` for a Rust name (borrowed; `None` when no class in the MRO has it).
///
/// # Safety
/// GIL held; `t` is a live type.
unsafe fn lookup(t: *mut ffi::PyTypeObject, name: &str) -> Option<*mut ffi::PyObject> {
    // SAFETY: guaranteed by the caller; the name is released after the lookup, which returns a
    // reference borrowed from the type's MRO dicts.
    unsafe {
        let key = ffi::PyUnicode_FromStringAndSize(name.as_ptr().cast(), name.len() as isize);
        if key.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let found = _PyType_Lookup(t, key);
        cpython::decref(key);
        (!found.is_null()).then_some(found)
    }
}

/// Whether reading attribute `name` of an instance of `t` runs no Python: no class in the MRO
/// has it (the instance dict is read), or it is a slot (a member descriptor), or a class
/// attribute that is an exact `str`, `int`, `float`, `bool` or `None` (no `__get__`, so an
/// instance attribute of that name shadows it, or it is read as is). Any other class attribute
/// may have a `__get__` now or later (its own class can gain one without changing `t`).
///
/// # Safety
/// GIL held; `t` is a live type; `name` is a `str`.
unsafe fn plain_attribute(t: *mut ffi::PyTypeObject, name: *mut ffi::PyObject) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let found = _PyType_Lookup(t, name);
        if found.is_null() {
            return true;
        }
        ffi::Py_TYPE(found) == &raw mut ffi::PyMemberDescr_Type || render::is_plain(found)
    }
}

/// The offset of the slot that holds attribute `name` of an instance of `t`, when the class
/// attribute that serves it is a `__slots__` member (an object member with no flags: no audit
/// event on read, an absolute offset). The type's version tag keeps it so.
///
/// # Safety
/// GIL held; `t` is a live type; `name` is a `str`.
unsafe fn slot_offset(t: *mut ffi::PyTypeObject, name: *mut ffi::PyObject) -> Option<isize> {
    // SAFETY: guaranteed by the caller; a member descriptor's member definition lives as long as
    // its type.
    unsafe {
        let found = _PyType_Lookup(t, name);
        if found.is_null() || ffi::Py_TYPE(found) != &raw mut ffi::PyMemberDescr_Type {
            return None;
        }
        // The descriptor applies to instances of its own class only (`member_get` checks it): one
        // taken from another class into this one's dict holds another layout's offset.
        let descr = found.cast::<ffi::PyMemberDescrObject>();
        let owner = (*descr).d_common.d_type;
        if owner.is_null() || ffi::PyType_IsSubtype(t, owner) == 0 {
            return None;
        }
        let member = (*descr).d_member;
        (!member.is_null()
            && (*member).type_code == ffi::Py_T_OBJECT_EX
            && (*member).flags & !ffi::Py_READONLY == 0)
            .then(|| (*member).offset)
    }
}

/// Whether every class in `t`'s MRO holds only exact `str` keys in its dict (see the module
/// docs).
///
/// # Safety
/// GIL held; `t` is a live type.
pub(crate) unsafe fn class_keys_all_str(t: *mut ffi::PyTypeObject) -> bool {
    // SAFETY: guaranteed by the caller; items of `tp_mro` are checked to be types.
    unsafe {
        let mro = (*t).tp_mro;
        if mro.is_null() || ffi::PyTuple_Check(mro) == 0 {
            return false;
        }
        (0..ffi::PyTuple_GET_SIZE(mro)).all(|i| {
            let class = ffi::PyTuple_GET_ITEM(mro, i);
            if ffi::PyType_Check(class) == 0 {
                return false;
            }
            // (`tp_dict` is null for builtin static types on 3.12+.)
            keys_all_str(ffi::PyType_GetDict(class.cast()))
        })
    }
}

/// Whether `obj` has no instance dict, or one whose keys are all exact `str` (see the module
/// docs). An instance dict not yet made is made here, as reading `__dict__` would.
///
/// # Safety
/// GIL held; `obj` is live.
unsafe fn instance_keys_all_str(obj: *mut ffi::PyObject) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        (*ffi::Py_TYPE(obj)).tp_dictoffset == 0
            || keys_all_str(ffi::PyObject_GenericGetDict(obj, std::ptr::null_mut()))
    }
}

/// Whether `dict`, a new reference (released here) or null (an error, cleared), is a dict whose
/// keys are all exact `str`.
///
/// # Safety
/// GIL held.
unsafe fn keys_all_str(dict: *mut ffi::PyObject) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if dict.is_null() {
            ffi::PyErr_Clear();
            return false;
        }
        let plain = ffi::PyDict_Check(dict) != 0 && cpython::dict_keys_all_str(dict);
        cpython::decref(dict);
        plain
    }
}

/// Whether `obj`'s type has a plan that reads an attribute whose name is secret: its repr is
/// then withheld (`render::redaction`), whichever class holds the attribute.
///
/// # Safety
/// GIL held; `obj` is live and referenced by the caller.
pub(crate) unsafe fn reads_secret(obj: *mut ffi::PyObject, redact: &Redactor) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        with_plan(ffi::Py_TYPE(obj), |plan| {
            plan.attributes()
                .any(|(name, _)| render::is_secret_key(name, redact))
                .then_some(())
        })
        .is_some()
    }
}

/// `function.__code__`, read from the function object (`PyFunction_GetCode` without a call).
///
/// # Safety
/// GIL held; `function` is a live function object.
unsafe fn function_code(function: usize) -> usize {
    // SAFETY: guaranteed by the caller.
    unsafe { (*(function as *mut ffi::PyFunctionObject)).func_code as usize }
}

/// `obj.<name>` (a new reference) when it is an exact `str`, `int`, `float`, `bool` or `None`.
/// A slot's value is read from the slot at `slot`, where its member descriptor reads it (an
/// empty slot is an `AttributeError` there: `None` here).
///
/// # Safety
/// GIL held; `obj` is live; reading `name` from it runs no Python; `slot` is the offset of the
/// slot that holds `name` in `obj`'s type ([`slot_offset`], under the same version tag).
unsafe fn read(
    obj: *mut ffi::PyObject,
    name: *mut ffi::PyObject,
    slot: Option<isize>,
) -> Option<*mut ffi::PyObject> {
    // SAFETY: guaranteed by the caller; an error is cleared, a value of another type released.
    unsafe {
        if let Some(offset) = slot {
            let value = cpython::object_at(obj, offset);
            if value.is_null() || !render::is_plain(value) {
                return None;
            }
            cpython::incref(value);
            return Some(value);
        }
        let value = ffi::PyObject_GenericGetAttr(obj, name);
        if value.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        if !render::is_plain(value) {
            cpython::decref(value);
            return None;
        }
        Some(value)
    }
}

/// Appends the text of `value` (a plain scalar, [`read`]) converted by `conversion`.
///
/// # Safety
/// GIL held; `value` is live and plain.
unsafe fn convert(
    value: *mut ffi::PyObject,
    conversion: Conversion,
    text: &mut String,
) -> Option<()> {
    // SAFETY: guaranteed by the caller; every new reference is released, errors cleared.
    unsafe {
        // A small int is the same text in all three conversions.
        if ffi::PyLong_CheckExact(value) != 0
            && let Some(n) = cpython::compact_int(value)
        {
            text.push_str(render::decimal(n, &mut [0; 20]));
            return Some(());
        }
        let converted = match conversion {
            Conversion::Str if ffi::PyUnicode_CheckExact(value) != 0 => {
                cpython::incref(value);
                value
            }
            Conversion::Str => ffi::PyObject_Str(value),
            Conversion::Repr => ffi::PyObject_Repr(value),
            Conversion::Ascii => ffi::PyObject_ASCII(value),
        };
        if converted.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        // Read from the string's own representation (asking for its UTF-8 would store a copy in
        // the program's string); a lone surrogate: the real repr renders it.
        let read = render::read_str(converted, usize::MAX, false, text);
        cpython::decref(converted);
        read.ok().map(|_| ())
    }
}

/// # Safety
/// GIL held; the pieces' names are references the caller holds.
unsafe fn release_pieces(pieces: &[Piece]) {
    for piece in pieces {
        if let Piece::Attribute { name, .. } = piece {
            // SAFETY: guaranteed by the caller.
            unsafe { cpython::decref(*name as *mut ffi::PyObject) };
        }
    }
}

/// The bytecode instructions a plan reads, per CPython version (their numbers from `dis.opmap`).
struct Opcodes {
    cache: u8,
    resume: u8,
    nop: u8,
    load_const: u8,
    load_fast: u8,
    load_attr: u8,
    /// 3.12: `FORMAT_VALUE` (conversion in the low two bits, bit 2 a format spec).
    format_value: Option<u8>,
    /// 3.13: `CONVERT_VALUE` (1 str, 2 repr, 3 ascii) and `FORMAT_SIMPLE`.
    convert_value: Option<u8>,
    format_simple: Option<u8>,
    build_string: u8,
    return_value: u8,
}

const OPCODES_3_12: Opcodes = Opcodes {
    cache: 0,
    resume: 151,
    nop: 9,
    load_const: 100,
    load_fast: 124,
    load_attr: 106,
    format_value: Some(155),
    convert_value: None,
    format_simple: None,
    build_string: 157,
    return_value: 83,
};

const OPCODES_3_13: Opcodes = Opcodes {
    cache: 0,
    resume: 149,
    nop: 30,
    load_const: 83,
    load_fast: 85,
    load_attr: 82,
    format_value: None,
    convert_value: Some(60),
    format_simple: Some(14),
    build_string: 51,
    return_value: 36,
};

fn opcodes() -> Option<&'static Opcodes> {
    // SAFETY: `Py_Version` is a constant exported by every CPython >= 3.11.
    let hex = unsafe { ffi::Py_Version } as u32;
    match (hex >> 24, (hex >> 16) & 0xff) {
        (3, 12) => Some(&OPCODES_3_12),
        (3, 13) => Some(&OPCODES_3_13),
        _ => None,
    }
}

/// What the f-string's evaluation stack holds while its bytecode is read.
enum Item {
    /// `self` (local 0).
    Own,
    /// `self.<name>` (an index into `co_names`), with a conversion on 3.13 once
    /// `CONVERT_VALUE` ran.
    Attribute(usize, Option<Conversion>),
    Piece(Piece),
    Joined(Vec<Piece>),
}

/// The pieces of `code` when it is `return f"..."` over attributes of its one argument, with
/// the names taken as new references; `None` for anything else.
///
/// # Safety
/// GIL held; `code` is a live code object.
unsafe fn read_pieces(code: *mut ffi::PyObject) -> Option<Vec<Piece>> {
    let ops = opcodes()?;
    // SAFETY: guaranteed by the caller; every new reference is released.
    unsafe {
        if ffi::PyCode_Check(code) == 0 {
            return None;
        }
        // Only `def __repr__(self)`: one positional argument, no `*args`, `**kwargs`,
        // keyword-only arguments, generator or coroutine.
        const ODD_FLAGS: u32 = 0x4 | 0x8 | 0x20 | 0x80 | 0x100 | 0x200;
        if cpython::code_flags(code) & ODD_FLAGS != 0
            || code_int(code, c"co_argcount") != Some(1)
            || code_int(code, c"co_kwonlyargcount") != Some(0)
        {
            return None;
        }
        let bytes = code_attr(code, c"co_code")?;
        let consts = code_attr(code, c"co_consts");
        let names = code_attr(code, c"co_names");
        let pieces = match (consts, names) {
            (Some(consts), Some(names))
                if ffi::PyBytes_Check(bytes) != 0
                    && ffi::PyTuple_Check(consts) != 0
                    && ffi::PyTuple_Check(names) != 0 =>
            {
                let units = std::slice::from_raw_parts(
                    ffi::PyBytes_AsString(bytes) as *const u8,
                    ffi::PyBytes_Size(bytes) as usize,
                );
                pieces_of(ops, units, consts, names)
            }
            _ => None,
        };
        for held in [Some(bytes), consts, names].into_iter().flatten() {
            cpython::decref(held);
        }
        pieces
    }
}

/// Reads the instructions in `units` (two bytes each: opcode, argument) as an f-string.
///
/// # Safety
/// GIL held; `consts` and `names` are the code's tuples.
unsafe fn pieces_of(
    ops: &Opcodes,
    units: &[u8],
    consts: *mut ffi::PyObject,
    names: *mut ffi::PyObject,
) -> Option<Vec<Piece>> {
    let mut stack: Vec<Item> = Vec::new();
    let mut taken: Vec<Piece> = Vec::new();
    let result = (|| {
        for unit in units.chunks_exact(2) {
            let (op, arg) = (unit[0], unit[1] as usize);
            let conversion = |c: usize| match c {
                0 | 1 => Some(Conversion::Str),
                2 => Some(Conversion::Repr),
                3 => Some(Conversion::Ascii),
                _ => None,
            };
            if op == ops.cache || op == ops.resume || op == ops.nop {
            } else if op == ops.load_fast && arg == 0 {
                stack.push(Item::Own);
            } else if op == ops.load_attr && arg & 1 == 0 {
                let Some(Item::Own) = stack.pop() else {
                    return None;
                };
                stack.push(Item::Attribute(arg >> 1, None));
            } else if op == ops.load_const {
                // SAFETY: guaranteed by the caller; the index is checked.
                let text = unsafe { tuple_str(consts, arg)? };
                stack.push(Item::Piece(Piece::Text(text.into())));
            } else if Some(op) == ops.convert_value {
                let Some(Item::Attribute(i, None)) = stack.pop() else {
                    return None;
                };
                stack.push(Item::Attribute(i, Some(conversion(arg)?)));
            } else if Some(op) == ops.format_value || Some(op) == ops.format_simple {
                let from_3_12 = Some(op) == ops.format_value;
                if from_3_12 && arg & 4 != 0 {
                    return None; // a format spec
                }
                let Some(Item::Attribute(i, converted)) = stack.pop() else {
                    return None;
                };
                let conversion = match (from_3_12, converted) {
                    (true, None) => conversion(arg & 3)?,
                    (false, Some(c)) => c,
                    (false, None) => Conversion::Str,
                    (true, Some(_)) => return None,
                };
                // SAFETY: guaranteed by the caller; the index is checked.
                let name = unsafe { tuple_item_str(names, i)? };
                // SAFETY: a new reference, held by the piece.
                unsafe { cpython::incref(name) };
                taken.push(Piece::Attribute {
                    name: name as usize,
                    conversion,
                    slot: None,
                });
                stack.push(Item::Piece(Piece::Attribute {
                    name: name as usize,
                    conversion,
                    slot: None,
                }));
            } else if op == ops.build_string {
                if arg > stack.len() || arg > MAX_PIECES {
                    return None;
                }
                let mut pieces = Vec::with_capacity(arg);
                for item in stack.drain(stack.len() - arg..) {
                    let Item::Piece(piece) = item else {
                        return None;
                    };
                    pieces.push(piece);
                }
                stack.push(Item::Joined(pieces));
            } else if op == ops.return_value {
                return match (stack.pop(), stack.is_empty()) {
                    (Some(Item::Joined(pieces)), true) => Some(pieces),
                    (Some(Item::Piece(piece @ Piece::Attribute { .. })), true) => Some(vec![piece]),
                    _ => None,
                };
            } else {
                return None;
            }
        }
        None
    })();
    if result.is_none() {
        // SAFETY: guaranteed by the caller; `taken` holds the references taken above.
        unsafe { release_pieces(&taken) };
    }
    result
}

/// Item `i` of tuple `t` when it is an exact `str` (borrowed).
///
/// # Safety
/// GIL held; `t` is a tuple.
unsafe fn tuple_item_str(t: *mut ffi::PyObject, i: usize) -> Option<*mut ffi::PyObject> {
    // SAFETY: guaranteed by the caller; the index is checked.
    unsafe {
        if i >= ffi::PyTuple_GET_SIZE(t) as usize {
            return None;
        }
        let item = ffi::PyTuple_GET_ITEM(t, i as isize);
        (ffi::PyUnicode_CheckExact(item) != 0).then_some(item)
    }
}

/// The text of item `i` of tuple `t` when it is an exact `str` with no lone surrogate.
///
/// # Safety
/// GIL held; `t` is a tuple.
unsafe fn tuple_str(t: *mut ffi::PyObject, i: usize) -> Option<String> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let item = tuple_item_str(t, i)?;
        let mut text = String::new();
        render::read_str(item, usize::MAX, false, &mut text).ok()?;
        Some(text)
    }
}

/// A code object's attribute (a new reference).
///
/// # Safety
/// GIL held; `code` is a live code object.
unsafe fn code_attr(code: *mut ffi::PyObject, name: &std::ffi::CStr) -> Option<*mut ffi::PyObject> {
    // SAFETY: guaranteed by the caller; a code object's attributes are C getters and members.
    unsafe {
        let value = ffi::PyObject_GetAttrString(code, name.as_ptr());
        if value.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        Some(value)
    }
}

/// A code object's integer attribute.
///
/// # Safety
/// GIL held; `code` is a live code object.
unsafe fn code_int(code: *mut ffi::PyObject, name: &std::ffi::CStr) -> Option<i64> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let value = code_attr(code, name)?;
        let n = ffi::PyLong_AsLongLong(value);
        cpython::decref(value);
        if n == -1 && !ffi::PyErr_Occurred().is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        Some(n)
    }
}
