//! Reports built in code for the unit tests: a small valid report as JSON,
//! with the parts a test cares about patched in.

use profiling_alloc::Report;
use serde_json::{json, Value};

/// A report with exact sampling, active heap counts, no jobs and no
/// callsites, with `patch`'s keys (deeply) replacing the template's.
pub(crate) fn report(patch: Value) -> Report {
    let mut base = json!({
        "format_version": 2,
        "program": {
            "name": "workload", "pid": 1, "profiler_version": "0.1.0",
            "captured_at_unix_ms": 0, "max_rss_bytes": null
        },
        "settings": {
            "sampling": "Every", "callsites_available": true,
            "stack_depth": 64, "stack_unwinder": "cached_dwarf"
        },
        "heap": {
            "active": true, "total_blocks": 1000, "total_bytes": 100000,
            "live_blocks": 10, "live_bytes": 5000, "peak_bytes": 20000,
            "peak_blocks": 20, "reallocs": 5, "freed_blocks": 990,
            "freed_bytes": 95000, "peak_is_exact": true, "peak_error_bound": 0
        },
        "size_histogram": { "classes": [] },
        "jobs": [],
        "job_paths": [],
        "callsites": [],
        "dropped_samples": 0
    });
    merge(&mut base, patch);
    Report::from_json(&base.to_string()).expect("a valid test report")
}

fn merge(into: &mut Value, patch: Value) {
    match (into, patch) {
        (Value::Object(into), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, patch) => *into = patch,
    }
}

/// A job with `calls` calls that each allocated `blocks` blocks and `bytes`
/// bytes, kept `kept` and peaked at `peak`; every duration 1 µs.
pub(crate) fn job(name: &str, calls: u64, blocks: u64, bytes: u64, kept: i64, peak: u64) -> Value {
    job_timed(name, calls, [blocks, bytes, peak], kept, 1000)
}

/// [`job`] with `[blocks, bytes, peak]` per call and every duration
/// `nanos`.
pub(crate) fn job_timed(
    name: &str,
    calls: u64,
    per_call: [u64; 3],
    kept: i64,
    nanos: u64,
) -> Value {
    let [blocks, bytes, peak] = per_call;
    json!({
        "name": name, "module_path": "", "file": "src/main.rs", "line": 1,
        "calls": calls, "errors": 0, "panics": 0, "cancelled": 0,
        "duration": {
            "total_ns": nanos * calls, "mean_ns": nanos, "min_ns": nanos,
            "p50_ns": nanos, "p95_ns": nanos, "p99_ns": nanos, "max_ns": nanos
        },
        "allocations": {
            "measured_calls": calls,
            "total_blocks": blocks * calls, "total_blocks_max": blocks,
            "total_bytes": bytes * calls, "total_bytes_max": bytes,
            "freed_bytes": 0, "freed_bytes_max": 0,
            "live_bytes": kept * calls as i64, "live_bytes_max": kept,
            "peak_bytes_max": peak
        }
    })
}

/// A callsite: `functions` innermost first, in `job_path`, with its
/// totals; one size class of blocks of `bytes / blocks` bytes.
pub(crate) fn callsite(
    functions: &[&str],
    job_path: &[&str],
    bytes: f64,
    blocks: f64,
    live_bytes: f64,
) -> Value {
    let frames: Vec<Value> = functions
        .iter()
        .enumerate()
        .map(|(i, f)| json!({ "function": f, "file": "/src/app/src/main.rs", "line": 10 + i }))
        .collect();
    let size = if blocks > 0.0 { bytes / blocks } else { 0.0 };
    // The size class: the largest power of two at or below the size.
    let class = 1u64 << (63 - (size as u64).max(1).leading_zeros());
    json!({
        "frames": frames, "truncated": false, "job_path": job_path,
        "samples": 10, "total_blocks": blocks, "total_bytes": bytes,
        "live_blocks": 0.0, "live_bytes": live_bytes,
        "size_classes": [[class, blocks]]
    })
}

/// `site` (from [`callsite`]) as Poisson sampling at `rate` bytes would
/// report it: with the variances of its estimates, those of blocks of its
/// size class's smallest size, each sampled with `p = 1 - exp(-s/rate)`.
pub(crate) fn sampled(mut site: Value, rate: u64) -> Value {
    let size = site["size_classes"][0][0].as_f64().unwrap_or(1.0).max(1.0);
    let blocks = site["total_blocks"].as_f64().unwrap_or(0.0);
    let p = -(-size / rate as f64).exp_m1();
    let per_block = (1.0 - p) / p;
    site["total_blocks_variance"] = json!(blocks * per_block);
    site["total_bytes_variance"] = json!(blocks * size * size * per_block);
    site
}
