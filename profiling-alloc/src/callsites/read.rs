//! What users read about callsites: [`callsites`], [`live_callsites`],
//! [`dropped_samples`], and the settings of the sampled path.

use std::sync::atomic::Ordering::Relaxed;

use super::callsite::{Callsite, Frame};
use super::symbols;
use crate::capture::counts::size_class::class_min_size;
use crate::capture::job_path::PathNode;
use crate::capture::sampling::counters::SCALE;
use crate::capture::sampling::live_blocks;
use crate::capture::sampling::stack_table::{self, StackEntry};

/// How [`callsites_with`] presents stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallsiteOptions {
    /// Remove the standard library's plumbing from each stack: at the top,
    /// the allocation path (`RawVec`, `Vec::push`, `HashMap::insert` and the
    /// `hashbrown` table under it ...), so the first frame is the code that
    /// asked for memory; between two of the program's frames, the calls
    /// that lead from one to the other (`Iterator::collect` and its
    /// adapters between a function and the closure it maps with). Frames
    /// from the thread's entry outwards are kept. Default: `true`.
    ///
    /// The profiler's own frames are never shown, whatever this says: the
    /// sampled path is left out of the stack when it is captured, and a
    /// `#[profile_job]` function's body shows as the function.
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
/// (once per address, cached) and the standard library's plumbing folded
/// away (see [`CallsiteOptions::fold_plumbing`]).
///
/// Empty when the allocator is not installed or sampling is
/// [`Sampling::Off`](crate::Sampling::Off) (see [`set_sampling`](crate::set_sampling)).
pub fn callsites() -> Vec<Callsite> {
    callsites_with(&CallsiteOptions::default())
}

/// [`callsites`] with options.
pub fn callsites_with(options: &CallsiteOptions) -> Vec<Callsite> {
    read_callsites(options, |_| true)
}

/// The callsites of the samples taken inside the job path `scope` (a
/// scope's own path: see `job::run_detached`).
pub(crate) fn callsites_within(scope: &'static PathNode) -> Vec<Callsite> {
    read_callsites(&CallsiteOptions::default(), |entry| {
        entry.job.is_some_and(|job| job.is_within(scope))
    })
}

fn read_callsites(options: &CallsiteOptions, keep: impl Fn(&StackEntry) -> bool) -> Vec<Callsite> {
    crate::capture::reading(|| {
        let mut merged: Vec<Callsite> = Vec::new();
        for (id, entry) in stack_table::stacks() {
            if !keep(entry) {
                continue;
            }
            if let Some(site) = resolve(id, entry, options) {
                merge(&mut merged, site);
            }
        }
        merged.sort_by(|a, b| {
            b.total_bytes
                .total_cmp(&a.total_bytes)
                .then_with(|| a.frames.len().cmp(&b.frames.len()))
        });
        merged
    })
}

