//! One `repr()` per object per event: while a [`ReprScope`] is open on a thread, the text of each
//! object rendered through `PyObject_Repr` is kept (or the exception it raised), and the same
//! object met again (a dict key shown in the dict's text and again as its child's key, an object
//! in two containers, an element checked by a shape and then rendered) reuses it instead of
//! running its `__repr__` again.
//!
//! Sound because the scope holds a reference to every object it keeps (and to its repr string)
//! until it closes: a kept object cannot be freed, so its address cannot be taken by another
//! object while the scope is open. Scopes nest; the outermost one releases the references. A
//! scope lasts one hook call (one event), so no text outlives the event it was taken at: Python
//! itself calls `__repr__` once per element when it renders a container.

use std::cell::RefCell;
use std::collections::HashMap;

use pyo3_ffi as ffi;

/// Objects kept per scope at most; past it, objects are rendered as if no scope were open.
const MAX_KEPT: usize = 4096;

#[derive(Default)]
struct Memo {
    open: u32,
    /// Object address → its repr; a reference to the object (and to its repr string) is held.
    kept: HashMap<usize, Kept, foldhash::fast::FixedState>,
    /// An empty map whose table is already sized: the next scope keeps into it, so that a
    /// scope per event does not grow a new table each time.
    spare: HashMap<usize, Kept, foldhash::fast::FixedState>,
}

/// What an object's `repr()` gave.
enum Kept {
    /// Its repr string (a reference held).
    Text(usize),
    /// It raised: the exception's type name (so that a failing `__repr__` runs once too).
    Failed(Box<str>),
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::default();
}

/// An open memo scope on this thread (see the module docs); closing the outermost releases what
/// it kept.
pub(crate) struct ReprScope(());

impl ReprScope {
    /// Opens a scope. It must be dropped on this thread with the GIL held.
    pub fn open() -> ReprScope {
        MEMO.with_borrow_mut(|m| m.open += 1);
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
                if let Kept::Text(r) = r {
                    ffi::Py_DecRef(r as *mut ffi::PyObject);
                }
                ffi::Py_DecRef(obj as *mut ffi::PyObject);
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

/// The repr kept for `obj` in the open scope: its string (a borrowed reference, valid until the
/// scope closes), or the type name of the exception it raised.
pub(crate) fn kept(obj: *mut ffi::PyObject) -> Option<Result<*mut ffi::PyObject, String>> {
    MEMO.with_borrow(|m| {
        if m.open == 0 {
            return None;
        }
        m.kept.get(&(obj as usize)).map(|k| match k {
            Kept::Text(r) => Ok(*r as *mut ffi::PyObject),
            Kept::Failed(error) => Err(error.to_string()),
        })
    })
}

/// Keeps `r`, the repr string of `obj`, in the open scope, taking over the caller's reference to
/// `r`. Returns false (and takes nothing) when no scope is open or the scope is full.
///
/// # Safety
/// GIL held; `obj` is live, `r` is a new reference.
pub(crate) unsafe fn keep(obj: *mut ffi::PyObject, r: *mut ffi::PyObject) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe { insert(obj, Kept::Text(r as usize)) }
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
        if m.open == 0 || m.kept.len() >= MAX_KEPT {
            return false;
        }
        // SAFETY: guaranteed by the caller.
        unsafe { ffi::Py_IncRef(obj) };
        if let Some(old) = m.kept.insert(obj as usize, kept) {
            // Not reached (a kept object is looked up first); keep the counts right anyway.
            // SAFETY: the references in `old` were taken by an earlier `insert`.
            unsafe {
                if let Kept::Text(r) = old {
                    ffi::Py_DecRef(r as *mut ffi::PyObject);
                }
                ffi::Py_DecRef(obj);
            }
        }
        true
    })
}
