//! The wrapper around a second inner allocator (mimalloc) counts exactly as it
//! does around `System`: the same scripted checks pass with the same numbers.

mod common;

use common::{Block, Model};
use mimalloc::MiMalloc;
use profiling_alloc::{heap_stats, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator<MiMalloc> = ProfilingAllocator::new(MiMalloc).exact_peak();

#[test]
fn main() {
    assert!(profiling_alloc::is_active());
    // Same checks, same expected deltas as in exact_counts.rs (System).
    assert_eq!(common::scripted_exactness_checks(), 7);

    // Exact peak and totals of a scripted sequence, as in exact_peak.rs.
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
