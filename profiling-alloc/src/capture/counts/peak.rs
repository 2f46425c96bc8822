//! The program-wide live count and its high-water mark (the peak).
//!
//! Two modes, chosen by the allocator's configuration:
//!
//! - **Default (bounded error).** Each thread keeps its change to live bytes
//!   since its last flush in its own slot (its net bytes minus `flushed_net_*`) and adds it to the global live count only
//!   when it reaches the tolerance `T` in either direction. The global count
//!   therefore differs from the true live bytes by less than `T` per thread
//!   holding a slot, and so does the peak taken from it:
//!   `|reported peak - true peak| <= T * threads`. The common path touches only
//!   the thread's own slot.
//!
//!   On top of that, each slot keeps its own highest net bytes (allocated
//!   minus freed through it) since the last [`reset_peak`](crate::reset_peak)
//!   (a new "epoch"), on its own line. When only one slot has changed since
//!   the reset (one thread allocated at a time: a single-threaded program, a
//!   phase run alone after a reset), every other slot's net is what it was
//!   throughout, so that slot's high-water mark plus the others' nets *is*
//!   the true peak: readers then report it as exact. Only when several
//!   threads allocated since the reset does the bound apply.
//! - **Exact.** Every allocation and free updates one global 128-bit atomic
//!   holding live bytes and live blocks together, so the peak and the block
//!   count at that moment are exact. This writes a cache line shared by all
//!   threads, which is what it costs.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};

use portable_atomic::AtomicU128;

use super::slot::{LiveChange, Slot};
use crate::sync::Padded;

/// Live bytes and blocks that threads have flushed (default mode).
static FLUSHED_BYTES: Padded<AtomicI64> = Padded(AtomicI64::new(0));
static FLUSHED_BLOCKS: AtomicI64 = AtomicI64::new(0);
/// Highest flushed live bytes, and the flushed live blocks at that moment.
static PEAK_BYTES: Padded<AtomicU64> = Padded(AtomicU64::new(0));
static PEAK_BLOCKS: AtomicU64 = AtomicU64::new(0);

/// Exact mode: live bytes in the high 64 bits, live blocks in the low 64 bits.
/// Both are never negative in the order the atomic sees its updates (a block
/// is counted before its pointer can reach a free), so a wrapping 128-bit add
/// of `bytes << 64 + blocks` updates both halves without borrow trouble.
static EXACT_LIVE: Padded<AtomicU128> = Padded(AtomicU128::new(0));
/// Exact mode: the state of `EXACT_LIVE` at its highest live bytes.
static EXACT_PEAK: Padded<AtomicU128> = Padded(AtomicU128::new(0));

/// Which mode the installed allocator uses, and its tolerance, published by
/// its first call so that readers can say how exact the peak is.
static EXACT_MODE: Padded<AtomicBool> = Padded(AtomicBool::new(false));
static TOLERANCE: AtomicU64 = AtomicU64::new(0);

/// Default mode: the exact live state at the last `reset_peak` (0 before
/// any), where the peak of a phase in which one slot moved starts.
static RESET_LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static RESET_LIVE_BLOCKS: AtomicI64 = AtomicI64::new(0);

/// Records the allocator's peak configuration for readers.
pub(crate) fn publish_mode(exact: bool, tolerance: u64) {
    EXACT_MODE.store(exact, Relaxed);
    TOLERANCE.store(tolerance, Relaxed);
}

#[inline(always)]
fn pack(change: LiveChange) -> u128 {
    ((change.bytes as i128) << 64).wrapping_add(change.blocks as i128) as u128
}

#[inline(always)]
fn unpack(state: u128) -> (u64, u64) {
    ((state >> 64) as u64, state as u64)
}

/// Exact mode: applies `change` to the global live state and raises the peak.
#[inline(always)]
pub(crate) fn apply_exact(change: LiveChange) {
    let delta = pack(change);
    let now = EXACT_LIVE.fetch_add(delta, Relaxed).wrapping_add(delta);
    if change.bytes > 0 {
        raise_exact_peak(now);
    }
}

#[inline]
fn raise_exact_peak(now: u128) {
    let (now_bytes, _) = unpack(now);
    let mut peak = EXACT_PEAK.load(Relaxed);
    // `>=`: on a tie the latest state wins (DESIGN rule 6). Between threads,
    // "latest" is the order of these compare-and-swaps, which may differ from
    // the order of the `fetch_add`s by a few instructions.
    while now_bytes >= unpack(peak).0 && now != peak {
        match EXACT_PEAK.compare_exchange_weak(peak, now, Relaxed, Relaxed) {
            Ok(_) => return,
            Err(seen) => peak = seen,
        }
    }
}

