//! Jobs: calls marked by hand, and what every job recorded.
//!
//! - Reading: [`job_stats`] (per job name, also at the crate root),
//!   [`job_paths`] (per chain of nested jobs), [`reset_jobs`].
//! - Marking a closure or a block: [`job`] and [`job_async`].
//! - Marking a scope or a future by hand: [`enter`] and [`instrument`].
//!
//! # Marked by hand
//!
//! A guard for a scope, a wrapper for a future. For code that has neither [`#[profile_job]`](crate::profile_job) nor
//! `tracing` spans: a call of the job `name` starts at
//! [`enter`] and is recorded when its guard drops; [`instrument`] makes a
//! future one call. Both record what an annotated function records (see
//! [`profile_job`](crate::profile_job)): the duration, the allocations of
//! the thread (per poll, on whichever thread polls, for a future), how the
//! call ended, and the job path that nested jobs, allocation samples and
//! CPU samples start at. Calls of one name are reported together, whichever
//! way they were marked: with [`job`], here, by a span of the
//! same name or by the attribute's `name = "..."`.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
//! # fn main() {
//! use profiling_alloc::jobs;
//!
//! fn handle(request: &str) -> Result<usize, String> {
//!     let mut job = jobs::enter("handle");
//!     let words: Vec<&str> = request.split(' ').collect();
//!     if words.is_empty() || words[0].is_empty() {
//!         job.set_failed(true); // counted among the job's errors
//!         return Err("empty request".to_string());
//!     }
//!     Ok(words.len())
//! } // the call is recorded here, when `job` drops
//!
//! assert_eq!(handle("GET /items"), Ok(2));
//! assert!(handle("").is_err());
//! let stats = profiling_alloc::job_stats();
//! let handle = stats.iter().find(|job| job.name == "handle").unwrap();
//! assert_eq!((handle.calls, handle.errors), (2, 1));
//! // A Vec per call, and the error message.
//! assert_eq!(handle.allocations.unwrap().total_blocks, 3);
//! # }
//! ```
//!
//! The name is copied the first time it is seen; later calls find it
//! without a lock or an allocation. Run-time names share one table of 1024
//! (see [`job`]). With the `enabled` feature off, the guard and
//! the wrapper record nothing.

use std::future::Future;

pub use super::duration::DurationStats;
pub use super::future::{job_async, JobFuture};
pub use super::guard::{job, JobGuard};
pub use super::stats::{
    job_paths, job_stats, reset_jobs, JobAllocStats, JobCpuStats, JobPathStats, JobStats,
};

use super::guard::JobGuard as Guard;
use super::site::dynamic_site;

/// Starts a call of the job `name` on this thread; it is recorded when the
/// returned guard drops. Calls nest: a call started while another runs on
/// this thread is its child on the job path.
///
/// The guard must drop on the thread that made it (it is not `Send`), in
/// the reverse order of the guards started after it, as scopes do. Across
/// an `.await`, use [`instrument`] instead: a guard held over an `.await`
/// would count whatever else the thread runs in the meantime.
#[track_caller]
pub fn enter(name: &str) -> JobGuard {
    if !crate::capture::counts::ENABLED {
        return Guard::inert();
    }
    Guard::enter(dynamic_site(name, std::panic::Location::caller()))
}

/// Makes `future` one call of the job `name`: from its first poll to its
/// completion, with allocations counted during each poll on the thread that
/// polls. Dropped before completing, the call is recorded as cancelled.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// # fn main() {
/// # let block_on = |f| block_on(f);
/// let fetch = profiling_alloc::jobs::instrument("fetch", async { vec![0u8; 100].len() });
/// assert_eq!(block_on(fetch), 100);
/// let stats = profiling_alloc::job_stats();
/// assert_eq!(stats.iter().find(|job| job.name == "fetch").unwrap().calls, 1);
/// # }
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// ```
#[track_caller]
pub fn instrument<F: Future>(name: &str, future: F) -> impl Future<Output = F::Output> {
    super::future::job_async(name, future)
}
