//! Sampled blocks still alive: address → callsite and weight, so that a free
//! takes the block's share off its callsite's live counts.
//!
//! The common free (a block that was not sampled) must not take a lock or do
//! a hash lookup: a counting filter of atomics, indexed by a hash of the
//! address, says "certainly not sampled" for almost every block with one
//! relaxed load; only a hit takes the table's lock.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicUsize};

use crate::spin::SpinLock;

/// Sampled blocks tracked by default.
pub const DEFAULT_MAX_TRACKED_BLOCKS: usize = 262_144;
/// Capacity of the table, read when it is created.
pub(crate) static MAX_TRACKED: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_TRACKED_BLOCKS);
/// Blocks in the table: 0 lets every free skip even the filter.
static TRACKED: AtomicUsize = AtomicUsize::new(0);

const FILTER_SIZE: usize = 1 << 14;
static FILTER: [AtomicU32; FILTER_SIZE] = [const { AtomicU32::new(0) }; FILTER_SIZE];

/// A tracked block: its callsite and the scaled live share it added there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tracked {
    pub(crate) addr: usize,
    pub(crate) stack: u32,
    pub(crate) blocks: i64,
    pub(crate) bytes: i64,
}

#[derive(Debug)]
struct BlockTable {
    /// Open addressing with linear probing; `addr == 0` is empty. Deletion
    /// shifts the following cluster back, so there are no tombstones.
    slots: Box<[Tracked]>,
    len: usize,
    capacity: usize,
}

static TABLE: SpinLock<Option<BlockTable>> = SpinLock::new(None);

#[inline(always)]
fn hash(addr: usize) -> usize {
    // Blocks are at least 8-aligned: drop the low bits, then mix.
    ((addr as u64 >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize
}

/// Whether `addr` may be a tracked block: one or two relaxed loads.
#[inline(always)]
pub(crate) fn maybe_tracked(addr: usize) -> bool {
    TRACKED.load(Relaxed) != 0 && FILTER[hash(addr) % FILTER_SIZE].load(Relaxed) != 0
}

/// Starts tracking a sampled block. `false` when the table is full. The caller
/// must be untracked.
pub(crate) fn insert(block: Tracked) -> bool {
    let mut table = TABLE.lock();
    let table = table.get_or_insert_with(|| {
        let capacity = MAX_TRACKED.load(Relaxed).max(1);
        let empty = Tracked {
            addr: 0,
            stack: 0,
            blocks: 0,
            bytes: 0,
        };
        BlockTable {
            slots: vec![empty; (capacity * 2).next_power_of_two()].into_boxed_slice(),
            len: 0,
            capacity,
        }
    });
    if table.len >= table.capacity {
        return false;
    }
    let mask = table.slots.len() - 1;
    let mut slot = hash(block.addr) & mask;
    while table.slots[slot].addr != 0 && table.slots[slot].addr != block.addr {
        slot = (slot + 1) & mask;
    }
    if table.slots[slot].addr == 0 {
        table.len += 1;
        TRACKED.fetch_add(1, Relaxed);
        FILTER[hash(block.addr) % FILTER_SIZE].fetch_add(1, Relaxed);
    }
    table.slots[slot] = block;
    true
}

/// Stops tracking `addr`, returning what it was, if it was tracked.
pub(crate) fn remove(addr: usize) -> Option<Tracked> {
    let mut table = TABLE.lock();
    let table = table.as_mut()?;
    let mask = table.slots.len() - 1;
    let mut slot = hash(addr) & mask;
    loop {
        let here = table.slots[slot].addr;
        if here == 0 {
            return None;
        }
        if here == addr {
            break;
        }
        slot = (slot + 1) & mask;
    }
    let removed = table.slots[slot];
    // Backward-shift deletion: move later members of the cluster into the
    // hole when their home position allows it.
    let mut hole = slot;
    let mut next = (hole + 1) & mask;
    while table.slots[next].addr != 0 {
        let home = hash(table.slots[next].addr) & mask;
        let distance_to_next = next.wrapping_sub(home) & mask;
        let distance_to_hole = hole.wrapping_sub(home) & mask;
        if distance_to_hole <= distance_to_next {
            table.slots[hole] = table.slots[next];
            hole = next;
        }
        next = (next + 1) & mask;
    }
    table.slots[hole] = Tracked {
        addr: 0,
        stack: 0,
        blocks: 0,
        bytes: 0,
    };
    table.len -= 1;
    TRACKED.fetch_sub(1, Relaxed);
    FILTER[hash(addr) % FILTER_SIZE].fetch_sub(1, Relaxed);
    Some(removed)
}
