//! What users read about the whole program: [`HeapStats`] and
//! [`heap_stats`], [`reset_peak`], and the [`size_histogram`].

use serde::{Deserialize, Serialize};
use std::fmt;

use super::histogram::SizeHistogram;
use crate::capture::counts::{peak, slot_table};
use crate::units::grouped;

/// Heap statistics for the whole program since start-up, read with
/// [`heap_stats`].
///
/// Counting follows dhat-rs and valgrind's DHAT (see the crate docs): a
/// `realloc` counts as a new block of the new size plus a freed block of the
/// old size, so `live_bytes == total_bytes - freed_bytes` and
/// `live_blocks == total_blocks - freed_blocks`, to the byte, once other
/// threads are quiet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HeapStats {
    /// Whether the counts are real: `false` when [`ProfilingAllocator`] is not
    /// the global allocator (or the `enabled` feature is off), in which case
    /// every count below is zero and means nothing.
    ///
    /// [`ProfilingAllocator`]: crate::ProfilingAllocator
    pub active: bool,
    /// Blocks allocated: `alloc`, `alloc_zeroed`, and each `realloc`.
    pub total_blocks: u64,
    /// Bytes allocated, counted as `total_blocks` (a realloc adds its new size).
    pub total_bytes: u64,
    /// Blocks allocated and not yet freed.
    pub live_blocks: u64,
    /// Bytes allocated and not yet freed.
    pub live_bytes: u64,
    /// Highest `live_bytes` reached since start-up or the last
    /// [`reset_peak`]; exact when `peak_is_exact`, otherwise within
    /// `peak_error_bound` bytes of the true peak.
    pub peak_bytes: u64,
    /// `live_blocks` when `peak_bytes` was reached (the latest such moment).
    /// Exact when `peak_is_exact`; otherwise the live blocks the peak
    /// tracker had been told of at that moment (approximate, like the peak,
    /// and without a bound of its own).
    pub peak_blocks: u64,
    /// Successful `realloc` calls (each also counted in `total_blocks` and
    /// `freed_blocks`).
    pub reallocs: u64,
    /// Blocks freed: `dealloc`, and the old block of each `realloc`.
    pub freed_blocks: u64,
    /// Bytes freed, counted as `freed_blocks`.
    pub freed_bytes: u64,
    /// Whether `peak_bytes`/`peak_blocks` are exact: always with
    /// [`exact_peak`](crate::ProfilingAllocator::exact_peak); in the default
    /// mode when at most one thread allocated or freed since the last
    /// [`reset_peak`] (or start-up).
    pub peak_is_exact: bool,
    /// Largest possible difference, in bytes, between `peak_bytes` and the true
    /// peak: 0 when exact, otherwise the peak tolerance times the most threads
    /// that allocated at the same time.
    pub peak_error_bound: u64,
}

/// Reads the program's heap statistics.
///
/// If the allocator is not installed (or the `enabled` feature is off), the
/// result has [`active`](HeapStats::active) `false` and all counts zero. The
/// first call finds that out with one small allocation.
///
/// Counts are exact once other threads are quiet (joined, or waiting on
/// something). Read while they allocate, the counts are sums over per-thread
/// counters read one after another: close, but not a snapshot of one moment
/// (live counts are clamped at zero).
///
/// # Examples
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// # fn main() {
/// let before = profiling_alloc::heap_stats();
/// let v: Vec<u8> = Vec::with_capacity(1000);
/// let after = profiling_alloc::heap_stats();
/// assert_eq!(after.total_blocks - before.total_blocks, 1);
/// assert_eq!(after.live_bytes - before.live_bytes, 1000);
/// # drop(v);
/// # }
/// ```
pub fn heap_stats() -> HeapStats {
    if !super::installed() {
        return HeapStats::default();
    }
    let totals = slot_table::sum_totals();
    let live_bytes = totals.live_bytes();
    let live_blocks = totals.live_blocks();
    let peak = peak::read(
        live_bytes,
        live_blocks,
        slot_table::max_threads(),
        slot_table::movers,
    );
    HeapStats {
        active: true,
        total_blocks: totals.alloc_blocks,
        total_bytes: totals.alloc_bytes,
        live_blocks,
        live_bytes,
        peak_bytes: peak.bytes,
        peak_blocks: peak.blocks,
        reallocs: totals.reallocs,
        freed_blocks: totals.freed_blocks,
        freed_bytes: totals.freed_bytes,
        peak_is_exact: peak.exact,
        peak_error_bound: peak.error_bound,
    }
}