/// Default mode, owner of `slot` only, after a rise (`change`) was counted
/// in it: the common part of what the peak needs. The room above the
/// window's bottom grows by the rise, and the answer is whether the net
/// reached the low mark, the lowest of the slot's two marks and the top of
/// its flush window ([`rise_moved`] must then follow). A fall goes to
/// [`fall`], then [`fall_moved`] if it says so.
///
/// What the peak needs, from the slot's net bytes (allocated minus freed
/// through it):
///
/// - the high-water mark of the innermost running `measure` (its peak);
/// - the slot's high-water mark in the current epoch, started over first if
///   a reset began a new one (exact peaks while one thread allocates);
/// - the change since the slot last flushed to the global live count, which
///   is flushed once it reaches the tolerance either way (the bounded peak
///   while threads allocate concurrently): the edge of the slot's window
///   ([`set_window`]) in the direction of the change.
///
/// PERF: on the slot's own lines, a rise compares the net with the low mark
/// and a fall subtracts itself from the room left above the window's bottom
/// and tests the borrow. The epoch is read only when a mark is reached; the
/// marks and the flush, with its shared atomics, are out of line.
///
/// # Safety
///
/// The calling thread owns `slot`.
#[inline(always)]
pub(crate) unsafe fn rise(slot: &Slot, change: LiveChange) -> bool {
    // SAFETY: the caller owns the slot.
    unsafe {
        let room = slot.fall_room.get();
        slot.fall_room.set(room.wrapping_add(change.bytes as u64));
    }
    // `>=`: on a tie the latest moment wins (DESIGN rule 6). After a reset
    // the low mark is the lowest value (`lower_marks`), so the first rise of
    // the new epoch comes here too.
    slot.net_bytes() >= slot.low_mark.load(Relaxed)
}

/// A rise reached the slot's low mark: raises whichever mark it passed, and
/// flushes if it left the window (upwards: the only way a rise can).
/// Out of line: while the net only grows it runs on every allocation, but
/// most allocations of a program in its steady state stay below the mark.
///
/// # Safety
///
/// The calling thread owns `slot`.
#[inline(never)]
pub(crate) unsafe fn rise_moved(slot: &Slot, change: LiveChange) {
    let net = slot.net_bytes();
    raise_marks(slot, net, change);
    if net >= slot.flush_above.load(Relaxed) {
        // Refreshes the low mark again, with the new window
        // (`set_window`).
        // SAFETY: the caller's contract.
        unsafe { flush_slot(slot, net) };
    }
}

/// A fall of `bytes` (a free, a realloc that shrank or kept the size): no
/// mark can move. Takes it off the room left above the window's bottom;
/// true when it did not fit (the net left the window, [`fall_moved`] must
/// follow, to flush). No epoch check: a fall raises
/// no mark, and a slot's mark of an older epoch tells the reader it has only
/// fallen since (see `read`).
///
/// # Safety
///
/// The calling thread owns `slot`.
#[inline(always)]
pub(crate) unsafe fn fall(slot: &Slot, bytes: u64) -> bool {
    // SAFETY: the caller owns the slot.
    unsafe { slot.fall_room.count_down(bytes) }
}

/// A fall left the slot's window: flushes.
///
/// # Safety
///
/// The calling thread owns `slot`.
#[cold]
pub(crate) unsafe fn fall_moved(slot: &Slot) {
    // SAFETY: the caller's contract.
    unsafe { flush_slot(slot, slot.net_bytes()) };
}

/// Starts the slot's epoch over if a reset began a new one.
fn check_epoch(slot: &Slot, net: i64, change: LiveChange) {
    let epoch = super::peak_epoch();
    if slot.peak_epoch.load(Relaxed) != epoch {
        start_epoch(slot, net.wrapping_sub(change.bytes), change, epoch);
    }
}

/// A rise reached the low mark: raises whichever of the two marks it
/// passed (none if it reached only the top of the window), and refreshes
/// the low mark.
fn raise_marks(slot: &Slot, net: i64, change: LiveChange) {
    check_epoch(slot, net, change);
    slot.raise_max_net_to(net);
    if net >= slot.peak_net_bytes.load(Relaxed) {
        slot.peak_net_bytes.store(net, Relaxed);
        slot.peak_net_blocks.store(slot.net_blocks(), Relaxed);
    }
    slot.refresh_low_mark();
}

