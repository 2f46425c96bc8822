//! The counters of one callsite, written by every thread that samples it.
//!
//! Threads running the same code sample the same callsites, so a single set
//! of atomics would bounce its cache line between their cores on every
//! sample (measured: most of the extra cost of sampling on two threads). The
//! scalar counts are therefore kept in [`STRIPES`] cache-line-aligned copies,
//! each thread writing its own (threads take stripes in turn), and summed
//! when read. The size-class counts, one add per sample, are kept once.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicI64, AtomicU64};

use super::lifetimes::{lifetime_class, LIFETIME_CLASSES};
use crate::capture::counts::size_class::{size_class, SIZE_CLASSES};
use crate::capture::leaked::Zeroable;

/// Fixed-point scale of the estimated counts (1/256 of a block or byte), so
/// that fractional weights add up without bias.
pub(crate) const SCALE: f64 = 256.0;

/// Copies of the scalar counts.
const STRIPES: usize = 4;

/// One thread's share of a callsite's scalar counts (in units of 1/`SCALE`).
#[derive(Debug)]
#[repr(align(128))]
struct Stripe {
    samples: AtomicU64,
    blocks: AtomicU64,
    bytes: AtomicU64,
    live_blocks: AtomicI64,
    live_bytes: AtomicI64,
    /// The estimator's variance of `blocks` (an `f64`'s bits, unscaled).
    blocks_variance: AtomicU64,
    /// The estimator's variance of `bytes` (an `f64`'s bits, unscaled).
    bytes_variance: AtomicU64,
}

/// Estimated counts of one callsite, in units of 1/[`SCALE`].
///
/// All zeros is a valid value (every field is an atomic integer), so a table
/// of them can come from `alloc_zeroed` without touching its pages.
#[derive(Debug)]
pub(crate) struct CallsiteCounters {
    stripes: [Stripe; STRIPES],
    class_blocks: [AtomicU64; SIZE_CLASSES],
    /// Freed blocks (scaled) per lifetime class.
    lifetimes: [AtomicU64; LIFETIME_CLASSES],
    /// Freed blocks (scaled) whose life ended in a realloc.
    reallocated: AtomicU64,
}

/// What [`CallsiteCounters::read`] returns: sums over the stripes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallsiteTotals {
    pub(crate) samples: u64,
    pub(crate) blocks: u64,
    pub(crate) bytes: u64,
    pub(crate) live_blocks: i64,
    pub(crate) live_bytes: i64,
    /// Variance of the estimate of `blocks`, in blocks² (not scaled).
    pub(crate) blocks_variance: f64,
    /// Variance of the estimate of `bytes`, in bytes² (not scaled).
    pub(crate) bytes_variance: f64,
}

impl CallsiteCounters {
    fn stripe(&self) -> &Stripe {
        crate::capture::wrapping_at(&self.stripes, crate::sync::thread_number())
    }

    /// Adds a sampled block of `size` bytes standing for `weight` blocks.
    /// Returns the scaled (blocks, bytes) it added, for the free to remove.
    ///
    /// Also adds the sample's share of the estimator's variance: a block
    /// sampled with probability `p = 1 / weight` and counted as `weight`
    /// contributes `(1 - p) / p² = weight · (weight - 1)` to the variance of
    /// the block count, `size²` times that to the byte count's
    /// (Horvitz–Thompson); zero when every block is sampled.
    pub(crate) fn add_sample(&self, size: usize, weight: f64) -> (i64, i64) {
        let blocks = (weight * SCALE).round() as u64;
        let bytes = (weight * size as f64 * SCALE).round() as u64;
        let stripe = self.stripe();
        stripe.samples.fetch_add(1, Relaxed);
        stripe.blocks.fetch_add(blocks, Relaxed);
        stripe.bytes.fetch_add(bytes, Relaxed);
        stripe.live_blocks.fetch_add(blocks as i64, Relaxed);
        stripe.live_bytes.fetch_add(bytes as i64, Relaxed);
        let blocks_variance = weight * (weight - 1.0);
        if blocks_variance > 0.0 {
            add_f64(&stripe.blocks_variance, blocks_variance);
            add_f64(
                &stripe.bytes_variance,
                blocks_variance * (size as f64).powi(2),
            );
        }
        crate::capture::wrapping_at(&self.class_blocks, size_class(size))
            .fetch_add(blocks, Relaxed);
        (blocks as i64, bytes as i64)
    }

    /// Adds back a live share removed by [`Self::remove_live`].
    pub(crate) fn add_live(&self, blocks: i64, bytes: i64) {
        let stripe = self.stripe();
        stripe.live_blocks.fetch_add(blocks, Relaxed);
        stripe.live_bytes.fetch_add(bytes, Relaxed);
    }

