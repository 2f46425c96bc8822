//! Sync job scopes: [`JobGuard`], opened when a job starts and closed by its
//! `Drop`, so that early returns, `?` and panics still record the call.

use std::time::Instant;

use super::busy::BusySpan;
use super::path::{self, PathGuard, PathNode};
use super::site::{dynamic_site, JobSite, Outcome, SiteStats};
use crate::heap::measure::AllocScope;

/// One running call of a sync job: the call is recorded when the guard is
/// dropped, so an early return, `?` or a panic still records it.
///
/// Made by [`jobs::enter`](crate::jobs::enter) (and by `#[profile_job]`).
/// Keep it in a named binding (`let _job = ...`): `let _ = ...` drops it at
/// once and records an empty call.
#[derive(Debug)]
#[must_use = "the job is recorded when the guard is dropped"]
pub struct JobGuard(Option<OpenCall>);

/// The state of a recorded call.
#[derive(Debug)]
struct OpenCall {
    stats: &'static SiteStats,
    node: &'static PathNode,
    // Field order is drop order: the allocation scope closes before the path
    // is restored, both after `Drop::drop` has read them.
    scope: Option<AllocScope>,
    path: Option<PathGuard>,
    /// The call's busy time on this thread: its duration, less nested jobs'.
    busy: BusySpan,
    start: Instant,
    failed: bool,
    /// Whether the thread was already unwinding when the job started (a job
    /// called from a `Drop` during a panic): then only a new panic counts.
    was_panicking: bool,
}

impl JobGuard {
    /// Starts a call of the job at `site`.
    #[doc(hidden)]
    #[inline]
    pub fn enter(site: &'static JobSite) -> JobGuard {
        let stats = site.stats();
        let node = path::child_of(path::current(), site);
        let path = Some(path::enter(node));
        let busy = BusySpan::open();
        // Opened last, so that the bookkeeping above is not in the numbers.
        let scope = AllocScope::start();
        JobGuard(Some(OpenCall {
            stats,
            node,
            scope,
            path,
            busy,
            start: Instant::now(),
            failed: false,
            was_panicking: std::thread::panicking(),
        }))
    }

    /// A guard that records nothing (the `enabled` feature is off).
    pub(crate) fn inert() -> JobGuard {
        JobGuard(None)
    }

    /// Marks the call as failed, or not: it counts among the job's
    /// [`errors`](crate::JobStats::errors) when the guard is dropped.
    /// `#[profile_job]` calls this for an `Err` return.
    #[inline]
    pub fn set_failed(&mut self, failed: bool) {
        if let Some(call) = &mut self.0 {
            call.failed = failed;
        }
    }
}

impl Drop for OpenCall {
    fn drop(&mut self) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let alloc = self.scope.take().map(AllocScope::finish);
        let outcome = if std::thread::panicking() && !self.was_panicking {
            Outcome::Panicked
        } else if self.failed {
            Outcome::Failed
        } else {
            Outcome::Returned
        };
        self.stats.record(nanos, outcome, alloc.as_ref());
        self.node.record(nanos);
        // A sync call is busy for all of its duration.
        self.node.add_busy(nanos, self.busy.close(nanos));
        self.path.take();
    }
}

/// Runs `f` as a call of the job `name`: the manual form of
/// [`#[profile_job]`](crate::profile_job), for code that cannot carry an
/// attribute (a closure, a block).
///
/// The call is recorded like an annotated function's, under `name`, with the
/// caller's file and line. Calls made through `job` and through functions
/// annotated with the same name are reported together.
///
/// The first call with a new name registers it; later calls find it without
/// a lock. Run-time names (these, [`jobs::enter`](crate::jobs::enter)'s,
/// spans' and routes') are kept in one table of 1024; beyond that, new names
/// are counted together as one job, `(other job names: more than 1024)`.
/// With the `enabled` feature off, `f` runs unrecorded, as an annotated
/// function runs as written.
///
/// # Examples
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// # fn main() {
/// let total = profiling_alloc::jobs::job("sum-squares", || (1..=10u64).map(|n| n * n).sum::<u64>());
/// assert_eq!(total, 385);
/// let stats = profiling_alloc::job_stats();
/// let job = stats.iter().find(|job| job.name == "sum-squares").unwrap();
/// assert_eq!(job.calls, 1);
/// # }
/// ```
#[track_caller]
pub fn job<R>(name: &str, f: impl FnOnce() -> R) -> R {
    if !crate::capture::counts::ENABLED {
        return f();
    }
    let _guard = JobGuard::enter(dynamic_site(name, std::panic::Location::caller()));
    f()
}
