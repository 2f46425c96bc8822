//! The profiler's numbers as metrics: one list of metric families (names
//! prefixed `profiling_alloc_`, base units, counters ending in `_total`),
//! rendered as Prometheus text ([`prometheus_metrics`], the endpoint's
//! `/metrics`) or published through the `metrics` facade
//! (`publish_metrics`, feature `metrics`).

use std::fmt::Write as _;
use std::time::Duration;

/// The prefix of every metric name.
pub(crate) const PREFIX: &str = "profiling_alloc_";

/// Upper bounds of the job duration histogram's buckets, in seconds.
const DURATION_BOUNDS: [f64; 14] = [
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0,
];

/// The allocation size histogram has a bucket for each size class up to
/// this one (blocks under 2 TiB).
const SIZE_BUCKET_CLASSES: u32 = 40;

/// What a family measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only goes up (until the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Cumulative buckets (`_bucket` with `le`), `_sum` and `_count`.
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family.
#[derive(Clone, Debug)]
pub(crate) struct Family {
    /// The name without the prefix.
    pub(crate) name: &'static str,
    /// Whether the name takes [`PREFIX`]: all but the standard `process_*`
    /// names every Prometheus client library uses.
    pub(crate) prefixed: bool,
    pub(crate) kind: Kind,
    pub(crate) help: &'static str,
    pub(crate) samples: Vec<Sample>,
}

/// One sample of a family.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    /// `""`, or for a histogram `"_bucket"`, `"_sum"`, `"_count"`.
    pub(crate) suffix: &'static str,
    pub(crate) labels: Vec<(&'static str, String)>,
    pub(crate) value: f64,
}

impl Family {
    /// A family of one unlabelled sample.
    pub(crate) fn single(name: &'static str, kind: Kind, help: &'static str, value: f64) -> Family {
        Family {
            name,
            prefixed: true,
            kind,
            help,
            samples: vec![Sample {
                suffix: "",
                labels: Vec::new(),
                value,
            }],
        }
    }

    pub(crate) fn empty(name: &'static str, kind: Kind, help: &'static str) -> Family {
        Family {
            name,
            prefixed: true,
            kind,
            help,
            samples: Vec::new(),
        }
    }

    /// This family under its own name, without [`PREFIX`].
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn unprefixed(mut self) -> Family {
        self.prefixed = false;
        self
    }

    /// The name as exported.
    pub(crate) fn full_name(&self) -> String {
        if self.prefixed {
            format!("{PREFIX}{}", self.name)
        } else {
            self.name.to_string()
        }
    }