    /// Removes a freed sampled block's live share (from the freeing thread's
    /// stripe: a stripe's live count may go below zero, the sum cannot).
    pub(crate) fn remove_live(&self, blocks: i64, bytes: i64) {
        let stripe = self.stripe();
        stripe.live_blocks.fetch_sub(blocks, Relaxed);
        stripe.live_bytes.fetch_sub(bytes, Relaxed);
    }

    /// The scalar counts, summed over the stripes.
    pub(crate) fn read(&self) -> CallsiteTotals {
        let mut totals = CallsiteTotals::default();
        for stripe in &self.stripes {
            totals.samples = totals.samples.wrapping_add(stripe.samples.load(Relaxed));
            totals.blocks = totals.blocks.wrapping_add(stripe.blocks.load(Relaxed));
            totals.bytes = totals.bytes.wrapping_add(stripe.bytes.load(Relaxed));
            totals.live_blocks = totals
                .live_blocks
                .wrapping_add(stripe.live_blocks.load(Relaxed));
            totals.live_bytes = totals
                .live_bytes
                .wrapping_add(stripe.live_bytes.load(Relaxed));
            totals.blocks_variance += f64::from_bits(stripe.blocks_variance.load(Relaxed));
            totals.bytes_variance += f64::from_bits(stripe.bytes_variance.load(Relaxed));
        }
        totals
    }

    /// Records the end of a sampled block's life: its scaled share of
    /// blocks, how long it lived, and whether a realloc ended it.
    pub(crate) fn add_ended(&self, blocks: i64, lifetime_ns: u64, by_realloc: bool) {
        let blocks = u64::try_from(blocks).unwrap_or(0);
        crate::capture::wrapping_at(&self.lifetimes, lifetime_class(lifetime_ns))
            .fetch_add(blocks, Relaxed);
        if by_realloc {
            self.reallocated.fetch_add(blocks, Relaxed);
        }
    }

    /// Freed blocks (scaled) per lifetime class, and those a realloc ended.
    pub(crate) fn lifetimes(&self) -> ([u64; LIFETIME_CLASSES], u64) {
        (
            self.lifetimes.each_ref().map(|count| count.load(Relaxed)),
            self.reallocated.load(Relaxed),
        )
    }

    /// Blocks per size class (index = class).
    pub(crate) fn class_blocks(&self) -> [u64; SIZE_CLASSES] {
        self.class_blocks
            .each_ref()
            .map(|count| count.load(Relaxed))
    }
}

/// Adds `value` to the `f64` whose bits `cell` holds. A compare-and-swap
/// loop: threads sharing a stripe rarely meet here, and a loser only retries.
fn add_f64(cell: &AtomicU64, value: f64) {
    let mut current = cell.load(Relaxed);
    loop {
        let sum = (f64::from_bits(current) + value).to_bits();
        match cell.compare_exchange_weak(current, sum, Relaxed, Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}

// SAFETY: every field is an atomic integer (or an array of them, or a
// `Stripe` of them), for which zero bytes are a valid value, and atomics are
// `Sync`. A field of another kind added to `CallsiteCounters` or `Stripe`
// must keep that true, or this impl must go.
unsafe impl Zeroable for CallsiteCounters {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_sum_to_the_counts_added() {
        let table: &[CallsiteCounters] = crate::capture::leaked::leak_zeroed(2).unwrap();
        let site = &table[1];
        let (blocks, bytes) = site.add_sample(100, 1.0);
        site.add_sample(3000, 2.0);
        site.remove_live(blocks, bytes);
        let totals = site.read();
        assert_eq!(totals.samples, 2);
        assert_eq!(totals.blocks, 3 * 256);
        assert_eq!(totals.bytes, (100 + 6000) * 256);
        assert_eq!(
            (totals.live_blocks, totals.live_bytes),
            (2 * 256, 6000 * 256)
        );
        let classes = site.class_blocks();
        assert_eq!(classes[size_class(100)], 256);
        assert_eq!(classes[size_class(3000)], 512);
        site.add_ended(blocks, 500, false);
        site.add_ended(512, 2_000_000, true);
        let (lifetimes, reallocated) = site.lifetimes();
        assert_eq!((lifetimes[0], lifetimes[4], reallocated), (256, 512, 512));
        assert_eq!(table[0].read().samples, 0, "zeroed");
        assert_eq!(table[0].read().bytes_variance, 0.0, "zero bits are 0.0");
        assert_eq!(
            (totals.blocks_variance, totals.bytes_variance),
            (2.0, 2.0 * 3000.0 * 3000.0),
            "a weight-1 sample adds none, a weight-2 one 2·1 (times size²)"
        );
        assert_eq!(
            table.as_ptr() as usize % 128,
            0,
            "stripes on their own lines"
        );
        // Another thread adds into its own stripe; the sum is the same kind.
        std::thread::scope(|s| {
            s.spawn(|| site.add_sample(100, 1.0));
        });
        assert_eq!(site.read().samples, 3);
    }
}
