//! Raw stack capture and the stack table: each distinct (job path, stack of
//! return addresses) gets an id and a set of per-callsite counters.
//!
//! Capture writes instruction pointers into a fixed array on the caller's
//! stack; nothing is resolved here (symbols are read at report time, see
//! `symbols`). The table and the counters are allocated once, at the first
//! sample, untracked, with the capacity configured then: when the table is
//! full, new stacks are dropped and counted, never allocated for.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize};

use crate::callsite_counters::leaked_table;
pub(crate) use crate::callsite_counters::CallsiteCounters;
use crate::job::PathNode;
use crate::spin::SpinLock;

/// Most frames a stack can hold.
pub(crate) const MAX_FRAMES: usize = 128;
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

/// Fixed-point scale of the estimated counts (1/256 of a block or byte), so
/// that fractional weights add up without bias.
pub(crate) const SCALE: f64 = 256.0;

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
}

/// Captures the calling thread's stack into `stack`, at most `DEPTH` frames
/// (by frame pointers where the build keeps them, see `unwind`).
#[inline(never)]
pub(crate) fn capture(stack: &mut RawStack) {
    let depth = DEPTH.load(Relaxed).clamp(1, MAX_FRAMES);
    let (len, truncated) = crate::unwind::walk(&mut stack.ips[..depth]);
    stack.len = len;
    stack.truncated = truncated;
}

/// One distinct stack.
#[derive(Debug)]
pub(crate) struct StackEntry {
    pub(crate) hash: u64,
    /// The job path the samples were taken in (`None`: outside any job).
    pub(crate) job: Option<&'static PathNode>,
    pub(crate) ips: Box<[usize]>,
    pub(crate) truncated: bool,
}

#[derive(Debug)]
struct StackTable {
    /// Open addressing: 0 = empty, otherwise entry index + 1.
    index: Box<[u32]>,
    entries: Vec<StackEntry>,
    capacity: usize,
}

static TABLE: SpinLock<Option<StackTable>> = SpinLock::new(None);
/// The counters of entry `i` are `COUNTERS[i]`, allocated with the table.
static COUNTERS: AtomicPtr<CallsiteCounters> = AtomicPtr::new(std::ptr::null_mut());
/// How many counters `COUNTERS` holds (0 until the table exists, and if the
/// counters could not be allocated: every sample is then dropped).
static COUNTERS_LEN: AtomicUsize = AtomicUsize::new(0);

/// The counters of stack `id`.
pub(crate) fn counters(id: u32) -> Option<&'static CallsiteCounters> {
    let len = COUNTERS_LEN.load(Acquire);
    let base = COUNTERS.load(Acquire);
    if base.is_null() || id as usize >= len {
        return None;
    }
    // SAFETY: `COUNTERS` points to a leaked slice of `COUNTERS_LEN` counters,
    // published (Release) after being fully initialised, never freed.
    Some(unsafe { &*base.add(id as usize) })
}

/// Entries of the table, readable without its lock: the vector is created
/// with its final capacity and never reallocates, and an entry is complete
/// before its id is handed out.
static ENTRIES: AtomicPtr<StackEntry> = AtomicPtr::new(std::ptr::null_mut());

/// Per-thread cache of recently interned stacks: a hit skips the table's
/// lock (most samples come from a few hot callsites).
const CACHED: usize = 8;
thread_local! {
    static RECENT: [std::cell::Cell<(u64, u32)>; CACHED] =
        const { [const { std::cell::Cell::new((0, 0)) }; CACHED] };
}

fn same(entry: &StackEntry, hash: u64, ips: &[usize], job_key: usize) -> bool {
    entry.hash == hash
        && entry.job.map_or(0, |n| n as *const PathNode as usize) == job_key
        && &*entry.ips == ips
}

/// The id of `stack` taken in `job`, adding it if new. `None` when the table
/// is full (the sample is dropped). The caller must be untracked.
pub(crate) fn intern(stack: &RawStack, job: Option<&'static PathNode>) -> Option<u32> {
    let ips = &stack.ips[..stack.len];
    let job_key = job.map_or(0, |node| node as *const PathNode as usize);
    let hash = hash_stack(ips, job_key);
    let slot = hash as usize % CACHED;
    let cached = RECENT.try_with(|recent| recent[slot].get()).ok();
    if let Some((cached_hash, id)) = cached.filter(|&(h, _)| h == hash && h != 0) {
        let entries = ENTRIES.load(Acquire);
        if !entries.is_null() {
            // SAFETY: `id` was handed out by this table earlier on this
            // thread, so entry `id` is complete; entries never move or change.
            let entry = unsafe { &*entries.add(id as usize) };
            if cached_hash == hash && same(entry, hash, ips, job_key) {
                return Some(id);
            }
        }
    }
    let id = intern_locked(stack, ips, hash, job, job_key)?;
    let _ = RECENT.try_with(|recent| recent[slot].set((hash, id)));
    Some(id)
}

fn intern_locked(
    stack: &RawStack,
    ips: &[usize],
    hash: u64,
    job: Option<&'static PathNode>,
    job_key: usize,
) -> Option<u32> {
    let mut table = TABLE.lock();
    let table = table.get_or_insert_with(new_table);
    let mask = table.index.len() - 1;
    let mut slot = hash as usize & mask;
    loop {
        match table.index[slot] {
            0 => break,
            entry => {
                if same(&table.entries[entry as usize - 1], hash, ips, job_key) {
                    return Some(entry - 1);
                }
                slot = (slot + 1) & mask;
            }
        }
    }
    if table.entries.len() >= table.capacity {
        DROPPED.fetch_add(1, Relaxed);
        return None;
    }
    let id = table.entries.len() as u32;
    table.entries.push(StackEntry {
        hash,
        job,
        ips: ips.into(),
        truncated: stack.truncated,
    });
    table.index[slot] = id + 1;
    Some(id)
}

fn new_table() -> StackTable {
    let capacity = MAX_STACKS.load(Relaxed).max(1);
    // Zeroed and untouched until used: a table of a few callsites costs a
    // few pages of memory, whatever its capacity.
    if let Some(counters) = leaked_table(capacity) {
        COUNTERS.store(counters.as_ptr().cast_mut(), Release);
        COUNTERS_LEN.store(counters.len(), Release);
    }
    let mut entries = Vec::with_capacity(capacity);
    ENTRIES.store(entries.as_mut_ptr(), Release);
    StackTable {
        index: vec![0; (capacity * 2).next_power_of_two()].into_boxed_slice(),
        entries,
        capacity,
    }
}

/// Calls `f` with every stack and its id, under the table's lock. The caller
/// must be untracked (so that what `f` allocates does not sample).
pub(crate) fn for_each_stack(mut f: impl FnMut(u32, &StackEntry)) {
    let table = TABLE.lock();
    if let Some(table) = &*table {
        for (id, entry) in table.entries.iter().enumerate() {
            f(id as u32, entry);
        }
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
