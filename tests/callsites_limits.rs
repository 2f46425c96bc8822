//! Bounded memory: past the configured number of tracked blocks or distinct
//! stacks, samples are dropped and counted, and the heap totals stay exact.
//!
//! Without the test harness (`harness = false`): its main thread would
//! allocate while this test samples every block, and the exact counts below
//! count every allocation of the process.

use std::hint::black_box;

use profiling_alloc::{
    callsites, callsites::dropped_samples, callsites::set_sampling_limits, heap_stats,
    set_sampling, ProfilingAllocator, Sampling,
};

// Sampling starts in the test, after the limits are set (they take effect
// when the tables are created, at the first sample). Off until then: under
// the default Poisson sampling, an allocation before the test is sampled now
// and then, and that sample would create the tables.
#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Off);

// Each box is its own block: the point of the test.
#[allow(clippy::vec_box)]
#[inline(never)]
fn hundred_blocks() -> Vec<Box<[u8; 40]>> {
    let mut kept = Vec::with_capacity(100);
    for _ in 0..100 {
        kept.push(black_box(Box::new([7u8; 40])));
    }
    kept
}

#[inline(never)]
fn another_site() -> Box<[u8; 24]> {
    black_box(Box::new([1u8; 24]))
}

#[inline(never)]
fn a_third_site() -> Box<[u8; 56]> {
    black_box(Box::new([2u8; 56]))
}

fn main() {
    set_sampling_limits(2, 10);
    set_sampling(Sampling::Every);
    let before = heap_stats();
    let blocks = hundred_blocks();
    let after = heap_stats();
    set_sampling(Sampling::Off);

    // The totals count every block, whatever was dropped.
    assert_eq!(after.total_blocks - before.total_blocks, 101);
    // Only 10 blocks can be tracked: the vector and 9 boxes; the other 91
    // samples are dropped, and counted.
    assert_eq!(dropped_samples(), 91);
    let sites = callsites();
    let boxes = sites
        .iter()
        .find(|s| {
            s.frames
                .iter()
                .any(|f| f.function.contains("hundred_blocks"))
                && s.total_bytes == 4000.0
        })
        .expect("the boxes' callsite");
    assert_eq!(boxes.total_blocks, 100.0, "allocations are all counted");
    let tracked_live: f64 = sites.iter().map(|s| s.live_blocks).sum();
    assert_eq!(tracked_live, 10.0, "live counts only for tracked blocks");

    // Freeing everything leaves nothing live, tracked or not.
    drop(blocks);
    assert_eq!(callsites().iter().map(|s| s.live_blocks).sum::<f64>(), 0.0);

    // Two stacks at most: a third distinct callsite is dropped.
    set_sampling(Sampling::Every);
    let one = another_site();
    let two = a_third_site();
    set_sampling(Sampling::Off);
    let sites = callsites();
    assert!(sites.len() <= 2, "{}", sites.len());
    assert!(dropped_samples() > 91);
    drop((one, two));
    println!("callsites_limits: ok");
}
