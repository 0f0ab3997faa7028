//! "Did this container change?" without rendering it again: the shape of an exact list, tuple or
//! dict as far as its text and its children reach, taken when the value is rendered and checked
//! at the next event of its frame (DESIGN.md 5.6). A shape holds no reference; what it compares
//! stays sound if any object it saw is freed and another made at its address:
//! - a list or tuple: its type, its length, and each reachable element, compared by content
//!   (a scalar by value, a container by its own shape);
//! - a dict (exact, with a combined table): its address and version tag. CPython gives a dict a
//!   new tag, from a global counter, at every mutation and at creation, so an unchanged tag means
//!   the very same entries, held by the dict all along: its plain keys and values need no check,
//!   and only its reachable other keys and values are checked, each by its own node;
//! - anything else in reach that is not expanded into children there (an object with its own
//!   `__repr__` as a dict key or in a tuple, a set): its rendering, made again and compared. Only
//!   the container's own text and children are spared, but for a dict keyed by such objects that
//!   is most of the work.
//!
//! A rendering that holds `...` (a container met inside itself, where the text depends on the
//! containers being rendered around it) gives no shape: the walk takes it outside the containers
//! the value's text renders it in. Without `...`, the text is the same in and out of them.
//!
//! Rendering an element may run its `__repr__`, which may change the containers around it: a
//! walk or a check reads a list's length and a dict's tag again after every element, and gives up
//! (no shape, or "changed") when they moved. A value whose shape would take more than [`NODES`]
//! nodes or [`TEXT`] bytes of text has none: it is rendered again at every event.

use pyo3_ffi as ffi;
use pyttd_format::Value;

use crate::cpython;
use crate::expand::{self, Expander};
use crate::memo;
use crate::plan::{LastPlan, Reads};
use crate::redact::Redactor;
use crate::render::{self, TEXT_CAP, is_plain, same};

/// Nodes a shape may hold, and text its scalars may copy, at most (one is kept per local, per
/// frame).
const NODES: usize = 512;
const TEXT: usize = 2048;

/// Text a walk starts with: a little more than the cap, so that the lower bounds below can only
/// err on the side of walking too far.
const START: usize = TEXT_CAP + 8;

/// The shape of one value (see the module docs).
#[derive(Debug)]
pub(crate) struct Shape {
    root: Node,
    /// Whether checking it renders anything (and so may run a `repr()`).
    renders: bool,
    /// The children the value was rendered with, when it is [`Shape::reusable`] and they were
    /// kept ([`Shape::keep_rows`]).
    rows: Vec<crate::expand::Node>,
}

#[derive(Debug)]
enum Node {
    /// A plain element of a list or tuple, as [`render::renders_as`] confirms it.
    Scalar(Value),
    /// Anything else not expanded where it is: its rendering.
    Rendered(Value),
    /// An object whose `repr()` the recorder follows itself (plan.rs): what it read.
    Planned(Reads),
    /// An object shown by `object.__repr__` (`<module.Name object at 0x...>`, no state): its
    /// address and its type's [`cpython::type_repr_version`], which together fix that text.
    Stamped {
        addr: usize,
        version: u64,
    },
    Container(Container),
}

/// The node of an exact list, tuple or dict, or of an instance shown with its attributes.
#[derive(Debug)]
enum Container {
    /// An instance of a Python class whose children are its attributes (`expand::items`): its
    /// type and version tag, the node of its own text, and its children, each by name.
    Instance {
        type_addr: usize,
        tag: u32,
        text: Box<Node>,
        /// Children shown at most (`--expand-width`).
        width: usize,
        fields: Box<[Field]>,
    },
    Sequence {
        type_addr: usize,
        len: usize,
        /// The reachable elements, from the first.
        items: Box<[Node]>,
    },
    Dict {
        addr: usize,
        tag: u64,
        /// The reachable entries whose key or value is not plain.
        entries: Box<[Entry]>,
    },
}

/// A child of a [`Container::Instance`]: its name, and the node of its value, or the type name a
/// secret one is shown by.
#[derive(Debug)]
struct Field {
    key: String,
    value: Result<Node, String>,
}

