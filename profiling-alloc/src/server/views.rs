//! The JSON views of the process: `/memory`, `/cpu`, `/allocations`,
//! `/leaks`.

use std::time::Instant;

use serde::Serialize;

use super::http::Response;
use super::memory_levels::MemoryLevels;
use super::{lock, process, Shared};
use crate::units::bytes;

/// How many callsites `/allocations` lists in each order.
#[cfg(feature = "callsites")]
const TOP_CALLSITES: usize = 20;

/// `GET /memory`.
pub(super) fn memory(shared: &Shared) -> Response {
    #[derive(Serialize)]
    struct Limits<'a> {
        #[serde(flatten)]
        levels: &'a MemoryLevels,
        /// Which number they are held against.
        measured: &'static str,
    }
    #[derive(Serialize)]
    struct Container {
        cgroup_version: u8,
        limit_bytes: u64,
        usage_bytes: Option<u64>,
    }
    #[derive(Serialize)]
    struct Memory<'a> {
        timestamp: String,
        rss_bytes: Option<u64>,
        virtual_bytes: Option<u64>,
        heap_live_bytes: u64,
        heap_peak_bytes: u64,
        /// Resident bytes the live heap does not explain: the allocator's
        /// overhead and fragmentation, stacks, code, mapped files.
        unexplained_resident_bytes: Option<u64>,
        /// Theil–Sen slope of live heap bytes over the leak observer's window.
        heap_growth_bytes_per_hour: Option<f64>,
        growth_window_seconds: Option<f64>,
        status: &'static str,
        limits: Option<Limits<'a>>,
        container: Option<Container>,
        /// The OOM early warning's snapshots, oldest first.
        early_warning_snapshots: Vec<super::snapshots::Snapshot>,
        warnings: Vec<String>,
    }
    let process = process::memory();
    let heap = crate::heap_stats();
    let leaks = lock(&shared.last_leak_report).clone();
    let growth = leaks.as_ref().filter(|report| report.snapshots >= 2);
    let (measured, name) = match process.rss_bytes {
        Some(rss) => (rss, "rss_bytes"),
        None => (heap.live_bytes, "heap_live_bytes"),
    };
    let mut warnings = Vec::new();
    let mut status = "normal";
    if let Some(levels) = &shared.memory_levels {
        if measured >= levels.critical_bytes {
            status = "critical";
            warnings.push(format!(
                "{name} {} is at or above the critical level {} (from {})",
                bytes(measured),
                bytes(levels.critical_bytes),
                levels.source_detail
            ));
        } else if measured >= levels.warning_bytes {
            status = "warning";
            warnings.push(format!(
                "{name} {} is at or above the warning level {} (from {})",
                bytes(measured),
                bytes(levels.warning_bytes),
                levels.source_detail
            ));
        }
    }
    let failures = shared
        .oom_failures
        .load(std::sync::atomic::Ordering::Relaxed);
    if failures > 0 {
        warnings.push(format!(
            "{failures} early-warning snapshot(s) could not be written (see the snapshot directory)"
        ));
    }
    if let Some(report) = &leaks {
        if !report.suspects.is_empty() {
            warnings.push(format!(
                "{} callsite(s) grow like a leak (see /leaks)",
                report.suspects.len()
            ));
        }
    }
    let container = super::cgroup::memory().map(|cgroup| Container {
        cgroup_version: cgroup.version,
        limit_bytes: cgroup.limit_bytes,
        usage_bytes: cgroup.usage_bytes,
    });
    Response::json(&Memory {
        timestamp: crate::units::timestamp_now(),
        rss_bytes: process.rss_bytes,
        virtual_bytes: process.virtual_bytes,
        heap_live_bytes: heap.live_bytes,
        heap_peak_bytes: heap.peak_bytes,
        unexplained_resident_bytes: unexplained(process.rss_bytes, &heap),
        heap_growth_bytes_per_hour: growth.map(|r| r.heap_growth_bytes_per_hour),
        growth_window_seconds: growth.map(|r| r.window_ms as f64 / 1000.0),
        status,
        limits: shared.memory_levels.as_ref().map(|levels| Limits {
            levels,
            measured: name,
        }),
        container,
        early_warning_snapshots: lock(&shared.oom_snapshots).kept().cloned().collect(),
        warnings,
    })
}

/// Resident bytes beyond the live heap, when both are known.
pub(super) fn unexplained(rss_bytes: Option<u64>, heap: &crate::HeapStats) -> Option<u64> {
    let rss = rss_bytes?;
    heap.active.then(|| rss.saturating_sub(heap.live_bytes))
}

