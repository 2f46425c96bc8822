//! Per-call overhead of `ProfilingAllocator` against the bare inner allocator,
//! measured in the same run and printed as a ratio.
//!
//! `cargo bench -p profiling-alloc --bench alloc_overhead`
//!
//! Each run calls `GlobalAlloc::alloc`/`dealloc` directly on one allocator:
//! sizes from 8 B to 64 KiB (log-uniform), a rolling window of 256 live
//! blocks per thread, every allocation written to once. Runs of the different
//! allocators are interleaved round by round, so that drift of the machine
//! (other load, frequency) hits all of them alike; the figure reported is the
//! median over rounds. The global allocator of this binary stays `System`, so
//! the harness's own allocations are not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use profiling_alloc::ProfilingAllocator;

static SYSTEM: System = System;
static COUNTING: ProfilingAllocator = ProfilingAllocator::system();
static EXACT: ProfilingAllocator = ProfilingAllocator::system().exact_peak();

const WINDOW: usize = 256;
const OPS: usize = 200_000;
const ROUNDS: usize = 21;

/// Sizes from 8 B to `max` bytes (a power of two), log-uniform, from a fixed
/// seed.
fn sizes(seed: u64, max: usize) -> Vec<usize> {
    let classes = max.trailing_zeros() as u64 - 2;
    let mut state = seed | 1;
    (0..OPS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let class = 3 + state % classes; // 2^3 ..= max
            let size = 1usize << class;
            size + (state >> 8) as usize % size.max(1) / 2
        })
        .map(|size| size.clamp(8, max))
        .collect()
}

/// One thread's run: allocate each size, freeing the block it replaces in the
/// window. Returns the time taken.
fn churn<A: GlobalAlloc>(alloc: &A, sizes: &[usize]) -> Duration {
    let mut window: [(*mut u8, usize); WINDOW] = [(std::ptr::null_mut(), 0); WINDOW];
    let start = Instant::now();
    for (i, &size) in sizes.iter().enumerate() {
        let slot = &mut window[i % WINDOW];
        if !slot.0.is_null() {
            // SAFETY: the block was allocated below by the same allocator with
            // this size and alignment 8.
            unsafe { alloc.dealloc(slot.0, Layout::from_size_align_unchecked(slot.1, 8)) };
        }
        // SAFETY: `size` is between 8 and 64 KiB and a power-of-two alignment
        // of 8 is valid for it.
        let layout = unsafe { Layout::from_size_align_unchecked(size, 8) };
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc.alloc(layout) };
        assert!(!ptr.is_null(), "allocation of {size} bytes failed");
        // SAFETY: `ptr` points to at least 8 writable bytes.
        unsafe { ptr.write(black_box(1)) };
        *slot = (ptr, size);
    }
    for &(ptr, size) in &window {
        if !ptr.is_null() {
            // SAFETY: as above, each remaining block is freed once.
            unsafe { alloc.dealloc(ptr, Layout::from_size_align_unchecked(size, 8)) };
        }
    }
    start.elapsed()
}

/// Runs `churn` on `threads` threads at once; returns the mean thread time.
fn run<A: GlobalAlloc + Sync>(alloc: &A, threads: usize, workloads: &[Vec<usize>]) -> Duration {
    let barrier = Barrier::new(threads);
    let total: Duration = std::thread::scope(|scope| {
        let handles: Vec<_> = workloads[..threads]
            .iter()
            .map(|sizes| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    churn(alloc, sizes)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .sum()
    });
    total / threads as u32
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    // `cargo test --benches` runs this binary too: keep that short.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        ROUNDS
    } else {
        1
    };
    println!("alloc_overhead: {OPS} alloc+dealloc pairs per thread, window {WINDOW}, median of {rounds} rounds");
    for (label, max) in [("8 B - 64 KiB", 64 * 1024), ("8 B - 512 B", 512)] {
        let workloads: Vec<Vec<usize>> = (0..2).map(|t| sizes(0x5eed + t, max)).collect();
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
        let mut system = Vec::new();
        let mut counting = Vec::new();
        let mut exact = Vec::new();
        // One warm-up round, not recorded.
        run(&SYSTEM, threads, workloads);
        run(&COUNTING, threads, workloads);
        run(&EXACT, threads, workloads);
        for round in 0..rounds {
            // Rotate the order so no allocator always runs first.
            for k in 0..3 {
                match (round + k) % 3 {
                    0 => system.push(run(&SYSTEM, threads, workloads)),
                    1 => counting.push(run(&COUNTING, threads, workloads)),
                    _ => exact.push(run(&EXACT, threads, workloads)),
                }
            }
        }
        let base = median(&mut system);
        for (name, times) in [
            ("System", &mut system),
            ("ProfilingAllocator (default)", &mut counting),
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