/// An entry of a [`Container::Dict`]: `PyDict_Next`'s position before it (an unchanged tag means an
/// unchanged table, so the position still holds), and the nodes of its key and value when they
/// are not plain.
#[derive(Debug)]
struct Entry {
    pos: ffi::Py_ssize_t,
    /// Its place in the dict's order (its child row's position).
    ordinal: u32,
    key: Option<Node>,
    value: Option<Node>,
}

impl Shape {
    /// The shape of `obj` as `expand` shows it (its text, and its children to `expand.depth`
    /// levels of `expand.width`), or `None` when it has none.
    ///
    /// # Safety
    /// GIL held; `obj` is live.
    pub unsafe fn of(
        obj: *mut ffi::PyObject,
        expand: &Expander,
        redact: &Redactor,
    ) -> Option<Box<Shape>> {
        let mut walk = Walk {
            nodes: NODES,
            text: TEXT,
            width: expand.width as usize,
            redact,
            rendered: false,
            path: Vec::new(),
        };
        let mut chars = START;
        // SAFETY: guaranteed by the caller.
        let root = unsafe {
            if sequence(obj).is_some() || ffi::PyDict_CheckExact(obj) != 0 {
                walk.container(obj, &mut chars, expand.depth)?
            } else {
                walk.instance(obj, expand.depth)?
            }
        };
        Some(Box::new(Shape {
            root,
            renders: walk.rendered,
            rows: Vec::new(),
        }))
    }

    /// Whether a value that no longer matches this shape as a whole may still take the rows of
    /// its unchanged children from it ([`Expander::render_reusing`]): a list, tuple or dict whose
    /// elements' nodes are checked without running any Python code.
    ///
    /// [`Expander::render_reusing`]: crate::expand::Expander::render_reusing
    pub fn reusable(&self) -> bool {
        !self.renders
            && matches!(
                self.root,
                Node::Container(Container::Sequence { .. } | Container::Dict { .. })
            )
    }

    /// Keeps the children rows the value was rendered with (only a [`Shape::reusable`] shape's
    /// are ever used).
    pub fn keep_rows(&mut self, rows: Vec<crate::expand::Node>) {
        self.rows = rows;
    }

    /// The children rows kept with this shape.
    pub fn rows(&self) -> &[crate::expand::Node] {
        &self.rows
    }

    /// The children rows kept with this shape, taken out of it.
    pub fn take_rows(&mut self) -> Vec<crate::expand::Node> {
        std::mem::take(&mut self.rows)
    }

    /// For each element this list or tuple shape has a node of (every element its text reached,
    /// and the first `width`, each with text of its own as its child row shows it), whether
    /// `obj`'s element there renders as it did when the shape was taken (`false` where `obj` has
    /// none); empty when `obj` is not a list or tuple of the shape's type.
    ///
    /// # Safety
    /// GIL held; `obj` is live and referenced by the caller; the shape is
    /// [`Shape::reusable`] (checking it runs no Python code).
    pub unsafe fn matching_elements(
        &self,
        obj: *mut ffi::PyObject,
        redact: &Redactor,
    ) -> Vec<bool> {
        let Node::Container(Container::Sequence {
            type_addr, items, ..
        }) = &self.root
        else {
            return Vec::new();
        };
        // SAFETY: guaranteed by the caller; each element is checked inside `obj`, as `matches`
        // checks it, and no Python code runs meanwhile.
        unsafe {
            let Some((t, len)) = sequence(obj).filter(|&(t, _)| t as usize == *type_addr) else {
                return Vec::new();
            };
            let path = &mut Path::of(obj);
            items
                .iter()
                .enumerate()
                .map(|(i, node)| i < len && check_held(item(obj, t, i), node, redact, path))
                .collect()
        }
    }

