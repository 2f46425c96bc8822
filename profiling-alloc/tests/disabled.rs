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

#[profiling_alloc::profile_job(name = "disabled-job")]
fn annotated(values: &[u32]) -> Result<u32, String> {
    values
        .iter()
        .copied()
        .max()
        .ok_or_else(|| "empty".to_string())
}

#[test]
fn profile_job_leaves_the_function_as_written() {
    assert_eq!(annotated(&[3, 9, 4]), Ok(9));
    assert!(annotated(&[]).is_err());
    profiling_alloc::job("disabled-manual", || ());
    // Nothing was registered by the attribute: the function is the plain one.
    let names: Vec<String> = profiling_alloc::job_stats()
        .into_iter()
        .map(|j| j.name)
        .collect();
    assert!(!names.contains(&"disabled-job".to_string()), "{names:?}");
}
