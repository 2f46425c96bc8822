//! `ProfileRunner`: warm-up and measured runs, each run's own resources
//! (wall and CPU time, its heap peak above where it started, what it kept,
//! resident memory), deadlines that hold for sync, threaded and async jobs,
//! panics and errors as typed answers, and limit checks that say which limit
//! failed.
//!
//! Without the test harness (`harness = false`): the runner's numbers are
//! the whole process's (and it resets the process-wide peak), so nothing
//! else may allocate while a check runs.
//!
//! The deadline checks assert that a run over its limit comes back long
//! before the job would have ended (seconds of margin, not a measurement):
//! the bound itself is the operating system's wake-up latency.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{block_on, thread_cpu, yield_once};
use profiling_alloc::sizing::Prices;
use profiling_alloc::{
    runner::CpuClock, runner::ProfileConfig, runner::ResidentSource, runner::ResourceLimits,
    runner::RunError, runner::RunPhase, runner::Violation, ProfileRunner, ProfilingAllocator,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().exact_peak();

/// A job that would run this long were it not stopped: far beyond any
/// deadline here, so that returning at all shows the deadline held.
const FOREVER: Duration = Duration::from_secs(3600);
/// How long a check waits for a run abandoned at a 200 ms deadline:
/// generous, so that a loaded machine does not fail it; a hang would take
/// `FOREVER`.
const HANG: Duration = Duration::from_secs(20);

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
                "the_own_peak_leaves_out_a_fixture",
                the_own_peak_leaves_out_a_fixture,
            ),
            (
                "cpu_time_tells_computing_from_waiting",
                cpu_time_tells_computing_from_waiting,
            ),
            (
                "the_jobs_error_stops_the_runner",
                the_jobs_error_stops_the_runner,
            ),
            ("allowed_errors_give_a_rate", allowed_errors_give_a_rate),
            ("a_slow_sync_run_times_out", a_slow_sync_run_times_out),
            (
                "a_stuck_sync_job_on_a_thread_is_abandoned",
                a_stuck_sync_job_on_a_thread_is_abandoned,
            ),
            ("an_async_job_on_any_executor", an_async_job_on_any_executor),
            (
                "a_sleeping_future_is_dropped_at_its_deadline",
                a_sleeping_future_is_dropped_at_its_deadline,
            ),
            (
                "a_busy_future_is_dropped_at_its_deadline",
                a_busy_future_is_dropped_at_its_deadline,
            ),
            ("a_panic_is_a_typed_error", a_panic_is_a_typed_error),
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
            defaults.max_execution_time,
            defaults.cpu_clock,
            defaults.allow_errors,
            defaults.reset_resident_peak,
        ),
        (
            10,
            2,
            Duration::from_secs(300),
            CpuClock::Process,
            false,
            true
        )
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
    assert_eq!(profile.runs.len(), 12);
    assert_eq!(profile.runs[0].phase, RunPhase::Warmup(1));
    assert_eq!(profile.runs[11].phase, RunPhase::Measured(10));
    let heap = profile.heap.expect("the allocator counts");
    assert_eq!(heap.total_blocks_per_run, 1);
    assert_eq!(heap.total_bytes_per_run, 64 * 1024);
    assert_eq!(heap.peak_bytes.min, 64 * 1024, "its own peak, exact");
    assert_eq!(heap.peak_bytes.max, 64 * 1024);
    assert_eq!((heap.kept_bytes_mean, heap.kept_bytes_max), (0, 0));
    assert_eq!(heap.peak_error_bound, 0, "exact_peak");
    let d = profile.duration;
    assert!(d.min <= d.p50 && d.p50 <= d.p95 && d.p95 <= d.p99 && d.p99 <= d.max);
    assert!(d.min <= d.mean && d.mean <= d.max);
    let cpu = profile.cpu_time.expect("a CPU clock on unix");
    assert!(cpu.max > Duration::ZERO);
    let need = profile.memory_need.expect("measured");
    assert_eq!(need.heap_peak_bytes, Some(64 * 1024));
    assert!(need.bytes >= 64 * 1024);
    if cfg!(target_os = "linux") {
        let resident = profile.resident.expect("/proc on Linux");
        assert_eq!(resident.source, ResidentSource::RunPeak);
        assert!(
            resident.peak_bytes.min >= 1 << 20,
            "the process holds 1 MiB: {resident:?}"
        );
        assert!(need.resident_growth_bytes.is_some(), "growth read per run");
    }
    let text = profile.to_string();
    assert!(
        text.contains("buffer") && text.contains("own peak") && text.contains("needs"),
        "{text}"
    );
    drop(kept);

    // Limits: the answer names the one exceeded.
    let lambda = Prices::built_in()
        .limits("aws-lambda-x86_64", Some(128 << 20))
        .expect("in the built-in sheet");
    assert_eq!(profile.fits(&lambda), Ok(()));
    let tiny = ResourceLimits::new("tiny", None, Some(1024));
    let exceeded = profile.fits(&tiny).unwrap_err();
    assert!(matches!(
        exceeded.violations.as_slice(),
        [Violation::Memory { limit: 1024, .. }]
    ));
    assert!(exceeded.to_string().contains("memory"), "{exceeded}");
}

