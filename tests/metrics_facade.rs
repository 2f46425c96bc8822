//! The `metrics` facade receives the profiler's metrics: the same names,
//! labels and values as the Prometheus text, read back through
//! metrics-util's debugging recorder.

use std::hint::black_box;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use profiling_alloc::{output::publish_metrics, profile_job, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

#[profile_job]
fn handle(n: usize) -> Vec<u64> {
    (0..n as u64).collect()
}

#[test]
fn publishing_sets_the_same_metrics_as_the_prometheus_text() {
    for n in 0..7 {
        black_box(handle(n));
    }
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, publish_metrics);
    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str, labels: &[(&str, &str)]| {
        snapshot
            .iter()
            .find(|(key, ..)| {
                let key = key.key();
                key.name() == name
                    && labels
                        .iter()
                        .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
            })
            .map(|(key, _, _, value)| (key.kind(), value))
            .unwrap_or_else(|| panic!("no {name} {labels:?}"))
    };
    let job = "metrics_facade::handle";
    assert_eq!(
        find("profiling_alloc_job_calls_total", &[("job", job)]),
        (MetricKind::Counter, &DebugValue::Counter(7))
    );
    assert_eq!(
        find(
            "profiling_alloc_job_duration_seconds_count",
            &[("job", job)]
        ),
        (MetricKind::Counter, &DebugValue::Counter(7))
    );
    let (kind, installed) = find("profiling_alloc_allocator_installed", &[]);
    assert_eq!(kind, MetricKind::Gauge);
    assert_eq!(installed, &DebugValue::Gauge(1.0.into()));
    let (_, allocations) = find("profiling_alloc_allocations_total", &[]);
    assert!(
        matches!(allocations, DebugValue::Counter(n) if *n > 0),
        "{allocations:?}"
    );
    find(
        "profiling_alloc_allocation_size_bytes_bucket",
        &[("le", "+Inf")],
    );
    find(
        "profiling_alloc_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
    );
    // Every family of the text is published.
    let text = profiling_alloc::output::prometheus_metrics();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap();
        assert!(
            snapshot
                .iter()
                .any(|(key, ..)| key.key().name().starts_with(name)),
            "{name} was not published"
        );
    }
}
