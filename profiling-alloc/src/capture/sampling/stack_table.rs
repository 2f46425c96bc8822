//! Raw stack capture and the stack table: each distinct (job path, stack of
//! return addresses) gets an id, an entry and a set of callsite counters.
//!
//! Capture writes instruction pointers into a fixed array on the caller's
//! stack; nothing is resolved here (symbols are read at report time, see
//! `symbols`). The table is made once, at the first sample, untracked, with
//! the capacity configured then: two zeroed slices that are never freed or
//! moved (entry pointers, and counters), and an index under a spin lock.
//! An entry is written before its id is handed out and never changes after,
//! so readers find entries and counters by id without the lock. When the
//! table is full, new stacks are dropped and counted, never allocated for.

use std::cell::Cell;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize};
use std::sync::OnceLock;

use super::counters::CallsiteCounters;
use crate::capture::job_path::PathNode;
use crate::capture::leaked::leak_zeroed;
use crate::capture::unwind::Anchor;
use crate::sync::SpinLock;

/// Most frames a stack can hold.
pub(crate) const MAX_FRAMES: usize = crate::capture::unwind::MAX_FRAMES;
/// Frames captured by default.
pub const DEFAULT_STACK_DEPTH: usize = 64;
/// Distinct stacks kept by default.
pub const DEFAULT_MAX_STACKS: usize = 16_384;

/// Frames to capture (at most [`MAX_FRAMES`]).
pub(crate) static DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_STACK_DEPTH);
/// Capacity of the stack table, read when it is created.
pub(crate) static MAX_STACKS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_STACKS);
/// Samples whose stack or block could not be recorded (a table was full).
pub(crate) static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Instruction pointers of one captured stack, innermost first.
pub(crate) struct RawStack {
    pub(crate) ips: [usize; MAX_FRAMES],
    pub(crate) len: usize,
    pub(crate) truncated: bool,
}

impl RawStack {
    pub(crate) const fn new() -> Self {
        RawStack {
            ips: [0; MAX_FRAMES],
            len: 0,
            truncated: false,
        }
    }

    /// The captured frames.
    fn frames(&self) -> &[usize] {
        self.ips.get(..self.len).unwrap_or(&[])
    }
}

/// Captures the calling thread's stack into `stack`, from the first caller
/// of `anchor`'s function on, at most `DEPTH` frames (by the cheapest walk
/// that gives the right stack, see `unwind`).
#[inline(never)]
pub(crate) fn capture(stack: &mut RawStack, anchor: Anchor) {
    let depth = DEPTH.load(Relaxed).clamp(1, MAX_FRAMES);
    let ips = stack.ips.get_mut(..depth).unwrap_or_default();
    let (len, truncated) = crate::capture::unwind::walk(ips, anchor);
    stack.len = len;
    stack.truncated = truncated;
}

/// One distinct stack.
#[derive(Debug)]
pub(crate) struct StackEntry {
    hash: u64,
    /// The job path the samples were taken in (`None`: outside any job).
    pub(crate) job: Option<&'static PathNode>,
    pub(crate) ips: Box<[usize]>,
    pub(crate) truncated: bool,
}

impl StackEntry {
    fn is(&self, hash: u64, ips: &[usize], job: Option<&'static PathNode>) -> bool {
        self.hash == hash && job_key(self.job) == job_key(job) && *self.ips == *ips
    }
}

/// The parts of the table that never move: entry `i` is `entries[i]`
/// (null until published), its counters `counters[i]`.
#[derive(Debug)]
struct Records {
    entries: &'static [AtomicPtr<StackEntry>],
    counters: &'static [CallsiteCounters],
}

static RECORDS: OnceLock<Records> = OnceLock::new();

/// The index from stack to id, under the table's lock.
#[derive(Debug)]
struct Index {
    /// Open addressing: 0 = empty, otherwise id + 1.
    slots: Box<[u32]>,
    /// Ids handed out: `0..len`.
    len: usize,
}

static INDEX: SpinLock<Option<Index>> = SpinLock::new(None);

/// The counters of stack `id`.
pub(crate) fn counters(id: u32) -> Option<&'static CallsiteCounters> {
    RECORDS.get()?.counters.get(id as usize)
}

/// The entry of stack `id`, if it has been published.
fn entry(id: u32) -> Option<&'static StackEntry> {
    let pointer = RECORDS.get()?.entries.get(id as usize)?.load(Acquire);
    // SAFETY: a non-null entry pointer comes from `Box::into_raw` in
    // `intern_locked`, stored (Release) once the entry was complete; entries
    // are never freed or written again.
    unsafe { pointer.as_ref() }
}

/// Every published stack and its id, in id order. Needs no lock: ids are
/// handed out densely from 0, and an entry never changes once published.
pub(crate) fn stacks() -> impl Iterator<Item = (u32, &'static StackEntry)> {
    (0u32..)
        .map(|id| entry(id).map(|entry| (id, entry)))
        .take_while(Option::is_some)
        .flatten()
}

/// Per-thread cache of recently interned stacks: a hit skips the table's
/// lock (most samples come from a few hot callsites).
const CACHED: usize = 8;
thread_local! {
    static RECENT: [Cell<(u64, u32)>; CACHED] = const { [const { Cell::new((0, 0)) }; CACHED] };
}

fn job_key(job: Option<&'static PathNode>) -> usize {
    job.map_or(0, |node| node as *const PathNode as usize)
}

