//! With the `enabled` feature off (`cargo test -p profiling-alloc
//! --no-default-features`), the profiler is off: the allocator only
//! forwards, every reading says "not active", and jobs run as written.
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
    let stats = heap_stats();
    assert!(!stats.active);
    assert_eq!(stats.total_blocks, 0);
    let (_, delta) = measure(|| vec![0u8; 100]);
    assert!(!delta.active);
    assert_eq!(delta.total_blocks, 0);
}

#[profiling_alloc::profile_job(name = "disabled-job")]
fn annotated(values: &[u32]) -> Result<u32, String> {
    values
        .iter()
        .copied()
        .max()
        .ok_or_else(|| "empty".to_string())
}

fn names() -> Vec<String> {
    profiling_alloc::job_stats()
        .into_iter()
        .map(|j| j.name)
        .collect()
}

#[test]
fn profile_job_leaves_the_function_as_written() {
    assert_eq!(annotated(&[3, 9, 4]), Ok(9));
    assert!(annotated(&[]).is_err());
    // Nothing was registered by the attribute: the function is the plain one.
    assert!(
        !names().contains(&"disabled-job".to_string()),
        "{:?}",
        names()
    );
}

#[test]
fn the_manual_forms_run_their_code_unrecorded() {
    assert_eq!(profiling_alloc::job("disabled-manual", || 6 * 7), 42);
    let future = profiling_alloc::job_async("disabled-async", async { 5 });
    let mut future = std::pin::pin!(future);
    use std::future::Future as _;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert_eq!(
        future.as_mut().poll(&mut cx),
        std::task::Poll::Ready(5),
        "the future runs"
    );
    let names = names();
    assert!(!names.contains(&"disabled-manual".to_string()), "{names:?}");
    assert!(!names.contains(&"disabled-async".to_string()), "{names:?}");
}
