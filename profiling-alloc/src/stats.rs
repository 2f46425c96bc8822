//! What users read: [`HeapStats`] for the whole program, [`AllocDelta`] for
//! one closure on one thread, and the functions that produce them.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::histogram::SizeHistogram;
use crate::scope::AllocScope;
use crate::units::grouped;
use crate::{peak, thread_slot};

/// Heap statistics for the whole program since start-up, read with
/// [`heap_stats`].
///
/// Counting follows dhat-rs and valgrind's DHAT (see the crate docs): a
/// `realloc` counts as a new block of the new size plus a freed block of the
/// old size, so `live_bytes == total_bytes - freed_bytes` and
/// `live_blocks == total_blocks - freed_blocks`, to the byte, once other
/// threads are quiet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Exact in exact-peak mode; in the default mode, the live blocks the
    /// peak tracker had been told of at that moment (approximate, like the
    /// peak, and without a bound of its own).
    pub peak_blocks: u64,
    /// Successful `realloc` calls (each also counted in `total_blocks` and
    /// `freed_blocks`).
    pub reallocs: u64,
    /// Blocks freed: `dealloc`, and the old block of each `realloc`.
    pub freed_blocks: u64,
    /// Bytes freed, counted as `freed_blocks`.
    pub freed_bytes: u64,
    /// Whether `peak_bytes`/`peak_blocks` are exact (the allocator was built
    /// with [`exact_peak`](crate::ProfilingAllocator::exact_peak)).
    pub peak_is_exact: bool,
    /// Largest possible difference, in bytes, between `peak_bytes` and the true
    /// peak: 0 when exact, otherwise the peak tolerance times the most threads
    /// that allocated at the same time.
    pub peak_error_bound: u64,
}

/// Reads the program's heap statistics.
///
/// If the allocator is not installed, the result has `active == false` and all
/// counts zero; [`try_heap_stats`] returns `None` instead.
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
    if !is_active() {
        return HeapStats::default();
    }
    let totals = thread_slot::sum_totals();
    let live_bytes = totals.live_bytes();
    let live_blocks = totals.live_blocks();
    let peak = peak::read(live_bytes, live_blocks, thread_slot::max_threads());
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

/// Reads the program's heap statistics, or `None` when the allocator is not
/// installed.
pub fn try_heap_stats() -> Option<HeapStats> {
    Some(heap_stats()).filter(|stats| stats.active)
}

/// Sets the peak to the current live bytes and blocks, so that the next
/// [`heap_stats`] reports the peak of what ran since.
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
    if is_active() {
        let totals = thread_slot::sum_totals();
        peak::reset(totals.live_bytes(), totals.live_blocks());
    }
}

/// Whether [`ProfilingAllocator`](crate::ProfilingAllocator) is the global
/// allocator and counting (the `enabled` feature is on).
///
/// Makes one small allocation the first time it is asked before anything
/// else allocated, to find out.
pub fn is_active() -> bool {
    if !crate::allocator::ENABLED {
        return false;
    }
    if thread_slot::is_active() {
        return true;
    }
    // Nothing has been counted yet: allocate once to see whether we are
    // installed.
    drop(std::hint::black_box(Box::new(0u8)));
    thread_slot::is_active()
}

/// Blocks and bytes allocated per power-of-two size class since start-up
/// (empty when the allocator is not installed).
pub fn size_histogram() -> SizeHistogram {
    if !is_active() {
        return SizeHistogram::default();
    }
    let (blocks, bytes) = thread_slot::sum_classes();
    SizeHistogram::from_sums(&blocks, &bytes)
}

/// What one thread allocated and freed while a closure ran, from
/// [`measure`].
///
/// Counting follows the same rules as [`HeapStats`]: a realloc is one
/// allocation and one free. So `allocations - frees == net_blocks` and
/// `bytes_allocated - bytes_freed == net_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocDelta {
    /// Whether the counts are real (see [`HeapStats::active`]).
    pub active: bool,
    /// Blocks allocated, reallocs included.
    pub allocations: u64,
    /// Blocks freed, the old block of each realloc included. Blocks freed here
    /// may have been allocated before the closure, or by another thread.
    pub frees: u64,
    /// Successful reallocs.
    pub reallocs: u64,
    /// Bytes allocated.
    pub bytes_allocated: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Bytes allocated minus bytes freed: what the closure kept (negative if it
    /// freed more than it allocated).
    pub net_bytes: i64,
    /// Blocks allocated minus blocks freed.
    pub net_blocks: i64,
    /// The closure's own peak: the highest `net_bytes` reached at any moment
    /// while it ran (0 if it never went above its starting point). Exact.
    pub peak_bytes: u64,
}

