//! What users read about jobs: [`JobStats`] per job from [`job_stats`],
//! [`JobPathStats`] per job path from [`job_paths`], and [`reset_jobs`].

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::{Counts, DurationStats};
use super::path;
use super::site::{self, JobSite, SiteStats};

/// What the registry knows about one job, from [`job_stats`].
///
/// Allocation numbers are inclusive: a job's count includes what the jobs it
/// calls allocated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobStats {
    /// The job's name: the function's path (`my_crate::ingest::parse`,
    /// `my_crate::Parser::parse` for a method, `<my_crate::Csv as
    /// my_crate::Format>::parse` for a trait method) unless given with
    /// `#[profile_job(name = "...")]` or [`job`](crate::jobs::job).
    pub name: String,
    /// The module the job is defined in (empty for [`job`](crate::jobs::job) names).
    pub module_path: String,
    /// The source file of the job's definition (of the first call, for
    /// [`job`](crate::jobs::job)).
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
    /// Wall-clock durations of the calls (percentiles from a histogram,
    /// within 1%).
    pub duration: DurationStats,
    /// What the calls allocated; `None` when no call could be measured (the
    /// allocator is not installed), never zeros standing in for "unknown".
    pub allocations: Option<JobAllocStats>,
    /// The job's CPU time while CPU profiles ran (`cpu::start`, feature
    /// `cpu`) against its wall time then: does it compute or wait? `None`
    /// when no CPU profile has run.
    #[serde(default)]
    pub cpu: Option<JobCpuStats>,
}

/// A job's CPU time while CPU profiles ran, in [`JobStats::cpu`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobCpuStats {
    /// CPU time sampled inside the job's calls (its nested jobs included,
    /// its own bookkeeping not), an estimate: samples × period. Threads are
    /// sampled from when the profiler finds them (at their first
    /// allocation, or within 100 ms of their start for a thread that does
    /// not allocate), so such a thread's first jobs may be under-counted.
    /// `on_cpu_ns` in JSON.
    #[serde(rename = "on_cpu_ns", alias = "on_cpu", with = "crate::units::nanos")]
    pub on_cpu: Duration,
    /// Calls that ended while a CPU profile ran.
    pub profiled_calls: u64,
    /// Their wall time (an async call's from first poll to completion);
    /// `profiled_wall_ns` in JSON.
    #[serde(
        rename = "profiled_wall_ns",
        alias = "profiled_wall",
        with = "crate::units::nanos"
    )]
    pub profiled_wall: Duration,
}

impl JobCpuStats {
    /// [`on_cpu`](Self::on_cpu) over [`profiled_wall`](Self::profiled_wall):
    /// near 1 for a job that computes on one thread, near 0 for one that
    /// waits (above 1 when it runs on several threads at once, or by the
    /// sampling's noise on a few samples); `None` without profiled calls.
    pub fn on_cpu_share(&self) -> Option<f64> {
        let wall = self.profiled_wall.as_secs_f64();
        (self.profiled_calls > 0 && wall > 0.0).then(|| self.on_cpu.as_secs_f64() / wall)
    }
}

/// Allocations of a job's calls, in the words of
/// [`HeapStats`](crate::HeapStats): each count summed over the measured
/// calls, and with `_max`, the most of one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobAllocStats {
    /// Calls whose allocations were counted (all of them, unless some ran on a
    /// thread without a counting slot of its own).
    pub measured_calls: u64,
    /// Blocks allocated (reallocs included, as in [`AllocDelta`](crate::AllocDelta)).
    pub total_blocks: u64,
    /// Most blocks one call allocated.
    pub total_blocks_max: u64,
    /// Bytes allocated.
    pub total_bytes: u64,
    /// Most bytes one call allocated.
    pub total_bytes_max: u64,
    /// Bytes freed.
    pub freed_bytes: u64,
    /// Most bytes one call freed.
    pub freed_bytes_max: u64,
    /// Bytes the calls kept: allocated minus freed during each call, summed
    /// (what the job added to the live heap).
    pub live_bytes: i64,
    /// Most bytes one call kept.
    pub live_bytes_max: i64,
    /// Highest peak of one call: the most its live bytes rose above its
    /// start.
    pub peak_bytes_max: u64,
}

/// Whether a CPU profile has run (jobs then have CPU statistics).
static CPU_PROFILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Whether a CPU profile runs now: calls that end meanwhile count their wall
/// time apart.
static CPU_PROFILING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a CPU profile runs now.
pub(crate) fn cpu_profiling() -> bool {
    CPU_PROFILING.load(Relaxed)
}

