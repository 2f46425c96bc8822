//! The heap profile, in the layout of Go's `runtime/pprof`.

use super::builder::{Layout, ProfileBuilder, Rounder};
use super::proto::Profile;
use crate::callsites::Sampling;
use crate::kinds::PprofKind;
use crate::output::folded::rooted_frames;
use crate::output::report::Report;

/// One sample per callsite with `alloc_objects`, `alloc_space`,
/// `inuse_objects`, `inuse_space`.
pub(super) fn profile(report: &Report, kind: PprofKind) -> Profile {
    let exact = report.scope.is_some();
    let period = match report.settings.sampling {
        _ if exact => 1,
        Sampling::Poisson { mean_bytes } => i64::try_from(mean_bytes).unwrap_or(i64::MAX),
        Sampling::Every => 1,
        Sampling::Off => 0,
    };
    let layout = Layout {
        sample_types: &[
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ],
        default_sample_type: match kind {
            PprofKind::Allocs => "alloc_space",
            _ => "inuse_space",
        },
        period_type: ("space", "bytes"),
        period,
    };
    let mut builder = ProfileBuilder::new(&layout, &report.program);
    builder.comment(&comment(report, exact));
    if report.dropped_samples > 0 {
        builder.comment(&format!(
            "{} samples dropped (a table was full): callsite numbers are low",
            report.dropped_samples
        ));
    }
    let mut columns: [Rounder; 4] = Default::default();
    for site in &report.callsites {
        let estimates = [
            site.total_blocks,
            site.total_bytes,
            site.live_blocks,
            site.live_bytes,
        ];
        let values: Vec<i64> = columns
            .iter_mut()
            .zip(estimates)
            .map(|(column, estimate)| column.round(estimate))
            .collect();
        if values.iter().all(|&value| value == 0) {
            continue;
        }
        let mut frames = rooted_frames(site, report.scope.as_ref());
        frames.reverse(); // leaf first
        let mut locations = builder.frame_locations(&frames);
        for job in site.job_path.iter().rev() {
            let (file, line) = report
                .jobs
                .iter()
                .find(|stats| &stats.name == job)
                .map_or((None, 0), |stats| (Some(stats.file.as_str()), stats.line));
            let function = builder.function(job, file, line);
            locations.push(builder.location(vec![(function, i64::from(line))]));
        }
        let mut labels = Vec::new();
        if site.total_blocks > 0.0 {
            let mean_size = (site.total_bytes / site.total_blocks).round() as i64;
            labels.push(builder.number_label("bytes", mean_size, "bytes"));
        }
        if let Some(job) = site.job_path.last() {
            labels.push(builder.text_label("job", job));
        }
        builder.sample(locations, values, labels);
    }
    builder.finish()
}

/// What the values are, for the profile's comment.
fn comment(report: &Report, exact: bool) -> String {
    let version = &report.program.profiler_version;
    match report.settings.sampling {
        _ if exact => format!(
            "profiling-alloc {version}: every block of the scope {:?}, exact counts",
            report
                .scope
                .as_ref()
                .map_or("", |scope| scope.name.as_str())
        ),
        Sampling::Poisson { mean_bytes } => format!(
            "profiling-alloc {version}: Poisson sampling, one sample per {mean_bytes} bytes \
             on average; values are unbiased estimates (each sample weighed by 1/p)"
        ),
        Sampling::Every => format!("profiling-alloc {version}: every block sampled, exact counts"),
        Sampling::Off => format!("profiling-alloc {version}: sampling was off"),
    }
}
