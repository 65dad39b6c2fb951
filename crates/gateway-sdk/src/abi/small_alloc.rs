//! The module's global allocator: free lists of small blocks (16 to 1024 bytes) in front of the
//! system allocator (wasi-libc's dlmalloc). A request allocates and frees a few dozen small
//! strings and vectors; dlmalloc spends about 220 wasm instructions on each malloc/free pair,
//! a free list about 30.
//!
//! A freed small block goes onto the list of its size class and is reused by the next
//! allocation of that class; it is never returned to dlmalloc, so the memory held by the lists
//! is bounded by the peak number of live small blocks per class. Larger or more strictly
//! aligned allocations go straight to dlmalloc. A proxy-wasm VM runs on one thread (wasm32
//! without the threads proposal), which is what makes the unsynchronised lists sound.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr;

/// Block sizes of the classes; a request for `n` bytes takes the first class `>= n`.
const CLASS_SIZES: [usize; 7] = [16, 32, 64, 128, 256, 512, 1024];
/// Every small block is aligned to this (and so serves any alignment up to it).
const BLOCK_ALIGN: usize = 16;

/// The allocator; `#[global_allocator]` in `abi/mod.rs`.
pub(crate) struct SmallBlocks {
    /// Head of each class's free list: a freed block holds the next block's address.
    heads: [Cell<*mut u8>; CLASS_SIZES.len()],
}

// SAFETY: wasm32-wasip1 modules run single-threaded (no threads proposal, no shared memory):
// the cells are never accessed from two threads.
unsafe impl Sync for SmallBlocks {}

impl SmallBlocks {
    pub(crate) const fn new() -> Self {
        SmallBlocks { heads: [const { Cell::new(ptr::null_mut()) }; CLASS_SIZES.len()] }
    }
}

/// The class serving `layout`, if it is small.
fn class_of(layout: &Layout) -> Option<usize> {
    if layout.align() > BLOCK_ALIGN || layout.size() > CLASS_SIZES[CLASS_SIZES.len() - 1] {
        return None;
    }
    // The power of two at or above the size, from 16 (class 0) up: 17..=32 is class 1.
    let size = layout.size().max(CLASS_SIZES[0]);
    Some((usize::BITS - (size - 1).leading_zeros()) as usize - 4)
}

fn block_layout(class: usize) -> Layout {
    // Sizes are powers of two and the alignment one too: always a valid layout.
    Layout::from_size_align(CLASS_SIZES[class], BLOCK_ALIGN).unwrap_or(Layout::new::<[u8; 16]>())
}

// SAFETY: blocks handed out are at least `layout.size()` bytes and aligned to `layout.align()`
// (a class block is `CLASS_SIZES[class] >= size` bytes at 16-byte alignment >= align; others
// come from `System` with the caller's layout). A block is on at most one free list, and only
// after the caller gave it back, so no block is handed out twice.
unsafe impl GlobalAlloc for SmallBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(&layout) else {
            // SAFETY: the caller's layout has a non-zero size, as `GlobalAlloc` requires.
            return unsafe { System.alloc(layout) };
        };
        let head = self.heads[class].get();
        if head.is_null() {
            // SAFETY: a class layout has a non-zero size.
            return unsafe { System.alloc(block_layout(class)) };
        }
        // SAFETY: `head` is a free block of this class (aligned to 16, at least 16 bytes) whose
        // first word was written by `dealloc` with the next free block's address.
        let next = unsafe { head.cast::<*mut u8>().read() };
        self.heads[class].set(next);
        head
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(&layout) else {
            // SAFETY: the block came from `System.alloc` with this layout (see `alloc`).
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: the block is a class block (at least 16 bytes, 16-aligned) the caller no
        // longer uses; its first word now links it into the free list.
        unsafe { block.cast::<*mut u8>().write(self.heads[class].get()) };
        self.heads[class].set(block);
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_class = class_of(&layout);
        let new_layout = match Layout::from_size_align(new_size, layout.align()) {
            Ok(l) => l,
            Err(_) => return ptr::null_mut(),
        };
        let new_class = class_of(&new_layout);
        match (old_class, new_class) {
            // Both large: dlmalloc may grow in place.
            // SAFETY: the block came from `System` with `layout`.
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            // Still fits its class block.
            (Some(old), Some(new)) if new <= old => block,
            _ => {
                // SAFETY: `new_layout` has a non-zero size (GlobalAlloc::realloc's contract).
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    // SAFETY: both blocks are valid for the smaller of the two sizes and are
                    // distinct allocations.
                    unsafe { ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size)) };
                    // SAFETY: the old block is no longer used.
                    unsafe { self.dealloc(block, layout) };
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reused_never_overlap_and_realloc_keeps_contents() {
        let blocks = SmallBlocks::new();
        let layouts: Vec<Layout> =
            [(1, 1), (16, 8), (17, 1), (100, 4), (256, 16), (257, 1), (1025, 2), (4096, 8), (24, 32)]
                .iter()
                .map(|&(s, a)| Layout::from_size_align(s, a).unwrap())
                .collect();
        for round in 0..3u8 {
            let mut live = Vec::new();
            for (i, layout) in layouts.iter().enumerate() {
                // SAFETY (test): non-zero sizes; each block is written within its size and
                // freed once with its layout.
                let p = unsafe { blocks.alloc(*layout) };
                assert!(!p.is_null());
                assert_eq!(p as usize % layout.align(), 0, "{layout:?}");
                unsafe { ptr::write_bytes(p, round * 16 + i as u8, layout.size()) };
                live.push((p, *layout, round * 16 + i as u8));
            }
            for (p, layout, fill) in &live {
                let bytes = unsafe { std::slice::from_raw_parts(*p, layout.size()) };
                assert!(bytes.iter().all(|b| b == fill), "{layout:?} was overwritten");
            }
            let (p, layout, fill) = live.remove(1);
            let grown = unsafe { blocks.realloc(p, layout, 300) };
            let bytes = unsafe { std::slice::from_raw_parts(grown, 16) };
            assert!(bytes.iter().all(|b| *b == fill));
            let grown_layout = Layout::from_size_align(300, 8).unwrap();
            let shrunk = unsafe { blocks.realloc(grown, grown_layout, 8) };
            assert!(unsafe { std::slice::from_raw_parts(shrunk, 8) }.iter().all(|b| *b == fill));
            live.push((shrunk, Layout::from_size_align(8, 8).unwrap(), fill));
            for (p, layout, _) in live {
                unsafe { blocks.dealloc(p, layout) };
            }
        }
        for size in 1..=1100 {
            let class = class_of(&Layout::from_size_align(size, 1).unwrap());
            assert_eq!(class, CLASS_SIZES.iter().position(|&c| size <= c), "{size}");
        }
        // A freed 16-byte block is handed out again.
        let small = Layout::from_size_align(10, 1).unwrap();
        let a = unsafe { blocks.alloc(small) };
        unsafe { blocks.dealloc(a, small) };
        assert_eq!(unsafe { blocks.alloc(small) }, a);
    }
}