    /// Whether the entry `k: v`, the `i`-th of the dict `obj`, renders as a child (its key's
    /// text and its value) exactly as the `i`-th did when this shape was taken, whose child row
    /// holds `value` and a key that `same_key` compares a plain key with. A key or value that
    /// was not plain is checked by its node (each of the first `width` entries has nodes of
    /// their own text: the walk takes them as children); a plain one by its content.
    ///
    /// # Safety
    /// GIL held; `obj`, `k` and `v` are live and referenced by the caller.
    pub unsafe fn entry_matches(
        &self,
        obj: *mut ffi::PyObject,
        i: usize,
        (k, v): (*mut ffi::PyObject, *mut ffi::PyObject),
        value: &Value,
        same_key: impl FnOnce() -> bool,
        redact: &Redactor,
    ) -> bool {
        let Node::Container(Container::Dict { entries, .. }) = &self.root else {
            return false;
        };
        let entry = entries
            .binary_search_by_key(&i, |e| e.ordinal as usize)
            .ok()
            .map(|at| &entries[at]);
        let path = &mut Path::of(obj);
        // SAFETY: guaranteed by the caller; checking a reusable shape's node runs no Python
        // code, and neither does rendering a plain key.
        unsafe {
            let key = match entry.and_then(|e| e.key.as_ref()) {
                Some(node) => check_held(k, node, redact, path),
                None => is_plain(k) && same_key(),
            };
            key && match entry.and_then(|e| e.value.as_ref()) {
                Some(node) => check_held(v, node, redact, path),
                None => is_plain(v) && render::renders_as(v, value),
            }
        }
    }

    /// Whether checking this shape renders an element (and so may run a `repr()`, which may
    /// change what it checks).
    pub fn renders(&self) -> bool {
        self.renders
    }

    /// Whether `obj` renders, children included, exactly as the value this shape was taken with.
    ///
    /// # Safety
    /// GIL held; `obj` is live and referenced by the caller (an element's `repr()` may run).
    pub unsafe fn matches(&self, obj: *mut ffi::PyObject, redact: &Redactor) -> bool {
        // SAFETY: guaranteed by the caller.
        unsafe { self.root.matches(obj, redact, &mut Path::default()) }
    }
}

impl Node {
    /// `path`: the containers this check is inside of.
    ///
    /// # Safety
    /// GIL held; `obj` is live and referenced.
    unsafe fn matches(&self, obj: *mut ffi::PyObject, redact: &Redactor, path: &mut Path) -> bool {
        // SAFETY: guaranteed by the caller.
        unsafe {
            match self {
                Node::Scalar(value) => render::renders_as(obj, value),
                // Rendered without `...` when the shape was taken: with it now, the text (even if
                // its first characters are the same) is not comparable.
                Node::Rendered(value) => {
                    render_unmarked(obj, redact).is_some_and(|now| same(&now, value))
                }
                Node::Planned(reads) => reads.matches(obj, redact, &mut path.plan),
                Node::Stamped { addr, version } => {
                    obj as usize == *addr
                        && !render::has_custom_repr(obj)
                        && cpython::type_repr_version(ffi::Py_TYPE(obj)) == Some(*version)
                }
                Node::Container(container) => {
                    // A container inside itself is shown as `[...]` there, which its contents
                    // do not tell, and no shape holds (a walk takes none): changed.
                    if path.contains(&(obj as usize)) {
                        return false;
                    }
                    path.push(obj as usize);
                    let matches = container.matches(obj, redact, path);
                    path.pop();
                    matches
                }
            }
        }
    }
}

