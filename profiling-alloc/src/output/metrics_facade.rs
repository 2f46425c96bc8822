//! The metric families published through the `metrics` facade (feature
//! `metrics`), for a service that already runs an exporter
//! (metrics-exporter-prometheus, a StatsD or OpenTelemetry bridge).

use std::time::Duration;

use super::metrics::{families, Kind};

/// Sets every profiler metric now through the `metrics` facade's recorder:
/// the same families, names and labels as
/// [`prometheus_metrics`](crate::output::prometheus_metrics) (the live endpoint's
/// `/metrics`). Counters are set to their absolute value, gauges to theirs;
/// a histogram's cumulative buckets (label `le`) and `_count` are counters,
/// its `_sum` a gauge (the facade's histograms take single observations,
/// not buckets). Nothing happens without a recorder installed.
///
/// Call it before each scrape of your exporter, or start
/// [`publish_metrics_every`] once.
pub fn publish_metrics() {
    crate::capture::reading(|| {
        for family in families() {
            for sample in &family.samples {
                let name = format!("{}{}", family.full_name(), sample.suffix);
                let labels: Vec<::metrics::Label> = sample
                    .labels
                    .iter()
                    .map(|(key, value)| ::metrics::Label::new(*key, value.clone()))
                    .collect();
                match (family.kind, sample.suffix) {
                    (Kind::Gauge, _) | (Kind::Histogram, "_sum") => {
                        ::metrics::gauge!(name, labels).set(sample.value);
                    }
                    _ => {
                        ::metrics::counter!(name, labels).absolute(sample.value as u64);
                    }
                }
            }
        }
    })
}

/// Starts a thread (named `profiling-alloc-metrics`, never sampled) that
/// calls [`publish_metrics`] every `interval`, for the life of the process.
///
/// # Errors
///
/// The operating system's error when the thread cannot be started.
pub fn publish_metrics_every(interval: Duration) -> std::io::Result<()> {
    let interval = interval.max(Duration::from_millis(100));
    std::thread::Builder::new()
        .name("profiling-alloc-metrics".into())
        .spawn(move || {
            crate::capture::reading(|| loop {
                publish_metrics();
                std::thread::sleep(interval);
            })
        })
        .map(drop)
}
