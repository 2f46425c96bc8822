//! The wrapper around a second inner allocator (mimalloc) counts exactly as it
//! does around `System`: the same scripted checks pass with the same numbers.
//!
//! Without the test harness (`harness = false`): the peak and the totals are
//! the whole process's.

mod common;

use common::{Block, Model};
use mimalloc::MiMalloc;
use profiling_alloc::{heap_stats, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator<MiMalloc> = ProfilingAllocator::new(MiMalloc).exact_peak();

fn main() {
    // Same checks, same expected deltas as in exact_counts.rs (System).
    let mut checks = common::scripted::CHECKS.to_vec();
    checks.push((
        "peak_and_totals_of_a_sequence",
        peak_and_totals_of_a_sequence,
    ));
    common::quiet::run("other_inner_allocator", &checks);
}

/// Exact peak and totals of a scripted sequence, as in exact_peak.rs.
fn peak_and_totals_of_a_sequence() {
    assert!(heap_stats().active);
    profiling_alloc::reset_peak();
    let base = heap_stats();
    let mut model = Model::default();
    let mut a = Block::new(4096, 4096, true);
    model.alloc(4096);
    let b = Block::bytes(100);
    model.alloc(100);
    a.resize(20_000);
    model.realloc(4096, 20_000);
    b.free();
    model.free(100);
    let stats = heap_stats();
    assert_eq!(stats.total_blocks - base.total_blocks, model.total_blocks);
    assert_eq!(stats.total_bytes - base.total_bytes, model.total_bytes);
    assert_eq!(stats.freed_bytes - base.freed_bytes, model.freed_bytes);
    assert_eq!(stats.peak_bytes - base.live_bytes, model.peak_bytes as u64);
    assert_eq!(
        stats.peak_blocks - base.live_blocks,
        model.peak_blocks as u64
    );
    a.free();
    assert_eq!(heap_stats().live_bytes, base.live_bytes);
}
