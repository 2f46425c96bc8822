//! Peak checks that hold in exact-peak mode, and in the default mode while one
//! thread allocates at a time: each starts with `reset_peak` and runs alone.

use super::{Block, Model};
use profiling_alloc::{heap_stats, reset_peak};

/// The checks, by name.
pub const CHECKS: [super::quiet::Check; 3] = [
    ("a_scripted_sequence", a_scripted_sequence),
    ("the_latest_moment_wins_a_tie", the_latest_moment_wins_a_tie),
    (
        "vec_growth_moves_the_peak_by_doublings",
        vec_growth_moves_the_peak_by_doublings,
    ),
];

/// A scripted sequence, mirrored in the model: allocs, frees, a growing and
/// a shrinking realloc.
pub fn a_scripted_sequence() {
    reset_peak();
    let base = heap_stats();
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
    b.free();
    d.free();
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
}

/// The same live bytes reached again with more blocks: the latest moment
/// wins (DESIGN rule 6).
pub fn the_latest_moment_wins_a_tie() {
    reset_peak();
    let base = heap_stats();
    let one = Block::bytes(4000);
    one.free();
    let halves = [Block::bytes(2000), Block::bytes(2000)];
    let stats = heap_stats();
    halves.into_iter().for_each(Block::free);
    assert_eq!(stats.peak_bytes, base.live_bytes + 4000);
    assert_eq!(stats.peak_blocks, base.live_blocks + 2);
}

/// `Vec` growth moves the peak by whole doublings.
pub fn vec_growth_moves_the_peak_by_doublings() {
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
