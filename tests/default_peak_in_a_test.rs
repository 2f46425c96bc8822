//! A test under the harness that measures a phase's peak in the default mode
//! gets it exactly: the harness's main thread waits while the test runs, so
//! after `reset_peak` only the test's thread allocates. (One test in this
//! binary: tests running in parallel would allocate concurrently, and the
//! reading would then say it is bounded instead.)

use std::hint::black_box;

use profiling_alloc::{heap_stats, reset_peak, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

#[test]
fn the_peak_of_a_small_phase_is_exact() {
    // The harness's main thread allocates right after it starts this test's
    // thread (its bookkeeping of running tests, then its wait): let that
    // come first, even on a machine that holds the main thread back.
    std::thread::sleep(std::time::Duration::from_millis(100));
    reset_peak();
    let base = heap_stats();
    let words: Vec<String> = (0..10).map(|i| black_box(format!("{i:>40}"))).collect();
    let kept_capacity = words.capacity() * std::mem::size_of::<String>();
    let strings: usize = words.iter().map(String::capacity).sum();
    drop(words);
    let stats = heap_stats();
    assert!(stats.peak_is_exact, "{stats:?}");
    assert_eq!(stats.peak_error_bound, 0);
    assert_eq!(
        stats.peak_bytes,
        base.live_bytes + (kept_capacity + strings) as u64
    );
}
