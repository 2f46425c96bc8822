//! Without the profiling allocator, jobs still record calls and durations,
//! and their allocation numbers say "unavailable" (`None`), never zero.

use profiling_alloc::{job_stats, profile_job};

#[profile_job(name = "no-allocator")]
fn allocates() -> Vec<u8> {
    std::thread::sleep(std::time::Duration::from_millis(2));
    vec![0u8; 1000]
}

#[test]
fn durations_without_allocations() {
    for _ in 0..4 {
        assert_eq!(allocates().len(), 1000);
    }
    let job = job_stats()
        .into_iter()
        .find(|job| job.name == "no-allocator")
        .expect("job");
    assert_eq!(job.calls, 4);
    assert!(job.allocations.is_none(), "{:?}", job.allocations);
    // Each call slept at least 2 ms: durations are real, not zeros.
    assert!(job.duration.p50 >= std::time::Duration::from_millis(2));
    assert!(job.duration.total >= std::time::Duration::from_millis(8));
}
