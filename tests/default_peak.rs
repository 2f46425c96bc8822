//! The default peak mode is exact while one thread allocates at a time (a
//! single-threaded program, a phase run alone after `reset_peak`), says so,
//! and falls back to its documented bound only while threads allocate
//! concurrently.
//!
//! Without the test harness (`harness = false`): the peak is the whole
//! process's, so nothing else may allocate while a check runs.

mod common;

use std::hint::black_box;
use std::sync::{Arc, Barrier};

use common::Block;
use profiling_alloc::{heap::DEFAULT_PEAK_TOLERANCE, heap_stats, reset_peak, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

fn main() {
    let mut checks = vec![
        (
            "a_single_threaded_program_has_an_exact_peak",
            a_single_threaded_program_has_an_exact_peak as fn(),
        ),
        ("a_small_phase_peak_is_exact", a_small_phase_peak_is_exact),
        (
            "concurrent_threads_give_the_bound_then_a_reset_is_exact_again",
            concurrent_threads_give_the_bound_then_a_reset_is_exact_again,
        ),
    ];
    checks.extend(common::peak::CHECKS);
    common::quiet::run("default_peak", &checks);
}

/// Nothing but the main thread has allocated yet: exact without a reset.
/// (Runs first: the later checks start threads.)
fn a_single_threaded_program_has_an_exact_peak() {
    let stats = heap_stats();
    assert!(stats.active);
    assert!(stats.peak_is_exact, "{stats:?}");
    assert_eq!(stats.peak_error_bound, 0);
    assert!(stats.peak_bytes >= stats.live_bytes);
}

/// The case that read 0 before: a 1,432-byte peak far below the tolerance.
fn a_small_phase_peak_is_exact() {
    reset_peak();
    let base = heap_stats();
    let a = Block::bytes(1000);
    let b = Block::bytes(432);
    a.free();
    b.free();
    let stats = heap_stats();
    assert!(stats.peak_is_exact, "{stats:?}");
    assert_eq!(stats.peak_bytes, base.live_bytes + 1432);
    assert_eq!(stats.peak_blocks, base.live_blocks + 2);
}

/// Two threads allocating since the reset: the reading says it is bounded,
/// and is within the bound; after they are joined, a reset makes the main
/// thread's phases exact again.
fn concurrent_threads_give_the_bound_then_a_reset_is_exact_again() {
    reset_peak();
    let base = heap_stats();
    let barrier = Arc::new(Barrier::new(2));
    let worker = {
        let barrier = Arc::clone(&barrier);
        std::thread::spawn(move || {
            let held = Block::bytes(3000);
            barrier.wait(); // both blocks live at once
            barrier.wait();
            held.free();
        })
    };
    let mine = Block::bytes(5000);
    barrier.wait();
    barrier.wait();
    worker.join().expect("the worker finishes");
    mine.free();
    let stats = heap_stats();
    assert!(!stats.peak_is_exact, "two threads allocated: {stats:?}");
    assert!(stats.peak_error_bound >= DEFAULT_PEAK_TOLERANCE);
    // The true peak is at least base + 8,000 (both blocks), and the
    // reading is within the bound of it.
    let true_peak_at_least = base.live_bytes + 8000;
    assert!(stats.peak_bytes + stats.peak_error_bound >= true_peak_at_least);

    reset_peak();
    let base = heap_stats();
    let v: Vec<u64> = black_box(Vec::with_capacity(100));
    drop(v);
    let stats = heap_stats();
    assert!(stats.peak_is_exact, "{stats:?}");
    assert_eq!(stats.peak_bytes, base.live_bytes + 800);
}
