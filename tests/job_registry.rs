//! The job registry as a whole: `reset_jobs`, JSON round trips of what
//! `job_stats` and `job_paths` return, `#[cfg]` on annotated functions, and
//! sites sharing a name. Its own binary, because `reset_jobs` clears every
//! job of the process.

use profiling_alloc::{
    job_stats, jobs::job_paths, jobs::reset_jobs, jobs::JobPathStats, profile_job, JobStats,
};

#[global_allocator]
static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();

#[profile_job(name = "shared-name")]
fn first_site() -> Vec<u8> {
    vec![0; 10]
}

#[profile_job(name = "shared-name")]
fn second_site() -> Vec<u8> {
    vec![0; 30]
}

// Kept only when its cfg holds, like any other attribute: the other copy
// would not compile (it calls a function that does not exist).
#[cfg(test)]
#[profile_job(name = "configured")]
fn configured() -> u32 {
    1
}

#[cfg(not(test))]
#[profile_job(name = "configured")]
fn configured() -> u32 {
    this_function_does_not_exist()
}

fn find(name: &str) -> JobStats {
    job_stats()
        .into_iter()
        .find(|job| job.name == name)
        .expect("job registered")
}

#[test]
fn main() {
    drop((first_site(), second_site(), second_site()));
    assert_eq!(configured(), 1);

    // Two sites under one name are reported together.
    let shared = find("shared-name");
    assert_eq!(shared.calls, 3);
    let alloc = shared.allocations.expect("allocator installed");
    assert_eq!(alloc.total_bytes, 70);
    assert_eq!(alloc.total_bytes_max, 30);
    assert_eq!(
        job_stats()
            .iter()
            .filter(|job| job.name == "shared-name")
            .count(),
        1
    );

    // What job_stats and job_paths return survives JSON.
    let jobs = job_stats();
    let json = serde_json::to_string(&jobs).expect("serialize");
    let back: Vec<JobStats> = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, jobs);
    let paths = job_paths();
    let json = serde_json::to_string(&paths).expect("serialize");
    let back: Vec<JobPathStats> = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, paths);
    assert!(paths
        .iter()
        .any(|p| p.path == ["configured"] && p.calls == 1));

    // reset_jobs zeroes counters and path totals; jobs stay registered and
    // count again from zero.
    reset_jobs();
    let shared = find("shared-name");
    assert_eq!((shared.calls, shared.errors, shared.panics), (0, 0, 0));
    assert_eq!(shared.duration.max, std::time::Duration::ZERO);
    assert!(
        shared.allocations.is_none(),
        "no measured call since the reset"
    );
    assert!(job_paths().iter().all(|p| p.calls == 0));
    drop(first_site());
    let shared = find("shared-name");
    assert_eq!(shared.calls, 1);
    assert_eq!(shared.allocations.expect("measured").total_bytes, 10);
}