impl Container {
    /// [`Node::matches`] of a list, tuple or dict node, inside the path.
    ///
    /// # Safety
    /// As [`Node::matches`].
    unsafe fn matches(&self, obj: *mut ffi::PyObject, redact: &Redactor, path: &mut Path) -> bool {
        // SAFETY: guaranteed by the caller; every typed read follows its exact-type check, a
        // list's length and a dict's tag are read again before each element (a `repr()` run by
        // the previous one may have changed them), and each element is held while checked.
        unsafe {
            match self {
                Container::Sequence {
                    type_addr,
                    len,
                    items,
                } => {
                    let same_kind =
                        || sequence(obj).filter(|&(t, n)| t as usize == *type_addr && n == *len);
                    same_kind().is_some()
                        && items.iter().enumerate().all(|(i, node)| {
                            same_kind().is_some_and(|(t, _)| {
                                check_held(item(obj, t, i), node, redact, path)
                            })
                        })
                        && same_kind().is_some()
                }
                Container::Instance {
                    type_addr,
                    tag,
                    text,
                    width,
                    fields,
                } => {
                    let t = ffi::Py_TYPE(obj);
                    if t as usize != *type_addr || cpython::type_version(t) != Some(*tag) {
                        return false;
                    }
                    if !text.matches(obj, redact, path) {
                        return false;
                    }
                    // Its attributes now, as the children show them (no Python code runs to
                    // collect them); a `repr()` run by a check below may change them, which the
                    // next event's check sees.
                    let Some(items) = expand::raw_items(obj, *width) else {
                        return fields.is_empty();
                    };
                    // The names first, before any check may run Python code (a `__slots__`
                    // name is read from its type), compared without making their text where
                    // they can be read in place. Whether a name is secret follows from its text
                    // alone: the same names are secret where the fields say.
                    let same = items.0.len() == fields.len()
                        && (items.0.iter().zip(fields.iter()))
                            .all(|(item, field)| item.key.is(&field.key, redact))
                        && (items.0.iter().zip(fields.iter())).all(|(item, field)| {
                            match &field.value {
                                Ok(node) => check_held(item.obj, node, redact, path),
                                Err(type_name) => render::type_name(item.obj) == *type_name,
                            }
                        });
                    items.release();
                    same
                }
                Container::Dict { addr, tag, entries } => {
                    let dict =
                        obj as usize == *addr && ffi::PyDict_CheckExact(obj) != 0 && combined(obj);
                    let unchanged = || cpython::dict_version(obj) == *tag;
                    dict && unchanged()
                        && entries.iter().all(|e| {
                            let (mut pos, mut k, mut v) =
                                (e.pos, std::ptr::null_mut(), std::ptr::null_mut());
                            unchanged()
                                && ffi::PyDict_Next(obj, &mut pos, &mut k, &mut v) != 0
                                && e.key
                                    .as_ref()
                                    .is_none_or(|n| check_held(k, n, redact, path))
                                && unchanged()
                                && e.value
                                    .as_ref()
                                    .is_none_or(|n| check_held(v, n, redact, path))
                        })
                        && unchanged()
                }
            }
        }
    }
}

/// `obj` rendered, or `None` when a text holding `...` was rendered for it (anywhere in a repr's
/// whole text, or the renderer's own mark of a container met inside itself: `memo::mark`).
///
/// # Safety
/// GIL held; `obj` is live and referenced.
unsafe fn render_unmarked(obj: *mut ffi::PyObject, redact: &Redactor) -> Option<Value> {
    memo::take_marked();
    // SAFETY: guaranteed by the caller.
    let value = unsafe { render::render(obj, redact) };
    (!memo::take_marked()).then_some(value)
}

/// Whether `text` holds `...` (a byte scan: `str::contains` sets up a substring searcher per call).
pub(crate) fn holds_ellipsis(text: &str) -> bool {
    text.as_bytes().windows(3).any(|w| w == b"...")
}

/// [`Node::matches`] of the borrowed `x`, held meanwhile.
///
/// # Safety
/// GIL held; `x` is live.
unsafe fn check_held(
    x: *mut ffi::PyObject,
    node: &Node,
    redact: &Redactor,
    path: &mut Path,
) -> bool {
    // SAFETY: guaranteed by the caller; the reference taken is released.
    unsafe {
        if let Node::Scalar(value) = node {
            return render::renders_as(x, value);
        }
        cpython::incref(x);
        let matches = node.matches(x, redact, path);
        cpython::decref(x);
        matches
    }
}

/// A shape being taken: what it may still hold.
struct Walk<'a> {
    nodes: usize,
    text: usize,
    width: usize,
    redact: &'a Redactor,
    /// Whether a [`Node::Rendered`] was taken.
    rendered: bool,
    /// The containers the walk is inside of.
    path: Vec<usize>,
}

