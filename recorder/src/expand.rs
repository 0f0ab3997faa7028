//! Children of expandable values (SPEC section 6, `children`): the elements of exact lists,
//! tuples and sets, the entries of exact dicts, the fields of namedtuples, and the attributes
//! (`__dict__` and `__slots__`) of instances of Python classes — to a configured depth and
//! width, read without running any of the program's code (apart from `repr()` of the children,
//! as for any value).
//!
//! A value is rendered together with its children: the children take part in "did it change"
//! (an element past the repr's text cap can change while the text does not), and a changed
//! value is written with its children, linked through `object_id`.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3_ffi as ffi;
use pyttd_format::Value;

use crate::cpython;
use crate::memo::{self, ReprScope};
use crate::redact::Redactor;
use crate::render;
use crate::ring::Aux;
use crate::shape::Shape;

/// Never more child rows than this for one value, whatever depth and width allow.
const MAX_NODES: usize = 256;

/// How far values are expanded, and the ids that link them to their children.
#[derive(Debug)]
pub(crate) struct Expander {
    /// Levels of children below a value (0: none).
    pub depth: u32,
    /// Children per value.
    pub width: u32,
    next_object_id: AtomicU64,
}

/// One child, in the order they are written: `parent` is 0 for the value itself, else the index
/// of the parent node plus one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    parent: u32,
    position: u32,
    key: String,
    value: Value,
    expanded: bool,
}

impl Node {
    /// How the child is shown.
    pub fn value(&self) -> &Value {
        &self.value
    }
}

/// A rendered value and its children.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub value: Value,
    pub children: Vec<Node>,
}

impl Rendered {
    /// A fingerprint of the children (0 when there are none).
    pub fn children_fingerprint(&self) -> u64 {
        if self.children.is_empty() {
            return 0;
        }
        let mut h = foldhash::fast::FixedState::default().build_hasher();
        for n in &self.children {
            (n.parent, n.position, &n.key).hash(&mut h);
            hash_value(&n.value, &mut h);
        }
        h.finish() | 1
    }
}

fn hash_value(v: &Value, h: &mut impl Hasher) {
    std::mem::discriminant(v).hash(h);
    match v {
        Value::Bool(b) => b.hash(h),
        Value::Int(n) => n.hash(h),
        Value::BigInt(t) => t.hash(h),
        Value::Float(x) => x.to_bits().hash(h),
        Value::Str { text, truncated } => (text, truncated).hash(h),
        Value::Repr(r) => (&r.type_name, &r.text, r.truncated, r.length).hash(h),
        Value::Redacted { type_name } => type_name.hash(h),
        Value::Deleted | Value::None => {}
    }
}

impl Expander {
    pub fn new(depth: u32, width: u32) -> Expander {
        Expander {
            depth,
            width,
            next_object_id: AtomicU64::new(1),
        }
    }

    /// Renders `obj` and, when it is expandable, its children.
    ///
    /// # Safety
    /// GIL held; `obj` is live and referenced by the caller for the duration of the call.
    pub unsafe fn render(&self, obj: *mut ffi::PyObject, redact: &Redactor) -> Rendered {
        // SAFETY: guaranteed by the caller.
        let _scope = unsafe { !render::is_plain(obj) }.then(ReprScope::open);
        // SAFETY: as above.
        let value = unsafe { render::render(obj, redact) };
        let mut children = Vec::new();
        if self.depth > 0 && matches!(value, Value::Repr(_)) {
            // SAFETY: as above.
            unsafe { self.collect(obj, 0, self.depth, redact, &mut children) };
        }
        Rendered { value, children }
    }

