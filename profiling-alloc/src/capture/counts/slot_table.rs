//! The slot table: which slot a thread counts into, and the readers' sums.
//!
//! A fixed table of [`SLOT_COUNT`] slots lives in a static. A thread claims the
//! first free slot on its first allocation (one compare-and-swap, once per
//! thread), remembers the index in a `const`-initialised thread-local without
//! a destructor, and gives the slot back when it exits. Counts stay in the
//! slot, so a later thread that reuses it continues from them and the sum over
//! slots never loses an exited thread's allocations.
//!
//! A thread counts into the shared slot instead (atomic adds, still exact)
//! when it has no thread-locals (start-up, teardown after its slot was given
//! back: DESIGN rule 2) or when all slots are taken.

use std::cell::Cell;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize};

use super::peak::{self, Movers};
use super::size_class::SIZE_CLASSES;
use super::slot::{Countdown, Slot, Totals};

/// How many threads can hold a slot at once; further threads count into the
/// shared slot. 1024 slots take about 1.2 MB of zeroed static memory, of which
/// only the slots ever claimed are touched.
pub(crate) const SLOT_COUNT: usize = 1024;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: Slot = Slot::EMPTY;
static SLOTS: [Slot; SLOT_COUNT] = [EMPTY_SLOT; SLOT_COUNT];
/// The fallback slot, written with atomic adds by any thread.
pub(crate) static SHARED: Slot = Slot::EMPTY;
/// One past the highest slot index ever claimed: readers sum `SLOTS[..HIGH_WATER]`.
/// Threads take the lowest free slot, so this is at least (and usually equal
/// to) the most threads that ever held a slot at the same time.
static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);

/// Thread-local slot index values that are not indices.
const UNCLAIMED: usize = usize::MAX;
const TABLE_FULL: usize = usize::MAX - 1;
const RETIRED: usize = usize::MAX - 2;
/// Set while the profiler allocates for itself (`reentrancy::Untracked`).
const UNTRACKED: usize = usize::MAX - 3;

thread_local! {
    // NOTE: `const` and without `Drop`, so reading it never allocates, never
    // registers a destructor and works during the thread's teardown
    // (rust-lang/rust#116390). The allocator reads it once per call: it says
    // both where to count and whether to count at all.
    static SLOT_INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
    // The thread's own slot while `SLOT_INDEX` names one, `None` otherwise:
    // what the allocator's common path reads (one load and a test, instead
    // of a bounds check and an address computed from the index). Kept in
    // step with `SLOT_INDEX` by `set_index`, its only writer.
    static OWN_SLOT: Cell<Option<&'static Slot>> = const { Cell::new(None) };
    // Its destructor gives the slot back at thread exit. It is touched only
    // once, in `claim`, after `SLOT_INDEX` is set: the allocation made by
    // registering the destructor then counts into the new slot instead of
    // recursing into `claim`. Registering a destructor from inside the global
    // allocator is supported by std since Rust 1.92 (rust-lang/rust#144465);
    // before, std aborted on some platforms. On glibc the registration goes
    // through `__cxa_thread_atexit_impl`, which takes the loader lock: this is
    // the one lock of the allocator path, once per thread.
    static RELEASER: SlotReleaser = const { SlotReleaser };
}

/// Gives the thread's slot back when its thread-locals are destroyed.
struct SlotReleaser;

impl Drop for SlotReleaser {
    fn drop(&mut self) {
        let _ = SLOT_INDEX.try_with(|index| {
            // From here on this thread counts into the shared slot.
            let was = index.get();
            set_index(index, RETIRED);
            if let Some(slot) = SLOTS.get(was) {
                // SAFETY: the thread's own slot, until the store below.
                unsafe { peak::flush_pending(slot) };
                // Release: the next owner sees our final counts before adding.
                slot.claimed.store(false, Release);
            }
        });
    }
}

/// Where the calling thread's allocator calls are counted.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// The thread's own slot.
    Own(&'static Slot),
    /// The shared slot (no thread-locals, or no free slot).
    Shared,
    /// Nowhere: the profiler is allocating for itself.
    Untracked,
}

/// Sets the thread's slot index, and its own slot to match.
fn set_index(index: &Cell<usize>, value: usize) {
    index.set(value);
    let _ = OWN_SLOT.try_with(|own| own.set(SLOTS.get(value)));
}

