//! With the `enabled` feature off (`cargo test -p profiling-alloc
//! --no-default-features`), the allocator only forwards: nothing is counted
//! and every reader reports "not active".
#![cfg(not(feature = "enabled"))]

use profiling_alloc::{heap_stats, measure, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().exact_peak();

#[test]
fn disabled_allocator_forwards_without_counting() {
    let data: Vec<u64> = (0..10_000).collect();
    assert_eq!(
        data.iter().sum::<u64>(),
        49_995_000,
        "allocations still work"
    );
    assert!(!profiling_alloc::is_active());
    assert!(!heap_stats().active);
    assert_eq!(heap_stats().total_blocks, 0);
    let (_, delta) = measure(|| vec![0u8; 100]);
    assert!(!delta.active);
    assert!(profiling_alloc::try_heap_stats().is_none());
}