/// Sets the peak to the current live bytes and blocks, so that the next
/// [`heap_stats`] reports the peak of what ran since: exactly, in the
/// default mode too, when one thread ran it (see
/// [`HeapStats::peak_is_exact`]). Call it while other threads are quiet.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system().exact_peak();
/// # fn main() {
/// let big = vec![0u8; 1 << 20];
/// drop(big);
/// profiling_alloc::reset_peak();
/// let small = vec![0u8; 1000];
/// let stats = profiling_alloc::heap_stats();
/// assert!(stats.peak_bytes < stats.live_bytes + (1 << 20));
/// # drop(small);
/// # }
/// ```
pub fn reset_peak() {
    if super::installed() {
        // The new epoch first: a call racing with the reset then either
        // starts its slot's mark over, or shows as a change since the reset.
        crate::capture::counts::next_peak_epoch();
        slot_table::mark_reset();
        let totals = slot_table::sum_totals();
        peak::reset(totals.live_bytes(), totals.live_blocks());
    }
}

/// Blocks and bytes allocated per power-of-two size class since start-up
/// (empty when the allocator is not installed).
pub fn size_histogram() -> SizeHistogram {
    crate::capture::reading(|| {
        if !super::installed() {
            return SizeHistogram::default();
        }
        let (blocks, bytes) = slot_table::sum_classes();
        SizeHistogram::from_sums(&blocks, &bytes)
    })
}

impl fmt::Display for HeapStats {
    /// A short summary in the style of dhat's:
    ///
    /// ```text
    /// Total:     1,256 bytes in 6 blocks (2 reallocs)
    /// At peak:   1,024 bytes in 2 blocks (exact)
    /// Live now:  24 bytes in 1 blocks
    /// Freed:     1,232 bytes in 5 blocks
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::capture::reading(|| {
            if !self.active {
                return writeln!(
                    f,
                    "profiling-alloc: allocator not installed, no heap statistics"
                );
            }
            let peak_note = if self.peak_is_exact {
                "exact".to_string()
            } else {
                format!("within {} bytes", grouped(self.peak_error_bound))
            };
            writeln!(
                f,
                "Total:     {} bytes in {} blocks ({} reallocs)",
                grouped(self.total_bytes),
                grouped(self.total_blocks),
                grouped(self.reallocs)
            )?;
            writeln!(
                f,
                "At peak:   {} bytes in {} blocks ({peak_note})",
                grouped(self.peak_bytes),
                grouped(self.peak_blocks)
            )?;
            writeln!(
                f,
                "Live now:  {} bytes in {} blocks",
                grouped(self.live_bytes),
                grouped(self.live_blocks)
            )?;
            writeln!(
                f,
                "Freed:     {} bytes in {} blocks",
                grouped(self.freed_bytes),
                grouped(self.freed_blocks)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_values_say_so_when_printed() {
        assert!(HeapStats::default().to_string().contains("not installed"));
    }

    #[test]
    fn stats_round_trip_through_json() {
        let stats = HeapStats {
            active: true,
            total_blocks: 6,
            total_bytes: 1256,
            live_blocks: 1,
            live_bytes: 24,
            peak_bytes: 1024,
            peak_blocks: 2,
            reallocs: 2,
            freed_blocks: 5,
            freed_bytes: 1232,
            peak_is_exact: true,
            peak_error_bound: 0,
        };
        let json = serde_json::to_string(&stats).expect("serialize");
        assert!(json.contains("\"peak_bytes\":1024"), "{json}");
        let back: HeapStats = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, stats);
    }
}
