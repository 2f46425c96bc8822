//! Sampled blocks still alive: address → callsite and weight, so that a free
//! takes the block's share off its callsite's live counts.
//!
//! The common free (a block that was not sampled) must not take a lock or do
//! a hash lookup: a counting filter of atomics, indexed by a hash of the
//! address, says "certainly not sampled" for almost every block with one
//! relaxed load; only a hit takes the table's lock.
//!
//! The table's shards are chosen by the 64 MiB region of the address. glibc
//! (like most allocators) serves each thread from its own arena, in regions
//! of its own, so a thread's sampled blocks land in a shard whose lock and
//! slots other threads rarely touch: their cache lines stay in that thread's
//! core. The filter is one for all addresses (BENCHMARKS.md has what
//! splitting it by region cost). At the default rate a program holds about
//! two sampled blocks per MiB live, so a 1 GiB heap sets about 3% of the
//! filter's counters: the share of frees that take the lock for nothing.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};

use super::mode::{EVERY, MODE};
use crate::sync::{Padded, SpinLock};

/// Sampled blocks tracked at most by default, under Poisson sampling (at
/// the default rate, a program holds a few hundred sampled blocks per
/// 64 MiB live). Their memory is taken as blocks are tracked, and kept: at
/// most 160 bytes per block of the most tracked at once (a 40-byte slot, in
/// tables that double when half full and never shrink), 40 MiB at this
/// limit.
pub const DEFAULT_MAX_TRACKED_BLOCKS: usize = 262_144;
/// Sampled blocks tracked at most by default under
/// [`Sampling::Every`](crate::Sampling::Every), where every live block is a
/// sampled one: 2,097,152 (a serde_json and regex workload peaked at
/// 353,474 live blocks). Taken as blocks are tracked, at most 160 bytes per
/// block: 320 MiB at this limit, which only a program holding two million
/// blocks at once reaches (their own memory is at least half as much).
pub const DEFAULT_MAX_TRACKED_BLOCKS_EVERY: usize = 2_097_152;
/// The limit set with `set_sampling_limits`; 0: the default of the mode in
/// force ([`limit`]).
pub(crate) static MAX_TRACKED: AtomicUsize = AtomicUsize::new(0);
// Every's default holds the serde_json and regex workload's peak, and is
// the larger.
const _: () = assert!(
    DEFAULT_MAX_TRACKED_BLOCKS_EVERY > 353_474
        && DEFAULT_MAX_TRACKED_BLOCKS < DEFAULT_MAX_TRACKED_BLOCKS_EVERY
);
/// Set at the first tracked block (never cleared, so the line stays shared
/// read-only): until then a free by a thread without a slot of its own
/// skips even the filter. (The others read the filter's address from their
/// slot, null until then: `Slot::sampled_filter`.)
static ANY_TRACKED: Padded<AtomicBool> = Padded(AtomicBool::new(false));

// NOTE: one byte per counter, 64 KiB: the address's 16-byte granule modulo
// the filter's size, so blocks 1 MiB apart share a counter. Every free asks
// it once anything is sampled: its index is a shift and a mask. (Split by
// the table's shards, 4 KiB per 64 MiB region, a thread's frees read only
// its own region's part; that cost four instructions a free and bought
// nothing measurable, see BENCHMARKS.md.) A counter that reaches 255 stays
// there (never decremented): only more false positives, never a missed
// block.
const FILTER_SIZE: usize = 1 << 16;
static FILTER: [AtomicU8; FILTER_SIZE] = [const { AtomicU8::new(0) }; FILTER_SIZE];

/// The filter's counter for `addr`: its 16-byte granule modulo the filter.
/// Any two blocks may share a counter: a false positive costs a lookup,
/// never a missed block.
#[inline(always)]
fn filter_index(addr: usize) -> usize {
    (addr >> 4) % FILTER_SIZE
}

fn filter_add(addr: usize) {
    let counter = crate::capture::wrapping_at(&FILTER, filter_index(addr));
    let _ = counter.fetch_update(Relaxed, Relaxed, |n| (n < u8::MAX).then_some(n + 1));
}

