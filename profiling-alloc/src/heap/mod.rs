//! Counting: what the allocator does on every call, and what readers sum.
//!
//! - [`slot`]: one thread's counters, written by that thread alone with
//!   plain loads and stores (or by anyone with atomic adds, for the shared
//!   fallback slot).
//! - [`slot_table`]: the fixed table of slots, which one a thread counts
//!   into, the readers' sums over all of them, and the thread's "untracked"
//!   marker (the profiler's own allocations).
//! - [`peak`]: the program-wide live count and its high-water mark, exact or
//!   within a bound.
//! - [`size_class`]: log2 size classes and the [`SizeHistogram`] readers get.
//! - [`stats`]: [`HeapStats`] and its readers.
//! - [`measure`]: one thread's [`AllocDelta`] over a closure or a job.
//!
//! Invariants of everything reachable from the allocator here: no lock, no
//! allocation, no panic (no `unwrap`, no indexing that can fail), no
//! syscall; thread-locals are `const`-initialised without destructors and
//! read with `try_with`, with the shared slot as the fallback when they are
//! gone. (One exception, once per thread: claiming a slot registers the
//! destructor that gives it back; see `slot_table`.)

pub(crate) mod measure;
pub(crate) mod peak;
pub(crate) mod size_class;
pub(crate) mod slot;
pub(crate) mod slot_table;
pub(crate) mod stats;

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64};

pub use measure::{measure, AllocDelta};
pub use size_class::{SizeClass, SizeHistogram};
pub use stats::{heap_stats, reset_peak, size_histogram, HeapStats};

/// Whether the `enabled` feature is on. Tested with a plain `if` rather than
/// `#[cfg]` so that both builds type-check the same code; the optimiser drops
/// the counting when it is off.
pub(crate) const ENABLED: bool = cfg!(feature = "enabled");

/// What every allocator call reads, on one line that is written only at
/// installation and at [`reset_peak`].
struct HotFlags {
    /// Set by the allocator's first call, after it published its
    /// configuration.
    installed: AtomicBool,
    /// Bumped by [`reset_peak`]: a slot that sees a new value starts its
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

/// Starts a new peak epoch ([`reset_peak`]).
pub(crate) fn next_peak_epoch() {
    HOT.peak_epoch.fetch_add(1, Release);
}

/// Whether `ProfilingAllocator` is the global allocator and counting (the
/// `enabled` feature is on). Makes one small allocation the first time it is
/// asked before anything else allocated, to find out.
pub(crate) fn installed() -> bool {
    if !ENABLED {
        return false;
    }
    if counting_started() {
        return true;
    }
    // Nothing has been counted yet: allocate once to see whether we are
    // installed.
    drop(std::hint::black_box(Box::new(0u8)));
    counting_started()
}

/// The calling thread's own slot, when its allocations are counted there:
/// the allocator is installed and the thread holds a slot of its own (not
/// the shared one, which mixes threads). `None` otherwise: then [`measure`]
/// reports an inactive delta. For readers of the thread's running totals
/// that open no scope (the criterion measurements read one counter before
/// and after the iterations).
pub(crate) fn counted_slot() -> Option<&'static slot::Slot> {
    if !installed() {
        return None;
    }
    slot_table::current()
}