    /// [`Expander::render`] of a list, tuple or dict that no longer matches `shape`, the shape
    /// it had when it last rendered with the children `rows`: a child that still renders as its
    /// row says (by the nodes of `shape`, or by content for a plain key or value) keeps it, and
    /// only the others are rendered again. An element appended to a list, or an entry of a dict
    /// set, then costs one rendering, not `width`. One level of children only: `shape` must be
    /// [`Shape::reusable`].
    ///
    /// # Safety
    /// As [`Expander::render`].
    pub unsafe fn render_reusing(
        &self,
        obj: *mut ffi::PyObject,
        redact: &Redactor,
        shape: &Shape,
        mut rows: Vec<Node>,
        previous: Option<&Value>,
    ) -> Rendered {
        debug_assert!(self.depth == 1 && shape.reusable());
        // SAFETY: guaranteed by the caller.
        let exact = unsafe {
            ffi::PyList_CheckExact(obj) != 0
                || ffi::PyTuple_CheckExact(obj) != 0
                || ffi::PyDict_CheckExact(obj) != 0
        };
        if !exact {
            // Rebound to another kind of value: its children (attributes, some of them secret)
            // are not a list's or a dict's.
            // SAFETY: as above.
            return unsafe { self.render(obj, redact) };
        }
        let _scope = ReprScope::open();
        // A row is kept only while no Python code has run in this event (`memo::ran_python`: a
        // `__repr__`, or a lookup the recorder made that ran some): until then nothing has
        // changed since the event began, and an element that renders as its row now showed that
        // text wherever else it was rendered in this event (memo.rs keeps texts taken before a
        // change).
        let reusing = || !memo::ran_python();
        // Which elements of a list or tuple still render as they did (checking them runs no
        // Python code).
        let same = if reusing() {
            // SAFETY: guaranteed by the caller.
            unsafe { shape.matching_elements(obj, redact) }
        } else {
            Vec::new()
        };
        // A text that was cut within elements that all still render as they did is the same
        // text: a list that grows past its text (or changes there) is not rendered again.
        let kept_text = match previous {
            Some(Value::Repr(r)) if r.truncated && !same.is_empty() && same.iter().all(|&s| s) => {
                let mut r = r.clone();
                // SAFETY: as above; `matching_elements` found a list or tuple.
                r.length = Some(unsafe { sequence_len(obj) } as u64);
                r.object_id = None;
                Some(Value::Repr(r))
            }
            _ => None,
        };
        // SAFETY: guaranteed by the caller.
        let value = kept_text.unwrap_or_else(|| unsafe { render::render(obj, redact) });
        let mut children = Vec::new();
        if !matches!(value, Value::Repr(_)) {
            return Rendered { value, children };
        }
        // The row kept at `position`, when it is one of a child there (not withheld).
        fn kept(rows: &mut [Node], position: usize) -> Option<&mut Node> {
            rows.get_mut(position).filter(|row| {
                row.parent == 0
                    && row.position == position as u32
                    && !matches!(row.value, Value::Redacted { .. })
            })
        }
        // SAFETY: as above; every element is held (a new reference, released below) while the
        // children are made. Checking one against a reusable shape runs no Python code;
        // rendering one may, as in `collect`.
        unsafe {
            if ffi::PyDict_CheckExact(obj) != 0 {
                let width = (self.width as usize).min(MAX_NODES);
                for (position, (k, v)) in entries(obj, width).into_iter().enumerate() {
                    // A key whose content names a secret (a `str` subclass shown by its own
                    // repr, too) has its value withheld, whatever its row showed.
                    let row = kept(&mut rows, position).filter(|row| {
                        let same_key = || key_text(k, redact).0 == row.key;
                        reusing()
                            && !render::is_secret_key(k, redact)
                            && shape.entry_matches(
                                obj,
                                position,
                                (k, v),
                                &row.value,
                                same_key,
                                redact,
                            )
                    });
                    let (key, value) = match row {
                        Some(row) => (
                            std::mem::take(&mut row.key),
                            std::mem::replace(&mut row.value, Value::None),
                        ),
                        None => {
                            let (key, secret) = key_text(k, redact);
                            (key, child_value(v, secret, redact))
                        }
                    };
                    children.push(Node {
                        parent: 0,
                        position: position as u32,
                        key,
                        value,
                        expanded: false,
                    });
                    cpython::decref(k);
                    cpython::decref(v);
                }
                return Rendered { value, children };
            }
            let Some(items) = items(obj, self.width as usize, redact) else {
                return Rendered { value, children };
            };
            for (position, item) in items.iter().enumerate().take(MAX_NODES) {
                let row = kept(&mut rows, position)
                    .filter(|_| reusing() && same.get(position) == Some(&true));
                let value = match row {
                    Some(row) => std::mem::replace(&mut row.value, Value::None),
                    None => render::render(item.obj, redact),
                };
                children.push(Node {
                    parent: 0,
                    position: position as u32,
                    key: item.key.clone(),
                    value,
                    expanded: false,
                });
            }
            for item in items {
                cpython::decref(item.obj);
            }
        }
        Rendered { value, children }
    }

