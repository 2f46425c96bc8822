//! `#[profile_job]` on `async fn`: allocations attributed per poll, exact even
//! when the task moves between threads, durations from first poll to
//! completion, errors, panics and cancellation.

use std::future::Future;
use std::task::{Context, Poll, Waker};

mod common;

use common::{block_on, job as stats, yield_once};
use profiling_alloc::{profile_job, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

const ROUNDS: usize = 20;

/// What one call of `worker(ROUNDS)` allocates: the `kept` vector, and one
/// scratch buffer per round (held across an `.await`, then freed).
fn worker_expected() -> (u64, u64) {
    let scratch: u64 = (0..ROUNDS as u64).map(|i| 100 + i).sum();
    (1 + ROUNDS as u64, (ROUNDS * 8) as u64 + scratch)
}

async fn worker_body(rounds: usize) -> usize {
    let mut kept: Vec<usize> = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let scratch = vec![0u8; 100 + i];
        yield_once().await;
        kept.push(scratch.len());
    }
    kept.len()
}

#[profile_job(name = "async-worker")]
async fn worker(rounds: usize) -> usize {
    worker_body(rounds).await
}

#[test]
fn multi_thread_runtime_gives_exact_totals() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    const TASKS: u64 = 8;
    let total: usize = runtime.block_on(async {
        let handles: Vec<_> = (0..TASKS).map(|_| tokio::spawn(worker(ROUNDS))).collect();
        let mut total = 0;
        for handle in handles {
            total += handle.await.expect("task");
        }
        total
    });
    assert_eq!(total, TASKS as usize * ROUNDS);
    let job = stats("async-worker");
    assert_eq!(job.calls, TASKS);
    let alloc = job.allocations.expect("allocator installed");
    let (blocks, bytes) = worker_expected();
    assert_eq!(alloc.measured_calls, TASKS);
    assert_eq!(alloc.total_blocks, TASKS * blocks);
    assert_eq!(
        alloc.total_blocks_max, blocks,
        "no call counted another task's allocations"
    );
    assert_eq!(alloc.total_bytes, TASKS * bytes);
    assert_eq!(alloc.total_bytes_max, bytes);
    assert_eq!(alloc.live_bytes, 0);
    assert_eq!(alloc.live_bytes_max, 0);
    // Peak: the kept vector plus the largest scratch buffer held across an await.
    assert_eq!(alloc.peak_bytes_max, (ROUNDS * 8 + 100 + ROUNDS - 1) as u64);
}

#[profile_job(name = "async-migrating")]
async fn migrating(rounds: usize) -> usize {
    worker_body(rounds).await
}

#[test]
fn a_task_moved_between_threads_is_counted_on_each() {
    let mut future = Box::pin(migrating(ROUNDS));
    let mut cx = Context::from_waker(Waker::noop());
    let mut polls_here = 0;
    // Half of the polls on this thread...
    for _ in 0..ROUNDS / 2 {
        assert!(future.as_mut().poll(&mut cx).is_pending());
        polls_here += 1;
    }
    // ...the rest on another one, which allocates on its own meanwhile.
    let (result, other_thread_polls) = std::thread::spawn(move || {
        let noise: Vec<Vec<u8>> = (0..50).map(|i| vec![0; i]).collect();
        let mut cx = Context::from_waker(Waker::noop());
        let mut polls = 0;
        loop {
            polls += 1;
            if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                drop(noise);
                return (value, polls);
            }
        }
    })
    .join()
    .expect("second thread");
    assert_eq!(result, ROUNDS);
    assert!(polls_here > 0 && other_thread_polls > 0);
    let job = stats("async-migrating");
    assert_eq!(job.calls, 1);
    let alloc = job.allocations.expect("allocator installed");
    let (blocks, bytes) = worker_expected();
    assert_eq!(alloc.total_blocks, blocks);
    assert_eq!(alloc.total_bytes, bytes);
    assert_eq!(alloc.freed_bytes, bytes);
    assert_eq!(alloc.live_bytes, 0);
    assert_eq!(alloc.peak_bytes_max, (ROUNDS * 8 + 100 + ROUNDS - 1) as u64);
}

