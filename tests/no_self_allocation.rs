//! The profiler never allocates through itself while counting: every call the
//! inner allocator sees is one the program made. Reading the counters
//! (`heap_stats`, `measure`) does not allocate either, so reading them does not
//! change them.
//!
//! Without the test harness (`harness = false`): the totals are the whole
//! process's.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::Block;
use profiling_alloc::{heap_stats, measure, ProfilingAllocator, Sampling};

/// An inner allocator that counts the calls it gets on each thread.
struct CallCounter;

thread_local! {
    static INNER_CALLS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    let _ = INNER_CALLS.try_with(|calls| calls.set(calls.get() + 1));
}

fn inner_calls() -> u64 {
    INNER_CALLS.with(Cell::get)
}

// SAFETY: every method forwards to `System` with its arguments unchanged.
unsafe impl GlobalAlloc for CallCounter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: the caller's layout, unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: the caller's layout, unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bump();
        // SAFETY: `ptr` came from `System` with `layout` (every block does).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: as `dealloc`, and `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
// Counting only: a sample's first stack allocates the profiler's tables
// (untracked, so uncounted, but the inner allocator sees those calls).
static ALLOC: ProfilingAllocator<CallCounter> =
    ProfilingAllocator::new(CallCounter).sampling(Sampling::Off);

fn main() {
    // Warm up: the thread's first allocation claims its slot.
    Block::bytes(8).free();
    common::quiet::run(
        "no_self_allocation",
        &[
            (
                "counting_and_reading_allocate_nothing",
                counting_and_reading_allocate_nothing,
            ),
            ("measure_allocates_nothing", measure_allocates_nothing),
        ],
    );
}

/// 100 allocs, 100 reallocs, 100 frees: exactly 300 calls reach the inner
/// allocator, and `heap_stats` adds none.
fn counting_and_reading_allocate_nothing() {
    assert!(heap_stats().active);

    let calls = inner_calls();
    let before = heap_stats();
    let mut blocks: [Option<Block>; 100] = [const { None }; 100];
    for (i, slot) in blocks.iter_mut().enumerate() {
        *slot = Some(Block::new(1 + i * 37, 8, i % 3 == 0));
    }
    for block in blocks.iter_mut().flatten() {
        block.resize(block.size() * 2);
    }
    for block in blocks.iter_mut() {
        if let Some(block) = block.take() {
            block.free();
        }
    }
    let after = heap_stats();
    // 100 allocs + 100 reallocs + 100 frees, and nothing else reached the
    // inner allocator: neither the counting nor heap_stats() allocated.
    assert_eq!(inner_calls() - calls, 300);
    assert_eq!(after.total_blocks - before.total_blocks, 200);
    assert_eq!(after.freed_blocks - before.freed_blocks, 200);
}

/// `measure` adds no allocation of its own either.
fn measure_allocates_nothing() {
    let calls = inner_calls();
    let ((), delta) = measure(|| Block::bytes(100).free());
    assert_eq!(inner_calls() - calls, 2);
    assert_eq!((delta.total_blocks, delta.freed_blocks), (1, 1));
}
