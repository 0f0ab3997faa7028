//! The allocator the recording process should use for Rust's heap: mimalloc for small blocks
//! and for the flush thread's large ones, the system allocator for other large blocks (DESIGN.md
//! 5.9).
//!
//! Recording allocates at every event: a rendering's text, a shape's nodes, a children row, and
//! on the flush thread the pieces of each batch. These blocks are small and short-lived, and
//! glibc's `malloc`/`free` took about a fifth of the callbacks' instructions on container-heavy
//! programs; mimalloc's take a few.
//!
//! Large blocks: the flush thread's (a segment's column buffers, its encoded and compressed
//! copies) come and go at every segment. glibc hands each back to the kernel when it is freed
//! and the next one faults its pages in again, zeroed: tens of thousands of page faults a second
//! on a busy recording. mimalloc keeps freed pages for a few milliseconds, long enough for the
//! next segment to reuse them. Other threads' large blocks (a ring's storage, made once) stay
//! with the system allocator.
//!
//! A small block's allocator follows from its size, which Rust passes to `dealloc` and `realloc`
//! as well; a large block is mimalloc's when mimalloc's heap holds its address
//! (`mi_is_in_heap_region`), wherever it is released. A block changes allocator only through
//! `realloc`, which then moves it.
//!
//! The application registers it (`#[global_allocator]`); this crate's own code does not depend
//! on it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mimalloc::MiMalloc;

/// Blocks up to this size (and alignment) come from mimalloc.
const SMALL: usize = 16 * 1024;

/// mimalloc for blocks of at most 16 KiB and for the large blocks of threads that asked
/// ([`retain_large_blocks`]), the system allocator for the others (see the module docs).
#[derive(Debug, Default)]
pub struct RecorderAllocator;

fn small(layout: Layout) -> bool {
    layout.size() <= SMALL && layout.align() <= SMALL
}

thread_local! {
    /// The calling thread's large blocks come from mimalloc ([`retain_large_blocks`]).
    static RETAINS: Cell<bool> = const { Cell::new(false) };
}

/// Large blocks allocated by the calling thread from now on come from mimalloc too (the flush
/// thread: see the module docs).
pub fn retain_large_blocks() {
    RETAINS.set(true);
}

/// Whether a block of `layout` is to be allocated by mimalloc on this thread.
fn to_mimalloc(layout: Layout) -> bool {
    small(layout) || RETAINS.get()
}

unsafe extern "C" {
    /// mimalloc's own test for an address inside its heap (`mimalloc.h`; the `mimalloc` crate
    /// links the library that defines it).
    fn mi_is_in_heap_region(p: *const std::ffi::c_void) -> bool;
}

/// Whether the live block at `ptr`, of `layout`, was allocated by mimalloc.
fn from_mimalloc(ptr: *mut u8, layout: Layout) -> bool {
    // SAFETY: a query about an address, valid for any address.
    small(layout) || unsafe { mi_is_in_heap_region(ptr.cast()) }
}

