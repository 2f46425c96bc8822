//! An open measurement of what the calling thread allocates: the shared
//! machinery of [`measure`](crate::measure) and of job scopes.

use std::sync::atomic::Ordering::Relaxed;

use crate::counters::{Slot, Totals};
use crate::stats::AllocDelta;
use crate::thread_slot;

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
        if !crate::is_active() {
            return None;
        }
        let slot = thread_slot::current()?;
        let start_net = slot.net_bytes();
        let outer_max = slot.max_net_bytes.load(Relaxed);
        slot.max_net_bytes.store(start_net, Relaxed);
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
        let max_net = self.slot.max_net_bytes.load(Relaxed);
        let spent = self.slot.totals().since(&self.start);
        // `self` drops here and hands the high-water mark back.
        AllocDelta {
            active: true,
            allocations: spent.alloc_blocks,
            frees: spent.freed_blocks,
            reallocs: spent.reallocs,
            bytes_allocated: spent.alloc_bytes,
            bytes_freed: spent.freed_bytes,
            net_bytes: spent.alloc_bytes.wrapping_sub(spent.freed_bytes) as i64,
            net_blocks: spent.alloc_blocks.wrapping_sub(spent.freed_blocks) as i64,
            peak_bytes: max_net.wrapping_sub(self.start_net).max(0) as u64,
        }
    }
}

impl Drop for AllocScope {
    fn drop(&mut self) {
        let inner_max = self.slot.max_net_bytes.load(Relaxed);
        self.slot
            .max_net_bytes
            .store(inner_max.max(self.outer_max), Relaxed);
    }
}
