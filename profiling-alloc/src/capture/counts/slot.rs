//! One thread's allocation counters: a [`Slot`], and how it is written.
//!
//! A thread that owns a slot (see [`super::slot_table`]) is its only writer,
//! so it updates the counters with a plain load and store ([`Owned`]): no
//! atomic read-modify-write, no cache line shared with another writer. The
//! shared fallback slot, used by threads without one, takes real atomic adds
//! ([`Shared`]). Readers sum all slots with relaxed loads.
//!
//! The counters are cumulative and never reset, so a slot handed from an
//! exited thread to a new one keeps the old thread's counts: the sum over slots
//! is the program's total.

use std::cell::UnsafeCell;
use std::sync::atomic::AtomicI64;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicPtr, AtomicU8};

use super::size_class::{size_class, SIZE_CLASSES};

/// How a slot's counters are written.
pub(crate) trait Writer {
    /// Adds `value` to `counter` (wrapping).
    fn add(counter: &AtomicU64, value: u64);
}

/// The slot has one writer (the thread that owns it): load, add, store.
pub(crate) enum Owned {}

/// The slot is written by any thread: atomic `fetch_add`.
pub(crate) enum Shared {}

impl Writer for Owned {
    #[inline(always)]
    fn add(counter: &AtomicU64, value: u64) {
        // PERF: a relaxed load and store compile to plain moves; a fetch_add
        // would be a locked instruction. Correct because only the owner writes.
        counter.store(counter.load(Relaxed).wrapping_add(value), Relaxed);
    }
}

impl Writer for Shared {
    #[inline(always)]
    fn add(counter: &AtomicU64, value: u64) {
        counter.fetch_add(value, Relaxed);
    }
}

/// One thread's counters (or the shared fallback's).
// NOTE: aligned to 128 bytes, not 64, because x86 prefetches cache lines in
// adjacent pairs: two owners' hot counters must not share such a pair.
#[repr(C, align(128))]
#[derive(Debug)]
pub(crate) struct Slot {
    // NOTE: the words the common path reads or writes come first, in the
    // slot's first 128 bytes; the size classes after the rest.
    /// Blocks allocated: alloc, alloc_zeroed, and the new block of a realloc.
    pub(crate) alloc_blocks: AtomicU64,
    /// Bytes allocated, as `alloc_blocks`.
    pub(crate) alloc_bytes: AtomicU64,
    /// Blocks freed: dealloc, and the old block of a realloc.
    pub(crate) freed_blocks: AtomicU64,
    /// Bytes freed, as `freed_blocks`.
    pub(crate) freed_bytes: AtomicU64,
    /// Successful realloc calls.
    pub(crate) reallocs: AtomicU64,
    /// Owner only: how far the net may fall before it reaches
    /// `flushed_net_bytes` minus the tolerance and flushes again, minus one
    /// (zero if it is there already). Set at each flush, grown by every
    /// rise: a fall subtracts itself and tests the borrow.
    pub(crate) fall_room: OwnerOnly,
    /// Owner only: the lowest of `max_net_bytes`, `peak_net_bytes` and
    /// `flush_above`. A rise below it raises neither mark and does not
    /// flush: one comparison on the common path. Kept by
    /// [`Slot::refresh_low_mark`] after any of them changes.
    pub(crate) low_mark: AtomicI64,
    /// Null until sampling first tracks a block anywhere, then, in every
    /// claimed slot and never cleared, the first counter of the sampling
    /// filter (`sampling::live_blocks`): from then on the owner's frees look
    /// there whether they free a sampled block. A copy in the slot, so that
    /// the common free reads the filter's address from the slot it has in a
    /// register anyway (see `slot_table::note_sampled_blocks`).
    pub(crate) sampled_filter: AtomicPtr<AtomicU8>,
    /// Which of `countdowns` the owner counts its new blocks down on, as
    /// the sampling mode says ([`Countdown`]): copied into every claimed
    /// slot at each change of mode and at the claim
    /// (`slot_table::publish_countdown`), so that the allocator reads it
    /// from the slot it has in a register anyway.
    // Private: `Countdown::in_use` relies on it holding a `Countdown`, and
    // `Slot::use_countdown` is the one way to set it.
    countdown_in_use: AtomicU64,
    /// Owner only: the words a new block's size is subtracted from, one per
    /// [`Countdown`]; a borrow sends the allocation to the sampling's slow
    /// path. Set on claim (`Countdown::initial`).
    pub(crate) countdowns: [OwnerOnly; 3],
    /// Highest `alloc_bytes - freed_bytes` of this slot since the innermost
    /// running `measure` began (owner only; see `super::measure`).
    pub(crate) max_net_bytes: AtomicI64,
    /// `alloc_bytes - freed_bytes` when the slot last added its change to
    /// the global live count (default peak mode; owner only).
    pub(crate) flushed_net_bytes: AtomicI64,
    /// `alloc_blocks - freed_blocks` at that moment.
    pub(crate) flushed_net_blocks: AtomicI64,
    /// Owner only: `flushed_net_bytes` plus the peak's tolerance, set at
    /// each flush: a rise to it flushes again (one comparison on the common
    /// path, through `low_mark`).
    pub(crate) flush_above: AtomicI64,
    /// The peak epoch `peak_net_*` belong to (see `peak`; owner only).
    pub(crate) peak_epoch: AtomicU64,
    /// Highest `alloc_bytes - freed_bytes` of this slot in that epoch.
    pub(crate) peak_net_bytes: AtomicI64,
    /// `alloc_blocks - freed_blocks` of this slot at that moment.
    pub(crate) peak_net_blocks: AtomicI64,
    /// Whether a thread owns this slot (written on claim and release only).
    pub(crate) claimed: std::sync::atomic::AtomicBool,
    /// Blocks allocated per size class.
    pub(crate) class_blocks: [AtomicU64; SIZE_CLASSES],
    /// Bytes allocated per size class.
    pub(crate) class_bytes: [AtomicU64; SIZE_CLASSES],
}

