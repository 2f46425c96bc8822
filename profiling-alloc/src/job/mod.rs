//! Jobs: per-call durations and allocation deltas of functions marked with
//! [`#[profile_job]`](crate::profile_job) (or run through [`job`] and
//! [`job_async`]), and the registry that [`job_stats`] reads.
//!
//! - [`site`]: one `JobSite` per annotated function (a `static` in its
//!   body) or run-time name; its counters, registered once, on first call.
//! - [`guard`] and [`future`]: the scope of one call, sync (a drop guard)
//!   and async (a future that measures each poll); [`manual`], their public
//!   form (`profiling_alloc::jobs`).
//! - [`path`]: the chain of jobs a call runs in, a tree that only grows;
//!   the thread's current path, which samples record.
//! - [`shared_call`]: a call entered in intervals, on any threads (a
//!   `tracing` span, a request and its response body).
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
pub mod public;
// Each of the two layers uses a part of it.
#[cfg_attr(not(all(feature = "tracing", feature = "tower")), allow(dead_code))]
mod shared_call;
mod site;
mod stats;

pub use future::JobFuture;
pub use guard::JobGuard;
pub use outcome::{call_once, ErrorOutcome, OtherOutcome, Outcome};
#[cfg(any(feature = "tracing", feature = "tower"))]
pub(crate) use path::child_of;
pub(crate) use path::PathNode;
pub(crate) use public::{job_paths, job_stats, DurationStats, JobPathStats, JobStats};
#[cfg(any(feature = "tracing", feature = "tower"))]
pub(crate) use shared_call::{Interval, SharedCall};
pub(crate) use site::function_path;
#[cfg(any(feature = "tracing", feature = "tower"))]
pub(crate) use site::named_site;
pub use site::JobSite;
#[cfg(feature = "cpu")]
pub(crate) use stats::{add_on_cpu, set_cpu_profiling};
pub(crate) use stats::{job_duration_buckets, job_paths_within};

#[cfg(any(feature = "tracing", feature = "tower"))]
pub(crate) use path::current as current_path;
/// The calling thread's current job path, if it runs inside a job.
#[cfg(any(feature = "callsites", feature = "cpu"))]
pub(crate) use path::names as path_names;

/// Runs `f` on a job path of its own named `name`, inside the thread's
/// current path, and returns that path: a scope's samples and the jobs it
/// calls are found under it and under no other. The scope is not a job:
/// nothing is registered and no call is counted.
pub(crate) fn run_detached<R>(name: &'static str, f: impl FnOnce() -> R) -> (R, &'static PathNode) {
    let site: &'static JobSite = {
        let _untracked = crate::capture::reentrancy::Untracked::enter();
        Box::leak(Box::new(JobSite::new(name, "", "", 0)))
    };
    let node = path::detached(path::current(), site);
    let _path = path::enter(node);
    (f(), node)
}

/// The name of [`__profiling_alloc_scope`]'s frame: readers cut a scope's
/// stacks there (the frames outside it belong to the caller of the scope).
#[cfg(feature = "callsites")]
pub(crate) const SCOPE_FRAME: &str = "__profiling_alloc_scope";

/// Calls `f`. Never inlined, so that every stack sampled inside `f` holds
/// this frame, by a name that survives any debug-info level: where the
/// scope's own code begins.
#[inline(never)]
pub(crate) fn __profiling_alloc_scope<R>(f: impl FnOnce() -> R) -> R {
    // black_box: no tail call, the frame stays on the stack while `f` runs.
    std::hint::black_box(f())
}