/// The window the slot's net may move in before it flushes again,
/// `tolerance` bytes either side of what it last flushed: its top, and the
/// room left above its bottom (`Slot::fall_room`). Set when a thread claims
/// the slot, and at each flush.
///
/// # Safety
///
/// The calling thread owns `slot` (or is claiming it).
pub(crate) unsafe fn set_window(slot: &Slot) {
    let tolerance = i64::try_from(TOLERANCE.load(Relaxed)).unwrap_or(i64::MAX);
    let flushed = slot.flushed_net_bytes.load(Relaxed);
    slot.flush_above
        .store(flushed.saturating_add(tolerance), Relaxed);
    // A fall of `room + 1` bytes takes the net to the bottom,
    // `flushed - tolerance`: it flushes, as a fall to below it does.
    let room = i128::from(slot.net_bytes()) - (i128::from(flushed) - i128::from(tolerance)) - 1;
    let room = u64::try_from(room.max(0)).unwrap_or(u64::MAX);
    // SAFETY: the caller owns the slot.
    unsafe { slot.fall_room.set(room) };
    slot.refresh_low_mark();
}

/// The slot's first call in a new epoch: its mark starts at its net before
/// `change` (`net_before`), which is what it was when the epoch began.
#[cold]
#[inline(never)]
fn start_epoch(slot: &Slot, net_before: i64, change: LiveChange, epoch: u64) {
    slot.peak_epoch.store(epoch, Relaxed);
    slot.peak_net_bytes.store(net_before, Relaxed);
    slot.peak_net_blocks
        .store(slot.net_blocks().wrapping_sub(change.blocks), Relaxed);
    slot.refresh_low_mark();
}

/// Adds the slot's change since its last flush (its net is `net` bytes
/// now) to the global live count.
///
/// # Safety
///
/// The calling thread owns `slot`.
#[cold]
#[inline(never)]
unsafe fn flush_slot(slot: &Slot, net: i64) {
    let blocks = slot.net_blocks();
    let change = LiveChange {
        bytes: net.wrapping_sub(slot.flushed_net_bytes.load(Relaxed)),
        blocks: blocks.wrapping_sub(slot.flushed_net_blocks.load(Relaxed)),
    };
    slot.flushed_net_bytes.store(net, Relaxed);
    slot.flushed_net_blocks.store(blocks, Relaxed);
    // SAFETY: the caller's contract.
    unsafe { set_window(slot) };
    flush(change);
}

/// Flushes whatever is not flushed yet (a thread giving its slot up at
/// exit).
///
/// # Safety
///
/// The calling thread owns `slot`.
pub(crate) unsafe fn flush_pending(slot: &Slot) {
    let net = slot.net_bytes();
    if net != slot.flushed_net_bytes.load(Relaxed)
        || slot.net_blocks() != slot.flushed_net_blocks.load(Relaxed)
    {
        // SAFETY: the caller's contract.
        unsafe { flush_slot(slot, net) };
    }
}

/// Default mode: adds `change` to the global live count and raises the peak.
#[inline]
pub(crate) fn flush(change: LiveChange) {
    let bytes = FLUSHED_BYTES
        .fetch_add(change.bytes, Relaxed)
        .wrapping_add(change.bytes);
    let blocks = FLUSHED_BLOCKS
        .fetch_add(change.blocks, Relaxed)
        .wrapping_add(change.blocks);
    if change.bytes > 0 && bytes > 0 {
        let bytes = bytes as u64;
        if bytes >= PEAK_BYTES.load(Relaxed) && PEAK_BYTES.fetch_max(bytes, Relaxed) <= bytes {
            PEAK_BLOCKS.store(blocks.max(0) as u64, Relaxed);
        }
    }
}

/// Which slots changed since the last reset (see `slot_table::movers`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Movers {
    /// None did.
    None,
    /// Only `slot` did; the others' nets sum to `others_*`.
    One {
        slot: &'static Slot,
        others_bytes: i64,
        others_blocks: i64,
    },
    /// Two or more did (or the shared slot did).
    Several,
}

/// The peak as a reader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PeakReading {
    pub(crate) bytes: u64,
    pub(crate) blocks: u64,
    pub(crate) exact: bool,
    /// Bound on `|bytes - true peak|`; 0 when exact.
    pub(crate) error_bound: u64,
}