fn filter_remove(addr: usize) {
    let counter = crate::capture::wrapping_at(&FILTER, filter_index(addr));
    let _ = counter.fetch_update(Relaxed, Relaxed, |n| (n > 0 && n < u8::MAX).then(|| n - 1));
}

/// A tracked block: its callsite and the scaled live share it added there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tracked {
    pub(crate) addr: usize,
    pub(crate) stack: u32,
    pub(crate) blocks: i64,
    pub(crate) bytes: i64,
    /// When it was allocated (`sys::monotonic_nanos`; 0: not known).
    pub(crate) born_ns: u64,
}

#[derive(Debug)]
struct BlockTable {
    /// Open addressing with linear probing; `addr == 0` is empty. Deletion
    /// shifts the following cluster back, so there are no tombstones.
    slots: Box<[Tracked]>,
    len: usize,
    /// Blocks this shard may hold: its reserved share of `MAX_TRACKED`.
    capacity: usize,
}

/// The table is split in shards by address, each with its own lock, so that
/// threads sampling and freeing at the same time rarely wait for each other.
const SHARDS: usize = 16;
static TABLES: [Shard; SHARDS] = [const { Shard(SpinLock::new(None)) }; SHARDS];

/// One shard's lock and table, alone on its (pair of) cache lines: threads
/// locking different shards must not contend through false sharing.
#[repr(align(128))]
struct Shard(SpinLock<Option<BlockTable>>);

/// The shard of `addr` and its home position (before masking) in it.
fn shard(addr: usize) -> (&'static SpinLock<Option<BlockTable>>, usize) {
    (
        &crate::capture::wrapping_at(&TABLES, region(addr)).0,
        hash(addr),
    )
}

/// The shard of an address's 64 MiB region (a mix of the region's number).
#[inline(always)]
fn region(addr: usize) -> usize {
    ((addr as u64 >> 26).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 59) as usize % SHARDS
}

/// Tracked blocks are limited to `MAX_TRACKED` in all. Shards take their
/// share of that limit from this count in chunks, and give chunks back when
/// they hold far fewer blocks than they took room for, so that the shared
/// count is written about once per chunk of inserts or removes, not at each
/// one. It always equals the sum of the shards' capacities.
static RESERVED: Padded<AtomicUsize> = Padded(AtomicUsize::new(0));
/// The largest chunk.
const CHUNK: usize = 1024;

/// The chunk size for the limit `max`: small limits are shared out in small
/// chunks, so that a few shards cannot take all of it.
fn chunk_for(max: usize) -> usize {
    (max / (4 * SHARDS)).clamp(1, CHUNK)
}

/// The number of blocks that may be tracked now.
fn limit() -> usize {
    limit_for(MAX_TRACKED.load(Relaxed), MODE.load(Relaxed))
}

/// The limit `configured` with `set_sampling_limits` or, when 0 (never
/// set), the default of the sampling `mode` (encoded): the limit follows
/// the mode in force when a shard takes room. (After a switch from `Every`
/// to Poisson, blocks tracked beyond Poisson's limit stay tracked, and new
/// samples are dropped until enough of them are freed.)
fn limit_for(configured: usize, mode: u64) -> usize {
    match configured {
        0 if mode == EVERY => DEFAULT_MAX_TRACKED_BLOCKS_EVERY,
        0 => DEFAULT_MAX_TRACKED_BLOCKS,
        set => set,
    }
}

/// Reserves room for more blocks; how many (0: the limit is reached).
fn reserve_chunk() -> usize {
    let max = limit();
    let chunk = chunk_for(max);
    match RESERVED.0.fetch_update(Relaxed, Relaxed, |used| {
        (used < max).then(|| used + chunk.min(max - used))
    }) {
        Ok(used) => chunk.min(max - used),
        Err(_) => 0,
    }
}

/// After a remove: gives a chunk back if the shard has two spare.
fn release_surplus(table: &mut BlockTable) {
    let chunk = chunk_for(limit());
    if table.capacity - table.len > 2 * chunk {
        table.capacity -= chunk;
        RESERVED.0.fetch_sub(chunk, Relaxed);
    }
}

