//! Jobs: per-call durations and allocation deltas of functions marked with
//! [`#[profile_job]`](crate::profile_job) (or run through [`job`] and
//! [`job_async`]), and the registry that [`job_stats`] reads.

mod duration;
mod future;
mod guard;
mod outcome;
mod path;
mod site;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use duration::Counts;
#[cfg(feature = "callsites")]
pub(crate) use path::PathNode;

/// The calling thread's current job path, if it runs inside a job.
#[cfg(feature = "callsites")]
pub(crate) fn current_path() -> Option<&'static PathNode> {
    path::current()
}
pub use future::{job_async, JobFuture};
pub use guard::{job, JobGuard};
pub use outcome::{call_once, ErrorOutcome, OtherOutcome, Outcome};
pub use site::JobSite;

/// What the registry knows about one job, from [`job_stats`].
///
/// Allocation numbers are inclusive: a job's count includes what the jobs it
/// calls allocated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobStats {
    /// The job's name: the function's path (`my_crate::ingest::parse`,
    /// `my_crate::Parser::parse` for a method, `<my_crate::Csv as
    /// my_crate::Format>::parse` for a trait method) unless given with
    /// `#[profile_job(name = "...")]` or [`job`].
    pub name: String,
    /// The module the job is defined in (empty for [`job`] names).
    pub module_path: String,
    /// The source file of the job's definition (of the first call, for
    /// [`job`]).
    pub file: String,
    /// The line in `file`.
    pub line: u32,
    /// Calls recorded, however they ended.
    pub calls: u64,
    /// Calls that returned an `Err` (for jobs returning a `Result`).
    pub errors: u64,
    /// Calls that panicked.
    pub panics: u64,
    /// Async calls dropped before they completed.
    pub cancelled: u64,
    /// Wall-clock durations of the calls.
    pub duration: DurationStats,
    /// What the calls allocated; `None` when no call could be measured (the
    /// allocator is not installed), never zeros standing in for "unknown".
    pub allocations: Option<JobAllocStats>,
}

/// Durations of a job's calls. Percentiles come from a log-linear histogram
/// and are within 1% of a recorded duration; `total`, `mean` and `max` are
/// exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationStats {
    /// Sum over all calls.
    pub total: Duration,
    /// `total / calls`.
    pub mean: Duration,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Longest call.
    pub max: Duration,
}

/// Allocations of a job's calls: sums over calls and the largest single call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAllocStats {
    /// Calls whose allocations were counted (all of them, unless some ran on a
    /// thread without a counting slot of its own).
    pub measured_calls: u64,
    /// Blocks allocated (reallocs included, as in [`AllocDelta`](crate::AllocDelta)).
    pub allocations_total: u64,
    /// Most blocks one call allocated.
    pub allocations_max: u64,
    /// Bytes allocated.
    pub bytes_allocated_total: u64,
    /// Most bytes one call allocated.
    pub bytes_allocated_max: u64,
    /// Bytes freed.
    pub bytes_freed_total: u64,
    /// Most bytes one call freed.
    pub bytes_freed_max: u64,
    /// Bytes allocated minus bytes freed, over all calls: what the job kept.
    pub net_bytes_total: i64,
    /// Most net bytes one call kept.
    pub net_bytes_max: i64,
    /// Highest peak of one call: the most its net bytes rose above its start.
    pub peak_bytes_max: u64,
}

/// Statistics of every job called so far, in order of first call.
///
/// Sites that share a name (a function annotated with
/// `#[profile_job(name = "x")]` and [`job("x", ..)`](job)) are reported
/// together. Reading takes a short lock on the registry; running jobs are
/// never blocked by it.
pub fn job_stats() -> Vec<JobStats> {
    let mut groups: Vec<(&'static str, Vec<&'static JobSite>)> = Vec::new();
    for site in site::registered_sites() {
        let name = site.stats().name;
        match groups.iter_mut().find(|(group, _)| *group == name) {
            Some((_, sites)) => sites.push(site),
            None => groups.push((name, vec![site])),
        }
    }
    groups
        .into_iter()
        .map(|(_, sites)| summarize(&sites))
        .collect()
}

