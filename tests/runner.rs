//! `ProfileRunner`: warm-up and measured runs, allocation and peak numbers
//! from the allocator, timeouts for sync and async jobs, the job's `Err`
//! carried in the error, and limit checks that say which limit failed.
//!
//! Without the test harness (`harness = false`): the runner's numbers are
//! the whole process's (and it resets the process-wide peak), so nothing
//! else may allocate while a check runs.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use common::{block_on, yield_once};
use profiling_alloc::{
    MemorySource, ProfileConfig, ProfileRunner, ProfilingAllocator, ResourceLimits, RunError,
    RunPhase, Violation,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().exact_peak();

fn runner(name: &str, sample_size: usize, warmup_runs: usize, limit: Duration) -> ProfileRunner {
    ProfileRunner::new(name)
        .sample_size(sample_size)
        .warmup_runs(warmup_runs)
        .max_execution_time(limit)
}

fn main() {
    common::quiet::run(
        "runner",
        &[
            ("defaults_as_documented", defaults_as_documented),
            ("a_sync_job_is_measured", a_sync_job_is_measured),
            (
                "the_jobs_error_stops_the_runner",
                the_jobs_error_stops_the_runner,
            ),
            ("a_slow_sync_run_times_out", a_slow_sync_run_times_out),
            ("an_async_job_on_any_executor", an_async_job_on_any_executor),
            ("a_stuck_async_run_is_dropped", a_stuck_async_run_is_dropped),
            (
                "a_configuration_that_cannot_run",
                a_configuration_that_cannot_run,
            ),
        ],
    );
}

fn defaults_as_documented() {
    let defaults = ProfileConfig::default();
    assert_eq!(
        (
            defaults.sample_size,
            defaults.warmup_runs,
            defaults.max_execution_time
        ),
        (10, 2, Duration::from_secs(300))
    );
    assert_eq!(ProfileRunner::new("x").config(), &defaults);
}

/// Every run allocates one 64 KiB block and frees it, on top of 1 MiB the
/// program keeps throughout; the limits' answer names the one exceeded.
fn a_sync_job_is_measured() {
    let kept = black_box(vec![1u8; 1 << 20]);
    let calls = Cell::new(0);
    let profile = ProfileRunner::new("buffer")
        .run(|| {
            calls.set(calls.get() + 1);
            drop(black_box(vec![0u8; 64 * 1024]));
        })
        .unwrap();
    assert_eq!(calls.get(), 12, "2 warm-up runs and 10 measured");
    assert_eq!(profile.name, "buffer");
    assert_eq!((profile.sample_size, profile.warmup_runs), (10, 2));
    assert_eq!(profile.total_blocks_per_run, Some(1));
    assert_eq!(profile.total_bytes_per_run, Some(64 * 1024));
    let d = profile.duration;
    assert!(d.min <= d.p50 && d.p50 <= d.p95 && d.p95 <= d.p99 && d.p99 <= d.max);
    assert!(d.min <= d.mean && d.mean <= d.max);
    let peak = profile
        .peak_memory
        .expect("the allocator measures the peak");
    assert_eq!(peak.source, MemorySource::HeapPeak);
    assert_eq!(peak.error_bound, 0, "exact_peak");
    // The heap peak counts what the program held before the run, plus the
    // run's block.
    assert!(peak.bytes >= (1 << 20) + 64 * 1024, "{peak:?}");
    assert!(profile.max_rss_bytes.is_some());
    let text = profile.to_string();
    assert!(
        text.contains("buffer") && text.contains("heap peak"),
        "{text}"
    );
    drop(kept);

    // Limits: the answer names the one exceeded.
    assert_eq!(profile.fits(&ResourceLimits::AWS_LAMBDA), Ok(()));
    let tiny = ResourceLimits::new("tiny", None, Some(1024));
    let exceeded = profile.fits(&tiny).unwrap_err();
    assert!(matches!(
        exceeded.violations.as_slice(),
        [Violation::Memory {
            limit: 1024,
            source: MemorySource::HeapPeak,
            ..
        }]
    ));
    assert!(exceeded.to_string().contains("memory"), "{exceeded}");
}

/// The job's Err stops the runner and comes back with the run it failed in.
fn the_jobs_error_stops_the_runner() {
    let runs = Cell::new(0);
    let failed = runner("flaky", 5, 1, Duration::from_secs(60))
        .run(|| {
            runs.set(runs.get() + 1);
            if runs.get() == 3 {
                Err(std::io::Error::other("disk full"))
            } else {
                Ok(runs.get())
            }
        })
        .unwrap_err();
    match &failed {
        RunError::Job { job, phase, error } => {
            assert_eq!(job, "flaky");
            assert_eq!(*phase, RunPhase::Measured(2));
            assert_eq!(error.to_string(), "disk full");
        }
        other => panic!("{other:?}"),
    }
    assert!(failed.to_string().contains("measured run 2"), "{failed}");
    assert_eq!(runs.get(), 3, "no run after the failure");
}

/// A sync run over the limit: found when it returns, no run after it.
fn a_slow_sync_run_times_out() {
    let runs = Cell::new(0);
    let slow = runner("slow", 3, 0, Duration::from_millis(1))
        .run(|| {
            runs.set(runs.get() + 1);
            std::thread::sleep(Duration::from_millis(20));
        })
        .unwrap_err();
    match slow {
        RunError::Timeout {
            phase,
            elapsed,
            limit,
            ..
        } => {
            assert_eq!(phase, RunPhase::Measured(1));
            assert!(elapsed >= Duration::from_millis(20));
            assert_eq!(limit, Duration::from_millis(1));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(runs.get(), 1);
}

/// An async job, on any executor: here a plain poll loop.
fn an_async_job_on_any_executor() {
    let profile = block_on(
        runner("async", 4, 1, Duration::from_secs(60)).run_async(|| async {
            yield_once().await;
            let body = black_box(vec![0u8; 4096]);
            yield_once().await;
            Ok::<usize, String>(body.len())
        }),
    )
    .unwrap();
    assert_eq!(profile.sample_size, 4);
    assert_eq!(profile.total_blocks_per_run, Some(1));
    assert_eq!(profile.total_bytes_per_run, Some(4096));
}

/// An async run over the limit is dropped at its next poll.
fn a_stuck_async_run_is_dropped() {
    struct Dropped<'a>(&'a Cell<bool>);
    impl Drop for Dropped<'_> {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Cell::new(false);
    let stuck = block_on(
        runner("stuck", 1, 0, Duration::from_millis(5)).run_async(|| async {
            let _guard = Dropped(&dropped);
            loop {
                std::thread::sleep(Duration::from_millis(2));
                yield_once().await;
            }
            #[allow(unreachable_code)]
            ()
        }),
    )
    .unwrap_err();
    assert!(
        matches!(
            stuck,
            RunError::Timeout {
                phase: RunPhase::Measured(1),
                ..
            }
        ),
        "{stuck:?}"
    );
    assert!(dropped.get(), "the timed-out future was dropped");
}

/// A configuration that cannot run.
fn a_configuration_that_cannot_run() {
    let invalid = runner("none", 0, 0, Duration::from_secs(1))
        .run(|| ())
        .unwrap_err();
    assert!(matches!(invalid, RunError::InvalidConfig { .. }));
    assert!(invalid.to_string().contains("sample_size"), "{invalid}");
}