/// The home position of `addr` (before masking). Within a 4 KiB window,
/// blocks keep their order and spacing (one position per 16 bytes), so
/// that a run of allocations, and of their frees, touches a few
/// neighbouring cache lines of the table rather than one random line each:
/// under `Sampling::Every` a program holding 350,000 blocks has a table of
/// about 40 MiB, where a random line is a cache and TLB miss. Each window
/// starts at a mix of its number, at any position: windows that land on
/// each other overlap by at most 255 positions, whatever the table's size,
/// and blocks at the same offset of different windows (page-aligned large
/// blocks) land apart. The price: equal blocks packed without gaps fill
/// their windows, and at some table sizes the starts of many such windows
/// fall closer than a window apart, making runs of a few hundred positions
/// and probes of a dozen or more. Those probes read neighbouring memory,
/// and such blocks are still made and freed faster than with homes spread
/// at random (`boxes-every` in BENCHMARKS.md).
#[inline(always)]
fn hash(addr: usize) -> usize {
    let granule = (addr >> 4) & (WINDOW_POSITIONS - 1);
    let window = (addr as u64 >> 12).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    (window as usize).wrapping_add(granule)
}

/// Positions of one 4 KiB window of addresses (16-byte granules).
const WINDOW_POSITIONS: usize = 256;

/// Whether `addr` may be a tracked block: one or two relaxed loads.
#[inline(always)]
pub(crate) fn maybe_tracked(addr: usize) -> bool {
    ANY_TRACKED.load(Relaxed) && filter_hit(addr)
}

/// Whether the filter's counter for `addr` is set: the block may be tracked.
/// Once anything was tracked (before, every counter is 0).
#[inline(always)]
fn filter_hit(addr: usize) -> bool {
    crate::capture::wrapping_at(&FILTER, filter_index(addr)).load(Relaxed) != 0
}

/// [`filter_hit`], for the filter whose first counter is `first`.
///
/// # Safety
///
/// `first` is the filter's first counter (what `insert` stores in the
/// slots).
#[inline(always)]
pub(crate) unsafe fn filter_hit_from(first: *const AtomicU8, addr: usize) -> bool {
    // SAFETY: the caller's `first` starts `FILTER`, and the index is below
    // its length.
    unsafe { &*first.add(filter_index(addr)) }.load(Relaxed) != 0
}

/// Starts tracking a sampled block. `false` when the table is full. The caller
/// must be untracked.
pub(crate) fn insert(block: Tracked) -> bool {
    let (lock, home) = shard(block.addr);
    let mut table = lock.lock();
    let table = table.get_or_insert_with(|| BlockTable {
        slots: vec![EMPTY; INITIAL_SLOTS].into_boxed_slice(),
        len: 0,
        capacity: 0,
    });
    if table.len >= table.capacity {
        match reserve_chunk() {
            0 => return false,
            more => table.capacity += more,
        }
    }
    // PERF: the table starts small and doubles at half full, so that the few
    // blocks a program usually has sampled at once stay in cache.
    // Should the memory to double not be there, the table fills further,
    // and drops the sample when one empty slot is left (probes end there).
    if (table.len + 1) * 2 > table.slots.len() && !grow(table) && table.len + 2 > table.slots.len()
    {
        return false;
    }
    let slot = probe(&table.slots, home, |here| here == 0 || here == block.addr);
    let Some(place) = table.slots.get_mut(slot) else {
        return false;
    };
    if place.addr == 0 {
        table.len += 1;
        // Acquire and Release: a block tracked after this, in another
        // shard, may be freed by any thread, whose slot must have the
        // filter then.
        if !ANY_TRACKED.load(Acquire) {
            // Before the block is tracked: from now on the frees of every
            // thread with a slot look at the filter.
            // SAFETY: the filter's first counter.
            unsafe { crate::capture::counts::slot_table::note_sampled_blocks(FILTER.as_ptr()) };
            ANY_TRACKED.store(true, Release);
        }
        filter_add(block.addr);
    }
    *place = block;
    true
}