impl Walk<'_> {
    /// The node of the list, tuple or dict `obj`, walked as its text shows it from `chars`
    /// characters left (taken off as the walk goes, by lower bounds: never more than the text
    /// takes), and, `levels` deep, as its children show it: the first `width` elements or values,
    /// each with text of its own.
    ///
    /// # Safety
    /// GIL held; `obj` is live.
    unsafe fn container(
        &mut self,
        obj: *mut ffi::PyObject,
        chars: &mut usize,
        levels: u32,
    ) -> Option<Node> {
        // A container inside itself is shown as `[...]` there, which its contents do not tell:
        // such a value has no shape.
        if self.path.contains(&(obj as usize)) {
            return None;
        }
        self.path.push(obj as usize);
        // SAFETY: guaranteed by the caller.
        let node = unsafe { self.contents(obj, chars, levels) };
        self.path.pop();
        node
    }

    /// [`Walk::container`], inside it.
    ///
    /// # Safety
    /// As [`Walk::container`].
    unsafe fn contents(
        &mut self,
        obj: *mut ffi::PyObject,
        chars: &mut usize,
        levels: u32,
    ) -> Option<Node> {
        self.nodes = self.nodes.checked_sub(1)?;
        // The brackets.
        *chars = chars.saturating_sub(2);
        // SAFETY: guaranteed by the caller; exact-type checks come first. Rendering an element
        // may run its `__repr__`: every non-plain element is held while it is walked, and the
        // list's length or the dict's tag is read again after it.
        unsafe {
            if let Some((t, len)) = sequence(obj) {
                let mut items = Vec::new();
                for i in 0..len {
                    let child = levels > 0 && i < self.width;
                    if *chars == 0 && !child {
                        break;
                    }
                    if i > 0 {
                        *chars = chars.saturating_sub(2);
                    }
                    if sequence(obj) != Some((t, len)) {
                        return None;
                    }
                    let x = item(obj, t, i);
                    items.push(if is_plain(x) {
                        *chars = chars.saturating_sub(min_chars(x));
                        self.scalar(x)?
                    } else {
                        let x = Held::new(x);
                        self.element(x.0, chars, child, levels)?
                    });
                }
                if sequence(obj) != Some((t, len)) {
                    return None;
                }
                return Some(Node::Container(Container::Sequence {
                    type_addr: t as usize,
                    len,
                    items: items.into_boxed_slice(),
                }));
            }
            if ffi::PyDict_CheckExact(obj) == 0 || !combined(obj) {
                return None;
            }
            let tag = cpython::dict_version(obj);
            let mut entries = Vec::new();
            let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
            for i in 0.. {
                let child = levels > 0 && i < self.width;
                if *chars == 0 && !child {
                    break;
                }
                let before = pos;
                if cpython::dict_version(obj) != tag {
                    return None;
                }
                if ffi::PyDict_Next(obj, &mut pos, &mut k, &mut v) == 0 {
                    break;
                }
                // The separator and `: `.
                *chars = chars.saturating_sub(if i > 0 { 4 } else { 2 });
                let (k, v) = (Held::new(k), Held::new(v));
                // A secret key's value is shown as `<redacted>` (its child: its type's name,
                // which cannot change while the dict holds it), and never rendered.
                let secret = render::is_secret_key(k.0, self.redact);
                let key = if is_plain(k.0) {
                    *chars = chars.saturating_sub(min_chars(k.0));
                    None
                } else {
                    // A key is never expanded, but as a child's key it has text of its own.
                    Some(self.element(k.0, chars, child, u32::from(child))?)
                };
                if cpython::dict_version(obj) != tag {
                    return None;
                }
                let value = if secret {
                    *chars = chars.saturating_sub(render::REDACTED.len());
                    None
                } else if is_plain(v.0) {
                    *chars = chars.saturating_sub(min_chars(v.0));
                    None
                } else {
                    Some(self.element(v.0, chars, child, levels)?)
                };
                if key.is_some() || value.is_some() {
                    entries.push(Entry {
                        pos: before,
                        ordinal: i as u32,
                        key,
                        value,
                    });
                }
            }
            if cpython::dict_version(obj) != tag {
                return None;
            }
            Some(Node::Container(Container::Dict {
                addr: obj as usize,
                tag,
                entries: entries.into_boxed_slice(),
            }))
        }
    }

    /// The node of an object that is not a list, tuple or dict, shown with its attributes as
    /// children (`expand::items`): its own text (a planned repr's reads, else its rendering) and,
    /// `levels` deep, each child's node. `None` for an object with no children (it has no
    /// shape: `repr_stamp` or its rendering tell whether it changed), or children the walk
    /// cannot take.
    ///
    /// # Safety
    /// GIL held; `obj` is live and referenced.
    unsafe fn instance(&mut self, obj: *mut ffi::PyObject, levels: u32) -> Option<Node> {
        if levels == 0 {
            return None;
        }
        // SAFETY: guaranteed by the caller; every child is held (a new reference from `items`)
        // while it is walked, and released below.
        unsafe {
            let t = ffi::Py_TYPE(obj);
            let tag = cpython::type_version(t)?;
            self.nodes = self.nodes.checked_sub(1)?;
            // Shown by `object.__repr__`, its text is fixed by its address and its type's module
            // and name (it shows no state, so redaction never withholds it).
            let text = if !render::has_custom_repr(obj) && crate::plan::class_keys_all_str(t) {
                Node::Stamped {
                    addr: obj as usize,
                    version: cpython::type_repr_version(t)?,
                }
            } else {
                self.text_node(obj, &mut START.clone())?
            };
            let items = expand::items(obj, self.width, self.redact)?;
            let mut fields = Vec::with_capacity(items.len());
            for item in &items {
                let value = if item.secret {
                    Some(Err(render::type_name(item.obj)))
                } else if is_plain(item.obj) {
                    self.scalar(item.obj).map(Ok)
                } else {
                    let mut own = START;
                    self.element(item.obj, &mut own, true, levels).map(Ok)
                };
                let Some(value) = value else {
                    break;
                };
                fields.push(Field {
                    key: item.key.clone(),
                    value,
                });
            }
            let complete = fields.len() == items.len();
            for item in items {
                cpython::decref(item.obj);
            }
            // The type, checked again: a `repr()` run above may have changed it.
            if !complete || ffi::Py_TYPE(obj) != t || cpython::type_version(t) != Some(tag) {
                return None;
            }
            Some(Node::Container(Container::Instance {
                type_addr: t as usize,
                tag,
                text: Box::new(text),
                width: self.width,
                fields: fields.into_boxed_slice(),
            }))
        }
    }

    /// A non-plain object inside a container: a list, tuple or dict has a node of its own
    /// (shown as a child (`child`) it has text of its own and one level fewer of children, and
    /// takes off the parent's text what its own walk took; otherwise it is walked within the
    /// parent's text); anything else is rendered, unless it is expanded into children here.
    ///
    /// # Safety
    /// GIL held; `x` is live and referenced.
    unsafe fn element(
        &mut self,
        x: *mut ffi::PyObject,
        chars: &mut usize,
        child: bool,
        levels: u32,
    ) -> Option<Node> {
        // SAFETY: guaranteed by the caller.
        unsafe {
            if sequence(x).is_none() && ffi::PyDict_CheckExact(x) == 0 {
                if child && levels > 1 {
                    return None;
                }
                self.nodes = self.nodes.checked_sub(1)?;
                let x = Held::new(x);
                return self.text_node(x.0, chars);
            }
            if !child {
                return self.container(x, chars, 0);
            }
            let mut own = START;
            let node = self.container(x, &mut own, levels - 1)?;
            *chars = chars.saturating_sub(START - own);
            Some(node)
        }
    }

    /// The node of the text of `x`, an object not expanded here (not a list, tuple or dict):
    /// what its planned repr read (taken from the plan, or confirmed against its rendering), else
    /// its rendering. `None` for a text holding `...`, which depends on the containers around it
    /// (module docs): no shape holds it. Takes the text off `chars` and the walk's budget.
    ///
    /// # Safety
    /// GIL held; `x` is live and referenced.
    unsafe fn text_node(&mut self, x: *mut ffi::PyObject, chars: &mut usize) -> Option<Node> {
        // SAFETY: guaranteed by the caller.
        unsafe {
            if let Some(node) = self.planned(x, chars) {
                return node;
            }
            let value = render_unmarked(x, self.redact)?;
            let Value::Repr(r) = &value else {
                return None;
            };
            self.text = self.text.checked_sub(r.text.len())?;
            *chars = chars.saturating_sub(r.text.chars().count());
            // What a planned repr read stands for its text, and is checked without running
            // Python.
            if let Some(reads) = Reads::of(x, self.redact, &r.text, r.truncated) {
                return Some(Node::Planned(reads));
            }
            self.rendered = true;
            Some(Node::Rendered(value))
        }
    }

    /// The node of `x` when its `repr()` is planned and no `__repr__` has run in this event (so
    /// the plan's text is the one rendering `x` shows: one kept earlier in the event is the
    /// same), taken from the plan alone: `Some(None)` when that text holds `...` (no shape);
    /// `None` to take the node from its rendering.
    ///
    /// # Safety
    /// GIL held; `x` is live and referenced.
    unsafe fn planned(&mut self, x: *mut ffi::PyObject, chars: &mut usize) -> Option<Option<Node>> {
        // A text kept earlier in the event is what renderings of `x` show: its node is taken
        // from that rendering (and is a plan's only if the plan still gives that text).
        if memo::ran_python() || memo::kept(x).is_some() {
            return None;
        }
        // SAFETY: guaranteed by the caller.
        let (reads, text) = unsafe { Reads::read(x, self.redact)? };
        if holds_ellipsis(&text) {
            return Some(None);
        }
        // Kept for the rest of the event, as its rendering keeps it (`render::python_repr`): a
        // `__repr__` run later in the event may change `x`, and `x` is shown as it was here.
        // SAFETY: guaranteed by the caller; the new string is the memo's when it keeps it.
        unsafe {
            let r = ffi::PyUnicode_FromStringAndSize(text.as_ptr().cast(), text.len() as isize);
            if r.is_null() {
                ffi::PyErr_Clear();
                return None;
            }
            if !memo::keep(x, r, false) {
                cpython::decref(r);
            }
        }
        // What a rendering of it shows: the text, cut at the cap.
        let (bytes, shown) = match text.char_indices().nth(TEXT_CAP) {
            Some((at, _)) => (at, TEXT_CAP),
            None => (text.len(), text.chars().count()),
        };
        let Some(left) = self.text.checked_sub(bytes) else {
            return Some(None);
        };
        self.text = left;
        *chars = chars.saturating_sub(shown);
        Some(Some(Node::Planned(reads)))
    }

    /// A plain element of a list or tuple: by value when [`render::renders_as`] can confirm it
    /// (it cannot for a `str` that is not ASCII or an `int` beyond 64 bits), else by its
    /// rendering.
    ///
    /// # Safety
    /// GIL held; `x` is live and plain.
    unsafe fn scalar(&mut self, x: *mut ffi::PyObject) -> Option<Node> {
        self.nodes = self.nodes.checked_sub(1)?;
        // SAFETY: guaranteed by the caller; rendering a plain value runs no Python code.
        unsafe {
            let value = render::render(x, self.redact);
            if let Value::Str { text, .. } = &value {
                self.text = self.text.checked_sub(text.len())?;
            }
            // (Rendering a plain value runs no code: `rendered` stays as it is.)
            Some(if render::renders_as(x, &value) {
                Node::Scalar(value)
            } else {
                Node::Rendered(value)
            })
        }
    }
}

