//! Exact-peak mode: the peak is the true high-water mark of live bytes, and
//! `peak_blocks` the live blocks at that moment.
//!
//! Without the test harness (`harness = false`): the peak is the whole
//! process's, so nothing else may allocate while a check runs.

mod common;

use profiling_alloc::{heap_stats, reset_peak, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().exact_peak();

fn main() {
    let mut checks = common::scripted::CHECKS.to_vec();
    checks.push(("exact_and_reset_to_live", exact_and_reset_to_live as fn()));
    checks.extend(common::peak::CHECKS);
    common::quiet::run("exact_peak", &checks);
}

/// Exact mode says so, and after a reset the peak is the live state.
fn exact_and_reset_to_live() {
    let stats = heap_stats();
    assert!(stats.active && stats.peak_is_exact);
    assert_eq!(stats.peak_error_bound, 0);
    reset_peak();
    let base = heap_stats();
    assert_eq!(
        (base.peak_bytes, base.peak_blocks),
        (base.live_bytes, base.live_blocks)
    );
}
