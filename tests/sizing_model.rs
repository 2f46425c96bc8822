//! The sizing model against this machine: a job that computes and one
//! that waits half its time, profiled on a whole core, then run on half a
//! core (pinned to CPU 0 beside a busy thread pinned there too). The p95
//! the model predicts from the whole-core profile is within 25% of the p95
//! measured on half a core (BENCHMARKS.md: within 4% in a release build
//! here; the bench `sizing_model` also runs them under CPU quotas).
//!
//! A ratio of two measurements in one run, not a timing; still, a shared
//! machine disturbs either now and then (a busy sibling hyperthread slows
//! the whole-core runs, and the model takes that for the job's waiting).
//! So each job is measured up to three times and fails only when every
//! attempt is beyond the tolerance: a fault of the model repeats, a
//! disturbance seldom does. An attempt during which other work took more
//! than a tenth of CPU 0 was not half a core, and is not counted. Linux
//! only.

#[cfg(target_os = "linux")]
#[path = "../benches/half_core/mod.rs"]
mod half_core;

mod common;

use profiling_alloc::ProfilingAllocator;

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

fn main() {
    common::quiet::run(
        "sizing_model",
        &[(
            "predicted_p95_at_half_a_core_is_within_25_percent",
            predicted_p95_at_half_a_core_is_within_25_percent,
        )],
    );
}

#[cfg(not(target_os = "linux"))]
fn predicted_p95_at_half_a_core_is_within_25_percent() {
    println!("skipped: half a core is made with Linux's CPU affinity");
}

#[cfg(target_os = "linux")]
fn predicted_p95_at_half_a_core_is_within_25_percent() {
    use std::time::Duration;

    use half_core::{calibrate, pin_to_cpu, unpin, work};

    const TOLERANCE: f64 = 0.25;
    const ATTEMPTS: usize = 3;
    if !pin_to_cpu(0) {
        println!("skipped: this thread cannot be pinned to CPU 0");
        return;
    }
    let rounds = calibrate(Duration::from_millis(20));
    let computing = move || {
        work(rounds);
    };
    let half_waiting = move || {
        work(rounds / 2);
        std::thread::sleep(Duration::from_millis(10));
    };
    for (name, job) in [
        ("computing", &computing as &dyn Fn()),
        ("half-waiting", &half_waiting as &dyn Fn()),
    ] {
        let mut errors = Vec::new();
        for attempt in 1..=ATTEMPTS {
            let Some(error) = attempt_once(name, job) else {
                continue;
            };
            println!("{name}, attempt {attempt}: {:+.1}%", error * 100.0);
            errors.push(error);
            if error.abs() <= TOLERANCE {
                break;
            }
        }
        assert!(
            errors.is_empty() || errors.iter().any(|e| e.abs() <= TOLERANCE),
            "{name}: predicted p95 off the measured one by {:?} in every attempt",
            errors
                .iter()
                .map(|e| format!("{:+.1}%", e * 100.0))
                .collect::<Vec<_>>()
        );
    }
    unpin();
}

/// One attempt: the whole-core profile, its prediction at half a core,
/// and the half-core measurement; predicted ÷ measured − 1, or `None` when
/// other work took CPU 0.
#[cfg(target_os = "linux")]
fn attempt_once(name: &str, job: &dyn Fn()) -> Option<f64> {
    use std::time::{Duration, Instant};

    use half_core::{thread_cpu, Competitor};
    use profiling_alloc::sizing::JobDemand;
    use profiling_alloc::{runner::CpuClock, ProfileRunner};

    let runner = ProfileRunner::new(name)
        .sample_size(60)
        .warmup_runs(2)
        .cpu_clock(CpuClock::Thread);
    let whole = runner.run(job).unwrap();
    let predicted = JobDemand::from_profile(&whole).predict_at(0.5).p95;

    let competitor = Competitor::start(0);
    std::thread::sleep(Duration::from_millis(20)); // it is running
    let (began, own_cpu) = (Instant::now(), thread_cpu());
    let half = runner.run(job).unwrap();
    let (wall, own_cpu) = (began.elapsed(), thread_cpu() - own_cpu);
    let competitor_cpu = competitor.stop();
    // CPU 0 served this thread and the competitor; what else ran on it
    // took the rest.
    let others = 1.0 - (own_cpu + competitor_cpu).as_secs_f64() / wall.as_secs_f64();
    if others > 0.10 {
        println!(
            "{name}: other work took {:.0}% of CPU 0, so this was not half a core; not counted",
            others * 100.0
        );
        return None;
    }
    let measured = half.duration.p95;
    println!(
        "{name}: whole core p95 {:?}, half a core predicted {predicted:?}, measured {measured:?}",
        whole.duration.p95
    );
    Some(predicted.as_secs_f64() / measured.as_secs_f64() - 1.0)
}
