//! Per-call overhead of `ProfilingAllocator` against the bare inner allocator,
//! measured in the same run and printed as a ratio.
//!
//! `cargo bench --bench alloc_overhead`
//!
//! Each run calls `GlobalAlloc::alloc`/`dealloc` directly on one allocator:
//! sizes from 8 B to 64 KiB (log-uniform), a rolling window of 256 live
//! blocks per thread, every allocation written to once. Runs of the different
//! allocators are interleaved round by round, so that drift of the machine
//! (other load, frequency) hits all of them alike; the figure reported is the
//! median over rounds. The global allocator of this binary stays `System`, so
//! the harness's own allocations are not counted.

mod churn;

use std::alloc::System;

use churn::{median, run, sizes};
use profiling_alloc::{ProfilingAllocator, Sampling};

// Counting only: sampling's cost (Poisson at 512 KiB by default) is
// `callsite_overhead`'s subject. The first instance called publishes the
// sampling mode for the process; both say Off.
static SYSTEM: System = System;
static COUNTING: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Off);
static EXACT: ProfilingAllocator = ProfilingAllocator::system()
    .exact_peak()
    .sampling(Sampling::Off);

const OPS: usize = 200_000;
const ROUNDS: usize = 21;

fn main() {
    // `cargo test --benches` runs this binary too: keep that short.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        ROUNDS
    } else {
        1
    };
    println!("alloc_overhead: {OPS} alloc+dealloc pairs per thread, window 256, median of {rounds} rounds");
    for (label, max) in [("8 B - 64 KiB", 64 * 1024), ("8 B - 512 B", 512)] {
        let workloads: Vec<Vec<usize>> = (0..2).map(|t| sizes(0x5eed + t, OPS, max)).collect();
        println!("\nsizes {label}");
        println!(
            "{:<8} {:<34} {:>12} {:>10}",
            "threads", "allocator", "ns/op", "ratio"
        );
        compare(rounds, &workloads);
    }
}

/// Prints each allocator's median time per operation and its ratio to
/// `System`, for 1 and 2 threads.
fn compare(rounds: usize, workloads: &[Vec<usize>]) {
    for threads in [1, 2] {
        let workloads = &workloads[..threads];
        let mut system = Vec::new();
        let mut counting = Vec::new();
        let mut exact = Vec::new();
        // One warm-up round, not recorded.
        run(&SYSTEM, workloads);
        run(&COUNTING, workloads);
        run(&EXACT, workloads);
        for round in 0..rounds {
            // Rotate the order so no allocator always runs first.
            for k in 0..3 {
                match (round + k) % 3 {
                    0 => system.push(run(&SYSTEM, workloads)),
                    1 => counting.push(run(&COUNTING, workloads)),
                    _ => exact.push(run(&EXACT, workloads)),
                }
            }
        }
        let base = median(&mut system);
        for (name, times) in [
            ("System", &mut system),
            ("ProfilingAllocator (counting)", &mut counting),
            ("ProfilingAllocator (exact_peak)", &mut exact),
        ] {
            let m = median(times);
            println!(
                "{:<8} {:<34} {:>12.1} {:>9.3}x",
                threads,
                name,
                m.as_nanos() as f64 / OPS as f64,
                m.as_secs_f64() / base.as_secs_f64()
            );
        }
    }
}
