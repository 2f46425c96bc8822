//! The exact counts: totals, live bytes, peak, per-thread deltas, size
//! histograms.
//!
//! - [`heap_stats`] and [`HeapStats`]: the program's totals since start-up,
//!   live blocks and bytes, and the peak ([`reset_peak`] starts a new
//!   phase; [`DEFAULT_PEAK_TOLERANCE`] is the default peak's bound).
//! - [`measure`] and [`AllocDelta`]: what one closure allocated on the
//!   calling thread.
//! - [`size_histogram`]: blocks and bytes per power-of-two size class
//!   ([`SizeHistogram`], [`SizeClass`]).
//!
//! These counts are exact: every allocator call is counted, none sampled.
//! The most used names are also at the crate root.

pub(crate) mod histogram;
pub(crate) mod measure;
pub(crate) mod stats;

use crate::capture::counts::{counting_started, slot, slot_table, ENABLED};

pub use crate::capture::allocator::DEFAULT_PEAK_TOLERANCE;
pub use histogram::{SizeClass, SizeHistogram};
pub use measure::{measure, AllocDelta};
pub use stats::{heap_stats, reset_peak, size_histogram, HeapStats};

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