/// The first position from `home` on (linear probing, wrapping around) whose
/// address `stop` accepts. Every table has a power-of-two length and an
/// empty slot, so the search ends; a position past the end (only for an
/// empty table) makes the caller's `get` fail instead of panicking.
fn probe(slots: &[Tracked], home: usize, stop: impl Fn(usize) -> bool) -> usize {
    let mask = slots.len().wrapping_sub(1);
    let mut slot = home & mask;
    while let Some(here) = slots.get(slot) {
        if stop(here.addr) {
            break;
        }
        slot = (slot + 1) & mask;
    }
    slot
}

const EMPTY: Tracked = Tracked {
    addr: 0,
    stack: 0,
    blocks: 0,
    bytes: 0,
    born_ns: 0,
};
const INITIAL_SLOTS: usize = 64;

/// Doubles the table; `false` if the memory is not available. The caller
/// holds the lock and is untracked, so the allocation neither counts nor
/// samples, and freeing the old slots does not look them up in this table
/// (see `record::take`).
fn grow(table: &mut BlockTable) -> bool {
    let Some(len) = table.slots.len().checked_mul(2) else {
        return false;
    };
    let mut slots = Vec::new();
    if slots.try_reserve_exact(len).is_err() {
        return false;
    }
    slots.resize(len, EMPTY);
    let old = std::mem::replace(&mut table.slots, slots.into_boxed_slice());
    for block in old.iter().filter(|block| block.addr != 0) {
        let slot = probe(&table.slots, shard(block.addr).1, |here| here == 0);
        if let Some(place) = table.slots.get_mut(slot) {
            *place = *block;
        }
    }
    true
}

