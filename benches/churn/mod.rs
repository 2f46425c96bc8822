//! The workload the allocator benchmarks share: alloc+dealloc pairs through
//! `GlobalAlloc` directly, sizes log-uniform from 8 B to a maximum, a rolling
//! window of 256 live blocks per thread, each block written once.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

const WINDOW: usize = 256;

/// `ops` sizes from 8 B to `max` bytes (a power of two), log-uniform, from a
/// fixed seed.
pub fn sizes(seed: u64, ops: usize, max: usize) -> Vec<usize> {
    let classes = u64::from(max.trailing_zeros()) - 2;
    let mut state = seed | 1;
    (0..ops)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let size = 1usize << (3 + state % classes); // 2^3 ..= max
            (size + (state >> 8) as usize % size / 2).clamp(8, max)
        })
        .collect()
}

/// One thread's run: allocates each size, freeing the block it replaces in
/// the window. Returns the time taken.
#[inline(never)]
pub fn churn<A: GlobalAlloc>(alloc: &A, sizes: &[usize]) -> Duration {
    let mut window = [(std::ptr::null_mut::<u8>(), 0usize); WINDOW];
    let start = Instant::now();
    for (i, &size) in sizes.iter().enumerate() {
        let slot = &mut window[i % WINDOW];
        if !slot.0.is_null() {
            // SAFETY: allocated below by the same allocator with this size and
            // alignment 8.
            unsafe { alloc.dealloc(slot.0, Layout::from_size_align_unchecked(slot.1, 8)) };
        }
        // SAFETY: sizes are at least 8 bytes and alignment 8 is a power of two.
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
            // SAFETY: each remaining block, freed once.
            unsafe { alloc.dealloc(ptr, Layout::from_size_align_unchecked(size, 8)) };
        }
    }
    start.elapsed()
}

/// Runs `churn` on one thread per workload, all at once; returns the mean
/// thread time.
pub fn run<A: GlobalAlloc + Sync>(alloc: &A, workloads: &[Vec<usize>]) -> Duration {
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
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .sum()
    });
    total / workloads.len() as u32
}

/// The median of `times`.
pub fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
