//! What the pass cases share: a way to run a future to completion without a
//! runtime, and the check that each annotated function was recorded.

use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Polls `future` until it completes. The futures of these cases never wait
/// on anything, so a waker that does nothing is enough.
#[allow(dead_code)] // the sync cases have no future to run
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

/// Asserts that each job, found by the end of its name (the function's path
/// unless the attribute names it), was called `calls` times.
pub fn assert_jobs(expected: &[(&str, u64)]) {
    let jobs = profiling_alloc::job_stats();
    for &(name, calls) in expected {
        let job = jobs
            .iter()
            .find(|job| job.name == name || job.name.ends_with(&format!("::{name}")))
            .unwrap_or_else(|| panic!("no job named {name} in {:?}", names(&jobs)));
        assert_eq!(job.calls, calls, "calls of {}", job.name);
    }
    assert_eq!(jobs.len(), expected.len(), "jobs: {:?}", names(&jobs));
}

fn names(jobs: &[profiling_alloc::JobStats]) -> Vec<&str> {
    jobs.iter().map(|job| job.name.as_str()).collect()
}
