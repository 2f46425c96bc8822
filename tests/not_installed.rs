//! Without `ProfilingAllocator` as the global allocator, every reading says
//! "not active" instead of reporting zeros as data (what is derived from
//! readings is `None`: `job_no_allocator.rs`, `runner_no_allocator.rs`).

use profiling_alloc::{heap::size_histogram, heap_stats, measure, Report};

#[test]
fn readings_say_they_are_not_active() {
    let _warm_up = vec![0u8; 1000];
    let stats = heap_stats();
    assert!(!stats.active);
    assert_eq!(stats.total_blocks, 0);
    assert!(stats.to_string().contains("allocator not installed"));
    assert!(size_histogram().classes.is_empty());

    let (len, delta) = measure(|| vec![1u8; 64].len());
    assert_eq!(len, 64, "the closure still runs");
    assert!(!delta.active);
    assert!(delta.to_string().contains("allocator not installed"));

    // Harmless to call.
    profiling_alloc::reset_peak();
    assert!(!heap_stats().active);
}

#[test]
fn a_report_says_so() {
    let report = Report::capture();
    assert!(!report.heap.active);
    assert!(report.to_string().contains("allocator not installed"));
    let json = report.to_json();
    assert!(json.contains(r#""active": false"#), "{json}");
}