/// The word of [`Slot::countdowns`] that new blocks count down on. Under
/// every mode the allocator's common path is the same subtraction and test
/// of its borrow (no test of the mode); the mode picks the word, so that the
/// borrow comes when that mode needs the slow path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Countdown {
    /// Poisson sampling (and scopes sampling their thread while the mode is
    /// off): the bytes left in the thread's distance to its next sample.
    Poisson = 0,
    /// Sampling off: a word nothing but 16 EiB of allocations would bring
    /// down, and the slow path then fills up again.
    Off = 1,
    /// Every block sampled: a word kept at zero, so that every block
    /// borrows.
    Every = 2,
}

impl Countdown {
    /// The word's value on claim, and after its slow path for `Off` and
    /// `Every` (the Poisson countdown is then loaded with the next stretch).
    pub(crate) const fn initial(self) -> u64 {
        match self {
            Countdown::Poisson | Countdown::Every => 0,
            Countdown::Off => u64::MAX,
        }
    }

    /// The word of `slot` for this countdown.
    #[inline(always)]
    pub(crate) fn of(self, slot: &Slot) -> &OwnerOnly {
        crate::capture::wrapping_at(&slot.countdowns, self as usize)
    }

    /// The countdown whose value is `raw` (`Countdown::Off` for any other).
    pub(crate) fn from_raw(raw: u64) -> Countdown {
        match raw {
            0 => Countdown::Poisson,
            2 => Countdown::Every,
            _ => Countdown::Off,
        }
    }

    /// The word `slot.countdown_in_use` names: the allocator's common path.
    #[cfg(feature = "callsites")]
    #[inline(always)]
    pub(crate) fn in_use(slot: &Slot) -> (u64, &OwnerOnly) {
        let which = slot.countdown_in_use.load(Relaxed);
        // SAFETY: `countdown_in_use` only ever holds a `Countdown`'s value
        // (the field is private: `Slot::EMPTY` and `Slot::use_countdown`
        // set it), and each is an index of `countdowns` (checked below).
        (which, unsafe {
            slot.countdowns.get_unchecked(which as usize)
        })
    }
}

// Every countdown names a word of `Slot::countdowns`.
const _: () = assert!((Countdown::Every as usize) < 3 && (Countdown::Off as usize) < 3);

/// A word of a slot that only the slot's owner reads and writes: plain
/// memory rather than an atomic, so that the compiler can make a read, a
/// change and a write one instruction and branch on its flags (it keeps an
/// atomic's load and store apart).
pub(crate) struct OwnerOnly(UnsafeCell<u64>);

