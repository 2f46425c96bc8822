//! What one piece of code allocates on its thread: [`measure`] and its
//! [`AllocDelta`], and [`AllocScope`], the open measurement that `measure`
//! and job scopes share.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

use serde::{Deserialize, Serialize};

use crate::capture::counts::slot::{Slot, Totals};
use crate::units::grouped;

/// What one thread allocated and freed while a closure ran, from
/// [`measure`], in the words of [`HeapStats`](crate::HeapStats).
///
/// Counting follows the same rules: a realloc is one allocation and one
/// free. So `total_blocks - freed_blocks == live_blocks` and
/// `total_bytes - freed_bytes == live_bytes`, where the live counts are
/// signed: what the closure added to the live heap (negative if it freed
/// more than it allocated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AllocDelta {
    /// Whether the counts are real: `false` when the allocator is not
    /// installed, or this thread could not be measured (it had no counting
    /// slot of its own: more than 1,024 threads allocating at once, or a
    /// thread being torn down). Every count is then zero and means nothing.
    pub active: bool,
    /// Blocks allocated, reallocs included.
    pub total_blocks: u64,
    /// Bytes allocated.
    pub total_bytes: u64,
    /// Blocks freed, the old block of each realloc included. Blocks freed here
    /// may have been allocated before the closure, or by another thread.
    pub freed_blocks: u64,
    /// Bytes freed.
    pub freed_bytes: u64,
    /// Successful reallocs.
    pub reallocs: u64,
    /// `total_blocks - freed_blocks`: blocks the closure kept.
    pub live_blocks: i64,
    /// `total_bytes - freed_bytes`: bytes the closure kept.
    pub live_bytes: i64,
    /// The closure's own peak: the highest `live_bytes` reached at any moment
    /// while it ran (0 if it never went above its starting point). Exact.
    pub peak_bytes: u64,
}

impl AllocDelta {
    /// This delta followed by `next` (both on the same thread or not): counts
    /// add up, and the peak is the higher of this one's and `next`'s peak
    /// measured from where this one ended.
    pub(crate) fn then(&self, next: &AllocDelta) -> AllocDelta {
        let peak_after = self
            .live_bytes
            .saturating_add(next.peak_bytes as i64)
            .max(0) as u64;
        AllocDelta {
            active: self.active && next.active,
            total_blocks: self.total_blocks.wrapping_add(next.total_blocks),
            total_bytes: self.total_bytes.wrapping_add(next.total_bytes),
            freed_blocks: self.freed_blocks.wrapping_add(next.freed_blocks),
            freed_bytes: self.freed_bytes.wrapping_add(next.freed_bytes),
            reallocs: self.reallocs.wrapping_add(next.reallocs),
            live_blocks: self.live_blocks.wrapping_add(next.live_blocks),
            live_bytes: self.live_bytes.wrapping_add(next.live_bytes),
            peak_bytes: self.peak_bytes.max(peak_after),
        }
    }

    /// An active delta with every count zero: the start of a sum.
    pub(crate) fn zero() -> AllocDelta {
        AllocDelta {
            active: true,
            ..AllocDelta::default()
        }
    }
}

/// Runs `f` and returns what the calling thread allocated while it ran.
///
/// Only this thread is counted: allocations made by threads `f` spawns are
/// not. Calls nest: an outer `measure` includes what inner ones measured, and
/// its peak includes theirs.
///
/// When the allocator is not installed (or this thread cannot be measured),
/// the delta has [`active`](AllocDelta::active) `false`, and `f` still runs.
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
/// assert!(delta.active);
/// assert_eq!(delta.total_blocks, 2);
/// assert_eq!(delta.live_bytes, 1000); // the scratch buffer was freed, `kept` was not
/// assert_eq!(delta.peak_bytes, 5096);
/// # drop(len);
/// # }
/// ```
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, AllocDelta) {
    let Some(scope) = AllocScope::start() else {
        return (f(), AllocDelta::default());
    };
    let value = f();
    (value, scope.finish())
}

/// Counts of the calling thread's slot at the start of a scope, and the
/// enclosing scope's high-water mark to put back at the end.
///
/// Scopes nest: each takes over the slot's `max_net_bytes` while it is open and
/// hands it back raised to its own maximum, so an enclosing scope's peak
/// includes its children's. Dropping a scope without [`finish`](Self::finish)
/// (a panic unwinding through it) still hands the mark back.
#[derive(Debug)]
pub(crate) struct AllocScope {
    slot: &'static Slot,
    start: Totals,
    start_net: i64,
    outer_max: i64,
    // Owner-only writes: the scope must close on the thread that opened it
    // (an async job opens one per poll, never across an `.await`).
    _not_send: std::marker::PhantomData<*const ()>,
}