    /// [`render::repr_stamp`], and one stamp more: an object this expander shows no children
    /// of, shown by `object.__repr__` (`<module.Name object at 0x...>`), renders the same for as
    /// long as its address and its type's `__module__` and `__qualname__`
    /// ([`type_repr_version`](crate::cpython::type_repr_version)) are the same. A `SimpleQueue`
    /// or a lock held in a local is then not rendered again at every event. (Lists, tuples and
    /// dicts have shapes instead: `shape.rs`.)
    ///
    /// Taken before rendering. Rendering such a value runs no Python code.
    ///
    /// # Safety
    /// GIL held; `obj` is live.
    pub unsafe fn repr_stamp(&self, obj: *mut ffi::PyObject) -> Option<(usize, u64)> {
        // SAFETY: guaranteed by the caller; type slots of a live object's type are read.
        unsafe {
            if let Some(stamp) = render::repr_stamp(obj) {
                return Some(stamp);
            }
            let t = ffi::Py_TYPE(obj);
            let base = &raw mut ffi::PyBaseObject_Type;
            if (*t).tp_repr.map(|f| f as usize) != (*base).tp_repr.map(|f| f as usize)
                || (self.depth > 0 && may_have_children(t))
            {
                return None;
            }
            Some((t as usize, crate::cpython::type_repr_version(t)?))
        }
    }

    /// Appends the children of `obj` (whose node is `parent`) and, `levels` deep, theirs.
    /// Returns whether `obj` had any.
    ///
    /// # Safety
    /// As [`Expander::render`].
    unsafe fn collect(
        &self,
        obj: *mut ffi::PyObject,
        parent: u32,
        levels: u32,
        redact: &Redactor,
        out: &mut Vec<Node>,
    ) -> bool {
        // SAFETY: guaranteed by the caller; every item is a new reference, released below.
        let Some(items) = (unsafe { items(obj, self.width as usize, redact) }) else {
            return false;
        };
        let first = out.len();
        for (position, item) in items.iter().enumerate() {
            if out.len() >= MAX_NODES {
                break;
            }
            // SAFETY: the item holds a reference.
            let value = unsafe { child_value(item.obj, item.secret, redact) };
            out.push(Node {
                parent,
                position: position as u32,
                key: item.key.clone(),
                value,
                expanded: false,
            });
        }
        let last = out.len();
        if levels > 1 {
            for (i, item) in items.iter().enumerate().take(last - first) {
                let node = first + i;
                if item.secret || !matches!(out[node].value, Value::Repr(_)) {
                    continue;
                }
                // SAFETY: as above.
                let had =
                    unsafe { self.collect(item.obj, node as u32 + 1, levels - 1, redact, out) };
                out[node].expanded = had;
            }
        }
        for item in items {
            // SAFETY: releasing the reference `items` took.
            unsafe { cpython::decref(item.obj) };
        }
        last > first
    }

    /// Appends the rows of a value about to be written: its `values` row via `row` (with the
    /// value's `object_id` set when it has children), then one `children` row per node.
    pub fn emit(&self, mut rendered: Rendered, out: &mut Vec<Aux>, row: impl FnOnce(Value) -> Aux) {
        if rendered.children.is_empty() {
            out.push(row(rendered.value));
            return;
        }
        let n = rendered.children.len() as u64;
        let base = self.next_object_id.fetch_add(n + 1, Ordering::Relaxed);
        if let Value::Repr(r) = &mut rendered.value {
            r.object_id = Some(base);
        }
        out.push(row(rendered.value));
        for (i, node) in rendered.children.into_iter().enumerate() {
            let mut value = node.value;
            if node.expanded
                && let Value::Repr(r) = &mut value
            {
                r.object_id = Some(base + 1 + i as u64);
            }
            out.push(Aux::Child {
                parent_id: base + node.parent as u64,
                position: node.position,
                key: node.key,
                value,
            });
        }
    }
}

/// A child object (a new reference) and how it is shown.
pub(crate) struct Item {
    pub key: String,
    pub obj: *mut ffi::PyObject,
    pub secret: bool,
}

/// Whether [`items`] may find children in an instance of `t` (false: it never does).
///
/// # Safety
/// GIL held; `t` live.
unsafe fn may_have_children(t: *mut ffi::PyTypeObject) -> bool {
    // SAFETY: guaranteed by the caller; the member tables of `t` and its bases are read.
    unsafe {
        if (*t).tp_flags & ffi::Py_TPFLAGS_HEAPTYPE == 0
            || (*t).tp_getattro.map(|f| f as usize)
                != Some(ffi::PyObject_GenericGetAttr as *const () as usize)
        {
            return false;
        }
        if (*t).tp_dictoffset != 0
            || (*t).tp_flags & (1 << 4) != 0
            || (*t).tp_flags & ffi::Py_TPFLAGS_TUPLE_SUBCLASS != 0
            || (*t).tp_flags & ffi::Py_TPFLAGS_TYPE_SUBCLASS != 0
        {
            return true;
        }
        let mut ty = t;
        while !ty.is_null() {
            let mut m = (*ty).tp_members;
            while !m.is_null() && !(*m).name.is_null() {
                if (*m).type_code == ffi::Py_T_OBJECT_EX {
                    return true;
                }
                m = m.add(1);
            }
            ty = (*ty).tp_base;
        }
        false
    }
}

