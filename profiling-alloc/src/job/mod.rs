//! Jobs: per-call durations and allocation deltas of functions marked with
//! [`#[profile_job]`](crate::profile_job) (or run through [`job`] and
//! [`job_async`]), and the registry that [`job_stats`] reads.
//!
//! - [`site`]: one `JobSite` per annotated function (a `static` in its
//!   body) or run-time name; its counters, registered once, on first call.
//! - [`guard`] and [`future`]: the scope of one call, sync (a drop guard)
//!   and async (a future that measures each poll).
//! - [`path`]: the chain of jobs a call runs in, a tree that only grows;
//!   the thread's current path, which samples record.
//! - [`busy`]: busy time (running, not waiting) and self busy time (less
//!   the jobs run inside), per path: what job-time flamegraphs draw.
//! - [`duration`]: the bounded histogram of durations, and the
//!   `DurationStats` summary every duration table uses.
//! - [`outcome`]: how the expansion tells an `Err` return apart.
//! - [`stats`]: the readers.
//!
//! Invariants: after a site's first call, recording a call takes no lock
//! and allocates nothing (relaxed atomics on the site's counters and the
//! path's node); the profiler's own bookkeeping is allocated untracked.

mod busy;
mod duration;
mod future;
mod guard;
mod outcome;
mod path;
mod site;
mod stats;

pub use duration::DurationStats;
pub use future::{job_async, JobFuture};
pub use guard::{job, JobGuard};
pub use outcome::{call_once, ErrorOutcome, OtherOutcome, Outcome};
#[cfg(feature = "callsites")]
pub(crate) use path::PathNode;
pub use site::JobSite;
pub use stats::{job_paths, job_stats, reset_jobs, JobAllocStats, JobPathStats, JobStats};

/// The calling thread's current job path, if it runs inside a job.
#[cfg(feature = "callsites")]
pub(crate) fn current_path() -> Option<&'static PathNode> {
    path::current()
}
