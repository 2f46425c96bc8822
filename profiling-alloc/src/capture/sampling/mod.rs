//! Sampling: which allocations get their stack captured, and what a sample
//! leaves behind.
//!
//! - [`mode`]: the mode every thread reads, and its public setters.
//! - [`env`]: `PROFILING_ALLOC_SAMPLING`, read once at the allocator's first
//!   call.
//! - [`decision`]: each thread's Poisson countdown.
//! - [`record`]: the sampled path, and a sampled block's free or realloc.
//! - [`stack_table`], [`counters`], [`live_blocks`]: the deduplicated stacks,
//!   their counts, and the sampled blocks still live.
//! - [`lifetimes`]: the lifetime classes of freed samples.
//!
//! The allocator calls this module through the functions below and nothing
//! else.

#[cfg(feature = "callsites")]
pub(crate) mod counters;
#[cfg(feature = "callsites")]
pub(crate) mod decision;
pub(crate) mod env;
pub(crate) mod lifetimes;
#[cfg(feature = "callsites")]
pub(crate) mod live_blocks;
pub(crate) mod mode;
#[cfg(feature = "callsites")]
pub(crate) mod record;
#[cfg(feature = "callsites")]
pub(crate) mod stack_table;

#[cfg(feature = "callsites")]
pub(crate) use live_blocks::Tracked;
pub(crate) use mode::publish_configured;

/// A new block of `size` bytes at `addr` (an allocation, or a realloc's new
/// block): samples it if the mode and the thread's countdown say so. One
/// relaxed load when sampling is off.
#[cfg(feature = "callsites")]
#[inline(always)]
pub(crate) fn on_new_block(addr: usize, size: usize) {
    let mode = mode::MODE.load(std::sync::atomic::Ordering::Relaxed);
    if mode != mode::OFF && decision::should_sample(size, mode) {
        record::on_sample(addr, size, mode);
    }
}

/// Whether the block at `addr` may be a sampled one (a free must then go
/// through [`on_free`]): one or two relaxed loads.
#[cfg(feature = "callsites")]
#[inline(always)]
pub(crate) fn may_be_sampled(addr: usize) -> bool {
    record::maybe_tracked(addr)
}

/// The block at `addr` is about to be freed: a sampled one leaves its
/// callsite's live counts first.
#[cfg(feature = "callsites")]
#[inline(always)]
pub(crate) fn on_free(addr: usize) {
    if record::maybe_tracked(addr) {
        record::free(addr);
    }
}

/// The block at `addr` is about to be reallocated: a sampled one is taken
/// out of the live-block table, to be given to [`on_reallocated`] or back to
/// [`on_realloc_failed`].
#[cfg(feature = "callsites")]
#[inline(always)]
pub(crate) fn before_realloc(addr: usize) -> Option<Tracked> {
    if record::maybe_tracked(addr) {
        record::take(addr)
    } else {
        None
    }
}

/// A sampled block's realloc succeeded: its life ends here.
#[cfg(feature = "callsites")]
pub(crate) fn on_reallocated(block: Tracked) {
    record::reallocated(block);
}

/// A sampled block's realloc failed: the block is still live, as it was.
#[cfg(feature = "callsites")]
pub(crate) fn on_realloc_failed(block: Tracked) {
    record::restore(block);
}
