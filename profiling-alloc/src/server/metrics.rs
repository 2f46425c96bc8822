//! `GET /metrics`: the profiler's metric families (`output/metrics.rs`)
//! and the endpoint's own, as Prometheus text (version 0.0.4).

use std::sync::atomic::Ordering::Relaxed;

use super::http::Response;
use super::{lock, Shared};
use crate::output::metrics::{families, render, Family, Kind};

/// The content type Prometheus expects of the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The answer to `GET /metrics`.
pub(super) fn respond(shared: &Shared) -> Response {
    let mut all = families();
    all.extend(endpoint_families(shared));
    Response::new(200, CONTENT_TYPE, render(&all).into_bytes())
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