// SAFETY: the word is only read and written through `get` and `set`, whose
// callers are the slot's owner: one thread at a time. A slot passes to a new
// owner only through the claim's Acquire of the last owner's Release (see
// `slot_table`), which orders the two owners' accesses.
unsafe impl Sync for OwnerOnly {}

impl OwnerOnly {
    /// A word holding `value`.
    pub(crate) const fn new(value: u64) -> Self {
        OwnerOnly(UnsafeCell::new(value))
    }

    /// The word.
    ///
    /// # Safety
    ///
    /// The calling thread owns the slot holding the word (or has the slot to
    /// itself, as a test's local one).
    #[inline(always)]
    pub(crate) unsafe fn get(&self) -> u64 {
        // SAFETY: the caller is the only thread accessing the word.
        unsafe { *self.0.get() }
    }

    /// Sets the word.
    ///
    /// # Safety
    ///
    /// As [`get`](Self::get).
    #[inline(always)]
    pub(crate) unsafe fn set(&self, value: u64) {
        // SAFETY: the caller is the only thread accessing the word.
        unsafe { *self.0.get() = value }
    }

    /// Subtracts `amount` from the word (wrapping) and says whether it
    /// borrowed: the common path's countdowns, one subtraction in place
    /// whose borrow is the answer.
    ///
    /// # Safety
    ///
    /// As [`get`](Self::get).
    #[inline(always)]
    pub(crate) unsafe fn count_down(&self, amount: u64) -> bool {
        // SAFETY: the caller is the only thread accessing the word.
        let (left, borrowed) = unsafe { self.get() }.overflowing_sub(amount);
        // SAFETY: as above.
        unsafe { self.set(left) };
        borrowed
    }
}

impl std::fmt::Debug for OwnerOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not read: only the owner may.
        f.write_str("OwnerOnly")
    }
}

/// A change to live bytes and blocks, handed to the peak tracker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LiveChange {
    pub(crate) bytes: i64,
    pub(crate) blocks: i64,
}

impl Slot {
    /// An unclaimed slot with zero counts.
    #[allow(clippy::declare_interior_mutable_const)]
    pub(crate) const EMPTY: Slot = Slot {
        alloc_blocks: AtomicU64::new(0),
        alloc_bytes: AtomicU64::new(0),
        freed_blocks: AtomicU64::new(0),
        freed_bytes: AtomicU64::new(0),
        reallocs: AtomicU64::new(0),
        max_net_bytes: AtomicI64::new(0),
        flushed_net_bytes: AtomicI64::new(0),
        flushed_net_blocks: AtomicI64::new(0),
        flush_above: AtomicI64::new(0),
        fall_room: OwnerOnly::new(0),
        low_mark: AtomicI64::new(0),
        peak_epoch: AtomicU64::new(0),
        peak_net_bytes: AtomicI64::new(0),
        peak_net_blocks: AtomicI64::new(0),
        claimed: std::sync::atomic::AtomicBool::new(false),
        sampled_filter: AtomicPtr::new(std::ptr::null_mut()),
        countdown_in_use: AtomicU64::new(Countdown::Off as u64),
        countdowns: [
            OwnerOnly::new(Countdown::Poisson.initial()),
            OwnerOnly::new(Countdown::Off.initial()),
            OwnerOnly::new(Countdown::Every.initial()),
        ],
        class_blocks: [const { AtomicU64::new(0) }; SIZE_CLASSES],
        class_bytes: [const { AtomicU64::new(0) }; SIZE_CLASSES],
    };

    /// Makes new blocks count down on `countdown` (see
    /// `slot_table::publish_countdown`).
    pub(crate) fn use_countdown(&self, countdown: Countdown) {
        self.countdown_in_use
            .store(countdown as u64, std::sync::atomic::Ordering::SeqCst);
    }

    /// Counts a new block of `size` bytes (alloc, alloc_zeroed).
    #[inline(always)]
    pub(crate) fn record_alloc<W: Writer>(&self, size: usize) -> LiveChange {
        self.count_new_block::<W>(size);
        LiveChange {
            bytes: size as i64,
            blocks: 1,
        }
    }

