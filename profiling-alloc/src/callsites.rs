//! Per-callsite allocation statistics from sampled stacks: the sampled path
//! called by the allocator, and [`callsites`], which resolves and merges them.

use std::sync::atomic::Ordering::Relaxed;

use crate::callsite_data::{Callsite, Frame};
use crate::histogram::class_min_size;
use crate::sampled_blocks::{self, Tracked};
use crate::sampling::Sampling;
use crate::stacks::{self, RawStack, SCALE};
use crate::symbols;
use crate::thread_slot::Untracked;

/// The sampled path: captures the stack of a block of `size` bytes at `addr`
/// and adds it to its callsite. Called by the allocator on a sampled
/// allocation; the thread is untracked meanwhile, so nothing here samples
/// again or counts its own memory.
#[cold]
#[inline(never)]
pub(crate) fn on_sample(addr: usize, size: usize, mode: u64) {
    if crate::sampling::suspended() {
        return; // the profiler building a report for its caller
    }
    let _untracked = Untracked::enter();
    let mut stack = RawStack::new();
    stacks::capture(&mut stack);
    let job = crate::job::current_path();
    let Some(id) = stacks::intern(&stack, job) else {
        return;
    };
    let Some(counters) = stacks::counters(id) else {
        return;
    };
    // The weight of the mode that decided to sample, not of one set since.
    let weight = Sampling::decode(mode).weight(size);
    let (blocks, bytes) = counters.add_sample(size, weight);
    if !sampled_blocks::insert(Tracked {
        addr,
        stack: id,
        blocks,
        bytes,
    }) {
        // Counted in the totals, but its free cannot be attributed.
        counters.remove_live(blocks, bytes);
        stacks::DROPPED.fetch_add(1, Relaxed);
    }
}

/// A free, or the old block of a realloc, at `addr` that the filter could
/// not rule out: stops tracking the block and takes it off its callsite's
/// live counts. For a realloc, [`restore`] undoes it if the realloc fails.
#[cold]
#[inline(never)]
pub(crate) fn take(addr: usize) -> Option<Tracked> {
    // The profiler's own memory is never a sampled block, and the profiler
    // may free it while holding a table's lock: never look it up.
    if Untracked::active() {
        return None;
    }
    let _untracked = Untracked::enter();
    let block = sampled_blocks::remove(addr)?;
    if let Some(counters) = stacks::counters(block.stack) {
        counters.remove_live(block.blocks, block.bytes);
    }
    Some(block)
}

/// Tracks a block [`take`]n from a realloc that failed again.
#[cold]
#[inline(never)]
pub(crate) fn restore(block: Tracked) {
    let _untracked = Untracked::enter();
    if let Some(counters) = stacks::counters(block.stack) {
        counters.add_live(block.blocks, block.bytes);
    }
    if !sampled_blocks::insert(block) {
        if let Some(counters) = stacks::counters(block.stack) {
            counters.remove_live(block.blocks, block.bytes);
        }
    }
}

/// How [`callsites_with`] presents stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallsiteOptions {
    /// Remove the standard library's allocation plumbing (`RawVec`,
    /// `Vec::push`, `__rust_alloc` ...) from the top of each stack, so the
    /// first frame is the code that asked for memory. Default: `true`.
    pub fold_plumbing: bool,
}

impl Default for CallsiteOptions {
    fn default() -> Self {
        CallsiteOptions {
            fold_plumbing: true,
        }
    }
}

/// Every callsite sampled so far, most bytes first, with symbols resolved
/// (once per address, cached) and the allocation plumbing folded away.
///
/// Empty when the allocator is not installed or sampling is
/// [`Sampling::Off`](crate::Sampling::Off) (see [`set_sampling`](crate::set_sampling)).
pub fn callsites() -> Vec<Callsite> {
    callsites_with(&CallsiteOptions::default())
}

