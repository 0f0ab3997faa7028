//! One `repr()` per object per event: while a [`ReprScope`] is open on a thread, the text of each
//! object rendered through `PyObject_Repr` is kept (or the exception it raised), and the same
//! object met again (a dict key shown in the dict's text and again as its child's key, an object
//! in two containers, an element checked by a shape and then rendered) reuses it instead of
//! running its `__repr__` again.
//!
//! A repr that met a container already being rendered shows it as `[...]` (`{...}`, `(...)`): its
//! text depends on which containers were being rendered when it was taken. `repr(v)` for
//! `v = [k]`, where `k.__repr__` shows `k.n` and `k.n is v`, is `[K<[...]>]`, while `repr(k)` on
//! its own is `K<[K<[...]>]>`. A text holding `...` is therefore reused only inside the same
//! containers it was taken in (the renderer's [`enter`] and [`leave`] track them). A text without
//! `...` met none of them, and would have met one wherever it was reused only by way of a
//! container it holds, which would have met it again and shown `...` here too.
//!
//! That last step assumes a repr shows `...` where it meets itself again, as CPython's
//! containers, `reprlib.recursive_repr` and dataclasses do by default. Known gap: a `__repr__`
//! that guards its own recursion with another text (`recursive_repr("<K>")`), or shows only a
//! summary of a nested repr (its length), and reaches a container that holds it, can be shown
//! inside that container with the text it has outside it (DESIGN.md 5.6).
//!
//! Sound because the scope holds a reference to every object it keeps (and to its repr string)
//! until it closes: a kept object cannot be freed, so its address cannot be taken by another
//! object while the scope is open. Scopes nest; the outermost one releases the references. A
//! scope lasts one hook call (one event), so no text outlives the event it was taken at: Python
//! itself calls `__repr__` once per element when it renders a container.

use std::cell::RefCell;
use std::collections::HashMap;

use pyo3_ffi as ffi;

use crate::cpython;

/// Objects kept per scope at most; past it, objects are rendered as if no scope were open.
const MAX_KEPT: usize = 4096;

struct Memo {
    open: u32,
    /// The containers the renderer is inside, outermost first.
    entered: Vec<usize>,
    /// Per entered container, whether it is in CPython's own list of containers being
    /// rendered (`Py_ReprEnter`ed; see [`enter`]).
    registered: Vec<bool>,
    /// Whether the containers being rendered are `Py_ReprEnter`ed as they are entered: when the
    /// outermost was entered, the program itself was inside a container's `repr()`.
    eager: bool,
    /// A text that holds `...` was rendered since [`take_marked`] last looked.
    marked: bool,
    /// A `__repr__` ran (the program's code) since the outermost scope opened.
    ran_python: bool,
    /// Object address → its repr; a reference to the object (and to its repr string) is held.
    kept: HashMap<usize, Kept, foldhash::fast::FixedState>,
    /// An empty map whose table is already sized: the next scope keeps into it, so that a
    /// scope per event does not grow a new table each time.
    spare: HashMap<usize, Kept, foldhash::fast::FixedState>,
}

/// What an object's `repr()` gave.
enum Kept {
    /// Its repr string (a reference held), and when the text holds `...`, the containers the
    /// renderer was inside when it was taken (see the module docs).
    Text(usize, Option<Box<[usize]>>),
    /// It raised: the exception's type name (so that a failing `__repr__` runs once too).
    Failed(Box<str>),
}

thread_local! {
    static MEMO: RefCell<Memo> = const {
        RefCell::new(Memo {
            open: 0,
            entered: Vec::new(),
            registered: Vec::new(),
            eager: false,
            marked: false,
            ran_python: false,
            kept: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0)),
            spare: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0)),
        })
    };
}

/// An open memo scope on this thread (see the module docs); closing the outermost releases what
/// it kept.
pub(crate) struct ReprScope(());

impl ReprScope {
    /// Opens a scope. It must be dropped on this thread with the GIL held.
    pub fn open() -> ReprScope {
        MEMO.with_borrow_mut(|m| {
            if m.open == 0 {
                m.ran_python = false;
            }
            m.open += 1;
        });
        ReprScope(())
    }
}

