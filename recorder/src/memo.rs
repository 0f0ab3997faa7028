//! One `repr()` per object per event: while a [`ReprScope`] is open on a thread, the text of each
//! object rendered through `PyObject_Repr` is kept, and the same object met again (a dict key
//! shown in the dict's text and again as its child's key, an object in two containers) reuses it
//! instead of running its `__repr__` again.
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
    /// Object address → its repr string; a reference to both is held.
    kept: HashMap<usize, usize, foldhash::fast::FixedState>,
    /// An empty map whose table is already sized: the next scope keeps into it, so that a
    /// scope per event does not grow a new table each time.
    spare: HashMap<usize, usize, foldhash::fast::FixedState>,
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
            // SAFETY: the scope's contract: dropped with the GIL held; both references were
            // taken by `keep`.
            unsafe {
                ffi::Py_DecRef(r as *mut ffi::PyObject);
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

/// The repr string kept for `obj` in the open scope (a borrowed reference, valid until the scope
/// closes).
pub(crate) fn kept(obj: *mut ffi::PyObject) -> Option<*mut ffi::PyObject> {
    MEMO.with_borrow(|m| {
        if m.open == 0 {
            return None;
        }
        m.kept
            .get(&(obj as usize))
            .map(|&r| r as *mut ffi::PyObject)
    })
}

/// Keeps `r`, the repr string of `obj`, in the open scope, taking over the caller's reference to
/// `r`. Returns false (and takes nothing) when no scope is open or the scope is full.
///
/// # Safety
/// GIL held; `obj` is live, `r` is a new reference.
pub(crate) unsafe fn keep(obj: *mut ffi::PyObject, r: *mut ffi::PyObject) -> bool {
    MEMO.with_borrow_mut(|m| {
        if m.open == 0 || m.kept.len() >= MAX_KEPT {
            return false;
        }
        // SAFETY: guaranteed by the caller.
        unsafe { ffi::Py_IncRef(obj) };
        if let Some(old) = m.kept.insert(obj as usize, r as usize) {
            // Not reached (a kept object is looked up first); keep the counts right anyway.
            // SAFETY: `old` and the extra reference to `obj` were taken by an earlier `keep`.
            unsafe {
                ffi::Py_DecRef(old as *mut ffi::PyObject);
                ffi::Py_DecRef(obj);
            }
        }
        true
    })
}