/// [`callsites`] with options.
pub fn callsites_with(options: &CallsiteOptions) -> Vec<Callsite> {
    let _not_sampled = crate::sampling::SamplingSuspended::enter();
    // Copy the raw stacks out under the table's lock, untracked so that the
    // copy's allocations cannot sample (and wait for the same lock).
    let untracked_copy = {
        let _untracked = Untracked::enter();
        let mut raw = Vec::new();
        stacks::for_each_stack(|id, entry| {
            let job = entry.job.map(|node| node.names()).unwrap_or_default();
            raw.push((id, entry.ips.to_vec(), entry.truncated, job));
        });
        raw
    };
    // Memory allocated untracked must be freed untracked (or the live counts
    // would lose a free they never saw allocated): copy it into the caller's
    // (tracked) memory, then drop the original untracked.
    let raw = untracked_copy.clone();
    {
        let _untracked = Untracked::enter();
        drop(untracked_copy);
    }
    let mut merged: Vec<Callsite> = Vec::new();
    for (id, ips, truncated, job) in raw {
        let Some(counters) = stacks::counters(id) else {
            continue;
        };
        let mut frames: Vec<Frame> = ips.iter().flat_map(|&ip| symbols::resolve(ip)).collect();
        symbols::trim_top(&mut frames, options.fold_plumbing);
        let job_path: Vec<String> = job.into_iter().map(str::to_string).collect();
        let classes = counters.class_blocks();
        let totals = counters.read();
        let site = Callsite {
            frames,
            truncated,
            job_path,
            samples: totals.samples,
            blocks: totals.blocks,
            bytes: totals.bytes,
            live_blocks: totals.live_blocks.max(0) as u64,
            live_bytes: totals.live_bytes.max(0) as u64,
            size_classes: classes
                .iter()
                .enumerate()
                .filter(|(_, &blocks)| blocks > 0)
                .map(|(class, &blocks)| (class_min_size(class), blocks))
                .collect(),
        };
        // Stacks that differ only in folded frames are one callsite.
        match merged
            .iter_mut()
            .find(|m| m.frames == site.frames && m.job_path == site.job_path)
        {
            Some(existing) => {
                existing.samples += site.samples;
                existing.blocks += site.blocks;
                existing.bytes += site.bytes;
                existing.live_blocks += site.live_blocks;
                existing.live_bytes += site.live_bytes;
                existing.truncated |= site.truncated;
                for (min, blocks) in site.size_classes {
                    match existing.size_classes.iter_mut().find(|(m, _)| *m == min) {
                        Some((_, b)) => *b += blocks,
                        None => existing.size_classes.push((min, blocks)),
                    }
                }
                existing.size_classes.sort_unstable();
            }
            None => merged.push(site),
        }
    }
    for site in &mut merged {
        site.blocks = (site.blocks as f64 / SCALE).round() as u64;
        site.bytes = (site.bytes as f64 / SCALE).round() as u64;
        site.live_blocks = (site.live_blocks as f64 / SCALE).round() as u64;
        site.live_bytes = (site.live_bytes as f64 / SCALE).round() as u64;
        for (_, blocks) in &mut site.size_classes {
            *blocks = (*blocks as f64 / SCALE).round() as u64;
        }
    }
    merged.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| a.frames.len().cmp(&b.frames.len()))
    });
    merged
}

/// The callsites whose sampled blocks are still alive, most live bytes first:
/// the leak view, at the moment it is called (after a job, at the end of a
/// test). Filter on [`Callsite::job_path`] for what one job left alive.
pub fn live_callsites() -> Vec<Callsite> {
    let mut live: Vec<Callsite> = callsites()
        .into_iter()
        .filter(|site| site.live_blocks > 0)
        .collect();
    live.sort_by_key(|site| std::cmp::Reverse(site.live_bytes));
    live
}

/// Samples that could not be fully recorded because a table was full (the
/// stack table, or the table of live sampled blocks); totals are unaffected.
pub fn dropped_samples() -> u64 {
    stacks::DROPPED.load(Relaxed)
}

/// Sets how many frames a stack capture keeps (default 64, at most 128);
/// deeper stacks are cut and marked [`Callsite::truncated`].
pub fn set_stack_depth(frames: usize) {
    stacks::DEPTH.store(frames.clamp(1, stacks::MAX_FRAMES), Relaxed);
}

/// Sets the capacities of the stack table and of the table of live sampled
/// blocks (defaults [`DEFAULT_MAX_STACKS`](crate::DEFAULT_MAX_STACKS) and
/// [`DEFAULT_MAX_TRACKED_BLOCKS`](crate::DEFAULT_MAX_TRACKED_BLOCKS)). Call it
/// before the first sample: the stack table is allocated then, once, and the
/// block limit is handed out in chunks of 1,024 from then on (a lower limit
/// set later does not take back what was handed out).
/// Values are clamped to 1..=4,194,304 stacks and 1..=67,108,864 blocks.
pub fn set_sampling_limits(max_stacks: usize, max_tracked_blocks: usize) {
    stacks::MAX_STACKS.store(max_stacks.clamp(1, 1 << 22), Relaxed);
    sampled_blocks::MAX_TRACKED.store(max_tracked_blocks.clamp(1, 1 << 26), Relaxed);
}