/// Stops tracking `addr`, returning what it was, if it was tracked.
pub(crate) fn remove(addr: usize) -> Option<Tracked> {
    let (lock, home) = shard(addr);
    let mut table = lock.lock();
    let table = table.as_mut()?;
    let mask = table.slots.len().wrapping_sub(1);
    let slot = probe(&table.slots, home, |here| here == 0 || here == addr);
    // 0 marks an empty slot: never a block's address (frees of null do
    // not reach here), and never to be taken for one.
    let removed = *table
        .slots
        .get(slot)
        .filter(|found| found.addr == addr && addr != 0)?;
    // Backward-shift deletion: move later members of the cluster into the
    // hole when their home position allows it.
    let mut hole = slot;
    let mut next = (hole + 1) & mask;
    while let Some(&moving) = table.slots.get(next).filter(|next| next.addr != 0) {
        let home = shard(moving.addr).1 & mask;
        let distance_to_next = next.wrapping_sub(home) & mask;
        let distance_to_hole = hole.wrapping_sub(home) & mask;
        if distance_to_hole <= distance_to_next {
            if let Some(place) = table.slots.get_mut(hole) {
                *place = moving;
            }
            hole = next;
        }
        next = (next + 1) & mask;
    }
    if let Some(place) = table.slots.get_mut(hole) {
        *place = EMPTY;
    }
    table.len -= 1;
    release_surplus(table);
    filter_remove(addr);
    Some(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limit_follows_the_mode() {
        use crate::capture::sampling::mode::Sampling;
        assert_eq!(
            limit_for(0, Sampling::Every.encode()),
            DEFAULT_MAX_TRACKED_BLOCKS_EVERY
        );
        for mode in [Sampling::Off, Sampling::poisson()] {
            assert_eq!(limit_for(0, mode.encode()), DEFAULT_MAX_TRACKED_BLOCKS);
        }
        // A limit that was set holds in every mode.
        assert_eq!(limit_for(10, Sampling::Every.encode()), 10);
        assert_eq!(limit_for(10, Sampling::poisson().encode()), 10);
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_slot_is_40_bytes_as_the_limits_documentation_says() {
        assert_eq!(std::mem::size_of::<Tracked>(), 40);
    }

    #[test]
    fn chunks_shrink_with_the_limit() {
        assert_eq!(chunk_for(DEFAULT_MAX_TRACKED_BLOCKS), CHUNK);
        assert_eq!(chunk_for(4096), 64);
        assert_eq!(chunk_for(10), 1);
    }

    #[test]
    fn neighbours_stay_neighbours_and_windows_spread() {
        let base = 0x7f12_3450_0000usize;
        // Consecutive blocks of a window: consecutive positions.
        for step in [16, 48, 4080] {
            assert_eq!(hash(base + step), hash(base) + step / 16);
        }
        // The same offset in 1,000 windows (as page-aligned large blocks
        // are): spread over a table of 1,024 positions.
        let mask = 1023;
        for stride in [4096, 1 << 20] {
            let homes: std::collections::HashSet<usize> = (0..1000)
                .map(|i| hash(base + i * stride + 16) & mask)
                .collect();
            assert!(homes.len() > 500, "{} distinct homes", homes.len());
        }
    }

    /// The longest run of occupied positions, and the mean probe length,
    /// when `addrs` are placed in a table of `positions` by home position
    /// and linear probing (as `insert` does).
    fn placed(addrs: &[usize], positions: usize) -> (usize, f64) {
        let mask = positions - 1;
        let mut table = vec![0usize; positions];
        let mut probes = 0;
        for &addr in addrs {
            let mut at = hash(addr) & mask;
            probes += 1;
            while table[at] != 0 {
                at = (at + 1) & mask;
                probes += 1;
            }
            table[at] = addr;
        }
        let (mut run, mut longest) = (0, 0);
        for &slot in table.iter().chain(&table) {
            run = if slot == 0 { 0 } else { run + 1 };
            longest = longest.max(run);
        }
        (longest, probes as f64 / addrs.len() as f64)
    }

    #[test]
    fn dense_and_aligned_blocks_make_no_long_runs_at_any_table_size() {
        // Enough 32-byte blocks to span several 1 MiB stretches of address.
        const N: usize = 100_000;
        let base = 0x5555_5555_0000usize;
        let patterns: [(&str, Vec<usize>); 4] = [
            ("32-byte chunks", (0..N).map(|i| base + 32 * i).collect()),
            ("48-byte chunks", (0..N).map(|i| base + 48 * i).collect()),
            ("pages", (0..N).map(|i| base + 4096 * i + 16).collect()),
            ("MiB apart", (0..N).map(|i| base + (i << 20) + 16).collect()),
        ];
        // Half full at most, as `insert` keeps the table; up to 4 times
        // larger, as a table that grew and then emptied is.
        for bits in 18..=20 {
            for (name, addrs) in &patterns {
                let (longest, mean) = placed(addrs, 1 << bits);
                assert!(
                    longest <= 64 && mean < 2.5,
                    "{name} in 2^{bits}: a run of {longest}, {mean:.2} probes a block"
                );
            }
        }
    }

    #[test]
    fn insert_grow_and_remove_keep_every_block_findable() {
        // Addresses in a range no real allocation of this test uses, in
        // regions spread over the shards; enough to make shards grow several
        // times and take several chunks of the limit.
        let base = 0x7777_0000_0000usize;
        let addrs: Vec<usize> = (0..5000)
            .map(|i| base + (i % 40) * (64 << 20) + i * 48)
            .collect();
        let shards: std::collections::HashSet<usize> = addrs.iter().map(|&a| region(a)).collect();
        assert!(shards.len() > SHARDS / 2, "{shards:?}");
        for (i, &addr) in addrs.iter().enumerate() {
            let block = Tracked {
                addr,
                stack: i as u32,
                blocks: 1,
                bytes: i as i64,
                born_ns: 0,
            };
            assert!(insert(block));
            assert!(maybe_tracked(addr));
        }
        // Remove every other one (backward-shift deletion moves the rest).
        for &addr in addrs.iter().step_by(2) {
            assert_eq!(remove(addr).map(|b| b.addr), Some(addr));
            assert_eq!(remove(addr), None, "removed once");
        }
        // 0 marks an empty slot: it is never found, and finding nothing
        // changes nothing.
        assert_eq!(remove(0), None);
        for (i, &addr) in addrs.iter().enumerate().skip(1).step_by(2) {
            let block = remove(addr).expect("still tracked");
            assert_eq!((block.stack, block.bytes), (i as u32, i as i64));
        }
        assert_eq!(remove(base + 7), None);
    }
}
