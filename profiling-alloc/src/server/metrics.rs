//! `GET /metrics`: the profiler's metric families (`output/metrics.rs`),
//! the process's under the standard `process_*` names, the memory levels
//! and the container's limit, and the endpoint's own, as Prometheus text
//! (version 0.0.4).

use std::sync::atomic::Ordering::Relaxed;

use super::http::Response;
use super::{cgroup, lock, process, views, Shared};
use crate::output::metrics::{families, render, Family, Kind};

/// The content type Prometheus expects of the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The answer to `GET /metrics`.
pub(super) fn respond(shared: &Shared) -> Response {
    let mut all = families();
    all.extend(process_families());
    all.extend(memory_families(shared));
    all.extend(job_limit_families(shared));
    all.extend(endpoint_families(shared));
    Response::new(200, CONTENT_TYPE, render(&all).into_bytes())
}

/// The process, under the names every Prometheus client library's process
/// collector uses (each one left out where the system does not tell).
fn process_families() -> Vec<Family> {
    let memory = process::memory();
    let times = process::cpu_times();
    let mut out = Vec::new();
    let mut add = |name, kind, help, value: Option<f64>| {
        if let Some(value) = value {
            out.push(Family::single(name, kind, help, value).unprefixed());
        }
    };
    add(
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory size in bytes.",
        memory.rss_bytes.map(|b| b as f64),
    );
    add(
        "process_virtual_memory_bytes",
        Kind::Gauge,
        "Virtual memory size in bytes.",
        memory.virtual_bytes.map(|b| b as f64),
    );
    add(
        "process_cpu_seconds_total",
        Kind::Counter,
        "Total user and system CPU time spent in seconds.",
        times.map(|t| (t.user + t.system).as_secs_f64()),
    );
    add(
        "process_open_fds",
        Kind::Gauge,
        "Number of open file descriptors.",
        process::open_fds().map(|n| n as f64),
    );
    add(
        "process_max_fds",
        Kind::Gauge,
        "Maximum number of open file descriptors.",
        process::max_fds().map(|n| n as f64),
    );
    add(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since unix epoch in seconds.",
        times.as_ref().and_then(process::start_time_seconds),
    );
    add(
        "process_threads",
        Kind::Gauge,
        "Number of OS threads in the process.",
        times.map(|t| t.threads as f64),
    );
    out
}

/// The memory levels in force, the container's limit and usage, and the
/// resident bytes the live heap does not explain.
fn memory_families(shared: &Shared) -> Vec<Family> {
    let mut out = Vec::new();
    if let Some(levels) = &shared.memory_levels {
        let mut level = |name, help, value: u64| {
            let mut family = Family::empty(name, Kind::Gauge, help);
            family.push(
                "",
                vec![("source", levels.source.to_string())],
                value as f64,
            );
            out.push(family);
        };
        level(
            "memory_warning_bytes",
            "Resident size at which the endpoint warns (label source: environment, code or cgroup).",
            levels.warning_bytes,
        );
        level(
            "memory_critical_bytes",
            "Resident size the endpoint calls critical (label source: environment, code or cgroup).",
            levels.critical_bytes,
        );
    }
    if let Some(cgroup) = cgroup::memory() {
        out.push(Family::single(
            "cgroup_memory_limit_bytes",
            Kind::Gauge,
            "The container's memory limit (cgroup memory.max or memory.limit_in_bytes).",
            cgroup.limit_bytes as f64,
        ));
        if let Some(usage) = cgroup.usage_bytes {
            out.push(Family::single(
                "cgroup_memory_usage_bytes",
                Kind::Gauge,
                "Memory charged to the container's cgroup, page cache included.",
                usage as f64,
            ));
        }
    }
    let heap = crate::heap_stats();
    if let Some(unexplained) = views::unexplained(process::memory().rss_bytes, &heap) {
        out.push(Family::single(
            "resident_unexplained_bytes",
            Kind::Gauge,
            "Resident bytes beyond the live heap: allocator overhead and fragmentation, stacks, code, mapped files.",
            unexplained as f64,
        ));
    }
    out
}

/// Each job's p99 limit from the QoS baseline, when one is loaded.
fn job_limit_families(shared: &Shared) -> Vec<Family> {
    let Some(baseline) = &shared.settings.job_baseline else {
        return Vec::new();
    };
    let mut family = Family::empty(
        "job_duration_limit_seconds",
        Kind::Gauge,
        "A job's p99 duration limit from the QoS baseline (its p99 target, or the measured p99 plus 25%).",
    );
    for job in &baseline.jobs {
        family.push(
            "",
            vec![("job", job.name.clone())],
            job.p99_limit(crate::analysis::BASELINE_TOLERANCE)
                .as_secs_f64(),
        );
    }
    vec![family]
}

/// The leak observer's verdict and the endpoint's own work.
fn endpoint_families(shared: &Shared) -> Vec<Family> {
    let suspects = lock(&shared.last_leak_report)
        .as_ref()
        .map_or(0, |report| report.suspects.len());
    let count = |n: &std::sync::atomic::AtomicU64| n.load(Relaxed) as f64;
    vec![
        Family::single(
            "leak_suspects",
            Kind::Gauge,
            "Callsites whose live bytes grow like a leak, at the last observation.",
            suspects as f64,
        ),
        Family::single(
            "endpoint_requests_total",
            Kind::Counter,
            "Requests the endpoint read.",
            count(&shared.requests),
        ),
        Family::single(
            "endpoint_allocated_bytes_total",
            Kind::Counter,
            "Bytes the endpoint's own threads allocated answering (counted in the heap totals, never sampled).",
            count(&shared.own_bytes),
        ),
        Family::single(
            "endpoint_allocations_total",
            Kind::Counter,
            "Blocks the endpoint's own threads allocated answering.",
            count(&shared.own_blocks),
        ),
        Family::single(
            "endpoint_panics_total",
            Kind::Counter,
            "Routes that panicked (answered 500).",
            count(&shared.handler_panics),
        ),
    ]
}