    /// Counts a freed block of `size` bytes.
    #[inline(always)]
    pub(crate) fn record_dealloc<W: Writer>(&self, size: usize) -> LiveChange {
        W::add(&self.freed_blocks, 1);
        W::add(&self.freed_bytes, size as u64);
        LiveChange {
            bytes: -(size as i64),
            blocks: 0 - 1,
        }
    }

    /// Counts a realloc from `old_size` to `new_size` bytes: one new block of
    /// the new size and one freed block of the old size (DESIGN rule 6).
    #[inline(always)]
    pub(crate) fn record_realloc<W: Writer>(&self, old_size: usize, new_size: usize) -> LiveChange {
        W::add(&self.reallocs, 1);
        W::add(&self.freed_blocks, 1);
        W::add(&self.freed_bytes, old_size as u64);
        self.count_new_block::<W>(new_size);
        LiveChange {
            bytes: new_size as i64 - old_size as i64,
            blocks: 0,
        }
    }

    #[inline(always)]
    fn count_new_block<W: Writer>(&self, size: usize) {
        W::add(&self.alloc_blocks, 1);
        W::add(&self.alloc_bytes, size as u64);
        let class = size_class(size);
        W::add(crate::capture::wrapping_at(&self.class_blocks, class), 1);
        W::add(
            crate::capture::wrapping_at(&self.class_bytes, class),
            size as u64,
        );
    }

    /// Owner only: sets the innermost `measure`'s mark (its start, or its
    /// mark handed back to the enclosing one).
    pub(crate) fn set_max_net(&self, net: i64) {
        self.max_net_bytes.store(net, Relaxed);
        self.refresh_low_mark();
    }

    /// Owner only: `low_mark` after `max_net_bytes`, `peak_net_bytes` or
    /// `flush_above` changed. While the slot's mark belongs to an older
    /// epoch, the lowest value: the next rise then starts the new epoch's
    /// mark.
    ///
    /// A reset racing with this store must not be lost under it (the slot
    /// would then skip every rise below its old mark for a whole phase):
    /// `peak::lower_marks` stores the lowest value after a `SeqCst` fence
    /// that follows the new epoch, and this store is followed by one before
    /// the epoch is read again. So either the reset's store lands after this
    /// one, or this thread sees the new epoch and lowers the mark itself.
    /// Not on the common path: only when a mark moves or the slot flushes.
    #[inline]
    pub(crate) fn refresh_low_mark(&self) {
        let epoch = super::peak_epoch();
        let low = if self.peak_epoch.load(Relaxed) == epoch {
            self.max_net_bytes
                .load(Relaxed)
                .min(self.peak_net_bytes.load(Relaxed))
                .min(self.flush_above.load(Relaxed))
        } else {
            i64::MIN
        };
        self.low_mark.store(low, Relaxed);
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        if super::peak_epoch() != epoch {
            self.low_mark.store(i64::MIN, Relaxed);
        }
    }

    /// Owner only: raises `max_net_bytes` to the slot's net bytes if higher.
    #[inline(always)]
    pub(crate) fn raise_max_net(&self) {
        self.raise_max_net_to(self.net_bytes());
    }

    /// Owner only: [`raise_max_net`](Self::raise_max_net) with the net bytes
    /// already read.
    #[inline(always)]
    pub(crate) fn raise_max_net_to(&self, net: i64) {
        if net > self.max_net_bytes.load(Relaxed) {
            self.max_net_bytes.store(net, Relaxed);
        }
    }

    /// Bytes allocated minus bytes freed through this slot (negative when it
    /// freed blocks other threads allocated).
    #[inline(always)]
    pub(crate) fn net_bytes(&self) -> i64 {
        self.alloc_bytes
            .load(Relaxed)
            .wrapping_sub(self.freed_bytes.load(Relaxed)) as i64
    }

    /// Blocks allocated minus blocks freed through this slot.
    #[inline(always)]
    pub(crate) fn net_blocks(&self) -> i64 {
        self.alloc_blocks
            .load(Relaxed)
            .wrapping_sub(self.freed_blocks.load(Relaxed)) as i64
    }

    /// Allocator calls counted here so far (any change to the counters
    /// changes this number).
    pub(crate) fn calls(&self) -> u64 {
        self.alloc_blocks
            .load(Relaxed)
            .wrapping_add(self.freed_blocks.load(Relaxed))
    }