/// The first `width` children of `obj`, or `None` when it is not expandable.
///
/// # Safety
/// GIL held; `obj` live.
pub(crate) unsafe fn items(
    obj: *mut ffi::PyObject,
    width: usize,
    redact: &Redactor,
) -> Option<Vec<Item>> {
    // SAFETY: guaranteed by the caller; every key is read while its item holds it, then
    // released; each object's reference passes to its `Item`.
    unsafe {
        let raw = raw_items(obj, width)?;
        let items = raw
            .0
            .into_iter()
            .map(|item| {
                let (key, secret) = item.key.text(redact);
                item.key.release();
                Item {
                    key,
                    obj: item.obj,
                    secret,
                }
            })
            .collect();
        Some(items)
    }
}

/// How a child of [`raw_items`] is named, before its text is made.
pub(crate) enum RawKey {
    /// `[i]`: an element of a list, tuple or set.
    Index(usize),
    /// A key of an exact dict (a new reference), shown by its `repr()`.
    DictKey(*mut ffi::PyObject),
    /// A field or attribute name (a new reference; a `str`, else shown as empty).
    Name(*mut ffi::PyObject),
    /// A `__slots__` member's name, owned by its type (which `obj`, held, keeps alive while no
    /// Python code runs).
    Member(*const std::ffi::c_char),
}

impl RawKey {
    /// The key's text as the children table shows it, and whether it names a secret (a function
    /// of that text alone).
    ///
    /// # Safety
    /// GIL held; the key is live (a `Member`'s type unchanged since it was read).
    pub unsafe fn text(&self, redact: &Redactor) -> (String, bool) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            match *self {
                RawKey::Index(i) => (format!("[{i}]"), false),
                RawKey::DictKey(k) => key_text(k, redact),
                RawKey::Name(k) => key_name(k, redact),
                RawKey::Member(name) => {
                    let name = std::ffi::CStr::from_ptr(name).to_string_lossy();
                    let secret = redact.is_secret(&name);
                    (name.into_owned(), secret)
                }
            }
        }
    }

    /// Releases the reference a key object holds (none for an index or a member name).
    ///
    /// # Safety
    /// GIL held.
    unsafe fn release(&self) {
        if let RawKey::DictKey(k) | RawKey::Name(k) = *self {
            // SAFETY: guaranteed by the caller; `raw_items` took this reference.
            unsafe { cpython::decref(k) };
        }
    }

    /// Whether the key's text is `text` ([`RawKey::text`], without making it when it can be
    /// read in place).
    ///
    /// # Safety
    /// As [`RawKey::text`].
    pub unsafe fn is(&self, text: &str, redact: &Redactor) -> bool {
        // SAFETY: guaranteed by the caller.
        unsafe {
            match *self {
                RawKey::Index(i) => {
                    text.len() > 2
                        && text.starts_with('[')
                        && text.ends_with(']')
                        && text[1..text.len() - 1] == *render::decimal(i as i64, &mut [0; 20])
                }
                RawKey::Member(name) => match std::ffi::CStr::from_ptr(name).to_str() {
                    Ok(name) => name == text,
                    Err(_) => self.text(redact).0 == text,
                },
                RawKey::Name(k) if ffi::PyUnicode_Check(k) != 0 => match render::ascii(k) {
                    Some(name) => name == text,
                    None => self.text(redact).0 == text,
                },
                RawKey::Name(_) => text.is_empty(),
                RawKey::DictKey(_) => self.text(redact).0 == text,
            }
        }
    }
}

/// A child of [`raw_items`]: its key and its object, each held.
pub(crate) struct RawItem {
    pub key: RawKey,
    pub obj: *mut ffi::PyObject,
}

/// The children of an object as [`items`] finds them, holding references until
/// [`RawItems::release`].
pub(crate) struct RawItems(pub Vec<RawItem>);

