//! Under `Sampling::Every`, every live block is a sampled one, and the table
//! of live sampled blocks is sized for that by default: a program holding
//! more blocks than Poisson sampling's limit
//! ([`DEFAULT_MAX_TRACKED_BLOCKS`]) drops no sample, and every block is
//! counted live at its callsite.
//!
//! Without the test harness (`harness = false`): dropped samples are the
//! whole process's.

mod common;

use std::hint::black_box;

use profiling_alloc::{
    callsites::dropped_samples, callsites::live_callsites, callsites::DEFAULT_MAX_TRACKED_BLOCKS,
    callsites::DEFAULT_MAX_TRACKED_BLOCKS_EVERY, ProfilingAllocator, Sampling,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

/// More blocks than Poisson's default limit, well within Every's.
const BLOCKS: usize = DEFAULT_MAX_TRACKED_BLOCKS + DEFAULT_MAX_TRACKED_BLOCKS / 8;
const _: () = assert!(BLOCKS < DEFAULT_MAX_TRACKED_BLOCKS_EVERY);

// Each box is its own block: the point of the test.
#[allow(clippy::vec_box)]
#[inline(never)]
fn many_small_blocks(into: &mut Vec<Box<u64>>) {
    for i in 0..BLOCKS {
        into.push(black_box(Box::new(i as u64)));
    }
}

fn every_live_block_is_tracked() {
    // Room made first, so the boxes are the only blocks of their callsite.
    let mut kept = Vec::with_capacity(BLOCKS);
    many_small_blocks(&mut kept);
    assert_eq!(dropped_samples(), 0);
    let live = live_callsites();
    let boxes = live
        .iter()
        .find(|site| {
            site.frames
                .iter()
                .any(|f| f.function.contains("many_small_blocks"))
        })
        .expect("the boxes' callsite");
    assert_eq!(boxes.live_blocks, BLOCKS as f64);
    assert_eq!(boxes.live_bytes, (8 * BLOCKS) as f64);
    drop(kept);
    assert!(live_callsites().iter().all(|site| !site
        .frames
        .iter()
        .any(|f| f.function.contains("many_small_blocks"))));
    assert_eq!(dropped_samples(), 0);
}

fn main() {
    common::quiet::run(
        file!(),
        &[("every_live_block_is_tracked", every_live_block_is_tracked)],
    );
}