/// The id of `stack` taken in `job`, adding it if new. `None` when the table
/// is full (the sample is dropped). The caller must be untracked.
pub(crate) fn intern(stack: &RawStack, job: Option<&'static PathNode>) -> Option<u32> {
    let ips = stack.frames();
    let hash = hash_stack(ips, job_key(job));
    let slot = hash as usize % CACHED;
    let cached = RECENT
        .try_with(|recent| recent.get(slot).map(Cell::get))
        .ok()
        .flatten();
    if let Some((cached_hash, id)) = cached.filter(|&(h, _)| h == hash && h != 0) {
        if entry(id).is_some_and(|entry| entry.is(cached_hash, ips, job)) {
            return Some(id);
        }
    }
    let id = intern_locked(stack, ips, hash, job)?;
    let _ = RECENT.try_with(|recent| recent.get(slot).map(|cell| cell.set((hash, id))));
    Some(id)
}

fn intern_locked(
    stack: &RawStack,
    ips: &[usize],
    hash: u64,
    job: Option<&'static PathNode>,
) -> Option<u32> {
    let mut index = INDEX.lock();
    let index = index.get_or_insert_with(new_index);
    let (Some(records), Some(mask)) = (RECORDS.get(), index.slots.len().checked_sub(1)) else {
        DROPPED.fetch_add(1, Relaxed);
        return None;
    };
    let mut slot = hash as usize & mask;
    // The index is never full (it has twice the entries' room), so the
    // probe reaches an empty slot.
    while let Some(&taken) = index.slots.get(slot).filter(|&&taken| taken != 0) {
        let id = taken - 1;
        if entry(id).is_some_and(|entry| entry.is(hash, ips, job)) {
            return Some(id);
        }
        slot = (slot + 1) & mask;
    }
    let Some(&0) = index.slots.get(slot) else {
        DROPPED.fetch_add(1, Relaxed);
        return None;
    };
    let Some(published) = records.entries.get(index.len) else {
        DROPPED.fetch_add(1, Relaxed);
        return None;
    };
    let id = index.len as u32;
    let new = Box::new(StackEntry {
        hash,
        job,
        ips: ips.into(),
        truncated: stack.truncated,
    });
    // Release: a reader that sees the pointer sees the whole entry.
    published.store(Box::into_raw(new), Release);
    index.len += 1;
    if let Some(place) = index.slots.get_mut(slot) {
        *place = id + 1;
    }
    Some(id)
}

/// Makes the table with the capacity configured now (under the index's
/// lock, so once). If its memory cannot be had, no records exist and every
/// sample is dropped.
fn new_index() -> Index {
    let capacity = MAX_STACKS.load(Relaxed).max(1);
    // Zeroed and untouched until used: a table of a few callsites costs a
    // few pages of memory, whatever its capacity.
    let empty = || Index {
        slots: Box::new([]),
        len: 0,
    };
    // Allocated fallibly: running out of memory here drops samples rather
    // than aborting inside the allocator.
    let mut slots = Vec::new();
    let room = (capacity * 2).next_power_of_two();
    if slots.try_reserve_exact(room).is_err() {
        return empty();
    }
    slots.resize(room, 0);
    let (Some(entries), Some(counters)) = (leak_zeroed(capacity), leak_zeroed(capacity)) else {
        return empty();
    };
    let _ = RECORDS.set(Records { entries, counters });
    Index {
        slots: slots.into_boxed_slice(),
        len: 0,
    }
}

fn hash_stack(ips: &[usize], job: usize) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ job as u64;
    for &ip in ips {
        hash = (hash ^ ip as u64)
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(17);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::reentrancy::Untracked;

    fn stack_of(ips: &[usize]) -> RawStack {
        let mut stack = RawStack::new();
        stack.ips[..ips.len()].copy_from_slice(ips);
        stack.len = ips.len();
        stack
    }

    #[test]
    fn stacks_interned_by_many_threads_are_each_readable_by_id() {
        // Four threads intern the same 200 made-up stacks (addresses no code
        // has) while a fifth reads the published entries without the lock.
        let made_up = |i: usize| [0xdead_0000 + i, 0xbeef_0000 + i * 7, i];
        let ids: Vec<Vec<u32>> = std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut seen = 0;
                for _ in 0..200 {
                    seen = seen.max(stacks().count());
                }
                seen
            });
            let workers: Vec<_> = (0..4)
                .map(|t| {
                    scope.spawn(move || {
                        let _untracked = Untracked::enter();
                        (0..200)
                            .map(|i| (i + t * 50) % 200)
                            .map(|i| intern(&stack_of(&made_up(i)), None).expect("room"))
                            .collect::<Vec<u32>>()
                    })
                })
                .collect();
            let ids = workers.into_iter().map(|w| w.join().unwrap()).collect();
            assert!(reader.join().unwrap() <= stacks().count());
            ids
        });
        // Every thread got the same id for the same stack, and the id leads
        // back to that stack.
        for i in 0..200 {
            let id = ids[0][i];
            for (t, thread_ids) in ids.iter().enumerate() {
                let at = thread_ids[(i + 200 - t * 50 % 200) % 200];
                assert_eq!(at, id, "stack {i} on thread {t}");
            }
            let entry = entry(id).expect("published");
            assert_eq!(*entry.ips, made_up(i));
            assert!(counters(id).is_some());
        }
        let listed: Vec<u32> = stacks().map(|(id, _)| id).collect();
        assert_eq!(
            listed,
            (0..listed.len() as u32).collect::<Vec<_>>(),
            "dense"
        );
    }
}