/// Reads the peak. `live_bytes`/`live_blocks` are the current exact sums: the
/// peak reported is never below them. `threads` is the most slots ever held
/// at once, which bounds how many pending counts can be outstanding.
/// `movers` says which slots changed since the last reset (asked in the
/// default mode only).
pub(crate) fn read(
    live_bytes: u64,
    live_blocks: u64,
    threads: u64,
    movers: impl FnOnce() -> Movers,
) -> PeakReading {
    if EXACT_MODE.load(Relaxed) {
        // Exact: the tracked pair is the truth (the summed live counts of a
        // reader racing with other threads are not, so they are not mixed in).
        let (bytes, blocks) = unpack(EXACT_PEAK.load(Relaxed));
        return PeakReading {
            bytes,
            blocks,
            exact: true,
            error_bound: 0,
        };
    }
    let exact = |bytes: i64, blocks: i64| PeakReading {
        bytes: bytes.max(0) as u64,
        blocks: blocks.max(0) as u64,
        exact: true,
        error_bound: 0,
    };
    match movers() {
        // Nothing allocated or freed since the reset: the peak is now.
        Movers::None => return exact(live_bytes as i64, live_blocks as i64),
        // One slot moved: the others' nets stood still since the reset, so
        // the peak is the higher of the live state at the reset and the
        // slot's mark over them. The slot starts its mark at its first rise
        // after the reset (falls do not look at the epoch): a mark of an
        // older epoch means it only fell since, and the reset's state is
        // the peak.
        Movers::One {
            slot,
            others_bytes,
            others_blocks,
        } => {
            let (reset_bytes, reset_blocks) = (
                RESET_LIVE_BYTES.load(Relaxed),
                RESET_LIVE_BLOCKS.load(Relaxed),
            );
            if slot.peak_epoch.load(Relaxed) == super::peak_epoch() {
                let bytes = others_bytes.wrapping_add(slot.peak_net_bytes.load(Relaxed));
                // `>=`: on a tie the latest moment (the mark) wins.
                if bytes >= reset_bytes {
                    let blocks = others_blocks.wrapping_add(slot.peak_net_blocks.load(Relaxed));
                    return exact(bytes, blocks);
                }
            }
            return exact(reset_bytes, reset_blocks);
        }
        Movers::Several => {}
    }
    let (mut bytes, mut blocks) = (PEAK_BYTES.load(Relaxed), PEAK_BLOCKS.load(Relaxed));
    if live_bytes > bytes {
        bytes = live_bytes;
        blocks = live_blocks;
    }
    let error_bound = TOLERANCE.load(Relaxed).saturating_mul(threads);
    PeakReading {
        bytes,
        blocks,
        exact: false,
        error_bound,
    }
}

/// After a reset began a new epoch: makes every slot's next rise look at it
/// (its owner's next rise then reaches `raise_marks`). A store into the
/// owners' lines, once per reset, after a `SeqCst` fence: an owner that
/// refreshes its low mark meanwhile either sees the new epoch or has its
/// store overwritten by this one (see `Slot::refresh_low_mark`).
pub(crate) fn lower_marks(slots: impl Iterator<Item = &'static Slot>) {
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    for slot in slots {
        slot.low_mark.store(i64::MIN, Relaxed);
    }
}

/// Sets the peak to the current live state (`live_*` are the exact sums, used
/// in default mode; exact mode takes its own consistent pair). Plain stores: a
/// peak raised by another thread during the reset may be overwritten, so a
/// phase's peak is only meaningful when the reset happens while other threads
/// are quiet.
pub(crate) fn reset(live_bytes: u64, live_blocks: u64) {
    RESET_LIVE_BYTES.store(live_bytes as i64, Relaxed);
    RESET_LIVE_BLOCKS.store(live_blocks as i64, Relaxed);
    if EXACT_MODE.load(Relaxed) {
        EXACT_PEAK.store(EXACT_LIVE.load(Relaxed), Relaxed);
    } else {
        PEAK_BYTES.store(live_bytes, Relaxed);
        PEAK_BLOCKS.store(live_blocks, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_negative_changes() {
        let start = pack(LiveChange {
            bytes: 1000,
            blocks: 3,
        });
        let after = start.wrapping_add(pack(LiveChange {
            bytes: -400,
            blocks: -1,
        }));
        assert_eq!(unpack(after), (600, 2));
        let after = after.wrapping_add(pack(LiveChange {
            bytes: 50,
            blocks: 0,
        }));
        assert_eq!(unpack(after), (650, 2));
    }

    #[test]
    fn exact_atomics_are_lock_free_here() {
        // On x86_64 and aarch64 the 128-bit atomic must not fall back to a lock.
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            assert!(AtomicU128::is_lock_free());
        }
    }
}
