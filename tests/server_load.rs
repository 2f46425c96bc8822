//! A load test of the live endpoint: 8 clients x 500 requests on
//! `/metrics` and `/report.json` while 2 threads allocate. Only 200 and 429
//! come back, nothing hangs or crashes, and the heap totals stay exact.
//! (Prints what it saw; asserts no timing.)

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::quiet;
use profiling_alloc::server::{RateLimits, Server};
use profiling_alloc::ProfilingAllocator;

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

const CLIENTS: usize = 8;
const REQUESTS: usize = 500;
const ALLOCATIONS: u64 = 200_000;

fn main() {
    quiet::run(file!(), &[("load_keeps_answers_and_totals_exact", load)]);
}

fn load() {
    let endpoint = Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .rate_limits(RateLimits {
            reads_per_minute: 600,
            ..RateLimits::default()
        })
        // The deadline runs from the accept, queue included: the first
        // reports load the test binary's debug info (seconds on a busy
        // machine) while the queued connections wait. A 408 here would be
        // the machine's speed, not a fault.
        .request_timeout(Duration::from_secs(60))
        .start()
        .expect("starting the endpoint");
    let addr = endpoint.addr();
    let started = Instant::now();
    let allocators: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                let ((), delta) = profiling_alloc::measure(|| {
                    for i in 0..ALLOCATIONS {
                        black_box(vec![i as u8; 64]);
                    }
                });
                delta
            })
        })
        .collect();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            std::thread::spawn(move || {
                let mut statuses = Vec::with_capacity(REQUESTS);
                for i in 0..REQUESTS {
                    let path = if (client + i) % 2 == 0 {
                        "/metrics"
                    } else {
                        "/report.json"
                    };
                    statuses.push(common::http::get(addr, path).status);
                }
                statuses
            })
        })
        .collect();
    let statuses: Vec<u16> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    for delta in allocators.into_iter().map(|t| t.join().unwrap()) {
        assert_eq!(delta.total_blocks, ALLOCATIONS, "{delta:?}");
        assert_eq!(delta.total_bytes, ALLOCATIONS * 64, "{delta:?}");
        assert_eq!(delta.freed_blocks, ALLOCATIONS, "{delta:?}");
        assert_eq!(delta.live_bytes, 0, "{delta:?}");
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    println!(
        "{} requests in {:.1} s: {ok} answered 200, {limited} answered 429",
        statuses.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        ok + limited,
        CLIENTS * REQUESTS,
        "other statuses: {statuses:?}"
    );
    assert!(ok > 0);
    let heap = profiling_alloc::heap_stats();
    assert_eq!(
        heap.total_bytes - heap.freed_bytes,
        heap.live_bytes,
        "{heap:?}"
    );
    assert_eq!(
        heap.total_blocks - heap.freed_blocks,
        heap.live_blocks,
        "{heap:?}"
    );
    endpoint.shutdown();
}