fn summarize(sites: &[&'static JobSite]) -> JobStats {
    use std::sync::atomic::Ordering::Relaxed;

    let first = sites[0];
    let mut counts = Counts::new();
    let (mut calls, mut errors, mut panics, mut cancelled) = (0, 0, 0, 0);
    let (mut total, mut max) = (0u64, 0u64);
    let mut alloc = JobAllocStats {
        net_bytes_max: i64::MIN,
        ..JobAllocStats::default()
    };
    for site in sites {
        let s = site.stats();
        calls += s.calls.load(Relaxed);
        errors += s.errors.load(Relaxed);
        panics += s.panics.load(Relaxed);
        cancelled += s.cancelled.load(Relaxed);
        total = total.saturating_add(s.total_nanos.load(Relaxed));
        max = max.max(s.max_nanos.load(Relaxed));
        s.durations.add_to(&mut counts);
        alloc.measured_calls += s.measured_calls.load(Relaxed);
        alloc.allocations_total += s.allocations.total.load(Relaxed);
        alloc.allocations_max = alloc.allocations_max.max(s.allocations.max.load(Relaxed));
        alloc.bytes_allocated_total += s.bytes_allocated.total.load(Relaxed);
        alloc.bytes_allocated_max = alloc
            .bytes_allocated_max
            .max(s.bytes_allocated.max.load(Relaxed));
        alloc.bytes_freed_total += s.bytes_freed.total.load(Relaxed);
        alloc.bytes_freed_max = alloc.bytes_freed_max.max(s.bytes_freed.max.load(Relaxed));
        alloc.net_bytes_total += s.net_bytes_total.load(Relaxed);
        alloc.net_bytes_max = alloc.net_bytes_max.max(s.net_bytes_max.load(Relaxed));
        alloc.peak_bytes_max = alloc.peak_bytes_max.max(s.peak_bytes_max.load(Relaxed));
    }
    let quantile = |q| counts.quantile(q, max).unwrap_or_default();
    let duration = DurationStats {
        total: Duration::from_nanos(total),
        mean: Duration::from_nanos(total.checked_div(calls).unwrap_or(0)),
        p50: quantile(0.50),
        p95: quantile(0.95),
        p99: quantile(0.99),
        max: Duration::from_nanos(max),
    };
    JobStats {
        name: first.stats().name.to_string(),
        module_path: first.module_path.to_string(),
        file: first.file.to_string(),
        line: first.line,
        calls,
        errors,
        panics,
        cancelled,
        duration,
        allocations: (alloc.measured_calls > 0).then_some(alloc),
    }
}

/// Time spent on one job path: a job and the chain of jobs it ran inside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPathStats {
    /// Job names from the outermost job to this one.
    pub path: Vec<String>,
    /// Calls on this path.
    pub calls: u64,
    /// Their total duration (inclusive of the jobs they called).
    pub total: Duration,
}

/// Every job path seen so far, parents before children: the data of a
/// job-time flamegraph.
pub fn job_paths() -> Vec<JobPathStats> {
    use std::sync::atomic::Ordering::Relaxed;

    let mut paths = Vec::new();
    path::for_each_node(|node| {
        paths.push(JobPathStats {
            path: node.names().into_iter().map(str::to_string).collect(),
            calls: node.calls.load(Relaxed),
            total: Duration::from_nanos(node.total_nanos.load(Relaxed)),
        });
    });
    paths
}

/// Sets every job's counters and every path's totals to zero (the jobs stay
/// registered). Meant for tests; calls running meanwhile may be half counted.
pub fn reset_jobs() {
    use std::sync::atomic::Ordering::Relaxed;

    for site in site::registered_sites() {
        site.stats().clear();
    }
    path::for_each_node(|node| {
        node.calls.store(0, Relaxed);
        node.total_nanos.store(0, Relaxed);
    });
}
