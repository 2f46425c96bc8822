//! The job-time profile: each job path's self busy time, its jobs as frames.

use super::builder::{Layout, ProfileBuilder};
use super::proto::Profile;
use crate::output::report::Report;

/// `calls/count` and `busy/nanoseconds` per job path. Each sample holds
/// the path's own busy time (less the jobs run inside it on its thread),
/// so a viewer's cumulative time of a job is its busy time: concurrent
/// children never outgrow their parent. Calls are the path's own too.
pub(super) fn profile(report: &Report) -> Profile {
    let layout = Layout {
        sample_types: &[("calls", "count"), ("busy", "nanoseconds")],
        default_sample_type: "busy",
        period_type: ("busy", "nanoseconds"),
        period: 1,
    };
    let mut builder = ProfileBuilder::new(&layout, &report.program);
    builder.comment(&format!(
        "profiling-alloc {}: busy time per job path (a sync call's duration, \
         the time inside an async call's polls), less the jobs run inside it",
        report.program.profiler_version
    ));
    for path in &report.job_paths {
        // Leaf first: the innermost job, then the jobs that called it.
        let locations = path
            .path
            .iter()
            .rev()
            .map(|name| {
                let (file, line) = report
                    .jobs
                    .iter()
                    .find(|job| &job.name == name)
                    .map_or((None, 0), |job| (Some(job.file.as_str()), job.line));
                let function = builder.function(name, file, line);
                builder.location(vec![(function, i64::from(line))])
            })
            .collect();
        let busy = i64::try_from(path.self_busy.as_nanos()).unwrap_or(i64::MAX);
        let calls = i64::try_from(path.calls).unwrap_or(i64::MAX);
        let labels = match path.path.last() {
            Some(job) => vec![builder.text_label("job", job)],
            None => Vec::new(),
        };
        builder.sample(locations, vec![calls, busy], labels);
    }
    builder.finish()
}