/// A 64 MiB fixture built before the runner is the program's, not the
/// job's: the job's peak and memory need are its own 113 KiB.
fn the_own_peak_leaves_out_a_fixture() {
    let fixture = black_box(vec![7u8; 64 << 20]);
    let profile = runner("search", 20, 5, Duration::from_secs(60))
        .run(|| {
            let hits = black_box(vec![0u8; 113 * 1024]);
            black_box(hits.len());
        })
        .unwrap();
    let heap = profile.heap.unwrap();
    assert_eq!(heap.peak_bytes.max, 113 * 1024);
    let need = profile.memory_need.unwrap();
    assert_eq!(need.heap_peak_bytes, Some(113 * 1024));
    assert!(
        need.bytes < 16 << 20,
        "the need leaves the fixture out: {need:?}"
    );
    if let Some(resident) = profile.resident {
        // The process's resident memory does hold it.
        assert!(resident.peak_bytes.min >= 64 << 20, "{resident:?}");
    }
    drop(fixture);
}

/// A job that computes is on a CPU most of its wall time; one that sleeps
/// almost none of it. (Loose bounds: under load a computing job gets part
/// of a core.)
fn cpu_time_tells_computing_from_waiting() {
    let busy = runner("busy", 5, 1, Duration::from_secs(60))
        .run(|| spin(Duration::from_millis(20)))
        .unwrap();
    let waiting = runner("waiting", 5, 1, Duration::from_secs(60))
        .run(|| std::thread::sleep(Duration::from_millis(20)))
        .unwrap();
    let (busy_share, waiting_share) = (busy.on_cpu_share.unwrap(), waiting.on_cpu_share.unwrap());
    assert!(busy_share > 0.2, "{busy_share}");
    assert!(waiting_share < 0.1, "{waiting_share}");
    assert!(busy_share > 2.0 * waiting_share);
    let per_run = busy.runs[1].on_cpu_share().unwrap();
    assert!(per_run > 0.2, "{per_run}");

    // The thread's clock counts the job's own thread only.
    let threaded = runner("threaded", 3, 0, Duration::from_secs(60))
        .cpu_clock(CpuClock::Thread)
        .run(|| {
            std::thread::spawn(|| spin(Duration::from_millis(30)))
                .join()
                .unwrap();
        })
        .unwrap();
    assert_eq!(threaded.cpu_clock, CpuClock::Thread);
    let own = threaded.cpu_time.unwrap().max;
    assert!(own < Duration::from_millis(15), "{own:?}");
}

