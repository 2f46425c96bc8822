//! Sync job scopes: [`JobGuard`], opened when a job starts and closed by its
//! `Drop`, so that early returns, `?` and panics still record the call.

use std::time::Instant;

use super::busy::BusySpan;
use super::path::{self, PathGuard, PathNode};
use super::site::{dynamic_site, JobSite, Outcome, SiteStats};
use crate::heap::measure::AllocScope;

/// One running call of a sync job. Created by `#[profile_job]`; records the
/// call when dropped.
#[doc(hidden)]
#[derive(Debug)]
#[must_use = "the job is recorded when the guard is dropped"]
pub struct JobGuard {
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
    #[inline]
    pub fn enter(site: &'static JobSite) -> JobGuard {
        let stats = site.stats();
        let node = path::child_of(path::current(), site);
        let path = Some(path::enter(node));
        let busy = BusySpan::open();
        // Opened last, so that the bookkeeping above is not in the numbers.
        let scope = AllocScope::start();
        JobGuard {
            stats,
            node,
            scope,
            path,
            busy,
            start: Instant::now(),
            failed: false,
            was_panicking: std::thread::panicking(),
        }
    }

    /// Marks the call as failed (it returned an `Err`).
    #[inline]
    pub fn set_failed(&mut self, failed: bool) {
        self.failed = failed;
    }
}

impl Drop for JobGuard {
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
/// a lock. At most 1024 distinct names can be used this way; beyond that, `f`
/// runs unrecorded. With the `enabled` feature off, `f` runs unrecorded too,
/// as an annotated function runs as written.
///
/// # Examples
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// # fn main() {
/// let total = profiling_alloc::job("sum-squares", || (1..=10u64).map(|n| n * n).sum::<u64>());
/// assert_eq!(total, 385);
/// let stats = profiling_alloc::job_stats();
/// let job = stats.iter().find(|job| job.name == "sum-squares").unwrap();
/// assert_eq!(job.calls, 1);
/// # }
/// ```
#[track_caller]
pub fn job<R>(name: &'static str, f: impl FnOnce() -> R) -> R {
    if !crate::heap::ENABLED {
        return f();
    }
    match dynamic_site(name, std::panic::Location::caller()) {
        Some(site) => {
            let _guard = JobGuard::enter(site);
            f()
        }
        None => f(),
    }
}