/// `GET /cpu`: CPU time since the previous `/cpu` request (or the
/// endpoint's start), as a share of one core and of the machine.
pub(super) fn cpu(shared: &Shared) -> Response {
    #[derive(Serialize)]
    struct Cpu {
        timestamp: String,
        user_seconds_total: Option<f64>,
        system_seconds_total: Option<f64>,
        /// Seconds the shares below are measured over.
        window_seconds: f64,
        user_share_of_one_core: Option<f64>,
        system_share_of_one_core: Option<f64>,
        share_of_one_core: Option<f64>,
        share_of_machine: Option<f64>,
        cores: usize,
        load_average: Option<[f64; 3]>,
        threads: Option<u64>,
    }
    let now = Instant::now();
    let times = process::cpu_times();
    let (since, before) = std::mem::replace(&mut *lock(&shared.cpu_baseline), (now, times));
    let window = now.saturating_duration_since(since).as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let share = |pick: fn(&process::CpuTimes) -> f64| {
        let (now, before) = (times.as_ref()?, before.as_ref()?);
        (window > 0.0).then(|| ((pick(now) - pick(before)) / window).max(0.0))
    };
    let user = share(|t| t.user.as_secs_f64());
    let system = share(|t| t.system.as_secs_f64());
    let both = user.zip(system).map(|(u, s)| u + s);
    Response::json(&Cpu {
        timestamp: crate::units::timestamp_now(),
        user_seconds_total: times.map(|t| t.user.as_secs_f64()),
        system_seconds_total: times.map(|t| t.system.as_secs_f64()),
        window_seconds: window,
        user_share_of_one_core: user,
        system_share_of_one_core: system,
        share_of_one_core: both,
        share_of_machine: both.map(|b| b / cores as f64),
        cores,
        load_average: process::load_average(),
        threads: times.map(|t| t.threads),
    })
}

/// `GET /allocations`: top callsites by bytes allocated and by live bytes,
/// the size histogram, and the findings.
pub(super) fn allocations(shared: &Shared) -> Response {
    #[derive(Serialize)]
    struct Allocations {
        timestamp: String,
        sampling: crate::Sampling,
        /// Whether callsite numbers are estimates (Poisson sampling).
        estimated: bool,
        top_by_bytes: Vec<crate::Callsite>,
        top_by_live_bytes: Vec<crate::Callsite>,
        size_histogram: crate::heap::SizeHistogram,
        dropped_samples: u64,
        findings: Vec<crate::analysis::Finding>,
    }
    let all = super::shared::sampled_callsites();
    let findings = shared.findings(&all);
    #[cfg(feature = "callsites")]
    let (by_bytes, by_live, dropped) = {
        let mut by_live: Vec<crate::Callsite> = all
            .iter()
            .filter(|s| s.live_blocks > 0.0)
            .cloned()
            .collect();
        by_live.sort_by(|a, b| b.live_bytes.total_cmp(&a.live_bytes));
        let mut by_bytes = all;
        by_bytes.truncate(TOP_CALLSITES);
        by_live.truncate(TOP_CALLSITES);
        (by_bytes, by_live, crate::callsites::dropped_samples())
    };
    #[cfg(not(feature = "callsites"))]
    let (by_bytes, by_live, dropped) = (Vec::new(), Vec::new(), 0);
    let sampling = crate::callsites::sampling();
    Response::json(&Allocations {
        timestamp: crate::units::timestamp_now(),
        sampling,
        estimated: matches!(sampling, crate::Sampling::Poisson { .. }),
        top_by_bytes: by_bytes,
        top_by_live_bytes: by_live,
        size_histogram: crate::heap::size_histogram(),
        dropped_samples: dropped,
        findings,
    })
}

/// `GET /leaks`: the analysis of the observations so far.
pub(super) fn leaks(shared: &Shared) -> Response {
    #[derive(Serialize)]
    struct Leaks {
        timestamp: String,
        interval_seconds: f64,
        sampling: crate::Sampling,
        #[serde(flatten)]
        report: crate::analysis::LeakReport,
    }
    let report = lock(&shared.leaks).analyze();
    Response::json(&Leaks {
        timestamp: crate::units::timestamp_now(),
        interval_seconds: shared.settings.leak_interval.as_secs_f64(),
        sampling: crate::callsites::sampling(),
        report,
    })
}
