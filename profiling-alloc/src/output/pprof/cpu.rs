//! The CPU profile in Go's layout: `samples/count` and `cpu/nanoseconds`,
//! the period in nanoseconds, jobs as root frames, labels `thread` and `job`.

use super::builder::{Layout, ProfileBuilder};
use super::proto::Profile;
use crate::cpu::CpuProfile;
use crate::output::cpu_flame::profiler_top;
use crate::output::folded::rooted;

pub(super) fn profile(cpu: &CpuProfile) -> Profile {
    let period = i64::try_from(cpu.period.as_nanos()).unwrap_or(i64::MAX);
    let layout = Layout {
        sample_types: &[("samples", "count"), ("cpu", "nanoseconds")],
        default_sample_type: "cpu",
        period_type: ("cpu", "nanoseconds"),
        period,
    };
    let mut builder = ProfileBuilder::new(&layout, &cpu.program);
    builder.comment(&format!(
        "profiling-alloc {}: CPU samples at {} Hz ({} timers, stacks by {})",
        cpu.program.profiler_version, cpu.frequency_hz, cpu.timers, cpu.unwinder
    ));
    for stack in &cpu.stacks {
        let mut frames = rooted(&stack.frames, &stack.job_path, profiler_top(stack));
        frames.reverse(); // leaf first
        let mut locations = builder.frame_locations(&frames);
        for job in stack.job_path.iter().rev() {
            let function = builder.function(job, None, 0);
            locations.push(builder.location(vec![(function, 0)]));
        }
        let samples = i64::try_from(stack.samples).unwrap_or(i64::MAX);
        let mut labels = vec![builder.text_label("thread", &stack.thread)];
        if let Some(job) = stack.job_path.last() {
            labels.push(builder.text_label("job", job));
        }
        builder.sample(
            locations,
            vec![samples, samples.saturating_mul(period)],
            labels,
        );
    }
    let mut profile = builder.finish();
    profile.duration_nanos = i64::try_from(cpu.duration.as_nanos()).unwrap_or(i64::MAX);
    profile
}
