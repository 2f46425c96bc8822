//! Without `ProfilingAllocator` as the global allocator, every reader says
//! "not active" instead of reporting zeros as data.

use profiling_alloc::{heap_stats, measure, size_histogram, try_heap_stats, try_measure};

#[test]
fn readers_report_inactive_without_the_allocator() {
    let _warm_up = vec![0u8; 1000];
    assert!(!profiling_alloc::is_active());

    let stats = heap_stats();
    assert!(!stats.active);
    assert!(try_heap_stats().is_none());
    assert!(stats.to_string().contains("allocator not installed"));
    assert!(size_histogram().classes.is_empty());

    let (len, delta) = measure(|| vec![1u8; 64].len());
    assert_eq!(len, 64, "the closure still runs");
    assert!(!delta.active);
    let (value, delta) = try_measure(|| 7);
    assert_eq!(value, 7);
    assert!(delta.is_none());

    // Harmless to call.
    profiling_alloc::reset_peak();
    assert!(!heap_stats().active);
}
