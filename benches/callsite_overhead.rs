//! Cost of sampling allocation stacks, against `System` in the same run:
//! counting only, Poisson sampling at the default rate, every allocation
//! (`Sampling::Every`), and dhat-rs on the same workload.
//!
//! `cargo bench --bench callsite_overhead`
//!
//! Each thread does alloc+dealloc pairs through `GlobalAlloc` directly (sizes
//! 8 B - 64 KiB, log-uniform, a rolling window of 256 live blocks). Runs are
//! interleaved round by round; the median of each is reported. The binary's
//! global allocator stays `System`.

mod churn;

use std::alloc::System;
use std::time::Duration;

use churn::{median, run, sizes};
use profiling_alloc::{set_sampling, ProfilingAllocator, Sampling};

static SYSTEM: System = System;
static PROFILING: ProfilingAllocator = ProfilingAllocator::system();
static DHAT: dhat::Alloc = dhat::Alloc;

const NAMES: [&str; 5] = [
    "System",
    "counting only",
    "Poisson 512 KiB",
    "Every",
    "dhat-rs",
];

fn run_one(which: usize, workloads: &[Vec<usize>]) -> Duration {
    match which {
        0 => run(&SYSTEM, workloads),
        1 => {
            set_sampling(Sampling::Off);
            run(&PROFILING, workloads)
        }
        2 => {
            set_sampling(Sampling::poisson());
            run(&PROFILING, workloads)
        }
        3 => {
            set_sampling(Sampling::Every);
            run(&PROFILING, workloads)
        }
        _ => run(&DHAT, workloads),
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(11);
    let (rounds, ops) = if bench { (rounds, 50_000) } else { (1, 2_000) };
    // dhat-rs records only while a profiler exists; testing mode writes no file.
    let _dhat = dhat::Profiler::builder()
        .testing()
        .trim_backtraces(Some(10))
        .build();
    println!("callsite_overhead: {ops} alloc+dealloc pairs per thread, sizes 8 B - 64 KiB, median of {rounds} rounds");
    for threads in [1, 2] {
        let workloads: Vec<Vec<usize>> = (0..threads as u64)
            .map(|t| sizes(0xfeed + t, ops, 64 * 1024))
            .collect();
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); NAMES.len()];
        for which in 0..NAMES.len() {
            run_one(which, &workloads); // warm-up
        }
        for round in 0..rounds {
            for k in 0..NAMES.len() {
                let which = (round + k) % NAMES.len();
                times[which].push(run_one(which, &workloads));
            }
        }
        let medians: Vec<Duration> = times.iter_mut().map(|t| median(t)).collect();
        println!("\n{threads} thread(s)");
        println!("  {:<18} {:>12} {:>12}", "allocator", "ns/op", "vs System");
        for (name, time) in NAMES.iter().zip(&medians) {
            println!(
                "  {:<18} {:>12.1} {:>11.2}x",
                name,
                time.as_nanos() as f64 / ops as f64,
                time.as_secs_f64() / medians[0].as_secs_f64()
            );
        }
        let every = medians[3].as_secs_f64();
        let dhat = medians[4].as_secs_f64();
        println!("  dhat-rs / Every: {:.2}x", dhat / every);
    }
    println!(
        "\nstack unwinder: {}",
        profiling_alloc::callsites::stack_unwinder()
    );
    set_sampling(Sampling::Off);
}