impl Drop for ReprScope {
    fn drop(&mut self) {
        let mut kept = MEMO.with_borrow_mut(|m| {
            m.open -= 1;
            if m.open == 0 && !m.kept.is_empty() {
                let spare = std::mem::take(&mut m.spare);
                std::mem::replace(&mut m.kept, spare)
            } else {
                HashMap::default()
            }
        });
        // Released outside the borrow: a release may run a `__del__`, whose code may render.
        for (obj, r) in kept.drain() {
            // SAFETY: the scope's contract: dropped with the GIL held; the references were taken
            // by `keep` and `keep_failure`.
            unsafe {
                if let Kept::Text(r, _) = r {
                    cpython::decref(r as *mut ffi::PyObject);
                }
                cpython::decref(obj as *mut ffi::PyObject);
            }
        }
        if kept.capacity() > 0 {
            MEMO.with_borrow_mut(|m| {
                if m.spare.capacity() == 0 {
                    m.spare = kept;
                }
            });
        }
    }
}

/// How the renderer enters a container ([`enter`]).
pub(crate) enum Entry {
    /// It is being rendered further up: show `...`.
    Inside,
    /// Entered.
    Entered,
    /// The caller must `Py_ReprEnter` it, then [`entered`] it if that added it.
    Register,
}

/// The renderer enters the container `obj`.
///
/// CPython's container reprs find a container met inside itself in a per-thread list
/// (`Py_ReprEnter`), which costs a dict lookup and a list scan per container. Only Python code
/// run while a container is being rendered can look at that list: the recorder's own renderer
/// finds such a container in [`Memo::entered`], and registers the containers it is inside with
/// CPython only before it runs a `__repr__` ([`register`]). Unless the program itself was inside
/// a container's `repr()` when the outermost one was entered (a hook that fires in a `__repr__`
/// called by `repr(list)`): those containers are in CPython's list and the renderer must see
/// them, so it registers every container as it enters it.
///
/// # Safety
/// GIL held; `obj` is live.
pub(crate) unsafe fn enter(obj: *mut ffi::PyObject) -> Entry {
    MEMO.with_borrow_mut(|m| {
        if m.entered.is_empty() {
            // SAFETY: guaranteed by the caller.
            m.eager = unsafe { reprs_in_progress() };
        }
        if m.eager {
            Entry::Register
        } else if m.entered.contains(&(obj as usize)) {
            Entry::Inside
        } else {
            m.entered.push(obj as usize);
            m.registered.push(false);
            Entry::Entered
        }
    })
}

/// The renderer entered `obj`, which `Py_ReprEnter` added to CPython's list.
pub(crate) fn entered(obj: *mut ffi::PyObject) {
    MEMO.with_borrow_mut(|m| {
        m.entered.push(obj as usize);
        m.registered.push(true);
    });
}

/// The renderer leaves the container it entered last; true when it must `Py_ReprLeave` it.
pub(crate) fn leave() -> bool {
    MEMO.with_borrow_mut(|m| {
        m.entered.pop();
        m.registered.pop().unwrap_or(false)
    })
}

/// Registers every container the renderer is inside with CPython (`Py_ReprEnter`), outermost
/// first, before it runs a `__repr__` (see [`enter`]).
///
/// # Safety
/// GIL held; the entered containers are live (the renderer holds them).
pub(crate) unsafe fn register() {
    let pending: Vec<(usize, usize)> = MEMO.with_borrow(|m| {
        (m.entered.iter().zip(&m.registered).enumerate())
            .filter(|(_, (_, registered))| !**registered)
            .map(|(i, (obj, _))| (i, *obj))
            .collect()
    });
    for (i, obj) in pending {
        // SAFETY: guaranteed by the caller. The list cannot hold `obj` already: it was not in it
        // when the outermost container was entered, and a `__repr__` run since removed what it
        // added before returning.
        let added = unsafe { ffi::Py_ReprEnter(obj as *mut ffi::PyObject) } == 0;
        if !added {
            // SAFETY: GIL held.
            unsafe { ffi::PyErr_Clear() };
        }
        MEMO.with_borrow_mut(|m| m.registered[i] = added);
    }
}

/// Whether this thread's list of containers being rendered (`Py_ReprEnter`'s) holds any.
///
/// # Safety
/// GIL held.
unsafe fn reprs_in_progress() -> bool {
    // SAFETY: GIL held; both lookups return borrowed references (or null, with no error set).
    unsafe {
        let dict = ffi::PyThreadState_GetDict();
        if dict.is_null() {
            return false;
        }
        let list = ffi::PyDict_GetItemString(dict, c"Py_Repr".as_ptr());
        !list.is_null() && (ffi::PyList_Check(list) == 0 || ffi::PyList_GET_SIZE(list) > 0)
    }
}

