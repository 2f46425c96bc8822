//! Reports for the command-line tests, written where the tests can find
//! them, and the command to run.
#![allow(dead_code)] // Each test file uses a part.

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::{json, Value};

/// The `profiling-alloc` binary, as a user runs it.
pub fn profiling_alloc() -> Command {
    Command::cargo_bin("profiling-alloc").expect("the binary is built for its tests")
}

/// A fresh directory of this test's own.
pub fn dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the test's directory");
    dir
}

/// Writes `report` (JSON) as `name` in `dir`, returning its path.
pub fn write(dir: &std::path::Path, name: &str, report: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, report.to_string()).expect("writing a test report");
    path
}

/// A report of a workload with two jobs and two callsites, every block
/// sampled; `render_bytes` is what `render` allocates per call.
pub fn workload(render_bytes: u64) -> Value {
    json!({
        "format_version": 2,
        "program": {
            "name": "workload", "pid": 7, "profiler_version": "0.1.0",
            "captured_at_unix_ms": 0, "max_rss_bytes": null
        },
        "settings": {
            "sampling": "Every", "callsites_available": true,
            "stack_depth": 64, "stack_unwinder": "frame_pointers"
        },
        "heap": {
            "active": true, "total_blocks": 30000, "total_bytes": 100000 + 1000 * render_bytes,
            "live_blocks": 10, "live_bytes": 5000, "peak_bytes": 20000,
            "peak_blocks": 20, "reallocs": 5, "freed_blocks": 29990,
            "freed_bytes": 95000 + 1000 * render_bytes, "peak_is_exact": true, "peak_error_bound": 0
        },
        "size_histogram": { "classes": [] },
        "jobs": [
            job("app::parse", 1000, 20, 2000, 500),
            job("app::render", 1000, 1, render_bytes, 0),
        ],
        "job_paths": [
            { "path": ["app::parse"], "calls": 1000, "total_ns": 5000000, "busy_ns": 5000000, "self_busy_ns": 5000000 },
            { "path": ["app::render"], "calls": 1000, "total_ns": 2000000, "busy_ns": 2000000, "self_busy_ns": 2000000 }
        ],
        "callsites": [
            callsite("app::parse", 2_000_000.0, 20000.0),
            callsite("app::render", 1000.0 * render_bytes as f64, 1000.0),
        ],
        "dropped_samples": 0
    })
}

fn job(name: &str, calls: u64, blocks: u64, bytes: u64, nanos: u64) -> Value {
    json!({
        "name": name, "module_path": "app", "file": "src/main.rs", "line": 1,
        "calls": calls, "errors": 0, "panics": 0, "cancelled": 0,
        "duration": {
            "total_ns": nanos * calls, "mean_ns": nanos, "min_ns": nanos,
            "p50_ns": nanos, "p95_ns": nanos, "p99_ns": nanos, "max_ns": nanos
        },
        "allocations": {
            "measured_calls": calls,
            "total_blocks": blocks * calls, "total_blocks_max": blocks,
            "total_bytes": bytes * calls, "total_bytes_max": bytes,
            "freed_bytes": bytes * calls, "freed_bytes_max": bytes,
            "live_bytes": 0, "live_bytes_max": 0, "peak_bytes_max": bytes
        }
    })
}

fn callsite(function: &str, bytes: f64, blocks: f64) -> Value {
    json!({
        "frames": [
            { "function": function, "file": "/src/app/src/main.rs", "line": 12 },
            { "function": "app::main", "file": "/src/app/src/main.rs", "line": 40 }
        ],
        "truncated": false, "job_path": [function], "samples": blocks as u64,
        "total_blocks": blocks, "total_bytes": bytes, "live_blocks": 0.0, "live_bytes": 0.0,
        "size_classes": [[64, blocks]]
    })
}

/// Sets `report[pointer]` (a JSON pointer such as `/jobs/0/duration/p99_ns`).
pub fn set(report: &mut Value, pointer: &str, value: Value) {
    *report
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the report")) = value;
}

/// A job profile as `JobProfile::write_json` writes it: measured runs of
/// `(wall ms, CPU ms)` after no warm-up, needing `need_bytes` resident
/// (heap peak and overhead both measured).
pub fn job_profile(name: &str, runs: &[(u64, u64)], need_bytes: u64) -> Value {
    let ms = |n: u64| n * 1_000_000;
    let walls: Vec<u64> = runs.iter().map(|&(wall, _)| ms(wall)).collect();
    let max = walls.iter().copied().max().unwrap_or(0);
    let stats = json!({
        "total_ns": walls.iter().sum::<u64>(), "mean_ns": max, "min_ns": max,
        "p50_ns": max, "p95_ns": max, "p99_ns": max, "max_ns": max
    });
    json!({
        "name": name,
        "sample_size": runs.len(),
        "warmup_runs": 0,
        "errors": 0,
        "duration": stats,
        "cpu_time": null,
        "cpu_clock": "process",
        "on_cpu_share": null,
        "heap": null,
        "resident": null,
        "memory_need": {
            "bytes": need_bytes, "heap_peak_bytes": need_bytes,
            "resident_overhead_bytes": 0, "resident_growth_bytes": 0
        },
        "runs": runs.iter().enumerate().map(|(i, &(wall, cpu))| json!({
            "phase": { "measured": i + 1 }, "wall_ns": ms(wall), "cpu_ns": ms(cpu),
            "heap": null, "resident": null, "failed": false
        })).collect::<Vec<_>>(),
        "machine": { "logical_cpus": 2, "os": "linux", "arch": "x86_64" }
    })
}

/// The element of the JSON array `array` whose `key` is `value` (a job by
/// its name, a row by its metric, an option by its platform).
pub fn element<'a>(array: &'a Value, key: &str, value: &str) -> &'a Value {
    array
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {array}"))
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no {key} {value:?} in {array}"))
}
