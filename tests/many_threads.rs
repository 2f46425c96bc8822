//! More threads alive at once than there are per-thread slots (1024): the
//! threads without a slot count into the shared fallback, and the totals stay
//! exact.
//!
//! Without the test harness (`harness = false`): the totals are the whole
//! process's.

mod common;

use std::sync::Barrier;
use std::thread;

use common::Block;
use profiling_alloc::{heap_stats, measure, HeapStats, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

const THREADS: usize = 1100;
const KEPT: usize = 77;

fn main() {
    common::quiet::run(
        "many_threads",
        &[(
            "totals_stay_exact_past_the_slots",
            totals_stay_exact_past_the_slots,
        )],
    );
}

/// What each thread kept (a raw block) and whether it could be measured.
type Kept = ((usize, usize, usize), bool);

/// Starts [`THREADS`] threads that each allocate once (taking a slot, or
/// failing to), then free one block and keep one; returns the heap before
/// and after that work, and what each thread kept.
fn run_threads() -> (HeapStats, HeapStats, Vec<Kept>) {
    let started = Barrier::new(THREADS + 1);
    let go = Barrier::new(THREADS + 1);
    let done = Barrier::new(THREADS + 1);
    let read = Barrier::new(THREADS + 1);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (started, go, done, read) = (&started, &go, &done, &read);
                thread::Builder::new()
                    .stack_size(128 * 1024)
                    .spawn_scoped(scope, move || {
                        // Every thread allocates once before the first reading,
                        // so that all of them hold (or failed to get) a slot.
                        Block::bytes(16).free();
                        started.wait();
                        go.wait();
                        let (kept, delta) = measure(|| {
                            Block::bytes(1000 + t).free();
                            Block::bytes(KEPT)
                        });
                        done.wait();
                        read.wait();
                        (kept.into_raw(), delta.active)
                    })
                    .expect("spawn")
            })
            .collect();
        started.wait();
        let before = heap_stats();
        go.wait();
        done.wait();
        let during = heap_stats();
        read.wait();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        (before, during, results)
    })
}

fn totals_stay_exact_past_the_slots() {
    assert!(heap_stats().active);
    let (before, during, results) = run_threads();
    let without_slot = results.iter().filter(|(_, measured)| !measured).count();
    assert!(
        without_slot >= THREADS - 1024,
        "{without_slot} of {THREADS} threads had no slot of their own"
    );
    let freed_sizes: u64 = (0..THREADS as u64).map(|t| 1000 + t).sum();
    assert_eq!(
        during.total_blocks - before.total_blocks,
        2 * THREADS as u64
    );
    assert_eq!(
        during.total_bytes - before.total_bytes,
        freed_sizes + (KEPT * THREADS) as u64
    );
    assert_eq!(during.freed_bytes - before.freed_bytes, freed_sizes);
    assert_eq!(
        during.live_bytes - before.live_bytes,
        (KEPT * THREADS) as u64
    );
    assert_eq!(during.live_blocks - before.live_blocks, THREADS as u64);

    for (raw, _) in results {
        // SAFETY: each raw block came from `into_raw` of a live block, once.
        unsafe { Block::from_raw(raw) }.free();
    }
}