/// Spins until this thread has used `cpu` of CPU time.
fn spin(cpu: Duration) {
    let start = thread_cpu();
    let mut x = 1u64;
    while thread_cpu() - start < cpu {
        for i in 0..1000u64 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
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

/// With errors allowed, one run in four failing gives an error rate of 25%.
fn allowed_errors_give_a_rate() {
    let runs = Cell::new(0);
    let profile = runner("search", 8, 0, Duration::from_secs(60))
        .allow_errors(true)
        .run(|| {
            runs.set(runs.get() + 1);
            if runs.get() % 4 == 0 {
                Err("no index")
            } else {
                Ok(())
            }
        })
        .unwrap();
    assert_eq!((profile.sample_size, profile.errors), (8, 2));
    assert_eq!(profile.error_rate(), 0.25);
    assert_eq!(profile.runs.iter().filter(|r| r.failed).count(), 2);
}

/// A sync run over the limit on the calling thread: found when it returns,
/// no run after it.
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
            abandoned,
            ..
        } => {
            assert_eq!(phase, RunPhase::Measured(1));
            assert!(elapsed >= Duration::from_millis(20));
            assert_eq!(limit, Duration::from_millis(1));
            assert!(!abandoned, "it returned, late");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(runs.get(), 1);
}

/// On a worker thread, a job that never returns is abandoned at the
/// deadline; the runner starts no further run.
fn a_stuck_sync_job_on_a_thread_is_abandoned() {
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let began = Instant::now();
    let stuck = runner("stuck", 3, 1, Duration::from_millis(200))
        .run_on_thread({
            let started = Arc::clone(&started);
            move || {
                if started.fetch_add(1, Ordering::SeqCst) == 1 {
                    std::thread::sleep(FOREVER);
                }
            }
        })
        .unwrap_err();
    let waited = began.elapsed();
    assert!(waited < HANG, "returned after {waited:?}");
    match stuck {
        RunError::Timeout {
            phase,
            elapsed,
            abandoned,
            ..
        } => {
            assert_eq!(phase, RunPhase::Measured(1), "the second run");
            assert!(abandoned);
            assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(started.load(Ordering::SeqCst), 2, "no run after it");

    // A job that returns in time runs there as on the calling thread.
    let profile = runner("on a thread", 4, 1, Duration::from_secs(60))
        .run_on_thread(|| drop(black_box(vec![0u8; 4096])))
        .unwrap();
    assert_eq!(profile.heap.unwrap().total_bytes_per_run, 4096);
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
    let heap = profile.heap.unwrap();
    assert_eq!(heap.total_blocks_per_run, 1);
    assert_eq!(heap.total_bytes_per_run, 4096);
}

/// Sets a flag when dropped: the job's future was cancelled.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// A future waiting on a timer far beyond its deadline is woken by the
/// runner's alarm and dropped at the deadline, not when the timer fires.
fn a_sleeping_future_is_dropped_at_its_deadline() {
    let dropped = Arc::new(AtomicBool::new(false));
    let runtime = tokio_runtime();
    let began = Instant::now();
    let result = runtime.block_on(
        runner("sleeper", 1, 0, Duration::from_millis(200)).run_async(|| {
            let flag = DropFlag(Arc::clone(&dropped));
            async move {
                let _flag = flag;
                tokio::time::sleep(FOREVER).await;
            }
        }),
    );
    let waited = began.elapsed();
    assert!(waited < HANG, "returned after {waited:?}");
    assert!(
        matches!(
            result,
            Err(RunError::Timeout {
                phase: RunPhase::Measured(1),
                abandoned: true,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(dropped.load(Ordering::SeqCst), "the future was dropped");

    // Never woken at all (std::future::pending): the same.
    let never = block_on_parked(
        runner("pending", 1, 0, Duration::from_millis(200)).run_async(std::future::pending::<()>),
    );
    assert!(matches!(never, Err(RunError::Timeout { .. })), "{never:?}");
}

/// A future that computes between `.await`s without waiting is dropped at
/// its first poll past the deadline.
fn a_busy_future_is_dropped_at_its_deadline() {
    let dropped = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let result = tokio_runtime().block_on(
        runner("busy", 1, 0, Duration::from_millis(200)).run_async(|| {
            let flag = DropFlag(Arc::clone(&dropped));
            async move {
                let _flag = flag;
                loop {
                    spin(Duration::from_millis(2));
                    tokio::task::yield_now().await;
                }
                #[allow(unreachable_code)]
                ()
            }
        }),
    );
    assert!(began.elapsed() < HANG);
    assert!(
        matches!(
            result,
            Err(RunError::Timeout {
                abandoned: true,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(dropped.load(Ordering::SeqCst));
}

/// A panicking job, however it runs, is a typed error naming the run; the
/// panic does not reach the caller.
fn a_panic_is_a_typed_error() {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let on_caller = runner("panics", 2, 1, Duration::from_secs(60)).run(|| {
        if black_box(true) {
            panic!("index out of range")
        }
    });
    let on_thread = runner("panics", 2, 1, Duration::from_secs(60))
        .run_on_thread(|| -> Result<(), String> { panic!("bad input {}", 42) });
    let in_future = block_on(
        runner("panics", 2, 1, Duration::from_secs(60)).run_async(|| async {
            yield_once().await;
            if black_box(true) {
                panic!("poisoned")
            }
        }),
    );
    // The closure that makes the future panics before there is one.
    let making_future = block_on(
        runner("panics", 2, 1, Duration::from_secs(60)).run_async(|| {
            if black_box(true) {
                panic!("no request to build")
            }
            async {}
        }),
    );
    std::panic::set_hook(quiet);
    for (result, message) in [
        (
            on_caller.map(drop).map_err(|e| e.to_string()),
            "index out of range",
        ),
        (
            on_thread.map(drop).map_err(|e| e.to_string()),
            "bad input 42",
        ),
        (in_future.map(drop).map_err(|e| e.to_string()), "poisoned"),
        (
            making_future.map(drop).map_err(|e| e.to_string()),
            "no request to build",
        ),
    ] {
        let error = result.unwrap_err();
        assert!(
            error.contains("warm-up run 1")
                && error.contains("panicked")
                && error.contains(message),
            "{error}"
        );
    }
}

/// Polls `future` to completion, parking between polls (woken by its waker).
fn block_on_parked<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park();
    }
}

/// A configuration that cannot run.
fn a_configuration_that_cannot_run() {
    let invalid = runner("none", 0, 0, Duration::from_secs(1))
        .run(|| ())
        .unwrap_err();
    assert!(matches!(invalid, RunError::InvalidConfig { .. }));
    assert!(invalid.to_string().contains("sample_size"), "{invalid}");
    let zero = runner("zero", 1, 0, Duration::ZERO).run(|| ()).unwrap_err();
    assert!(zero.to_string().contains("max_execution_time"), "{zero}");

    // No limit at all: `Duration::MAX`, in every way of running.
    let unlimited = runner("unlimited", 2, 0, Duration::MAX);
    assert!(unlimited.run(|| ()).is_ok());
    assert!(unlimited.run_on_thread(|| ()).is_ok());
    assert!(block_on(unlimited.run_async(|| async { yield_once().await })).is_ok());
}