/// Notes that a text holding `...` was rendered: a repr's full text (before any cut), or the
/// renderer's own mark of a container met inside itself.
pub(crate) fn mark() {
    MEMO.with_borrow_mut(|m| m.marked = true);
}

/// Notes that the renderer is about to run a `__repr__` (see [`ran_python`]).
pub(crate) fn note_python() {
    MEMO.with_borrow_mut(|m| m.ran_python = true);
}

/// Whether a `__repr__` ran since the outermost open scope was opened (the event began to be
/// rendered): until one does, no object has changed since the event began, and each object's
/// text is what it renders as now.
pub(crate) fn ran_python() -> bool {
    MEMO.with_borrow(|m| m.open > 0 && m.ran_python)
}

/// Whether a text holding `...` was rendered since the last call (see [`mark`]).
pub(crate) fn take_marked() -> bool {
    MEMO.with_borrow_mut(|m| std::mem::take(&mut m.marked))
}

/// The repr kept for `obj` in the open scope: its string (a borrowed reference, valid until the
/// scope closes) and whether it holds `...`, or the type name of the exception it raised. `None`
/// also for a text that holds `...` and was taken inside other containers than the renderer is
/// in now.
pub(crate) fn kept(obj: *mut ffi::PyObject) -> Option<Result<(*mut ffi::PyObject, bool), String>> {
    MEMO.with_borrow(|m| {
        if m.open == 0 {
            return None;
        }
        match m.kept.get(&(obj as usize))? {
            Kept::Text(r, None) => Some(Ok((*r as *mut ffi::PyObject, false))),
            Kept::Text(r, Some(inside)) => {
                (**inside == *m.entered).then_some(Ok((*r as *mut ffi::PyObject, true)))
            }
            Kept::Failed(error) => Some(Err(error.to_string())),
        }
    })
}

/// Keeps `r`, the repr string of `obj`, in the open scope, taking over the caller's reference to
/// `r`; `marks`: the text holds `...` ([`marks_recursion`]). Returns false (and takes nothing)
/// when no scope is open, the scope is full, or it keeps a repr of `obj` already (taken inside
/// other containers).
///
/// # Safety
/// GIL held; `obj` is live, `r` is a new reference to a `str`.
pub(crate) unsafe fn keep(obj: *mut ffi::PyObject, r: *mut ffi::PyObject, marks: bool) -> bool {
    let inside = marks.then(|| MEMO.with_borrow(|m| m.entered.clone().into_boxed_slice()));
    // SAFETY: guaranteed by the caller.
    unsafe { insert(obj, Kept::Text(r as usize, inside)) }
}

/// Whether the text of the `str` `r` holds `...`, the mark of a container met inside itself (or
/// a text that looks like one). A text whose UTF-8 cannot be had counts as holding it.
///
/// # Safety
/// GIL held; `r` is a live `str`.
pub(crate) unsafe fn marks_recursion(r: *mut ffi::PyObject) -> bool {
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: guaranteed by the caller; the UTF-8 buffer lives as long as `r`.
    let text = unsafe { ffi::PyUnicode_AsUTF8AndSize(r, &mut len) };
    if text.is_null() {
        // SAFETY: GIL held.
        unsafe { ffi::PyErr_Clear() };
        return true;
    }
    // SAFETY: `text` points to `len` bytes owned by `r`.
    let bytes = unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len as usize) };
    bytes.windows(3).any(|w| w == b"...")
}

/// Keeps the failure of `obj`'s `repr()` (the exception's type name) in the open scope.
///
/// # Safety
/// GIL held; `obj` is live.
pub(crate) unsafe fn keep_failure(obj: *mut ffi::PyObject, error: &str) {
    // SAFETY: guaranteed by the caller.
    unsafe { insert(obj, Kept::Failed(error.into())) };
}

/// # Safety
/// GIL held; `obj` is live; a `Kept::Text` carries a new reference.
unsafe fn insert(obj: *mut ffi::PyObject, kept: Kept) -> bool {
    MEMO.with_borrow_mut(|m| {
        if m.open == 0 || m.kept.len() >= MAX_KEPT || m.kept.contains_key(&(obj as usize)) {
            return false;
        }
        // SAFETY: guaranteed by the caller.
        unsafe { cpython::incref(obj) };
        m.kept.insert(obj as usize, kept);
        true
    })
}
