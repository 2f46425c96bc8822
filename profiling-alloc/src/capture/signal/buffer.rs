//! The samples' buffer between the signal handler and the sampler thread: a
//! bounded ring of preallocated slots, many writers (handlers, on any
//! thread) and one reader (the drain), without a lock (Dmitry Vyukov's
//! bounded queue: each slot's sequence number says whose turn it is). A
//! writer that finds the ring full drops its sample and counts it: it never
//! waits.

use std::cell::UnsafeCell;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU64, AtomicUsize};

use crate::capture::leaked::{leak_zeroed, Zeroable};

/// Most frames a sample holds.
pub(crate) const MAX_FRAMES: usize = 128;
/// Slots in the ring: at 1 kHz on 20 busy cores, 100 ms of samples, the
/// longest the drain waits (it comes every 20 ms while the ring fills
/// faster than a quarter per visit).
pub(crate) const SLOTS: usize = 2048;
/// Compare-and-swap attempts a writer makes before dropping its sample (other
/// handlers took the positions it tried).
const ATTEMPTS: u32 = 16;

/// One sample as the handler wrote it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// The session that took it.
    pub(crate) generation: u64,
    /// The thread's id (`gettid`).
    pub(crate) tid: u32,
    /// Timer expirations it stands for (1 + overruns).
    pub(crate) weight: u32,
    /// Frames filled in `ips`.
    pub(crate) depth: u32,
    /// Whether the stack was longer than `ips`, or could not be walked.
    pub(crate) truncated: bool,
    /// The thread's job path (`&'static PathNode`), 0 outside jobs.
    pub(crate) job: usize,
    /// The interrupted instruction (plus one) then return addresses.
    pub(crate) ips: [usize; MAX_FRAMES],
}

/// A slot: its turn, and the sample.
pub(crate) struct Slot {
    sequence: AtomicUsize,
    sample: UnsafeCell<Sample>,
}

// SAFETY: all-zero bytes are a valid `Slot` (a zero sequence and a sample of
// integers, `false` and zeros); it is `Sync` (below).
unsafe impl Zeroable for Slot {}
// SAFETY: `sample` is written only by the writer that claimed the slot's
// position with a compare-and-swap and read only by the single reader after
// the writer published it (`sequence`, release/acquire); no two threads
// touch it at once.
unsafe impl Sync for Slot {}

/// The ring.
pub(crate) struct Ring {
    slots: &'static [Slot],
    write_at: AtomicUsize,
    read_at: AtomicUsize,
    /// Samples dropped because the ring was full.
    pub(crate) dropped: AtomicU64,
}

impl Ring {
    /// A ring of `len` slots (a power of two), allocated once and kept for
    /// the rest of the program; `None` without the memory. Call untracked.
    pub(crate) fn new(len: usize) -> Option<Ring> {
        if !len.is_power_of_two() {
            return None;
        }
        let slots: &'static [Slot] = leak_zeroed(len)?;
        for (i, slot) in slots.iter().enumerate() {
            slot.sequence.store(i, Relaxed);
        }
        Some(Ring {
            slots,
            write_at: AtomicUsize::new(0),
            read_at: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// Writes one sample with `fill`; false (and counted) when the ring is
    /// full. Never waits, never allocates: callable from a signal handler.
    pub(crate) fn push(&self, fill: impl FnOnce(&mut Sample)) -> bool {
        let mask = self.slots.len() - 1;
        let mut position = self.write_at.load(Relaxed);
        for _ in 0..ATTEMPTS {
            let Some(slot) = self.slots.get(position & mask) else {
                break;
            };
            let sequence = slot.sequence.load(Acquire);
            match sequence.wrapping_sub(position) as isize {
                0 => match self.write_at.compare_exchange_weak(
                    position,
                    position.wrapping_add(1),
                    Relaxed,
                    Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the compare-and-swap gave this writer the
                        // position, and the sequence said the reader is done
                        // with the slot: no one else touches the sample until
                        // it is published below.
                        fill(unsafe { &mut *slot.sample.get() });
                        slot.sequence.store(position.wrapping_add(1), Release);
                        return true;
                    }
                    Err(now) => position = now,
                },
                // The reader has not emptied this slot yet: full.
                d if d < 0 => break,
                // Another writer took the position: try the next one.
                _ => position = self.write_at.load(Relaxed),
            }
        }
        self.dropped.fetch_add(1, Relaxed);
        false
    }

    /// Reads the oldest sample with `take`; false when none is ready. One
    /// reader at a time (the caller serialises them).
    pub(crate) fn pop(&self, take: impl FnOnce(&Sample)) -> bool {
        let mask = self.slots.len() - 1;
        let position = self.read_at.load(Relaxed);
        let Some(slot) = self.slots.get(position & mask) else {
            return false;
        };
        if slot.sequence.load(Acquire) != position.wrapping_add(1) {
            return false;
        }
        // SAFETY: the writer published the sample (the sequence, acquired
        // above) and no writer reuses the slot before the store below.
        take(unsafe { &*slot.sample.get() });
        slot.sequence
            .store(position.wrapping_add(self.slots.len()), Release);
        self.read_at.store(position.wrapping_add(1), Relaxed);
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_full_ring_drops_and_counts() {
        let ring = Ring::new(4).unwrap();
        for tid in 0..6 {
            ring.push(|sample| sample.tid = tid);
        }
        assert_eq!(ring.dropped.load(Relaxed), 2);
        let mut seen = Vec::new();
        while ring.pop(|sample| seen.push(sample.tid)) {}
        assert_eq!(seen, [0, 1, 2, 3], "oldest first, the last two dropped");
        assert!(ring.push(|sample| sample.tid = 9), "room again");
        assert!(ring.pop(|sample| assert_eq!(sample.tid, 9)));
        assert!(Ring::new(3).is_none(), "not a power of two");
    }

    #[test]
    fn concurrent_writers_lose_nothing_that_was_accepted() {
        let ring = Arc::new(Ring::new(64).unwrap());
        let writers: Vec<_> = (0..4u32)
            .map(|tid| {
                let ring = Arc::clone(&ring);
                std::thread::spawn(move || {
                    let mut accepted = 0u64;
                    for i in 0..10_000u32 {
                        if ring.push(|sample| {
                            sample.tid = tid;
                            sample.weight = i;
                        }) {
                            accepted += 1;
                        }
                    }
                    accepted
                })
            })
            .collect();
        let mut read = 0u64;
        let mut last = [None::<u32>; 4];
        loop {
            let finished = writers.iter().all(|w| w.is_finished());
            while ring.pop(|sample| {
                let previous = &mut last[sample.tid as usize];
                assert!(
                    previous.is_none_or(|p| p < sample.weight),
                    "in order per writer"
                );
                *previous = Some(sample.weight);
                read += 1;
            }) {}
            if finished {
                break;
            }
        }
        let accepted: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(accepted + ring.dropped.load(Relaxed), 40_000);
        assert_eq!(read, accepted);
    }
}