/// The calling thread's own slot, if it counts into one now: the
/// allocator's common path. `None` for a thread that has not claimed one
/// yet, is untracked, counts into the shared slot, or is tearing down.
#[inline(always)]
pub(crate) fn own_slot() -> Option<&'static Slot> {
    OWN_SLOT.try_with(Cell::get).ok().flatten()
}

/// Where the calling thread counts, claiming a slot if it has none yet.
#[inline(always)]
pub(crate) fn target() -> Target {
    SLOT_INDEX
        .try_with(|index| match SLOTS.get(index.get()) {
            Some(slot) => Target::Own(slot),
            None => match index.get() {
                UNCLAIMED => claim(index).map_or(Target::Shared, Target::Own),
                UNTRACKED => Target::Untracked,
                _ => Target::Shared,
            },
        })
        .unwrap_or(Target::Shared)
}

/// The calling thread's own slot, claiming one if it has none yet; `None`
/// when it counts into the shared slot or is untracked.
pub(crate) fn current() -> Option<&'static Slot> {
    match target() {
        Target::Own(slot) => Some(slot),
        Target::Shared | Target::Untracked => None,
    }
}

/// Makes the calling thread untracked and returns what to restore with
/// [`restore_index`]. For `reentrancy::Untracked` only.
pub(crate) fn enter_untracked() -> usize {
    SLOT_INDEX
        .try_with(|index| {
            let was = index.get();
            set_index(index, UNTRACKED);
            was
        })
        .unwrap_or(RETIRED)
}

/// Puts back the index [`enter_untracked`] returned.
pub(crate) fn restore_index(saved: usize) {
    let _ = SLOT_INDEX.try_with(|index| set_index(index, saved));
}

/// Whether the calling thread is untracked now.
#[cfg_attr(not(feature = "callsites"), allow(dead_code))]
pub(crate) fn is_untracked() -> bool {
    SLOT_INDEX
        .try_with(|index| index.get() == UNTRACKED)
        .unwrap_or(false)
}

#[cold]
#[inline(never)]
fn claim(index: &Cell<usize>) -> Option<&'static Slot> {
    for (i, slot) in SLOTS.iter().enumerate() {
        if slot.claimed.load(Relaxed) {
            continue;
        }
        // Acquire: pairs with the Release of the previous owner's exit.
        if slot
            .claimed
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_ok()
        {
            // SAFETY: this thread owns the slot from the compare-exchange
            // on.
            unsafe {
                peak::set_window(slot);
                // The last owner's distance to its next sample is not this
                // thread's: its first allocation draws one.
                for countdown in [Countdown::Poisson, Countdown::Off, Countdown::Every] {
                    countdown.of(slot).set(countdown.initial());
                }
            }
            set_index(index, i);
            HIGH_WATER.fetch_max(i + 1, SeqCst);
            copy_published(slot);
            if RELEASER.try_with(|_| ()).is_err() {
                // The thread is already tearing down its thread-locals: no
                // destructor would give the slot back, so do not keep it.
                set_index(index, RETIRED);
                slot.claimed.store(false, Release);
                return None;
            }
            // A new thread (most often): a CPU profile gives it its timer now.
            crate::capture::threads::THREAD_STARTS.started();
            return Some(slot);
        }
    }
    set_index(index, TABLE_FULL);
    None
}

/// The countdown the sampling mode uses and the sampling filter's first
/// counter (null until anything is sampled), as last published: what every
/// slot holds a copy of for the allocator (`Slot::countdown_in_use`,
/// `Slot::sampled_filter`).
static PUBLISHED_COUNTDOWN: AtomicU64 = AtomicU64::new(Countdown::Off as u64);
static PUBLISHED_FILTER: AtomicPtr<AtomicU8> = AtomicPtr::new(std::ptr::null_mut());

// NOTE: a publisher stores the value, then into every slot below
// `HIGH_WATER`; a claimer raises `HIGH_WATER`, then copies the values and
// checks they did not change meanwhile (`copy_published`). All `SeqCst`:
// either the publisher sees the claimer's slot, or the claimer sees the new
// value (its copy, if overwritten by the publisher's, is then stored again).
// Slots never claimed are not touched.

/// The sampling mode changed, and with it the countdown new blocks count
/// down on: stores it for every slot claimed now or later. Rare (a mode set
/// at run time, a scope that samples while the mode is `Off`); the caller
/// serialises the calls.
pub(crate) fn publish_countdown(countdown: Countdown) {
    PUBLISHED_COUNTDOWN.store(countdown as u64, SeqCst);
    for slot in claimed_slots() {
        slot.use_countdown(countdown);
    }
}

