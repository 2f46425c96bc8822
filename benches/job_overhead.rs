//! Cost of one empty `#[profile_job]` call (enter + exit) against the same
//! function without the attribute, measured in the same run, with the
//! profiling allocator installed.
//!
//! `cargo bench --bench job_overhead`

use std::future::Future;
use std::hint::black_box;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use profiling_alloc::{profile_job, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

const CALLS: u64 = 1_000_000;
const ROUNDS: usize = 15;

#[inline(never)]
fn plain(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[profile_job(name = "bench-empty")]
#[inline(never)]
fn profiled(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
async fn plain_async(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[profile_job(name = "bench-empty-async")]
#[inline(never)]
async fn profiled_async(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

fn time_sync(f: fn(u64) -> u64) -> Duration {
    let start = Instant::now();
    let mut acc = 0;
    for i in 0..CALLS {
        acc = f(acc ^ i);
    }
    black_box(acc);
    start.elapsed()
}

fn time_async<F: Future<Output = u64>>(f: fn(u64) -> F) -> Duration {
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    let mut acc = 0;
    for i in 0..CALLS {
        let mut future = std::pin::pin!(f(acc ^ i));
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            acc = value;
        }
    }
    black_box(acc);
    start.elapsed()
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_nanos() as f64 / CALLS as f64
}

fn main() {
    let rounds = if std::env::args().any(|a| a == "--bench") {
        ROUNDS
    } else {
        1
    };
    let (mut a, mut b, mut c, mut d) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        a.push(time_sync(plain));
        b.push(time_sync(profiled));
        c.push(time_async(plain_async));
        d.push(time_async(profiled_async));
    }
    let (plain, profiled, plain_async, profiled_async) =
        (median(a), median(b), median(c), median(d));
    println!(
        "job_overhead: {CALLS} calls, median of {rounds} rounds, ProfilingAllocator installed"
    );
    println!("{:<34} {:>10}", "", "ns/call");
    println!("{:<34} {:>10.1}", "plain fn", plain);
    println!(
        "{:<34} {:>10.1}   (+{:.1} ns per call)",
        "#[profile_job] fn",
        profiled,
        profiled - plain
    );
    println!("{:<34} {:>10.1}", "plain async fn (one poll)", plain_async);
    println!(
        "{:<34} {:>10.1}   (+{:.1} ns per call)",
        "#[profile_job] async fn (one poll)",
        profiled_async,
        profiled_async - plain_async
    );
    let job = profiling_alloc::job_stats()
        .into_iter()
        .find(|j| j.name == "bench-empty");
    if let Some(job) = job {
        println!(
            "recorded {} calls of bench-empty, p50 {:?}, p99 {:?}",
            job.calls, job.duration.p50, job.duration.p99
        );
    }
}
