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

/// A new block of `size` bytes (an allocation, or a realloc's new block)
/// made by the owner of `slot`: samples it if the mode and the slot's
/// countdown say so. Returns `block`, so that the allocator can end in this
/// call. Under every mode, one load from the slot and a subtraction whose
/// borrow sends the block to the slow path (see `Countdown`).
///
/// # Safety
///
/// The calling thread owns `slot`.
#[cfg(feature = "callsites")]
#[inline(always)]
pub(crate) unsafe fn on_new_block(
    slot: &crate::capture::counts::slot::Slot,
    block: *mut u8,
    size: usize,
) -> *mut u8 {
    let (which, countdown) = crate::capture::counts::slot::Countdown::in_use(slot);
    // SAFETY: the caller owns the slot.
    if unsafe { decision::count_down(countdown, size) } {
        // SAFETY: as above.
        return unsafe { record::on_countdown_end(slot, which, block, size) };
    }
    block
}

/// Whether a free of the block at `addr` by the owner of `slot` must go
/// through [`on_free`]: one load from the slot until anything is sampled,
/// then a look at the filter it names.
#[cfg(feature = "callsites")]
#[inline(always)]
pub(crate) fn slot_may_free_sampled(
    slot: &crate::capture::counts::slot::Slot,
    addr: usize,
) -> bool {
    let filter = slot
        .sampled_filter
        .load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: a slot's filter is null or the filter's first counter, which
    // is all `slot_table::note_sampled_blocks` may be given (its contract;
    // `live_blocks::insert` is its one caller).
    !filter.is_null() && unsafe { live_blocks::filter_hit_from(filter, addr) }
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