    /// A copy of the scalar counters.
    pub(crate) fn totals(&self) -> Totals {
        // Frees are read before allocations, which makes a reader racing with
        // the owner less likely to see a free whose allocation it missed (not
        // impossible: the loads are relaxed). Readers clamp live counts at 0.
        let freed_blocks = self.freed_blocks.load(Relaxed);
        let freed_bytes = self.freed_bytes.load(Relaxed);
        Totals {
            reallocs: self.reallocs.load(Relaxed),
            alloc_blocks: self.alloc_blocks.load(Relaxed),
            alloc_bytes: self.alloc_bytes.load(Relaxed),
            freed_blocks,
            freed_bytes,
        }
    }
}

/// Cumulative counts of one slot, or a sum over slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) alloc_blocks: u64,
    pub(crate) alloc_bytes: u64,
    pub(crate) freed_blocks: u64,
    pub(crate) freed_bytes: u64,
    pub(crate) reallocs: u64,
}

impl Totals {
    /// Adds another slot's counts.
    pub(crate) fn add(&mut self, other: &Totals) {
        self.alloc_blocks = self.alloc_blocks.wrapping_add(other.alloc_blocks);
        self.alloc_bytes = self.alloc_bytes.wrapping_add(other.alloc_bytes);
        self.freed_blocks = self.freed_blocks.wrapping_add(other.freed_blocks);
        self.freed_bytes = self.freed_bytes.wrapping_add(other.freed_bytes);
        self.reallocs = self.reallocs.wrapping_add(other.reallocs);
    }

    /// Counts since `earlier` (wrapping, so a slot's counters may wrap).
    pub(crate) fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            alloc_blocks: self.alloc_blocks.wrapping_sub(earlier.alloc_blocks),
            alloc_bytes: self.alloc_bytes.wrapping_sub(earlier.alloc_bytes),
            freed_blocks: self.freed_blocks.wrapping_sub(earlier.freed_blocks),
            freed_bytes: self.freed_bytes.wrapping_sub(earlier.freed_bytes),
            reallocs: self.reallocs.wrapping_sub(earlier.reallocs),
        }
    }

    /// Live blocks: allocated minus freed, never below zero (a reader racing
    /// with cross-thread frees may see a free before its allocation).
    pub(crate) fn live_blocks(&self) -> u64 {
        self.alloc_blocks.saturating_sub(self.freed_blocks)
    }

    /// Live bytes, as [`Totals::live_blocks`].
    pub(crate) fn live_bytes(&self) -> u64 {
        self.alloc_bytes.saturating_sub(self.freed_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_tallies_follow_dhat_conventions() {
        let slot = Slot::EMPTY;
        let change = slot.record_alloc::<Owned>(100);
        assert_eq!((change.bytes, change.blocks), (100, 1));
        let change = slot.record_realloc::<Owned>(100, 40);
        assert_eq!((change.bytes, change.blocks), (-60, 0));
        let change = slot.record_realloc::<Shared>(40, 4000);
        assert_eq!((change.bytes, change.blocks), (3960, 0));
        let change = slot.record_dealloc::<Shared>(4000);
        assert_eq!((change.bytes, change.blocks), (-4000, -1));
        let t = slot.totals();
        assert_eq!(
            t,
            Totals {
                alloc_blocks: 3,
                alloc_bytes: 4140,
                freed_blocks: 3,
                freed_bytes: 4140,
                reallocs: 2
            }
        );
        assert_eq!((t.live_blocks(), t.live_bytes()), (0, 0));
        assert_eq!(slot.class_blocks[size_class(100)].load(Relaxed), 1);
        assert_eq!(slot.class_bytes[size_class(4000)].load(Relaxed), 4000);
    }

    #[test]
    fn max_net_tracks_high_water_mark() {
        let slot = Slot::EMPTY;
        slot.record_alloc::<Owned>(500);
        slot.raise_max_net();
        slot.record_dealloc::<Owned>(500);
        slot.raise_max_net();
        assert_eq!(slot.max_net_bytes.load(Relaxed), 500);
        assert_eq!(slot.net_bytes(), 0);
    }
}