struct Service {
    prefix: String,
}

impl Service {
    #[profile_job(name = "service-greet")]
    async fn greet(&self, who: &str) -> Result<String, String> {
        yield_once().await;
        if who.is_empty() {
            return Err("nobody to greet".to_string());
        }
        let greeting = format!("{} {who}", self.prefix);
        yield_once().await;
        Ok(greeting)
    }

    #[profile_job(name = "service-boom")]
    async fn boom(&self) -> usize {
        yield_once().await;
        panic!("boom in {}", self.prefix);
    }
}

#[test]
fn async_methods_errors_and_panics() {
    let service = Service {
        prefix: "hello".to_string(),
    };
    assert_eq!(block_on(service.greet("ada")), Ok("hello ada".to_string()));
    assert!(block_on(service.greet("")).is_err());
    let job = stats("service-greet");
    assert_eq!((job.calls, job.errors), (2, 1));

    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(service.boom());
    }));
    assert!(caught.is_err());
    let job = stats("service-boom");
    assert_eq!((job.calls, job.panics, job.cancelled), (1, 1, 0));
}

#[profile_job(name = "async-cancelled")]
async fn never_finishes() {
    loop {
        yield_once().await;
    }
}

#[test]
fn dropped_after_first_poll_is_cancelled_before_is_nothing() {
    let mut cx = Context::from_waker(Waker::noop());
    let mut polled = Box::pin(never_finishes());
    assert!(polled.as_mut().poll(&mut cx).is_pending());
    drop(polled);
    drop(never_finishes()); // never polled: not a call
    let job = stats("async-cancelled");
    assert_eq!((job.calls, job.cancelled, job.panics), (1, 1, 0));
}

#[profile_job(name = "async-outer")]
async fn async_outer() -> usize {
    let mine = std::hint::black_box(vec![0u8; 64]);
    let inner = async_inner().await;
    mine.len() + inner
}

#[profile_job(name = "async-inner")]
async fn async_inner() -> usize {
    yield_once().await;
    vec![0u8; 500].len()
}

#[test]
fn nested_async_jobs_are_inclusive() {
    assert_eq!(block_on(async_outer()), 564);
    let outer = stats("async-outer")
        .allocations
        .expect("allocator installed");
    let inner = stats("async-inner")
        .allocations
        .expect("allocator installed");
    assert_eq!(inner.total_bytes, 500);
    assert_eq!(outer.total_bytes, 564);
    assert_eq!(outer.peak_bytes_max, 564);
    assert!(profiling_alloc::jobs::job_paths()
        .iter()
        .any(|p| p.path == ["async-outer", "async-inner"] && p.calls == 1));
}

#[test]
fn manual_async_form() {
    let value = block_on(profiling_alloc::jobs::job_async("manual-async", async {
        yield_once().await;
        vec![1u8; 10].len()
    }));
    assert_eq!(value, 10);
    let job = stats("manual-async");
    assert_eq!(job.calls, 1);
    assert_eq!(
        job.allocations.expect("allocator installed").total_bytes,
        10
    );
}

#[profile_job(name = "async-dropped-by-a-panic")]
async fn waits_forever() {
    loop {
        yield_once().await;
    }
}

#[test]
fn dropped_by_someone_elses_panic_is_cancelled() {
    let caught = std::panic::catch_unwind(|| {
        let mut cx = Context::from_waker(Waker::noop());
        let mut future = Box::pin(waits_forever());
        assert!(future.as_mut().poll(&mut cx).is_pending());
        panic!("a sibling task failed");
    });
    assert!(caught.is_err());
    let job = stats("async-dropped-by-a-panic");
    assert_eq!((job.calls, job.cancelled, job.panics), (1, 1, 0));
}
