//! Counting: what the allocator does on every call.
//!
//! - [`slot`]: one thread's counters, written by that thread alone with
//!   plain loads and stores (or by anyone with atomic adds, for the shared
//!   fallback slot).
//! - [`slot_table`]: the fixed table of slots, which one a thread counts
//!   into, the sums over all of them that readers take, and the thread's
//!   "untracked" marker (the profiler's own allocations).
//! - [`peak`]: the program-wide live count and its high-water mark, exact or
//!   within a bound.
//! - [`size_class`]: log2 size classes.
//!
//! Thread-locals here are `const`-initialised without destructors and read
//! with `try_with`, with the shared slot as the fallback when they are gone.
//! (One exception, once per thread: claiming a slot registers the destructor
//! that gives it back; see `slot_table`.)

pub(crate) mod peak;
pub(crate) mod size_class;
pub(crate) mod slot;
pub(crate) mod slot_table;

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64};

/// Whether the `enabled` feature is on. Tested with a plain `if` rather than
/// `#[cfg]` so that both builds type-check the same code; the optimiser drops
/// the counting when it is off.
pub(crate) const ENABLED: bool = cfg!(feature = "enabled");

/// What every allocator call reads, on one line that is written only at
/// installation and at `reset_peak`.
struct HotFlags {
    /// Set by the allocator's first call, after it published its
    /// configuration.
    installed: AtomicBool,
    /// Bumped by `reset_peak`: a slot that sees a new value starts its
    /// peak over (see `peak`).
    peak_epoch: AtomicU64,
}

static HOT: crate::sync::Padded<HotFlags> = crate::sync::Padded(HotFlags {
    installed: AtomicBool::new(false),
    peak_epoch: AtomicU64::new(0),
});

/// Whether the allocator has counted anything yet. Cheap: one load of a line
/// written once.
#[inline(always)]
pub(crate) fn counting_started() -> bool {
    HOT.installed.load(Acquire)
}

/// Called by the allocator once it has published its configuration (peak
/// mode, sampling mode): from now on readers see it installed.
pub(crate) fn mark_installed() {
    HOT.installed.store(true, Release);
}

/// The current peak epoch (on the line [`counting_started`] just read).
#[inline(always)]
pub(crate) fn peak_epoch() -> u64 {
    HOT.peak_epoch.load(Relaxed)
}

/// Starts a new peak epoch (`reset_peak`).
pub(crate) fn next_peak_epoch() {
    HOT.peak_epoch.fetch_add(1, Release);
}
