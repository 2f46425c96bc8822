//! A process whose first sample comes from a deep stack, with the stack
//! depth at its maximum: the fast walk is still chosen (the choice compares
//! walks as deep as the depth asked for), and the callsite keeps every
//! frame up to that depth.
//!
//! Without the test harness (`harness = false`): the walk is chosen at the
//! process's first sample, which must be this file's, not a harness
//! thread's.

mod common;

use std::hint::black_box;

use profiling_alloc::{
    callsites, callsites::set_stack_depth, set_sampling, ProfilingAllocator, Sampling,
};

// Sampling off until the test turns it on: under the default Poisson
// sampling, an allocation before the test (the runtime's, the runner's) is
// sampled now and then, and that sample would choose the walk.
#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Off);

/// Frames of recursion below the allocation: deeper than the default depth
/// of 64, and than the 64-frame buffers the choice once compared.
const DEPTH: u32 = 150;

#[inline(never)]
fn recurse(n: u32) -> Vec<u8> {
    if n == 0 {
        set_sampling(Sampling::Every);
        let kept = black_box(Vec::with_capacity(4321));
        set_sampling(Sampling::Off);
        return kept;
    }
    let kept = recurse(black_box(n - 1));
    black_box(kept)
}

fn main() {
    common::quiet::run(
        "callsites_deep",
        &[(
            "a_deep_first_sample_picks_the_fast_walk",
            a_deep_first_sample_picks_the_fast_walk,
        )],
    );
}

fn a_deep_first_sample_picks_the_fast_walk() {
    set_stack_depth(128);
    assert_eq!(
        profiling_alloc::callsites::stack_unwinder(),
        profiling_alloc::callsites::StackUnwinder::Undecided
    );
    let kept = recurse(DEPTH);
    let chosen = profiling_alloc::callsites::stack_unwinder();
    if let Ok(expected) = std::env::var("PROFILING_EXPECT_UNWINDER") {
        assert_eq!(chosen.name(), expected);
    }
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        assert_ne!(chosen, profiling_alloc::callsites::StackUnwinder::Backtrace);
    }
    let sites = callsites();
    let site = sites
        .iter()
        .find(|site| site.total_bytes == 4321.0)
        .expect("the deep allocation's callsite");
    let recursion = site
        .frames
        .iter()
        .filter(|frame| frame.function.ends_with("recurse"))
        .count();
    // 128 frames captured: the recursion fills all but the top few.
    assert!(
        recursion >= 100,
        "{recursion} recursive frames with {chosen}"
    );
    assert!(site.truncated, "deeper than 128 frames");
    drop(kept);
}
