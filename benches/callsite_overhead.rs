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

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use profiling_alloc::{set_sampling, ProfilingAllocator, Sampling};

static SYSTEM: System = System;
static PROFILING: ProfilingAllocator = ProfilingAllocator::system();
static DHAT: dhat::Alloc = dhat::Alloc;

const WINDOW: usize = 256;

fn sizes(seed: u64, ops: usize) -> Vec<usize> {
    let mut state = seed | 1;
    (0..ops)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let size = 1usize << (3 + state % 14);
            (size + (state >> 8) as usize % size / 2).clamp(8, 64 * 1024)
        })
        .collect()
}

#[inline(never)]
fn churn<A: GlobalAlloc>(alloc: &A, sizes: &[usize]) -> Duration {
    let mut window = [(std::ptr::null_mut::<u8>(), 0usize); WINDOW];
    let start = Instant::now();
    for (i, &size) in sizes.iter().enumerate() {
        let slot = &mut window[i % WINDOW];
        if !slot.0.is_null() {
            // SAFETY: allocated below by the same allocator with this layout.
            unsafe { alloc.dealloc(slot.0, Layout::from_size_align_unchecked(slot.1, 8)) };
        }
        // SAFETY: size is 8..=64 KiB and alignment 8 is a power of two.
        let layout = unsafe { Layout::from_size_align_unchecked(size, 8) };
        // SAFETY: non-zero size.
        let ptr = unsafe { alloc.alloc(layout) };
        assert!(!ptr.is_null());
        // SAFETY: at least 8 writable bytes.
        unsafe { ptr.write(black_box(1)) };
        *slot = (ptr, size);
    }
    for &(ptr, size) in &window {
        if !ptr.is_null() {
            // SAFETY: each remaining block, freed once.
            unsafe { alloc.dealloc(ptr, Layout::from_size_align_unchecked(size, 8)) };
        }
    }
    start.elapsed()
}

fn run<A: GlobalAlloc + Sync>(alloc: &A, workloads: &[Vec<usize>]) -> Duration {
    let barrier = Barrier::new(workloads.len());
    let total: Duration = std::thread::scope(|scope| {
        let handles: Vec<_> = workloads
            .iter()
            .map(|sizes| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    churn(alloc, sizes)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    total / workloads.len() as u32
}

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
            .map(|t| sizes(0xfeed + t, ops))
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
        let medians: Vec<Duration> = times
            .iter_mut()
            .map(|t| {
                t.sort();
                t[t.len() / 2]
            })
            .collect();
        println!("\n{threads} thread(s)");
        println!("  {:<18} {:>12} {:>12}", "allocator", "ns/op", "vs System");
        for (name, median) in NAMES.iter().zip(&medians) {
            println!(
                "  {:<18} {:>12.1} {:>11.2}x",
                name,
                median.as_nanos() as f64 / ops as f64,
                median.as_secs_f64() / medians[0].as_secs_f64()
            );
        }
        let every = medians[3].as_secs_f64();
        let dhat = medians[4].as_secs_f64();
        println!("  dhat-rs / Every: {:.2}x", dhat / every);
    }
    println!("\nstack unwinder: {}", profiling_alloc::stack_unwinder());
    set_sampling(Sampling::Off);
}
