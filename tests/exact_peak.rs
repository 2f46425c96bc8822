//! Exact-peak mode: the peak is the true high-water mark of live bytes, and
//! `peak_blocks` the live blocks at that moment.

mod common;

use common::{Block, Model};
use profiling_alloc::{heap_stats, reset_peak, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().exact_peak();

#[test]
fn main() {
    assert!(profiling_alloc::is_active());
    assert_eq!(common::scripted_exactness_checks(), 7);

    let stats = heap_stats();
    assert!(stats.peak_is_exact);
    assert_eq!(stats.peak_error_bound, 0);

    // After a reset the peak is the live state.
    reset_peak();
    let base = heap_stats();
    assert_eq!(
        (base.peak_bytes, base.peak_blocks),
        (base.live_bytes, base.live_blocks)
    );

    // A scripted sequence, mirrored in the model.
    let mut model = Model::default();
    let a = Block::bytes(1000);
    model.alloc(1000);
    let mut b = Block::bytes(3000);
    model.alloc(3000);
    a.free();
    model.free(1000);
    let c = Block::bytes(500);
    model.alloc(500);
    b.resize(5000); // growing realloc: a new peak of 5,500 bytes in 2 blocks
    model.realloc(3000, 5000);
    c.free();
    model.free(500);
    b.resize(10); // shrinking realloc
    model.realloc(5000, 10);
    let d = Block::bytes(2000);
    model.alloc(2000);
    assert_eq!((model.peak_bytes, model.peak_blocks), (5500, 2));

    let stats = heap_stats();
    assert_eq!(stats.peak_bytes, base.live_bytes + model.peak_bytes as u64);
    assert_eq!(
        stats.peak_blocks,
        base.live_blocks + model.peak_blocks as u64
    );
    assert_eq!(stats.total_blocks - base.total_blocks, model.total_blocks);
    assert_eq!(stats.total_bytes - base.total_bytes, model.total_bytes);
    assert_eq!(stats.reallocs - base.reallocs, model.reallocs);
    assert_eq!(
        stats.live_bytes as i64 - base.live_bytes as i64,
        model.live_bytes
    );
    assert_eq!(
        stats.live_blocks as i64 - base.live_blocks as i64,
        model.live_blocks
    );

    // A tie: the same live bytes reached again with more blocks; the latest
    // moment wins (DESIGN rule 6).
    b.free();
    d.free();
    reset_peak();
    let base = heap_stats();
    let one = Block::bytes(4000);
    one.free();
    let halves = [Block::bytes(2000), Block::bytes(2000)];
    let stats = heap_stats();
    assert_eq!(stats.peak_bytes, base.live_bytes + 4000);
    assert_eq!(stats.peak_blocks, base.live_blocks + 2);
    halves.into_iter().for_each(Block::free);

    // `Vec` growth moves the peak by whole doublings.
    reset_peak();
    let base = heap_stats();
    let mut v: Vec<u8> = Vec::new();
    for i in 0..5000u32 {
        v.push(i as u8);
    }
    let stats = heap_stats();
    assert_eq!(stats.peak_bytes, base.live_bytes + v.capacity() as u64);
    assert_eq!(stats.peak_blocks, base.live_blocks + 1);
}