    pub(crate) fn push(
        &mut self,
        suffix: &'static str,
        labels: Vec<(&'static str, String)>,
        value: f64,
    ) {
        self.samples.push(Sample {
            suffix,
            labels,
            value,
        });
    }
}

/// The heap's, the jobs' and the profiler's families, read now.
pub(crate) fn families() -> Vec<Family> {
    crate::capture::reading(|| {
        let mut out = heap();
        out.extend(jobs());
        out.extend(profiler());
        out
    })
}

/// The profiler's numbers now, in the Prometheus text exposition format
/// (version 0.0.4): what the live endpoint serves at `/metrics`, for a
/// service that serves metrics from a server of its own.
///
/// Heap gauges and `_total` counters, the allocation size histogram, per
/// job (label `job`) calls, errors, panics, a duration histogram in seconds
/// and bytes and blocks allocated, dropped samples, and a `_build_info`
/// gauge; every name starts with `profiling_alloc_`.
///
/// ```
/// let text = profiling_alloc::output::prometheus_metrics();
/// assert!(text.contains("# TYPE profiling_alloc_heap_live_bytes gauge"));
/// ```
pub fn prometheus_metrics() -> String {
    crate::capture::reading(|| render(&families()))
}

/// `families` as Prometheus text.
pub(crate) fn render(families: &[Family]) -> String {
    let mut text = String::new();
    for family in families {
        let name = family.full_name();
        let _ = writeln!(text, "# HELP {name} {}", family.help);
        let _ = writeln!(text, "# TYPE {name} {}", family.kind.name());
        for sample in &family.samples {
            let _ = write!(text, "{name}{}", sample.suffix);
            if !sample.labels.is_empty() {
                text.push('{');
                for (i, (key, value)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    let _ = write!(text, "{key}=\"{}\"", escape(value));
                }
                text.push('}');
            }
            let _ = writeln!(text, " {}", sample.value);
        }
    }
    text
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Heap totals and the size histogram.
fn heap() -> Vec<Family> {
    let heap = crate::heap_stats();
    let n = |v: u64| v as f64;
    let mut out = vec![
        Family::single(
            "allocator_installed",
            Kind::Gauge,
            "1 when the counting allocator is installed (every heap number below is then exact), else 0.",
            f64::from(u8::from(heap.active)),
        ),
        Family::single("heap_live_bytes", Kind::Gauge, "Bytes in live heap blocks.", n(heap.live_bytes)),
        Family::single("heap_live_blocks", Kind::Gauge, "Live heap blocks.", n(heap.live_blocks)),
        Family::single(
            "heap_peak_bytes",
            Kind::Gauge,
            "Most bytes live at once since start or the last reset_peak.",
            n(heap.peak_bytes),
        ),
        Family::single("heap_peak_blocks", Kind::Gauge, "Live blocks at the heap's peak.", n(heap.peak_blocks)),
        Family::single(
            "allocated_bytes_total",
            Kind::Counter,
            "Bytes allocated (reallocations count their new size).",
            n(heap.total_bytes),
        ),
        Family::single("allocations_total", Kind::Counter, "Blocks allocated.", n(heap.total_blocks)),
        Family::single("freed_bytes_total", Kind::Counter, "Bytes freed.", n(heap.freed_bytes)),
        Family::single("frees_total", Kind::Counter, "Blocks freed.", n(heap.freed_blocks)),
        Family::single("reallocations_total", Kind::Counter, "Reallocations.", n(heap.reallocs)),
    ];
    let histogram = crate::heap::size_histogram();
    let mut sizes = Family::empty(
        "allocation_size_bytes",
        Kind::Histogram,
        "Sizes of allocated blocks, by power-of-two size class.",
    );
    // The same buckets at every scrape (a bucket set that changed over time
    // would break rate() and histogram_quantile() across the change): one
    // per size class up to 2 TiB, empty or not; larger blocks only in +Inf.
    let mut cumulative = 0u64;
    for class in 0..=SIZE_BUCKET_CLASSES {
        let upper = (1u64 << (class + 1)) - 1;
        cumulative += histogram
            .classes
            .iter()
            .find(|c| c.max_size == upper)
            .map_or(0, |c| c.total_blocks);
        sizes.push("_bucket", vec![("le", upper.to_string())], n(cumulative));
    }
    let count = histogram.total_blocks();
    sizes.push("_bucket", vec![("le", "+Inf".into())], n(count));
    sizes.push("_sum", Vec::new(), n(histogram.total_bytes()));
    sizes.push("_count", Vec::new(), n(count));
    out.push(sizes);
    out
}

/// A per-job counter: its name, help, and how to read it.
type JobCounter = (&'static str, &'static str, fn(&crate::JobStats) -> u64);

/// Per job: calls, errors, panics, durations, allocations.
fn jobs() -> Vec<Family> {
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
    let mut out = Vec::new();
    for (name, help, value) in counters {
        let mut family = Family::empty(name, Kind::Counter, help);
        for job in &stats {
            family.push("", vec![("job", job.name.clone())], value(job) as f64);
        }
        out.push(family);
    }
    let bounds: Vec<Duration> = DURATION_BOUNDS
        .iter()
        .map(|s| Duration::from_secs_f64(*s))
        .collect();
    let mut durations = Family::empty(
        "job_duration_seconds",
        Kind::Histogram,
        "Wall time of the job's calls.",
    );
    for (job, cumulative, count, total_nanos) in crate::job::job_duration_buckets(&bounds) {
        for (bound, calls) in DURATION_BOUNDS.iter().zip(&cumulative) {
            let labels = vec![("job", job.clone()), ("le", bound.to_string())];
            durations.push("_bucket", labels, *calls as f64);
        }
        let inf = vec![("job", job.clone()), ("le", "+Inf".to_string())];
        durations.push("_bucket", inf, count as f64);
        durations.push("_sum", vec![("job", job.clone())], total_nanos as f64 / 1e9);
        durations.push("_count", vec![("job", job)], count as f64);
    }
    out.push(durations);
    // On-CPU time, once a CPU profile has run (feature `cpu`).
    if stats.iter().any(|job| job.cpu.is_some()) {
        let mut on_cpu = Family::empty(
            "job_cpu_seconds_total",
            Kind::Counter,
            "CPU time sampled inside the job's calls while CPU profiles ran (an estimate).",
        );
        for job in &stats {
            let seconds = job.cpu.map_or(0.0, |cpu| cpu.on_cpu.as_secs_f64());
            on_cpu.push("", vec![("job", job.name.clone())], seconds);
        }
        out.push(on_cpu);
    }
    out
}

/// The profiler's own numbers and its build.
fn profiler() -> Vec<Family> {
    #[cfg(feature = "callsites")]
    let dropped = crate::callsites::dropped_samples();
    #[cfg(not(feature = "callsites"))]
    let dropped = 0;
    let build = crate::output::BuildInfo::current();
    let mut info = Family::empty(
        "build_info",
        Kind::Gauge,
        "The profiler's version and build; always 1.",
    );
    info.push(
        "",
        vec![
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("rustc_version", build.rustc_version),
            ("target", build.target),
            ("profile", build.profile),
        ],
        1.0,
    );
    vec![
        Family::single(
            "dropped_samples_total",
            Kind::Counter,
            "Sampled allocations not recorded because a table was full.",
            dropped as f64,
        ),
        info,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_label_values_and_print_integers_plainly() {
        let mut family = Family::empty("job_calls_total", Kind::Counter, "Calls.");
        family.push("", vec![("job", "a \"b\"\\c\nd".to_string())], 3.0);
        assert_eq!(
            render(&[family]),
            "# HELP profiling_alloc_job_calls_total Calls.\n\
             # TYPE profiling_alloc_job_calls_total counter\n\
             profiling_alloc_job_calls_total{job=\"a \\\"b\\\"\\\\c\\nd\"} 3\n"
        );
    }

    #[test]
    fn histograms_are_cumulative_and_end_at_inf() {
        let sizes = heap().pop().unwrap();
        assert_eq!(sizes.kind, Kind::Histogram);
        let buckets: Vec<f64> = sizes
            .samples
            .iter()
            .filter(|s| s.suffix == "_bucket")
            .map(|s| s.value)
            .collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        // A fixed set: every class up to 2 TiB, and +Inf.
        assert_eq!(buckets.len(), SIZE_BUCKET_CLASSES as usize + 2);
        let last = sizes
            .samples
            .iter()
            .find(|s| s.labels == [("le", "+Inf".to_string())]);
        let count = sizes.samples.iter().find(|s| s.suffix == "_count");
        assert_eq!(last.unwrap().value, count.unwrap().value);
    }
}