// SAFETY: every method forwards to the allocator that owns the block (`from_mimalloc`: by its
// size, or for a large block by mimalloc's own record of its heap); both allocators uphold
// `GlobalAlloc`'s contract themselves.
unsafe impl GlobalAlloc for RecorderAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, forwarded as it is.
        unsafe {
            if small(layout) {
                MiMalloc.alloc(layout)
            } else {
                alloc_large(layout, false)
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe {
            if small(layout) {
                MiMalloc.alloc_zeroed(layout)
            } else {
                alloc_large(layout, true)
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated with `layout` by the allocator `from_mimalloc` names.
        unsafe {
            if small(layout) {
                MiMalloc.dealloc(ptr, layout)
            } else {
                dealloc_large(ptr, layout)
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `ptr` was allocated with `layout` by the allocator `from_mimalloc` names; when
        // the new block is the other one's, the block moves: allocated there, the smaller of
        // the two sizes copied, the old block released where it came from.
        unsafe {
            match (from_mimalloc(ptr, layout), to_mimalloc(new)) {
                (true, true) => MiMalloc.realloc(ptr, layout, new_size),
                (false, false) => System.realloc(ptr, layout, new_size),
                (_, to_small) => {
                    let moved = if to_small {
                        MiMalloc.alloc(new)
                    } else {
                        System.alloc(new)
                    };
                    if !moved.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    moved
                }
            }
        }
    }
}

/// A block above [`SMALL`], out of the small blocks' path (which stays a size test and mimalloc's
/// own fast path).
///
/// # Safety
/// As `GlobalAlloc::alloc`.
#[cold]
#[inline(never)]
unsafe fn alloc_large(layout: Layout, zeroed: bool) -> *mut u8 {
    // SAFETY: guaranteed by the caller.
    unsafe {
        match (RETAINS.get(), zeroed) {
            (true, false) => MiMalloc.alloc(layout),
            (true, true) => MiMalloc.alloc_zeroed(layout),
            (false, false) => System.alloc(layout),
            (false, true) => System.alloc_zeroed(layout),
        }
    }
}

/// # Safety
/// As `GlobalAlloc::dealloc`, for a block above [`SMALL`].
#[cold]
#[inline(never)]
unsafe fn dealloc_large(ptr: *mut u8, layout: Layout) {
    // SAFETY: guaranteed by the caller; `from_mimalloc` names the allocator that made it.
    unsafe {
        if from_mimalloc(ptr, layout) {
            MiMalloc.dealloc(ptr, layout)
        } else {
            System.dealloc(ptr, layout)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block grown and shrunk across the threshold keeps its bytes, and every block is
    /// released by the allocator that made it (a mismatch aborts the test process).
    #[test]
    fn a_block_moved_across_the_threshold_keeps_its_bytes() {
        let a = RecorderAllocator;
        let layout = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: each pointer is used within the size it was allocated or reallocated with,
        // and released once with its current layout.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            for i in 0..100 {
                *p.add(i) = i as u8;
            }
            let big = a.realloc(p, layout, SMALL * 4);
            assert!(!big.is_null());
            *big.add(SMALL * 4 - 1) = 7;
            let back = a.realloc(big, Layout::from_size_align(SMALL * 4, 8).unwrap(), 50);
            assert!(!back.is_null());
            assert_eq!(
                std::slice::from_raw_parts(back, 50),
                (0..50u8).collect::<Vec<_>>().as_slice()
            );
            a.dealloc(back, Layout::from_size_align(50, 8).unwrap());
            let zeroed = a.alloc_zeroed(Layout::from_size_align(SMALL + 1, 64).unwrap());
            assert!(!zeroed.is_null());
            assert!(
                std::slice::from_raw_parts(zeroed, SMALL + 1)
                    .iter()
                    .all(|&b| b == 0)
            );
            a.dealloc(zeroed, Layout::from_size_align(SMALL + 1, 64).unwrap());
        }
    }

    /// A thread that retains large blocks gets them from mimalloc, and any thread releases them
    /// there; other threads' large blocks stay the system allocator's.
    #[test]
    fn large_blocks_of_a_retaining_thread_come_from_mimalloc() {
        let large = Layout::from_size_align(SMALL * 8, 8).unwrap();
        let a = RecorderAllocator;
        // SAFETY: each block is released once, with the layout it was allocated with.
        unsafe {
            let system = a.alloc(large);
            assert!(!system.is_null() && !from_mimalloc(system, large));
            a.dealloc(system, large);
            let retained = std::thread::spawn(move || {
                retain_large_blocks();
                let p = RecorderAllocator.alloc(large);
                *p = 42;
                p as usize
            })
            .join()
            .unwrap() as *mut u8;
            assert!(from_mimalloc(retained, large));
            assert_eq!(*retained, 42);
            // Grown here, on a thread that does not retain: moved to the system allocator.
            let grown = a.realloc(retained, large, SMALL * 16);
            assert!(!grown.is_null() && !from_mimalloc(grown, large));
            assert_eq!(*grown, 42);
            a.dealloc(grown, Layout::from_size_align(SMALL * 16, 8).unwrap());
        }
    }
}