/// The containers a check is inside of, innermost last: on the stack up to a depth that nested
/// data rarely passes (a check runs per container local at every event, and a heap vector cost
/// an allocation each time).
#[derive(Default)]
struct Path {
    inline: [usize; 8],
    len: usize,
    deeper: Vec<usize>,
    /// The plan the check looked up last (plan.rs).
    plan: LastPlan,
}

impl Path {
    /// The path inside `obj`.
    fn of(obj: *mut ffi::PyObject) -> Path {
        let mut path = Path::default();
        path.push(obj as usize);
        path
    }

    fn contains(&self, obj: &usize) -> bool {
        self.inline[..self.len.min(8)].contains(obj) || self.deeper.contains(obj)
    }

    fn push(&mut self, obj: usize) {
        if self.len < 8 {
            self.inline[self.len] = obj;
        } else {
            self.deeper.push(obj);
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        if self.len > 8 {
            self.deeper.pop();
        }
        self.len = self.len.saturating_sub(1);
    }
}

/// A reference held for as long as this lives (dropped with the GIL held).
struct Held(*mut ffi::PyObject);

impl Held {
    /// # Safety
    /// GIL held; `x` is live.
    unsafe fn new(x: *mut ffi::PyObject) -> Held {
        // SAFETY: guaranteed by the caller.
        unsafe { cpython::incref(x) };
        Held(x)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: the reference taken by `new`; shapes are taken and checked with the GIL held.
        unsafe { cpython::decref(self.0) };
    }
}

/// At least as many characters as the repr of the plain object `x` has.
///
/// # Safety
/// GIL held; `x` is live and plain.
unsafe fn min_chars(x: *mut ffi::PyObject) -> usize {
    // SAFETY: guaranteed by the caller; the length read follows the exact-type check.
    unsafe {
        let t = ffi::Py_TYPE(x);
        if t == &raw mut ffi::PyUnicode_Type {
            // The quotes; escapes only add.
            ffi::PyUnicode_GET_LENGTH(x) as usize + 2
        } else if t == &raw mut ffi::PyFloat_Type {
            // `1.0`, `inf`, `nan`, `1e+16`.
            3
        } else if x == ffi::Py_None() || x == ffi::Py_True() {
            4
        } else if x == ffi::Py_False() {
            5
        } else {
            1
        }
    }
}

/// The type and length of an exact list or tuple.
///
/// # Safety
/// GIL held; `obj` is live.
unsafe fn sequence(obj: *mut ffi::PyObject) -> Option<(*mut ffi::PyTypeObject, usize)> {
    // SAFETY: guaranteed by the caller; the size read follows the exact-type check.
    unsafe {
        let t = ffi::Py_TYPE(obj);
        if t == &raw mut ffi::PyList_Type {
            Some((t, ffi::PyList_GET_SIZE(obj) as usize))
        } else if t == &raw mut ffi::PyTuple_Type {
            Some((t, ffi::PyTuple_GET_SIZE(obj) as usize))
        } else {
            None
        }
    }
}

/// Element `i` (a borrowed reference) of the exact list or tuple `obj` of type `t`.
///
/// # Safety
/// GIL held; `obj` is live, of type `t`, with more than `i` elements.
unsafe fn item(obj: *mut ffi::PyObject, t: *mut ffi::PyTypeObject, i: usize) -> *mut ffi::PyObject {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if t == &raw mut ffi::PyList_Type {
            ffi::PyList_GET_ITEM(obj, i as ffi::Py_ssize_t)
        } else {
            ffi::PyTuple_GET_ITEM(obj, i as ffi::Py_ssize_t)
        }
    }
}

/// Whether the dict `d` holds its own values (a combined table). An instance's `__dict__` that
/// shares its values with the instance (a split table) has no shape: on 3.13 an attribute store
/// writes the shared values without a new version tag.
///
/// # Safety
/// GIL held; `d` is a live dict.
unsafe fn combined(d: *mut ffi::PyObject) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe { (*d.cast::<ffi::PyDictObject>()).ma_values.is_null() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_holds_what_is_pushed_until_it_is_popped_at_any_depth() {
        let mut path = Path::default();
        for depth in 1..=12 {
            path.push(depth * 16);
            assert!((1..=depth).all(|d| path.contains(&(d * 16))), "{depth}");
            assert!(!path.contains(&(depth * 16 + 16)));
        }
        for depth in (1..=12).rev() {
            path.pop();
            assert!(!path.contains(&(depth * 16)), "{depth}");
            assert!((1..depth).all(|d| path.contains(&(d * 16))), "{depth}");
        }
        path.pop();
        assert!(!path.contains(&0));
    }
}
