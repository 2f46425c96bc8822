//! The sizing model against this machine: a job that computes and one that
//! waits half its time, profiled on a whole core, then run on half a core
//! (pinned beside a busy competitor; and under a CPU quota of half a core,
//! where a cgroup can be made), each measured p95 set against the p95 the
//! model predicts from the whole-core profile (`JobDemand::predict_at(0.5)`).
//!
//! `cargo bench --bench sizing_model` (Linux; the quota rows need a
//! writable cgroup v1 `cpu` controller, as root in a container).

#[path = "half_core/mod.rs"]
mod half_core;

use std::time::Duration;

use half_core::{calibrate, pin_to_cpu, unpin, work, Competitor, Quota};
use profiling_alloc::sizing::JobDemand;
use profiling_alloc::{runner::CpuClock, JobProfile, ProfileRunner, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

const RUNS: usize = 60;

fn profile(name: &str, job: &dyn Fn()) -> JobProfile {
    ProfileRunner::new(name)
        .sample_size(RUNS)
        .warmup_runs(3)
        .cpu_clock(CpuClock::Thread)
        .run(job)
        .expect("the job runs")
}

fn main() {
    if !pin_to_cpu(0) {
        println!("sizing_model: cannot pin a thread to CPU 0 here; nothing measured");
        return;
    }
    let rounds_20ms = calibrate(Duration::from_millis(20));
    let computing = move || {
        work(rounds_20ms);
    };
    let half_waiting = move || {
        work(rounds_20ms / 2);
        std::thread::sleep(Duration::from_millis(10));
    };
    println!(
        "{:<13} {:<30} {:>11} {:>21} {:>21} {:>17}",
        "job",
        "half a core from",
        "whole core",
        "predicted p50 / p95",
        "measured p50 / p95",
        "error p50 / p95"
    );
    for (name, job) in [
        ("computing", &computing as &dyn Fn()),
        ("half-waiting", &half_waiting as &dyn Fn()),
    ] {
        let whole = profile(name, job);
        let predicted = JobDemand::from_profile(&whole).predict_at(0.5);
        let mut rows = Vec::new();
        let competitor = Competitor::start(0);
        let shared = profile(name, job);
        competitor.stop();
        rows.push(("a busy thread on its CPU", Some(shared)));
        for period_ms in [100, 10] {
            unpin();
            let quota = Quota::start(0.5, Duration::from_millis(period_ms));
            let measured = quota.as_ref().map(|_| profile(name, job));
            drop(quota);
            pin_to_cpu(0);
            rows.push((
                if period_ms == 100 {
                    "a quota of 50 ms per 100 ms"
                } else {
                    "a quota of 5 ms per 10 ms"
                },
                measured,
            ));
        }
        for (how, measured) in rows {
            let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
            let error = |predicted: Duration, got: Duration| {
                (predicted.as_secs_f64() / got.as_secs_f64() - 1.0) * 100.0
            };
            match measured {
                Some(measured) => {
                    let got = measured.duration;
                    println!(
                        "{name:<13} {how:<30} {:>11} {:>21} {:>21} {:>+7.1}% / {:>+6.1}%",
                        ms(whole.duration.p95),
                        format!("{} / {}", ms(predicted.p50), ms(predicted.p95)),
                        format!("{} / {}", ms(got.p50), ms(got.p95)),
                        error(predicted.p50, got.p50),
                        error(predicted.p95, got.p95)
                    );
                }
                None => println!("{name:<13} {how:<30} (no writable cgroup here)"),
            }
        }
    }
}