/// Marks a CPU profile as running (or not).
#[cfg(feature = "cpu")]
pub(crate) fn set_cpu_profiling(running: bool) {
    if running {
        CPU_PROFILED.store(true, Relaxed);
    }
    CPU_PROFILING.store(running, Relaxed);
}

/// Adds sampled CPU time to the jobs of each path: `nanos` to every job on
/// the path, once per job however often it recurs on it.
#[cfg(feature = "cpu")]
pub(crate) fn add_on_cpu(samples: &[(&'static path::PathNode, u64)]) {
    CPU_PROFILED.store(true, Relaxed);
    for &(node, nanos) in samples {
        let mut seen: Vec<&'static JobSite> = Vec::new();
        let mut at = Some(node);
        while let Some(n) = at {
            let site = path::site_of(n);
            if !seen.iter().any(|s| s.stats().name == site.stats().name) {
                seen.push(site);
                site.stats().on_cpu_nanos.fetch_add(nanos, Relaxed);
            }
            at = n.parent;
        }
    }
}

/// Statistics of every job called so far, in order of first call.
///
/// Sites that share a name (a function annotated with
/// `#[profile_job(name = "x")]` and [`job("x", ..)`](crate::jobs::job)) are reported
/// together. Reading takes a short lock on the registry; running jobs are
/// never blocked by it.
pub fn job_stats() -> Vec<JobStats> {
    crate::capture::reading(|| {
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
    })
}

/// Per job name (as [`job_stats`] groups them): how many recorded calls
/// took at most each of `bounds` (cumulative, as a Prometheus histogram's
/// buckets), how many calls were recorded, and their total nanoseconds. A
/// call is counted by its histogram bucket's midpoint, so within 1% of its
/// duration.
pub(crate) fn job_duration_buckets(bounds: &[Duration]) -> Vec<(String, Vec<u64>, u64, u64)> {
    crate::capture::reading(|| {
        let mut groups: Vec<(&'static str, Counts, u64)> = Vec::new();
        for site in site::registered_sites() {
            let stats = site.stats();
            let index = match groups.iter().position(|(name, ..)| *name == stats.name) {
                Some(index) => index,
                None => {
                    groups.push((stats.name, Counts::new(), 0));
                    groups.len() - 1
                }
            };
            if let Some((_, counts, total)) = groups.get_mut(index) {
                stats.durations.add_to(counts);
                *total = total.saturating_add(stats.total_nanos.load(Relaxed));
            }
        }
        groups
            .into_iter()
            .map(|(name, counts, total)| {
                let cumulative = bounds
                    .iter()
                    .map(|bound| {
                        counts.at_most(u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX))
                    })
                    .collect();
                (name.to_string(), cumulative, counts.count(), total)
            })
            .collect()
    })
}

fn summarize(sites: &[&'static JobSite]) -> JobStats {
    let first = sites[0];
    let mut counts = Counts::new();
    let (mut calls, mut errors, mut panics, mut cancelled) = (0, 0, 0, 0);
    let (mut total, mut min, mut max) = (0u64, u64::MAX, 0u64);
    let (mut on_cpu, mut profiled_calls, mut profiled_nanos) = (0u64, 0u64, 0u64);
    let mut alloc = JobAllocStats {
        live_bytes_max: i64::MIN,
        ..JobAllocStats::default()
    };
    for site in sites {
        let s = site.stats();
        calls += s.calls.load(Relaxed);
        errors += s.errors.load(Relaxed);
        panics += s.panics.load(Relaxed);
        cancelled += s.cancelled.load(Relaxed);
        total = total.saturating_add(s.total_nanos.load(Relaxed));
        min = min.min(s.min_nanos.load(Relaxed));
        max = max.max(s.max_nanos.load(Relaxed));
        s.durations.add_to(&mut counts);
        add_allocations(&mut alloc, s);
        on_cpu = on_cpu.saturating_add(s.on_cpu_nanos.load(Relaxed));
        profiled_calls += s.profiled_calls.load(Relaxed);
        profiled_nanos = profiled_nanos.saturating_add(s.profiled_nanos.load(Relaxed));
    }
    let quantile = |q| counts.quantile(q, max).unwrap_or_default();
    let duration = DurationStats {
        total: Duration::from_nanos(total),
        mean: Duration::from_nanos(total.checked_div(calls).unwrap_or(0)),
        min: Duration::from_nanos(if calls == 0 { 0 } else { min }),
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
        cpu: CPU_PROFILED.load(Relaxed).then(|| JobCpuStats {
            on_cpu: Duration::from_nanos(on_cpu),
            profiled_calls,
            profiled_wall: Duration::from_nanos(profiled_nanos),
        }),
    }
}

/// Adds one site's allocation counters into `alloc`.
fn add_allocations(alloc: &mut JobAllocStats, s: &SiteStats) {
    alloc.measured_calls += s.measured_calls.load(Relaxed);
    alloc.total_blocks += s.total_blocks.total.load(Relaxed);
    alloc.total_blocks_max = alloc.total_blocks_max.max(s.total_blocks.max.load(Relaxed));
    alloc.total_bytes += s.total_bytes.total.load(Relaxed);
    alloc.total_bytes_max = alloc.total_bytes_max.max(s.total_bytes.max.load(Relaxed));
    alloc.freed_bytes += s.freed_bytes.total.load(Relaxed);
    alloc.freed_bytes_max = alloc.freed_bytes_max.max(s.freed_bytes.max.load(Relaxed));
    alloc.live_bytes += s.live_bytes_total.load(Relaxed);
    alloc.live_bytes_max = alloc.live_bytes_max.max(s.live_bytes_max.load(Relaxed));
    alloc.peak_bytes_max = alloc.peak_bytes_max.max(s.peak_bytes_max.load(Relaxed));
}

/// Time spent on one job path: a job and the chain of jobs it ran inside.
///
/// Two kinds of time: wall time (`total`, what the jobs table's durations
/// measure) and busy time, the time spent running: a sync call's duration,
/// the time inside an async call's polls. Concurrent calls overlap in wall
/// time (eight tasks of 10 ms each, run at once inside a 12 ms parent, sum
/// to 80 ms), so only busy time adds up along a path. `self_busy` is the
/// busy time less that of the jobs run inside these calls on the same
/// thread (nested calls, child futures polled from their polls): the
/// job-time flamegraph draws it, so that a path's width is its own busy
/// time plus its children's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobPathStats {
    /// Job names from the outermost job to this one.
    pub path: Vec<String>,
    /// Calls on this path.
    pub calls: u64,
    /// Their total wall time (inclusive of the jobs they called), first
    /// poll to completion for async calls; `total_ns` in JSON.
    #[serde(rename = "total_ns", with = "crate::units::nanos")]
    pub total: Duration,
    /// Their busy time (inclusive of the jobs run inside them on the same
    /// thread); `busy_ns` in JSON (0 in reports written before it existed).
    #[serde(rename = "busy_ns", with = "crate::units::nanos", default)]
    pub busy: Duration,
    /// Their busy time outside the jobs run inside them on the same thread;
    /// `self_busy_ns` in JSON (0 in reports written before it existed).
    #[serde(rename = "self_busy_ns", with = "crate::units::nanos", default)]
    pub self_busy: Duration,
}

/// Every job path seen so far, parents before children: the data of a
/// job-time flamegraph.
pub fn job_paths() -> Vec<JobPathStats> {
    crate::capture::reading(|| {
        let mut paths = Vec::new();
        path::for_each_node(|node| paths.push(path_stats(node)));
        paths
    })
}

/// The job paths inside `node` (a scope's), `node` first.
pub(crate) fn job_paths_within(node: &'static path::PathNode) -> Vec<JobPathStats> {
    crate::capture::reading(|| {
        let mut paths = Vec::new();
        path::for_each_node_within(node, |node| paths.push(path_stats(node)));
        paths
    })
}

fn path_stats(node: &'static path::PathNode) -> JobPathStats {
    JobPathStats {
        path: path::names(node).into_iter().map(str::to_string).collect(),
        calls: node.calls.load(Relaxed),
        total: Duration::from_nanos(node.total_nanos.load(Relaxed)),
        busy: Duration::from_nanos(node.busy_nanos.load(Relaxed)),
        self_busy: Duration::from_nanos(node.self_busy_nanos.load(Relaxed)),
    }
}

/// Sets every job's counters and every path's totals to zero (the jobs stay
/// registered). Meant for tests; calls running meanwhile may be half counted.
pub fn reset_jobs() {
    for site in site::registered_sites() {
        site.stats().clear();
    }
    path::for_each_node(|node| node.clear());
}