impl AllocDelta {
    /// This delta followed by `next` (both on the same thread or not): counts
    /// add up, and the peak is the higher of this one's and `next`'s peak
    /// measured from where this one ended.
    pub(crate) fn then(&self, next: &AllocDelta) -> AllocDelta {
        let peak_after = self.net_bytes.saturating_add(next.peak_bytes as i64).max(0) as u64;
        AllocDelta {
            active: self.active && next.active,
            allocations: self.allocations.wrapping_add(next.allocations),
            frees: self.frees.wrapping_add(next.frees),
            reallocs: self.reallocs.wrapping_add(next.reallocs),
            bytes_allocated: self.bytes_allocated.wrapping_add(next.bytes_allocated),
            bytes_freed: self.bytes_freed.wrapping_add(next.bytes_freed),
            net_bytes: self.net_bytes.wrapping_add(next.net_bytes),
            net_blocks: self.net_blocks.wrapping_add(next.net_blocks),
            peak_bytes: self.peak_bytes.max(peak_after),
        }
    }
}

/// Runs `f` and returns what the calling thread allocated while it ran.
///
/// Only this thread is counted: allocations made by threads `f` spawns are
/// not. Calls nest: an outer `measure` includes what inner ones measured, and
/// its peak includes theirs.
///
/// If the allocator is not installed, the delta has `active == false`; use
/// [`try_measure`] to get an `Option`.
///
/// # Examples
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// # fn main() {
/// let (len, delta) = profiling_alloc::measure(|| {
///     let scratch = vec![0u8; 4096];
///     let kept: Vec<u8> = Vec::with_capacity(1000);
///     (scratch.len(), kept)
/// });
/// assert_eq!(delta.allocations, 2);
/// assert_eq!(delta.net_bytes, 1000); // the scratch buffer was freed, `kept` was not
/// assert_eq!(delta.peak_bytes, 5096);
/// # drop(len);
/// # }
/// ```
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, AllocDelta) {
    let (value, delta) = try_measure(f);
    (value, delta.unwrap_or_default())
}

/// Like [`measure`], with `None` when allocations cannot be measured: the
/// allocator is not installed, or this thread has no counting slot of its
/// own (more than 1024 threads allocating at once, or a thread being torn
/// down).
pub fn try_measure<R>(f: impl FnOnce() -> R) -> (R, Option<AllocDelta>) {
    let Some(scope) = AllocScope::start() else {
        return (f(), None);
    };
    let value = f();
    (value, Some(scope.finish()))
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
    }
}

impl fmt::Display for AllocDelta {
    /// One line: `+5,096 bytes in 2 blocks, -4,096 bytes in 1 blocks, net +1,000 bytes, peak 5,096 bytes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.active {
            return write!(
                f,
                "profiling-alloc: allocator not installed, nothing measured"
            );
        }
        write!(
            f,
            "+{} bytes in {} blocks, -{} bytes in {} blocks, net {}{} bytes, peak {} bytes",
            grouped(self.bytes_allocated),
            grouped(self.allocations),
            grouped(self.bytes_freed),
            grouped(self.frees),
            if self.net_bytes < 0 { "-" } else { "+" },
            grouped(self.net_bytes.unsigned_abs()),
            grouped(self.peak_bytes)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_values_say_so_when_printed() {
        assert!(HeapStats::default().to_string().contains("not installed"));
        assert!(AllocDelta::default().to_string().contains("not installed"));
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

    #[test]
    fn delta_display_shows_signed_net() {
        let delta = AllocDelta {
            active: true,
            allocations: 2,
            frees: 1,
            bytes_allocated: 5096,
            bytes_freed: 4096,
            net_bytes: 1000,
            net_blocks: 1,
            peak_bytes: 5096,
            reallocs: 0,
        };
        assert_eq!(
            delta.to_string(),
            "+5,096 bytes in 2 blocks, -4,096 bytes in 1 blocks, net +1,000 bytes, peak 5,096 bytes"
        );
    }
}
