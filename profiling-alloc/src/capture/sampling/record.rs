//! The sampled path: what the allocator calls when a new block ends its
//! countdown ([`on_countdown_end`]) and for a free the live-block filter could not rule out
//! ([`take`], [`restore`]).
//!
//! Every function here runs with the thread untracked (`Untracked`), so
//! nothing it allocates is counted or sampled, and it never re-enters a lock
//! it holds. It takes the stack table's and the live-block table's spin
//! locks, never allocates while holding them except through the untracked
//! path, and never panics; should a crate it calls panic anyway, the
//! process aborts rather than unwind out of the allocator ([`no_unwind`]).

use std::sync::atomic::Ordering::Relaxed;

use super::live_blocks::{self, Tracked};
use super::mode::Sampling;
use super::stack_table::{self, RawStack};
use crate::capture::counts::slot::Slot;
use crate::capture::reentrancy::{SamplingSuspended, Untracked};
use crate::capture::unwind::Anchor;

/// The sampled path's door: a new block of `size` bytes at `block`, made
/// by the owner of `slot`, borrowed from the slot's countdown `which`
/// (`Countdown`'s value). Samples it if the mode says so (see
/// `decision::ended`): captures its stack and adds it to its callsite.
/// Returns `block` (see `sampling::on_new_block`). The thread is untracked
/// while it samples, so nothing here samples again or counts its own
/// memory.
///
/// The stack kept starts at this function's caller: a local of this frame
/// anchors the walk (`unwind::Anchor`), so neither this function nor
/// anything it calls is ever part of a callsite, whatever the build named
/// or inlined. The caller is the allocator's entry, or one of its
/// out-of-line paths (`new_block_moving_peak`, `record_elsewhere`,
/// `realloc_elsewhere`), whose frame a report drops with the profiler's
/// other frames on top of a stack.
///
/// # Safety
///
/// The calling thread owns `slot`.
#[cold]
#[inline(never)]
pub(crate) unsafe fn on_countdown_end(
    slot: &Slot,
    which: u64,
    block: *mut u8,
    size: usize,
) -> *mut u8 {
    let mode = super::mode::MODE.load(Relaxed);
    // SAFETY: the caller's contract.
    let Some(mode) = (unsafe { super::decision::ended(slot, which, size, mode) }) else {
        return block;
    };
    // In this function's own frame (its address escapes): every frame of
    // the sampled path lies below it, the allocator's caller above it.
    let here = 0u8;
    let anchor =
        Anchor::at(std::hint::black_box(&here)).starting(crate::capture::unwind::registers_here!());
    no_unwind(|| sample(block as usize, size, mode, anchor));
    block
}

fn sample(addr: usize, size: usize, mode: u64, anchor: Anchor) {
    if SamplingSuspended::active() {
        return; // the profiler building a report for its caller
    }
    let _untracked = Untracked::enter();
    let mut stack = RawStack::new();
    stack_table::capture(&mut stack, anchor);
    let job = crate::capture::job_path::current();
    let Some(id) = stack_table::intern(&stack, job) else {
        return;
    };
    let Some(counters) = stack_table::counters(id) else {
        return;
    };
    // The weight of the mode that decided to sample (the mean its distance
    // was drawn at), not of one set since; a scope sampling every block of
    // this thread weighs each block as one.
    let weight = Sampling::decode(mode).weight(size);
    let (blocks, bytes) = counters.add_sample(size, weight);
    if !live_blocks::insert(Tracked {
        addr,
        stack: id,
        blocks,
        bytes,
        born_ns: crate::sys::monotonic_nanos(),
    }) {
        // Counted in the totals, but its free cannot be attributed.
        counters.remove_live(blocks, bytes);
        stack_table::DROPPED.fetch_add(1, Relaxed);
    }
}

/// Whether a freed block at `addr` may be a sampled one: one relaxed load
/// until a block is sampled, then a lookup in the counting filter; only a
/// hit calls [`take`].
#[inline(always)]
pub(crate) fn maybe_tracked(addr: usize) -> bool {
    live_blocks::maybe_tracked(addr)
}

/// A free at `addr` that the filter could not rule out: stops tracking the
/// block, takes it off its callsite's live counts and records how long it
/// lived.
#[cold]
#[inline(never)]
pub(crate) fn free(addr: usize) {
    no_unwind(|| {
        if let Some(block) = take_tracked(addr) {
            record_end(block, false);
        }
    });
}

/// The old block of a realloc at `addr`, if the filter could not rule it
/// out: stops tracking it and takes it off its callsite's live counts. If
/// the realloc succeeds, [`reallocated`] records the end of its life; if it
/// fails, [`restore`] undoes this.
#[cold]
#[inline(never)]
pub(crate) fn take(addr: usize) -> Option<Tracked> {
    no_unwind(|| take_tracked(addr))
}

/// Records the end of a block [`take`]n by a realloc that succeeded.
#[cold]
#[inline(never)]
pub(crate) fn reallocated(block: Tracked) {
    no_unwind(|| record_end(block, true));
}

/// Adds the end of `block`'s life to its callsite's lifetimes.
fn record_end(block: Tracked, by_realloc: bool) {
    let now = crate::sys::monotonic_nanos();
    if block.born_ns == 0 || now == 0 {
        return;
    }
    if let Some(counters) = stack_table::counters(block.stack) {
        counters.add_ended(block.blocks, now.saturating_sub(block.born_ns), by_realloc);
    }
}

fn take_tracked(addr: usize) -> Option<Tracked> {
    // The profiler's own memory is never a sampled block, and the profiler
    // may free it while holding a table's lock: never look it up.
    if Untracked::active() {
        return None;
    }
    let _untracked = Untracked::enter();
    let block = live_blocks::remove(addr)?;
    if let Some(counters) = stack_table::counters(block.stack) {
        counters.remove_live(block.blocks, block.bytes);
    }
    Some(block)
}

/// Tracks a block [`take`]n from a realloc that failed again.
#[cold]
#[inline(never)]
pub(crate) fn restore(block: Tracked) {
    no_unwind(|| restore_tracked(block));
}

fn restore_tracked(block: Tracked) {
    let _untracked = Untracked::enter();
    if let Some(counters) = stack_table::counters(block.stack) {
        counters.add_live(block.blocks, block.bytes);
    }
    if !live_blocks::insert(block) {
        if let Some(counters) = stack_table::counters(block.stack) {
            counters.remove_live(block.blocks, block.bytes);
        }
    }
}

/// Runs `f`, aborting the process if it unwinds: unwinding out of a global
/// allocator is undefined behaviour. Our code here cannot panic; this is for
/// the crates the walk calls (framehop, gimli, backtrace), should one panic
/// anyway (in a debug build with overflow checks, on corrupt unwind tables).
/// Costs nothing unless it fires.
#[inline(always)]
fn no_unwind<R>(f: impl FnOnce() -> R) -> R {
    let armed = AbortOnUnwind;
    let value = f();
    std::mem::forget(armed);
    value
}

/// Aborts when dropped, which only unwinding does (see [`no_unwind`]).
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        std::process::abort();
    }
}
