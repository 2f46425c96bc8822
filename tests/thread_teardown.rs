//! Allocations made while a thread tears down its thread-locals are counted
//! (DESIGN rule 2) and do not crash, whichever order the destructors run in.
//!
//! Without the test harness (`harness = false`): the totals are the whole
//! process's.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::thread;

use common::Block;
use profiling_alloc::{heap::size_histogram, heap_stats, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

/// Sizes no other code in this test allocates: each has a size class to
/// itself, so the histogram counts them exactly.
const SCRATCH: usize = 3_000_001; // freed in the destructor: class [2^21, 2^22)
const KEPT: usize = 5_000_003; // leaked by the destructor: class [2^22, 2^23)

/// Allocates, frees and leaks when the thread's locals are destroyed.
struct AllocatesOnDrop;

impl Drop for AllocatesOnDrop {
    fn drop(&mut self) {
        Block::bytes(black_box(SCRATCH)).free();
        let kept = Block::bytes(black_box(KEPT));
        LEAKED.with(|leaked| leaked.set(kept.into_raw().0));
    }
}

thread_local! {
    static ON_EXIT: AllocatesOnDrop = const { AllocatesOnDrop };
    static LEAKED: Cell<usize> = const { Cell::new(0) };
}

fn class_counts(size: u64) -> (u64, u64) {
    size_histogram()
        .class_of(size)
        .map_or((0, 0), |c| (c.total_blocks, c.total_bytes))
}

fn main() {
    common::quiet::run(
        "thread_teardown",
        &[
            ("destructor_registered_before_the_slot", || {
                counted_at_teardown(true)
            }),
            ("destructor_registered_after_the_slot", || {
                counted_at_teardown(false)
            }),
        ],
    );
}

/// A thread whose thread-local destructor allocates, frees and leaks: all
/// of it is counted. `touch_before_allocating`: whether that thread-local is
/// registered before the profiler's own (its destructor then runs after the
/// thread gave its slot back).
fn counted_at_teardown(touch_before_allocating: bool) {
    assert!(heap_stats().active);
    let scratch_before = class_counts(SCRATCH as u64);
    let kept_before = class_counts(KEPT as u64);
    let before = heap_stats();
    thread::spawn(move || {
        if touch_before_allocating {
            // Registered before the profiler's own thread-local: its
            // destructor runs after the thread gave its slot back.
            ON_EXIT.with(|_| ());
            drop(black_box(vec![1u8; 100]));
        } else {
            drop(black_box(vec![1u8; 100]));
            ON_EXIT.with(|_| ());
        }
    })
    .join()
    .expect("thread with an allocating destructor");
    let after = heap_stats();
    let scratch_after = class_counts(SCRATCH as u64);
    let kept_after = class_counts(KEPT as u64);
    assert_eq!(
        scratch_after.0 - scratch_before.0,
        1,
        "scratch block counted"
    );
    assert_eq!(scratch_after.1 - scratch_before.1, SCRATCH as u64);
    assert_eq!(kept_after.0 - kept_before.0, 1, "kept block counted");
    assert!(after.freed_bytes - before.freed_bytes >= SCRATCH as u64);
    assert!(after.total_bytes - before.total_bytes >= (SCRATCH + KEPT) as u64);
    // The leaked block is live; everything else the thread did is undone
    // once it is joined, up to a few bytes of thread bookkeeping.
    let live_growth = after.live_bytes as i64 - before.live_bytes as i64;
    assert!(
        (KEPT as i64..KEPT as i64 + 4096).contains(&live_growth),
        "live bytes grew by {live_growth}"
    );
    assert_eq!(after.live_bytes, after.total_bytes - after.freed_bytes);
}
