//! Many threads allocating at once: after they stop, the global counters moved
//! by exactly what the threads counted themselves, and threads that exit keep
//! their counts.
//!
//! Without the test harness (`harness = false`): the totals are the whole
//! process's.

mod common;

use std::sync::Barrier;
use std::thread;

use common::{Block, Counts, Model, Rng};
use profiling_alloc::{heap_stats, measure, AllocDelta, HeapStats, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

/// Operations each thread performs.
const OPS_PER_THREAD: usize = 200_000;
/// Blocks each thread keeps live at most (a fixed array: no bookkeeping
/// allocations of its own).
const WINDOW: usize = 64;
const ALIGNS: [usize; 5] = [1, 8, 16, 64, 4096];

/// Mixed alloc/alloc_zeroed/realloc (grow and shrink)/dealloc of varied sizes
/// and alignments. Returns the blocks still held (in a fixed array: no
/// allocation of its own) and the thread's own count of what it did.
fn workload(seed: u64) -> ([Option<Block>; WINDOW], Model) {
    let mut rng = Rng::new(seed);
    let mut model = Model::default();
    let mut held: [Option<Block>; WINDOW] = [const { None }; WINDOW];
    for _ in 0..OPS_PER_THREAD {
        let index = rng.below(WINDOW as u64) as usize;
        match held[index].take() {
            None => {
                let size = if rng.below(16) == 0 {
                    1 + rng.below(64 * 1024) as usize
                } else {
                    1 + rng.below(512) as usize
                };
                let align = ALIGNS[rng.below(ALIGNS.len() as u64) as usize];
                let zeroed = rng.below(4) == 0;
                held[index] = Some(Block::new(size, align, zeroed));
                model.alloc(size);
            }
            Some(mut block) => match rng.below(4) {
                0 | 1 => {
                    model.free(block.size());
                    block.free();
                }
                2 => {
                    let new_size = block.size() + 1 + rng.below(2048) as usize;
                    model.realloc(block.size(), new_size);
                    block.resize(new_size);
                    held[index] = Some(block);
                }
                _ => {
                    let new_size = 1 + rng.below(block.size() as u64) as usize;
                    model.realloc(block.size(), new_size);
                    block.resize(new_size);
                    held[index] = Some(block);
                }
            },
        }
    }
    (held, model)
}

fn delta(after: &HeapStats, before: &HeapStats) -> Model {
    Model {
        total_blocks: after.total_blocks - before.total_blocks,
        total_bytes: after.total_bytes - before.total_bytes,
        freed_blocks: after.freed_blocks - before.freed_blocks,
        freed_bytes: after.freed_bytes - before.freed_bytes,
        reallocs: after.reallocs - before.reallocs,
        live_blocks: after.live_blocks as i64 - before.live_blocks as i64,
        live_bytes: after.live_bytes as i64 - before.live_bytes as i64,
        peak_bytes: 0,
        peak_blocks: 0,
    }
}

/// What one worker did: the blocks it still held (raw), its own count, and
/// its `measure` of it.
type Worked = (Vec<(usize, usize, usize)>, Model, AllocDelta);

/// Runs the workload on `threads` threads. Threads start and wait; the main
/// thread reads the counters and lets them go; they work and wait again; the
/// main thread reads again; then they finish. Between the two readings only
/// the workload allocates.
fn run_threads(threads: usize) -> (HeapStats, HeapStats, Vec<Worked>) {
    let started = Barrier::new(threads + 1);
    let go = Barrier::new(threads + 1);
    let worked = Barrier::new(threads + 1);
    let read = Barrier::new(threads + 1);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (started, go, worked, read) = (&started, &go, &worked, &read);
                scope.spawn(move || {
                    started.wait();
                    go.wait();
                    let seed = t as u64 * 7919 + threads as u64;
                    let ((held, model), measured) = measure(|| workload(seed));
                    worked.wait();
                    read.wait();
                    let held: Vec<_> = held.into_iter().flatten().map(Block::into_raw).collect();
                    (held, model, measured)
                })
            })
            .collect();
        started.wait();
        let before = heap_stats();
        go.wait();
        worked.wait();
        let during = heap_stats();
        read.wait();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect();
        (before, during, results)
    })
}

/// Totals equal the sum the threads counted themselves, to the byte, and
/// stay once they exit; each thread's `measure` agrees with its own count.
fn totals_are_the_threads_sum(threads: usize) {
    let (before, during, results) = run_threads(threads);
    let mut sum = Model::default();
    let mut held_bytes = 0;
    for (held, model, measured) in &results {
        let mut expected = model.as_delta();
        expected.peak_bytes = measured.peak_bytes;
        assert_eq!(
            Counts::of(measured),
            expected,
            "a thread's measure() disagrees with its own count"
        );
        assert!(measured.peak_bytes as i64 >= model.live_bytes.max(0));
        sum.total_blocks += model.total_blocks;
        sum.total_bytes += model.total_bytes;
        sum.freed_blocks += model.freed_blocks;
        sum.freed_bytes += model.freed_bytes;
        sum.reallocs += model.reallocs;
        sum.live_blocks += model.live_blocks;
        sum.live_bytes += model.live_bytes;
        assert_eq!(held.len() as i64, model.live_blocks);
        held_bytes += held.iter().map(|&(_, size, _)| size as i64).sum::<i64>();
    }
    assert_eq!(held_bytes, sum.live_bytes);
    assert_eq!(delta(&during, &before), sum, "{threads} threads");
    assert!(sum.total_blocks >= (threads * OPS_PER_THREAD / 3) as u64);

    // The threads have exited: their counts stay.
    let joined = heap_stats();
    assert!(joined.total_blocks >= during.total_blocks);
    assert!(joined.total_bytes >= during.total_bytes);
    assert_eq!(joined.live_bytes, joined.total_bytes - joined.freed_bytes);
    assert_eq!(
        joined.live_blocks,
        joined.total_blocks - joined.freed_blocks
    );
    free_elsewhere(&results, sum.live_blocks, held_bytes);
}

/// The blocks the exited threads held are still live, and freeing them
/// here, on another thread, takes exactly their bytes and blocks off.
fn free_elsewhere(results: &[Worked], held_blocks: i64, held_bytes: i64) {
    let held: Vec<_> = results
        .iter()
        .flat_map(|(held, _, _)| held.iter().copied())
        .collect();
    let before_free = heap_stats();
    let ((), freed) = measure(|| {
        for &raw in &held {
            // SAFETY: `raw` came from `Block::into_raw` of a live block, and
            // each is rebuilt once.
            unsafe { Block::from_raw(raw) }.free();
        }
    });
    assert_eq!(freed.freed_blocks as i64, held_blocks);
    assert_eq!(freed.freed_bytes as i64, held_bytes);
    let after = heap_stats();
    assert_eq!(before_free.live_bytes - after.live_bytes, freed.freed_bytes);
    assert_eq!(
        before_free.live_blocks - after.live_blocks,
        freed.freed_blocks
    );
}

fn main() {
    common::quiet::run(
        "stress_threads",
        &[
            ("two_threads", || totals_are_the_threads_sum(2)),
            ("four_threads", || totals_are_the_threads_sum(4)),
            ("eight_threads", || totals_are_the_threads_sum(8)),
        ],
    );
}
