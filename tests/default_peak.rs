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
            "a_phase_that_first_frees_peaks_at_its_start_or_above",
            a_phase_that_first_frees_peaks_at_its_start_or_above,
        ),
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

/// A phase that begins by freeing: its peak is the live state at the reset
/// until a rise passes it, exact all along. (A slot looks at a reset at its
/// next rise, not at its frees: the reader supplies the state at the reset.)
fn a_phase_that_first_frees_peaks_at_its_start_or_above() {
    let big = Block::bytes(4000);
    let small = Block::bytes(100);
    reset_peak();
    let start = heap_stats();
    assert_eq!(start.peak_bytes, start.live_bytes);
    big.free();
    let stats = heap_stats();
    assert!(stats.peak_is_exact, "{stats:?}");
    assert_eq!(
        (stats.peak_bytes, stats.peak_blocks),
        (start.live_bytes, start.live_blocks),
        "only frees since the reset: the peak is the reset's state"
    );
    // A rise that stays below the state at the reset.
    let again = Block::bytes(1000);
    let stats = heap_stats();
    assert!(stats.peak_is_exact, "{stats:?}");
    assert_eq!(stats.peak_bytes, start.live_bytes);
    // A rise past it: the new peak, with its blocks.
    let more = Block::bytes(3500);
    let stats = heap_stats();
    assert!(stats.peak_is_exact, "{stats:?}");
    assert_eq!(stats.peak_bytes, start.live_bytes - 4000 + 1000 + 3500);
    assert_eq!(stats.peak_blocks, start.live_blocks - 1 + 2);
    more.free();
    again.free();
    small.free();
    // A reset after a higher phase: the next rise below the old mark counts.
    reset_peak();
    let base = heap_stats();
    let one = Block::bytes(700);
    let stats = heap_stats();
    assert!(stats.peak_is_exact, "{stats:?}");
    assert_eq!(stats.peak_bytes, base.live_bytes + 700);
    one.free();
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