/// Sampling tracks a block for the first time: every slot's owner must ask
/// the sampling filter, whose first counter is `filter`, on its frees from
/// now on. Stores it for every slot claimed now or later, before the block
/// is tracked. Never cleared, so no owner can miss the change.
///
/// # Safety
///
/// `filter` is the sampling filter's first counter (`sampling::live_blocks`
/// reads the counters through the slots' copies).
#[cfg(feature = "callsites")]
pub(crate) unsafe fn note_sampled_blocks(filter: *const AtomicU8) {
    PUBLISHED_FILTER.store(filter.cast_mut(), SeqCst);
    for slot in claimed_slots() {
        slot.sampled_filter.store(filter.cast_mut(), SeqCst);
    }
}

/// Every slot ever claimed (not the shared one).
fn claimed_slots() -> impl Iterator<Item = &'static Slot> {
    SLOTS.iter().take(HIGH_WATER.load(SeqCst).min(SLOT_COUNT))
}

/// A claimed slot takes the published values (see the note above).
fn copy_published(slot: &Slot) {
    loop {
        let countdown = PUBLISHED_COUNTDOWN.load(SeqCst);
        let filter = PUBLISHED_FILTER.load(SeqCst);
        slot.use_countdown(Countdown::from_raw(countdown));
        slot.sampled_filter.store(filter, SeqCst);
        if PUBLISHED_COUNTDOWN.load(SeqCst) == countdown && PUBLISHED_FILTER.load(SeqCst) == filter
        {
            return;
        }
    }
}

/// Slots a reader must look at: the shared one and every one ever claimed.
fn all_slots() -> impl Iterator<Item = &'static Slot> {
    let claimed = HIGH_WATER.load(Relaxed).min(SLOT_COUNT);
    std::iter::once(&SHARED).chain(SLOTS.iter().take(claimed))
}

/// Each slot's [`Slot::calls`] at the last reset of the peak: index 0 for
/// the shared slot, `i + 1` for `SLOTS[i]` (slots never claimed have 0 calls
/// and 0 here).
static CALLS_AT_RESET: [AtomicU64; SLOT_COUNT + 1] = [const { AtomicU64::new(0) }; SLOT_COUNT + 1];

/// Notes every slot's calls, for [`movers`]: called by `reset_peak`.
pub(crate) fn mark_reset() {
    peak::lower_marks(all_slots());
    for (slot, mark) in all_slots().zip(CALLS_AT_RESET.iter()) {
        mark.store(slot.calls(), Relaxed);
    }
}

/// Which slots counted a call since the last [`mark_reset`] (or start-up),
/// with the summed nets of the others when only one did.
pub(crate) fn movers() -> Movers {
    let mut mover = None;
    let (mut others_bytes, mut others_blocks) = (0i64, 0i64);
    for (index, (slot, mark)) in all_slots().zip(CALLS_AT_RESET.iter()).enumerate() {
        if slot.calls() == mark.load(Relaxed) {
            others_bytes = others_bytes.wrapping_add(slot.net_bytes());
            others_blocks = others_blocks.wrapping_add(slot.net_blocks());
            continue;
        }
        // The shared slot keeps no high-water mark of its own.
        if index == 0 || mover.is_some() {
            return Movers::Several;
        }
        mover = Some(slot);
    }
    match mover {
        None => Movers::None,
        Some(slot) => Movers::One {
            slot,
            others_bytes,
            others_blocks,
        },
    }
}

/// Most slots ever held at once.
pub(crate) fn max_threads() -> u64 {
    HIGH_WATER.load(Relaxed) as u64
}

/// The sum of every slot's counters.
pub(crate) fn sum_totals() -> Totals {
    let mut sum = Totals::default();
    for slot in all_slots() {
        sum.add(&slot.totals());
    }
    sum
}

/// The sum of every slot's size-class counters: (blocks, bytes) per class.
pub(crate) fn sum_classes() -> ([u64; SIZE_CLASSES], [u64; SIZE_CLASSES]) {
    let mut blocks = [0u64; SIZE_CLASSES];
    let mut bytes = [0u64; SIZE_CLASSES];
    for slot in all_slots() {
        for (sum, count) in blocks.iter_mut().zip(&slot.class_blocks) {
            *sum = sum.wrapping_add(count.load(Relaxed));
        }
        for (sum, count) in bytes.iter_mut().zip(&slot.class_bytes) {
            *sum = sum.wrapping_add(count.load(Relaxed));
        }
    }
    (blocks, bytes)
}
