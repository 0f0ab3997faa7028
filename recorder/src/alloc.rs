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
//! Who releases a block: a small block's allocator follows from its size, which Rust passes to
//! `dealloc` and `realloc` as well. A large block carries its allocator in a word just in front
//! of it (the block is allocated with room for it), since the thread that releases it may not be
//! the one that made it. A block changes allocator only through `realloc` across the size
//! threshold, which moves it.
//!
//! The application registers it (`#[global_allocator]`); this crate's own code does not depend
//! on it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mimalloc::MiMalloc;

/// Blocks up to this size (and alignment) come from mimalloc.
const SMALL: usize = 16 * 1024;

/// The owner word of a large block from mimalloc, and of one from the system allocator.
const BY_MIMALLOC: usize = 0x6d69_6d61_6c6c_6f63;
const BY_SYSTEM: usize = 0x7379_7374_656d_0001;

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

/// The block actually allocated for a large `layout`: `pad` more bytes in front, a multiple of
/// its alignment with room for the owner word; `None` when that size overflows.
fn padded(layout: Layout) -> Option<(Layout, usize)> {
    let pad = layout.align().max(16);
    let outer = Layout::from_size_align(layout.size().checked_add(pad)?, layout.align()).ok()?;
    Some((outer, pad))
}

/// The owner word of the large block at `ptr` (the address handed out).
///
/// # Safety
/// `ptr` is a live large block of this allocator.
unsafe fn owner(ptr: *mut u8) -> usize {
    // SAFETY: guaranteed by the caller: the word is inside the block's front padding.
    let word = unsafe { ptr.cast::<usize>().sub(1).read_unaligned() };
    if word != BY_MIMALLOC && word != BY_SYSTEM {
        // Not a block of ours, or memory written out of bounds: releasing it anywhere would
        // corrupt a heap.
        std::process::abort();
    }
    word
}

// SAFETY: every method forwards to the allocator that owns the block (small blocks: by size;
// large ones: by the owner word written when they were made, kept in front of them); both
// allocators uphold `GlobalAlloc`'s contract themselves, and a large block's front padding is a
// multiple of its alignment, so the address handed out keeps the alignment asked for.
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
        // SAFETY: `ptr` was allocated with `layout` by this allocator.
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
        // SAFETY: `ptr` was allocated with `layout` by this allocator. Within one size class the
        // owner reallocates (a large block with its padding, owner word included); across the
        // threshold the block moves: allocated anew, the smaller size copied, the old released.
        unsafe {
            match (small(layout), small(new)) {
                (true, true) => MiMalloc.realloc(ptr, layout, new_size),
                (false, false) => realloc_large(ptr, layout, new_size),
                _ => {
                    let moved = self.alloc(new);
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
/// own fast path): from mimalloc on a retaining thread, else from the system allocator, with its
/// owner word in front.
///
/// # Safety
/// As `GlobalAlloc::alloc`.
#[cold]
#[inline(never)]
unsafe fn alloc_large(layout: Layout, zeroed: bool) -> *mut u8 {
    let Some((outer, pad)) = padded(layout) else {
        return std::ptr::null_mut();
    };
    let by_mimalloc = RETAINS.get();
    // SAFETY: `outer` is a valid non-zero layout; the owner word is written inside the padding,
    // in front of the address handed out.
    unsafe {
        let base = match (by_mimalloc, zeroed) {
            (true, false) => MiMalloc.alloc(outer),
            (true, true) => MiMalloc.alloc_zeroed(outer),
            (false, false) => System.alloc(outer),
            (false, true) => System.alloc_zeroed(outer),
        };
        if base.is_null() {
            return base;
        }
        let ptr = base.add(pad);
        let word = if by_mimalloc { BY_MIMALLOC } else { BY_SYSTEM };
        ptr.cast::<usize>().sub(1).write_unaligned(word);
        ptr
    }
}

/// # Safety
/// As `GlobalAlloc::dealloc`, for a block above [`SMALL`].
#[cold]
#[inline(never)]
unsafe fn dealloc_large(ptr: *mut u8, layout: Layout) {
    let (outer, pad) = padded(layout).expect("the layout it was allocated with");
    // SAFETY: guaranteed by the caller; the block was allocated as `outer` at `ptr - pad` by the
    // allocator its owner word names.
    unsafe {
        let base = ptr.sub(pad);
        if owner(ptr) == BY_MIMALLOC {
            MiMalloc.dealloc(base, outer)
        } else {
            System.dealloc(base, outer)
        }
    }
}

/// # Safety
/// As `GlobalAlloc::realloc`, from and to sizes above [`SMALL`].
#[cold]
#[inline(never)]
unsafe fn realloc_large(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    let (outer, pad) = padded(layout).expect("the layout it was allocated with");
    let Some(new_outer) = new_size.checked_add(pad) else {
        return std::ptr::null_mut();
    };
    // SAFETY: guaranteed by the caller; the owner reallocates the whole block, front padding and
    // owner word included, and the same padding keeps the alignment.
    unsafe {
        let base = ptr.sub(pad);
        let moved = if owner(ptr) == BY_MIMALLOC {
            MiMalloc.realloc(base, outer, new_outer)
        } else {
            System.realloc(base, outer, new_outer)
        };
        if moved.is_null() {
            moved
        } else {
            moved.add(pad)
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

    /// A thread that retains large blocks gets them from mimalloc, and any thread grows and
    /// releases them there; other threads' large blocks are the system allocator's; both keep
    /// the alignment asked for.
    #[test]
    fn large_blocks_carry_their_allocator() {
        let large = Layout::from_size_align(SMALL * 8, 4096).unwrap();
        let a = RecorderAllocator;
        // SAFETY: each block is released once, with the layout it was allocated with.
        unsafe {
            let system = a.alloc(large);
            assert!(!system.is_null() && (system as usize).is_multiple_of(4096));
            assert_eq!(owner(system), BY_SYSTEM);
            a.dealloc(system, large);
            let retained = std::thread::spawn(move || {
                retain_large_blocks();
                let p = RecorderAllocator.alloc(large);
                *p = 42;
                p as usize
            })
            .join()
            .unwrap() as *mut u8;
            assert_eq!(owner(retained), BY_MIMALLOC);
            assert!((retained as usize).is_multiple_of(4096));
            // Grown here, on a thread that does not retain: still mimalloc's, bytes kept.
            let grown = a.realloc(retained, large, SMALL * 64);
            assert!(!grown.is_null() && (grown as usize).is_multiple_of(4096));
            assert_eq!(owner(grown), BY_MIMALLOC);
            assert_eq!(*grown, 42);
            *grown.add(SMALL * 64 - 1) = 9;
            a.dealloc(grown, Layout::from_size_align(SMALL * 64, 4096).unwrap());
        }
    }
}
