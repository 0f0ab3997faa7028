//! The allocator the recording process should use for Rust's heap: mimalloc for small blocks,
//! the system allocator for large ones (DESIGN.md 5.9).
//!
//! Recording allocates at every event: a rendering's text, a shape's nodes, a children row, and
//! on the flush thread the pieces of each batch. These blocks are small and short-lived, and
//! glibc's `malloc`/`free` took about a fifth of the callbacks' instructions on container-heavy
//! programs; mimalloc's take a few. Large blocks (a segment's column buffers, a ring's storage)
//! stay with the system allocator, which hands freed large blocks back to the kernel, so the
//! recorder's peak memory stays where it was; mimalloc keeps freed pages of its own for reuse,
//! several megabytes per size it ever served.
//!
//! A block's allocator follows from its size alone, which Rust passes to `dealloc` and
//! `realloc` as well: a block never changes hands except through `realloc` across the
//! threshold, which moves it.
//!
//! The application registers it (`#[global_allocator]`); this crate's own code does not depend
//! on it.

use std::alloc::{GlobalAlloc, Layout, System};

use mimalloc::MiMalloc;

/// Blocks up to this size (and alignment) come from mimalloc.
const SMALL: usize = 16 * 1024;

/// mimalloc for blocks of at most 16 KiB, the system allocator above (see the module docs).
#[derive(Debug, Default)]
pub struct RecorderAllocator;

fn small(layout: Layout) -> bool {
    layout.size() <= SMALL && layout.align() <= SMALL
}

// SAFETY: every method forwards to the allocator that owns the block, decided by its layout's
// size the same way at allocation and at release; both allocators uphold `GlobalAlloc`'s
// contract themselves.
unsafe impl GlobalAlloc for RecorderAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, forwarded as it is.
        unsafe {
            if small(layout) {
                MiMalloc.alloc(layout)
            } else {
                System.alloc(layout)
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe {
            if small(layout) {
                MiMalloc.alloc_zeroed(layout)
            } else {
                System.alloc_zeroed(layout)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated with `layout`, so by the allocator `small(layout)` chose.
        unsafe {
            if small(layout) {
                MiMalloc.dealloc(ptr, layout)
            } else {
                System.dealloc(ptr, layout)
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `ptr` was allocated with `layout` by the allocator `small(layout)` chose; when
        // the new size falls to the other one, the block moves: allocated there, the smaller of
        // the two sizes copied, the old block released where it came from.
        unsafe {
            match (small(layout), small(new)) {
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
}
