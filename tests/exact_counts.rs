//! Exact counts around `System`, default (bounded-error) peak mode.
//!
//! Without the test harness (`harness = false`): the allocator is global and
//! the harness allocates on threads of its own, so the checks, which read
//! the whole process's numbers, run one after another on the main thread of
//! a process where nothing else allocates.

mod common;

use std::hint::black_box;

use common::{Block, Model};
use profiling_alloc::{heap::size_histogram, heap_stats, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

fn main() {
    let mut checks = common::scripted::CHECKS.to_vec();
    checks.extend([
        ("installed", installed as fn()),
        ("totals_move_by_the_model", totals_move_by_the_model),
        (
            "histogram_sees_the_same_blocks",
            histogram_sees_the_same_blocks,
        ),
        ("peak_exact_on_one_thread", peak_exact_on_one_thread),
    ]);
    common::quiet::run("exact_counts", &checks);
}

fn installed() {
    assert!(heap_stats().active);
}

/// A known sequence: an alloc, a zeroed alloc, a growing realloc, a free.
/// Returns the block still held and the model of what was done.
fn known_sequence() -> (Block, Model) {
    let mut a = Block::new(10_000, 8, false);
    let b = Block::new(300_000, 64, true);
    a.resize(40_000);
    b.free();
    let mut model = Model::default();
    model.alloc(10_000);
    model.alloc(300_000);
    model.realloc(10_000, 40_000);
    model.free(300_000);
    (a, model)
}

/// Global totals move by exactly what a known sequence does, and
/// `live == total - freed` to the byte.
fn totals_move_by_the_model() {
    let before = heap_stats();
    let (a, model) = known_sequence();
    let after = heap_stats();
    a.free();
    assert_eq!(after.total_blocks - before.total_blocks, model.total_blocks);
    assert_eq!(after.total_bytes - before.total_bytes, model.total_bytes);
    assert_eq!(after.freed_blocks - before.freed_blocks, model.freed_blocks);
    assert_eq!(after.freed_bytes - before.freed_bytes, model.freed_bytes);
    assert_eq!(after.reallocs - before.reallocs, model.reallocs);
    assert_eq!(after.live_blocks - before.live_blocks, 1);
    assert_eq!(after.live_bytes - before.live_bytes, 40_000);
    assert_eq!(after.live_bytes, after.total_bytes - after.freed_bytes);
    assert_eq!(after.live_blocks, after.total_blocks - after.freed_blocks);
}

/// The size histogram sees every block in its power-of-two class (sizes far
/// above the histogram's own small result vector, which it allocates).
fn histogram_sees_the_same_blocks() {
    let before = size_histogram();
    let (a, _) = known_sequence();
    a.free();
    // Totals first: the histogram allocates its result after reading its
    // sums, so the two readings then see the same blocks.
    let totals = heap_stats();
    let after = size_histogram();
    let class_delta = |size: u64| {
        let blocks = |h: &profiling_alloc::heap::SizeHistogram| {
            h.class_of(size).map_or(0, |c| c.total_blocks)
        };
        blocks(&after) - blocks(&before)
    };
    assert_eq!(class_delta(10_000), 1);
    assert_eq!(class_delta(40_000), 1);
    assert_eq!(class_delta(300_000), 1);
    assert_eq!(after.total_blocks(), totals.total_blocks);
    assert_eq!(after.total_bytes(), totals.total_bytes);
}

/// Default mode, one thread: the peak is exact and says so.
fn peak_exact_on_one_thread() {
    let stats = heap_stats();
    assert!(stats.peak_bytes >= stats.live_bytes);
    profiling_alloc::reset_peak();
    let base = heap_stats().live_bytes;
    let big = Block::bytes(10 << 20);
    let small: Vec<Block> = (0..100).map(|_| Block::bytes(black_box(1000))).collect();
    big.free();
    let true_peak_above_base = (10 << 20) + 100 * 1000 + std::mem::size_of::<Block>() as u64 * 100;
    let stats = heap_stats();
    assert!(stats.peak_is_exact, "one thread allocated: {stats:?}");
    assert_eq!(stats.peak_error_bound, 0);
    assert_eq!(stats.peak_bytes, base + true_peak_above_base);
    small.into_iter().for_each(Block::free);
}