impl RawItems {
    /// Releases the references held.
    ///
    /// # Safety
    /// GIL held.
    pub unsafe fn release(self) {
        // SAFETY: guaranteed by the caller; each reference was taken by `raw_items`.
        unsafe {
            for item in self.0 {
                item.key.release();
                cpython::decref(item.obj);
            }
        }
    }
}

/// The first `width` children of `obj` with their keys, not yet made text, or `None` when it is
/// not expandable. No Python code runs.
///
/// # Safety
/// GIL held; `obj` live.
pub(crate) unsafe fn raw_items(obj: *mut ffi::PyObject, width: usize) -> Option<RawItems> {
    let mut items = Vec::new();
    // A child, its key and object held (a `Member` name is its type's).
    let push = |items: &mut Vec<RawItem>, key: RawKey, obj: *mut ffi::PyObject| {
        // SAFETY: `obj` and a key object are live (borrowed from `obj` or its dict).
        unsafe {
            if let RawKey::DictKey(k) | RawKey::Name(k) = key {
                cpython::incref(k);
            }
            cpython::incref(obj);
        }
        items.push(RawItem { key, obj });
    };
    // SAFETY: guaranteed by the caller; exact-type checks come before each typed access, and no
    // Python code runs while items are collected.
    unsafe {
        let t = ffi::Py_TYPE(obj);
        if ffi::PyList_CheckExact(obj) != 0 || ffi::PyTuple_CheckExact(obj) != 0 {
            let list = ffi::PyList_CheckExact(obj) != 0;
            let len = if list {
                ffi::PyList_GET_SIZE(obj)
            } else {
                ffi::PyTuple_GET_SIZE(obj)
            } as usize;
            for i in 0..len.min(width) {
                let item = if list {
                    ffi::PyList_GET_ITEM(obj, i as ffi::Py_ssize_t)
                } else {
                    ffi::PyTuple_GET_ITEM(obj, i as ffi::Py_ssize_t)
                };
                push(&mut items, RawKey::Index(i), item);
            }
            return Some(RawItems(items));
        }
        if ffi::PyDict_CheckExact(obj) != 0 {
            let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
            while items.len() < width && ffi::PyDict_Next(obj, &mut pos, &mut k, &mut v) != 0 {
                push(&mut items, RawKey::DictKey(k), v);
            }
            return Some(RawItems(items));
        }
        if ffi::PySet_CheckExact(obj) != 0 || ffi::PyFrozenSet_CheckExact(obj) != 0 {
            let it = ffi::PyObject_GetIter(obj);
            if it.is_null() {
                ffi::PyErr_Clear();
                return None;
            }
            let mut i = 0;
            while i < width {
                let item = ffi::PyIter_Next(it);
                if item.is_null() {
                    break;
                }
                push(&mut items, RawKey::Index(i), item);
                cpython::decref(item);
                i += 1;
            }
            cpython::decref(it);
            ffi::PyErr_Clear();
            return Some(RawItems(items));
        }
        // Instances of Python classes with ordinary attribute access.
        if (*t).tp_flags & ffi::Py_TPFLAGS_HEAPTYPE == 0
            || (*t).tp_getattro.map(|f| f as usize)
                != Some(ffi::PyObject_GenericGetAttr as *const () as usize)
            || ffi::PyType_Check(obj) != 0
        {
            return None;
        }
        if ffi::PyTuple_Check(obj) != 0 {
            // A namedtuple: its fields by name. (Looking `_fields` up runs the `__eq__` of a class
            // dict key that is not a `str` and whose hash collides: Python run, as `memo` counts.)
            if !crate::plan::class_keys_all_str(t) {
                memo::note_python();
            }
            let fields = ffi::PyDict_GetItemString((*t).tp_dict, c"_fields".as_ptr());
            if !fields.is_null() && ffi::PyTuple_CheckExact(fields) != 0 {
                let n = ffi::PyTuple_GET_SIZE(obj).min(ffi::PyTuple_GET_SIZE(fields));
                for i in 0..(n as usize).min(width) {
                    push(
                        &mut items,
                        RawKey::Name(ffi::PyTuple_GET_ITEM(fields, i as ffi::Py_ssize_t)),
                        ffi::PyTuple_GET_ITEM(obj, i as ffi::Py_ssize_t),
                    );
                }
                return Some(RawItems(items));
            }
        }
        // `__slots__` members, base classes last.
        let mut ty = t;
        while !ty.is_null() && items.len() < width {
            let mut m = (*ty).tp_members;
            while !m.is_null() && !(*m).name.is_null() && items.len() < width {
                if (*m).type_code == ffi::Py_T_OBJECT_EX {
                    let slot = cpython::object_at(obj, (*m).offset);
                    if !slot.is_null() {
                        push(&mut items, RawKey::Member((*m).name), slot);
                    }
                }
                m = m.add(1);
            }
            ty = (*ty).tp_base;
        }
        if (*t).tp_dictoffset != 0 || (*t).tp_flags & (1 << 4) != 0 {
            // `PyObject_GenericGetDict` is what `obj.__dict__` returns for such a type.
            let d = ffi::PyObject_GenericGetDict(obj, std::ptr::null_mut());
            if d.is_null() {
                ffi::PyErr_Clear();
            } else {
                let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
                while items.len() < width && ffi::PyDict_Next(d, &mut pos, &mut k, &mut v) != 0 {
                    if ffi::PyUnicode_Check(k) == 0 {
                        continue;
                    }
                    push(&mut items, RawKey::Name(k), v);
                }
                cpython::decref(d);
            }
        }
    }
    if items.is_empty() {
        None
    } else {
        Some(RawItems(items))
    }
}