impl AllocScope {
    /// Opens a scope, or `None` when allocations cannot be counted for this
    /// thread (allocator not installed, or no slot of its own).
    pub(crate) fn start() -> Option<AllocScope> {
        let slot = super::counted_slot()?;
        let start_net = slot.net_bytes();
        let outer_max = slot.max_net_bytes.load(Relaxed);
        slot.set_max_net(start_net);
        Some(AllocScope {
            slot,
            start: slot.totals(),
            start_net,
            outer_max,
            _not_send: std::marker::PhantomData,
        })
    }

    /// Closes the scope: what the thread allocated and freed since `start`,
    /// and the highest net bytes above the start reached meanwhile.
    pub(crate) fn finish(self) -> AllocDelta {
        // `self` drops at the end and hands the high-water mark back.
        self.delta()
    }

    /// What the thread allocated and freed since `start`, the scope still
    /// open: its drop closes it.
    pub(crate) fn delta(&self) -> AllocDelta {
        self.delta_with_mark(self.slot.max_net_bytes.load(Relaxed))
    }

    /// Closes this scope while `above`, a scope opened after it on the same
    /// thread, stays open (scopes closed out of order): returns this one's
    /// delta, and leaves to `above` the mark this one would have handed
    /// back, so that the enclosing scope's peak still includes both.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn close_under(self, above: &mut AllocScope) -> AllocDelta {
        // This scope's mark went on, inside `above`, as `above`'s own; what
        // it had reached when `above` opened is what `above` keeps for it.
        let mark = self.slot.max_net_bytes.load(Relaxed).max(above.outer_max);
        let delta = self.delta_with_mark(mark);
        above.outer_max = above.outer_max.max(self.outer_max);
        // Its drop would hand the mark back now, over `above`'s.
        std::mem::forget(self);
        delta
    }

    fn delta_with_mark(&self, max_net: i64) -> AllocDelta {
        let spent = self.slot.totals().since(&self.start);
        AllocDelta {
            active: true,
            total_blocks: spent.alloc_blocks,
            total_bytes: spent.alloc_bytes,
            freed_blocks: spent.freed_blocks,
            freed_bytes: spent.freed_bytes,
            reallocs: spent.reallocs,
            live_blocks: spent.alloc_blocks.wrapping_sub(spent.freed_blocks) as i64,
            live_bytes: spent.alloc_bytes.wrapping_sub(spent.freed_bytes) as i64,
            peak_bytes: max_net.wrapping_sub(self.start_net).max(0) as u64,
        }
    }
}

impl Drop for AllocScope {
    fn drop(&mut self) {
        let inner_max = self.slot.max_net_bytes.load(Relaxed);
        self.slot.set_max_net(inner_max.max(self.outer_max));
    }
}

impl fmt::Display for AllocDelta {
    /// One line: `+5,096 bytes in 2 blocks, -4,096 bytes in 1 blocks, live +1,000 bytes, peak 5,096 bytes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::capture::reading(|| {
            if !self.active {
                return write!(
                    f,
                    "profiling-alloc: allocator not installed, nothing measured"
                );
            }
            write!(
                f,
                "+{} bytes in {} blocks, -{} bytes in {} blocks, live {}{} bytes, peak {} bytes",
                grouped(self.total_bytes),
                grouped(self.total_blocks),
                grouped(self.freed_bytes),
                grouped(self.freed_blocks),
                if self.live_bytes < 0 { "-" } else { "+" },
                grouped(self.live_bytes.unsigned_abs()),
                grouped(self.peak_bytes)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_deltas_say_so_when_printed() {
        assert!(AllocDelta::default().to_string().contains("not installed"));
    }

    #[test]
    fn delta_display_shows_signed_net() {
        let delta = AllocDelta {
            active: true,
            total_blocks: 2,
            total_bytes: 5096,
            freed_blocks: 1,
            freed_bytes: 4096,
            reallocs: 0,
            live_blocks: 1,
            live_bytes: 1000,
            peak_bytes: 5096,
        };
        assert_eq!(
            delta.to_string(),
            "+5,096 bytes in 2 blocks, -4,096 bytes in 1 blocks, live +1,000 bytes, peak 5,096 bytes"
        );
    }
}