/// Stack `id` as a callsite with resolved frames; its counts unscaled from
/// units of 1/`SCALE`.
fn resolve(id: u32, entry: &StackEntry, options: &CallsiteOptions) -> Option<Callsite> {
    let counters = stack_table::counters(id)?;
    let mut frames: Vec<Frame> = entry
        .ips
        .iter()
        .flat_map(|&ip| symbols::resolve(ip))
        .collect();
    symbols::present(&mut frames, options.fold_plumbing);
    let job_path = entry
        .job
        .map(|node| {
            crate::job::path_names(node)
                .into_iter()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let totals = counters.read();
    let (lifetimes, reallocated) = counters.lifetimes();
    let any_freed = lifetimes.iter().any(|&blocks| blocks > 0);
    Some(Callsite {
        frames,
        truncated: entry.truncated,
        job_path,
        samples: totals.samples,
        total_blocks: unscaled(totals.blocks),
        total_bytes: unscaled(totals.bytes),
        live_blocks: unscaled(totals.live_blocks.max(0) as u64),
        live_bytes: unscaled(totals.live_bytes.max(0) as u64),
        total_blocks_variance: totals.blocks_variance,
        total_bytes_variance: totals.bytes_variance,
        size_classes: counters
            .class_blocks()
            .iter()
            .enumerate()
            .filter(|(_, &blocks)| blocks > 0)
            .map(|(class, &blocks)| (class_min_size(class), unscaled(blocks)))
            .collect(),
        lifetimes: if any_freed {
            lifetimes.iter().map(|&blocks| unscaled(blocks)).collect()
        } else {
            Vec::new()
        },
        reallocated_blocks: unscaled(reallocated),
    })
}

/// Adds `site` to the callsite with the same frames and job path, or as a
/// new one: stacks that differ only in folded frames are one callsite.
fn merge(merged: &mut Vec<Callsite>, site: Callsite) {
    let Some(existing) = merged
        .iter_mut()
        .find(|m| m.frames == site.frames && m.job_path == site.job_path)
    else {
        merged.push(site);
        return;
    };
    existing.samples += site.samples;
    existing.total_blocks += site.total_blocks;
    existing.total_bytes += site.total_bytes;
    existing.live_blocks += site.live_blocks;
    existing.live_bytes += site.live_bytes;
    // Samples of different stacks are independent: variances add.
    existing.total_blocks_variance += site.total_blocks_variance;
    existing.total_bytes_variance += site.total_bytes_variance;
    existing.truncated |= site.truncated;
    for (min, blocks) in site.size_classes {
        match existing.size_classes.iter_mut().find(|(m, _)| *m == min) {
            Some((_, b)) => *b += blocks,
            None => existing.size_classes.push((min, blocks)),
        }
    }
    existing.size_classes.sort_unstable_by_key(|&(min, _)| min);
    existing.reallocated_blocks += site.reallocated_blocks;
    if existing.lifetimes.len() < site.lifetimes.len() {
        existing.lifetimes.resize(site.lifetimes.len(), 0.0);
    }
    for (sum, blocks) in existing.lifetimes.iter_mut().zip(site.lifetimes) {
        *sum += blocks;
    }
}

/// A count from units of 1/`SCALE` to blocks or bytes, unrounded: the
/// fixed-point sums add up without bias, and so must what readers add.
fn unscaled(count: u64) -> f64 {
    count as f64 / SCALE
}

/// The callsites whose sampled blocks are still alive, most live bytes first:
/// the leak view, at the moment it is called (after a job, at the end of a
/// test). Filter on [`Callsite::job_path`] for what one job left alive.
pub fn live_callsites() -> Vec<Callsite> {
    let mut live: Vec<Callsite> = callsites()
        .into_iter()
        .filter(|site| site.live_blocks > 0.0)
        .collect();
    live.sort_by(|a, b| b.live_bytes.total_cmp(&a.live_bytes));
    live
}

/// Samples that could not be fully recorded because a table was full (the
/// stack table, or the table of live sampled blocks); totals are unaffected.
pub fn dropped_samples() -> u64 {
    stack_table::DROPPED.load(Relaxed)
}

/// Sets how many frames a stack capture keeps (default 64, at most 128);
/// deeper stacks are cut and marked [`Callsite::truncated`].
pub fn set_stack_depth(frames: usize) {
    stack_table::DEPTH.store(frames.clamp(1, stack_table::MAX_FRAMES), Relaxed);
}

/// Sets the capacities of the stack table and of the table of live sampled
/// blocks (defaults [`DEFAULT_MAX_STACKS`](crate::callsites::DEFAULT_MAX_STACKS), and
/// [`DEFAULT_MAX_TRACKED_BLOCKS`](crate::callsites::DEFAULT_MAX_TRACKED_BLOCKS) under
/// Poisson sampling or
/// [`DEFAULT_MAX_TRACKED_BLOCKS_EVERY`](crate::callsites::DEFAULT_MAX_TRACKED_BLOCKS_EVERY)
/// under `Every`; a limit set here applies to every mode). Call it
/// before the first sample: the stack table is allocated then, once, and the
/// block limit is handed out in chunks of 1,024 from then on (a lower limit
/// set later does not take back what was handed out).
/// Values are clamped to 1..=4,194,304 stacks and 1..=67,108,864 blocks.
pub fn set_sampling_limits(max_stacks: usize, max_tracked_blocks: usize) {
    stack_table::MAX_STACKS.store(max_stacks.clamp(1, 1 << 22), Relaxed);
    live_blocks::MAX_TRACKED.store(max_tracked_blocks.clamp(1, 1 << 26), Relaxed);
}