/// The length of the exact list or tuple `obj`.
///
/// # Safety
/// GIL held; `obj` a live exact list or tuple.
unsafe fn sequence_len(obj: *mut ffi::PyObject) -> usize {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if ffi::PyList_CheckExact(obj) != 0 {
            ffi::PyList_GET_SIZE(obj) as usize
        } else {
            ffi::PyTuple_GET_SIZE(obj) as usize
        }
    }
}

/// The first `width` entries of the exact dict `obj`, each key and value a new reference.
///
/// # Safety
/// GIL held; `obj` a live exact dict.
unsafe fn entries(
    obj: *mut ffi::PyObject,
    width: usize,
) -> Vec<(*mut ffi::PyObject, *mut ffi::PyObject)> {
    let mut out = Vec::new();
    let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: guaranteed by the caller; `PyDict_Next` runs no Python code.
    unsafe {
        while out.len() < width && ffi::PyDict_Next(obj, &mut pos, &mut k, &mut v) != 0 {
            cpython::incref(k);
            cpython::incref(v);
            out.push((k, v));
        }
    }
    out
}

/// A child's value as its row shows it: rendered, or only its type's name when it is secret.
///
/// # Safety
/// GIL held; `obj` live and referenced.
unsafe fn child_value(obj: *mut ffi::PyObject, secret: bool, redact: &Redactor) -> Value {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if secret {
            Value::Redacted {
                type_name: render::type_name(obj),
            }
        } else {
            render::render(obj, redact)
        }
    }
}

/// A dict key as the children table shows it (`repr()` of the key), and whether it is secret.
///
/// # Safety
/// GIL held; `k` live (held by its dict).
unsafe fn key_text(k: *mut ffi::PyObject, redact: &Redactor) -> (String, bool) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        // A `str` subclass key is rendered by its repr, and is as secret as its text is (as in
        // the dict's own text).
        let secret_str = render::is_secret_key(k, redact);
        cpython::incref(k);
        let value = render::render(k, redact);
        cpython::decref(k);
        match value {
            Value::Str { text, .. } => {
                // Decided on the whole key, not on its text cut at the cap.
                let secret = secret_str || redact.is_secret(&text);
                let mut out = String::new();
                crate::repr::str_repr(&text, render::TEXT_CAP, &mut out);
                (out, secret)
            }
            Value::Int(n) => (n.to_string(), false),
            Value::BigInt(t) => (t, false),
            Value::Bool(b) => ((if b { "True" } else { "False" }).to_string(), false),
            Value::None => ("None".to_string(), false),
            Value::Float(x) => {
                let mut out = String::new();
                crate::repr::float_repr(x, &mut out);
                (out, false)
            }
            Value::Repr(r) => (r.text, secret_str),
            Value::Redacted { type_name } => (format!("<{type_name}>"), true),
            Value::Deleted => (String::new(), false),
        }
    }
}

/// An attribute or field name (a `str`), and whether it is secret.
///
/// # Safety
/// GIL held; `k` live.
unsafe fn key_name(k: *mut ffi::PyObject, redact: &Redactor) -> (String, bool) {
    let mut name = String::new();
    // SAFETY: guaranteed by the caller.
    unsafe {
        if ffi::PyUnicode_Check(k) != 0 {
            render::read_key(k, &mut name);
        }
    }
    let secret = redact.is_secret(&name);
    (name, secret)
}
