//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4),
//! every name prefixed `profiling_alloc_`, in base units (bytes, seconds),
//! counters ending in `_total`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::http::Response;
use super::{lock, Shared};

/// The content type Prometheus expects of the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the job duration histogram's buckets, in seconds.
const DURATION_BOUNDS: [f64; 14] = [
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0,
];

/// The answer to `GET /metrics`.
pub(super) fn respond(shared: &Shared) -> Response {
    let mut out = Exposition::default();
    heap(&mut out);
    jobs(&mut out);
    profiler(&mut out, shared);
    Response::new(200, CONTENT_TYPE, out.text.into_bytes())
}

/// Text being written, one metric family at a time.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a family: its HELP and TYPE lines.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP profiling_alloc_{name} {help}");
        let _ = writeln!(self.text, "# TYPE profiling_alloc_{name} {kind}");
    }

    /// One sample: `name{labels} value`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.text, "profiling_alloc_{name}");
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A family of one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Heap totals and the size histogram.
fn heap(out: &mut Exposition) {
    let heap = crate::heap_stats();
    let help = "1 when the counting allocator is installed (every heap number below is then exact), else 0";
    out.single("allocator_installed", "gauge", help, u8::from(heap.active));
    out.single(
        "heap_live_bytes",
        "gauge",
        "Bytes in live heap blocks.",
        heap.live_bytes,
    );
    out.single(
        "heap_live_blocks",
        "gauge",
        "Live heap blocks.",
        heap.live_blocks,
    );
    let help = "Most bytes live at once since start or the last reset_peak.";
    out.single("heap_peak_bytes", "gauge", help, heap.peak_bytes);
    let help = "Live blocks at the heap's peak.";
    out.single("heap_peak_blocks", "gauge", help, heap.peak_blocks);
    let help = "Bytes allocated (reallocations count their new size).";
    out.single("allocated_bytes_total", "counter", help, heap.total_bytes);
    out.single(
        "allocations_total",
        "counter",
        "Blocks allocated.",
        heap.total_blocks,
    );
    out.single(
        "freed_bytes_total",
        "counter",
        "Bytes freed.",
        heap.freed_bytes,
    );
    out.single("frees_total", "counter", "Blocks freed.", heap.freed_blocks);
    out.single(
        "reallocations_total",
        "counter",
        "Reallocations.",
        heap.reallocs,
    );

    let histogram = crate::size_histogram();
    let name = "allocation_size_bytes";
    out.family(
        name,
        "histogram",
        "Sizes of allocated blocks, by power-of-two size class.",
    );
    let mut cumulative = 0u64;
    for class in &histogram.classes {
        cumulative += class.total_blocks;
        let le = class.max_size.to_string();
        out.sample("allocation_size_bytes_bucket", &[("le", &le)], cumulative);
    }
    out.sample(
        "allocation_size_bytes_bucket",
        &[("le", "+Inf")],
        cumulative,
    );
    out.sample("allocation_size_bytes_sum", &[], histogram.total_bytes());
    out.sample("allocation_size_bytes_count", &[], cumulative);
}

/// A per-job counter: its name, help, and how to read it.
type JobCounter = (&'static str, &'static str, fn(&crate::JobStats) -> u64);

/// Per job: calls, errors, panics, durations, allocations.
fn jobs(out: &mut Exposition) {
    let stats = crate::job_stats();
    let counters: [JobCounter; 5] = [
        ("job_calls_total", "Calls of the job.", |j| j.calls),
        ("job_errors_total", "Calls that returned an error.", |j| {
            j.errors
        }),
        ("job_panics_total", "Calls that panicked.", |j| j.panics),
        (
            "job_allocated_bytes_total",
            "Bytes allocated inside the job's calls, on their own threads.",
            |j| j.allocations.as_ref().map_or(0, |a| a.total_bytes),
        ),
        (
            "job_allocations_total",
            "Blocks allocated inside the job's calls, on their own threads.",
            |j| j.allocations.as_ref().map_or(0, |a| a.total_blocks),
        ),
    ];
    for (name, help, value) in counters {
        out.family(name, "counter", help);
        for job in &stats {
            out.sample(name, &[("job", &job.name)], value(job));
        }
    }
    let bounds: Vec<Duration> = DURATION_BOUNDS
        .iter()
        .map(|s| Duration::from_secs_f64(*s))
        .collect();
    let help = "Wall time of the job's calls.";
    out.family("job_duration_seconds", "histogram", help);
    for (job, cumulative, count, total_nanos) in crate::job::job_duration_buckets(&bounds) {
        for (bound, calls) in DURATION_BOUNDS.iter().zip(&cumulative) {
            let le = bound.to_string();
            out.sample(
                "job_duration_seconds_bucket",
                &[("job", &job), ("le", &le)],
                calls,
            );
        }
        let labels = [("job", job.as_str())];
        let inf = [("job", job.as_str()), ("le", "+Inf")];
        out.sample("job_duration_seconds_bucket", &inf, count);
        out.sample(
            "job_duration_seconds_sum",
            &labels,
            total_nanos as f64 / 1e9,
        );
        out.sample("job_duration_seconds_count", &labels, count);
    }
}

/// The profiler's own numbers, the endpoint's, and the build.
fn profiler(out: &mut Exposition, shared: &Shared) {
    #[cfg(feature = "callsites")]
    let dropped = crate::dropped_samples();
    #[cfg(not(feature = "callsites"))]
    let dropped = 0;
    let help = "Sampled allocations not recorded because a table was full.";
    out.single("dropped_samples_total", "counter", help, dropped);
    let suspects = lock(&shared.last_leak_report)
        .as_ref()
        .map_or(0, |report| report.suspects.len());
    let help = "Callsites whose live bytes grow like a leak, at the last observation.";
    out.single("leak_suspects", "gauge", help, suspects);
    let help = "Requests the endpoint read.";
    out.single(
        "endpoint_requests_total",
        "counter",
        help,
        shared.requests.load(Relaxed),
    );
    let help = "Bytes the endpoint's own threads allocated answering (counted in the heap totals, never sampled).";
    out.single(
        "endpoint_allocated_bytes_total",
        "counter",
        help,
        shared.own_bytes.load(Relaxed),
    );
    let help = "Blocks the endpoint's own threads allocated answering.";
    out.single(
        "endpoint_allocations_total",
        "counter",
        help,
        shared.own_blocks.load(Relaxed),
    );
    let help = "Routes that panicked (answered 500).";
    out.single(
        "endpoint_panics_total",
        "counter",
        help,
        shared.handler_panics.load(Relaxed),
    );
    let build = crate::BuildInfo::current();
    let version = env!("CARGO_PKG_VERSION");
    out.family(
        "build_info",
        "gauge",
        "The profiler's version and build; always 1.",
    );
    out.sample(
        "build_info",
        &[
            ("version", version),
            ("rustc_version", &build.rustc_version),
            ("target", &build.target),
            ("profile", &build.profile),
        ],
        1,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_label_values() {
        let mut out = Exposition::default();
        out.family("job_calls_total", "counter", "Calls.");
        out.sample("job_calls_total", &[("job", "a \"b\"\\c\nd")], 3);
        assert_eq!(
            out.text,
            "# HELP profiling_alloc_job_calls_total Calls.\n\
             # TYPE profiling_alloc_job_calls_total counter\n\
             profiling_alloc_job_calls_total{job=\"a \\\"b\\\"\\\\c\\nd\"} 3\n"
        );
    }
}
