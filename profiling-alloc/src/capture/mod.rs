//! The floor: everything that runs inside the allocator or inside the
//! `SIGPROF` handler, and the state they share.
//!
//! - [`allocator`]: `ProfilingAllocator`, the entry of every allocator call.
//! - [`reentrancy`]: the profiler's own memory (untracked) and its readers'
//!   (counted, never sampled).
//! - [`counts`]: per-thread slots, the peak, size classes.
//! - [`sampling`]: the sampling decision, the sampled path, the stack table,
//!   per-callsite counters and the live-block table.
//! - [`unwind`]: the stack walks, in the allocator and in the handler.
//! - `signal` (feature `cpu`): the handler, its ring buffer, its timers.
//! - [`job_path`]: each thread's current job path, which samples carry.
//! - [`threads`]: news of a thread's first allocation, for the CPU sampler.
//! - [`leaked`]: zeroed tables allocated once and never freed.
//!
//! # The one rule
//!
//! Code on this floor may run inside `malloc`, `free` or a signal handler,
//! on any thread, at any instruction of the program. So it never panics,
//! never allocates tracked memory, never takes a lock that could be held by
//! the code it interrupted (the spin locks of `sync` are taken only by
//! allocator paths that cannot interrupt each other on one thread, never by
//! the handler), and makes no system call it does not need.
//!
//! Clippy checks the first part in every `.ci/run`: the whole folder denies
//! `unwrap`, `expect`, `panic!`, `unreachable!`, `todo!`, `unimplemented!`
//! and indexing or slicing that can fail (except in unit tests). An `allow`
//! stands only beside a comment that proves it safe. The floor imports only
//! `sync`, `sys` and itself: `tests/layering.rs` checks that.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing,
        clippy::string_slice,
        clippy::panic_in_result_fn,
        clippy::unwrap_in_result,
        clippy::get_unwrap,
    )
)]

pub(crate) mod allocator;
pub(crate) mod counts;
pub(crate) mod job_path;
#[cfg(feature = "callsites")]
pub(crate) mod leaked;
pub(crate) mod reentrancy;
pub(crate) mod sampling;
#[cfg(all(feature = "cpu", target_os = "linux", target_arch = "x86_64"))]
pub(crate) mod signal;
pub(crate) mod threads;
pub(crate) mod unwind;

use reentrancy::SamplingSuspended;

/// `items[index % N]`: the one indexing of a fixed-size array the floor
/// allows, because it is in bounds for every `index` (`index % N < N`, and
/// `N > 0` is checked when the program is compiled).
#[inline(always)]
pub(crate) fn wrapping_at<T, const N: usize>(items: &[T; N], index: usize) -> &T {
    const { assert!(N > 0) };
    // In bounds: `index % N < N` (see above).
    #[allow(clippy::indexing_slicing)]
    &items[index % N]
}

/// Runs a public reader: what it allocates is counted as the caller's, but
/// never sampled, so no report, profile or page shows up in the next one.
/// Every public entry point that reads the profiler's state goes through
/// here (nesting is fine: the state is restored when the outermost returns).
pub(crate) fn reading<T>(read: impl FnOnce() -> T) -> T {
    let _not_sampled = SamplingSuspended::enter();
    read()
}
