//! When to capture an allocation's stack: never, always, or byte-based
//! Poisson sampling as in tcmalloc, jemalloc and Go.
//!
//! Poisson sampling: each thread draws the number of bytes until its next
//! sample from an exponential distribution with mean `R`, and counts it down
//! by each allocation's size; the allocation that takes it to zero is
//! sampled, and a new distance is drawn. A block of `s` bytes is then sampled
//! with probability `1 - exp(-s/R)`, so a sample stands for
//! `1 / (1 - exp(-s/R))` blocks and `s / (1 - exp(-s/R))` bytes: estimates
//! built from these weights are unbiased.

// Without stack capture (feature `callsites` off) the mode is kept and
// reported, but nothing samples.
#![cfg_attr(not(feature = "callsites"), allow(dead_code))]

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use serde::{Deserialize, Serialize};

use crate::counters::Slot;

/// Which allocations get their stack captured (see [`callsites`](crate::callsites)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sampling {
    /// None: no stack is captured, the allocator only counts.
    Off,
    /// Every allocation: exact per-callsite numbers, at the cost of a stack
    /// capture per allocation (the mode dhat-rs always runs in). For tests and
    /// small programs.
    Every,
    /// Byte-based Poisson sampling, one sample per `mean_bytes` allocated on
    /// average; per-callsite numbers are unbiased estimates.
    Poisson {
        /// Mean distance between samples, in bytes allocated.
        mean_bytes: u64,
    },
}

impl Sampling {
    /// The default rate of [`Sampling::Poisson`]: one sample per 512 KiB.
    pub const DEFAULT_MEAN_BYTES: u64 = 512 * 1024;

    /// Poisson sampling at the default rate.
    pub const fn poisson() -> Sampling {
        Sampling::Poisson {
            mean_bytes: Self::DEFAULT_MEAN_BYTES,
        }
    }

    /// The encoding kept in [`MODE`].
    pub(crate) const fn encode(self) -> u64 {
        match self {
            Sampling::Off => OFF,
            Sampling::Every => EVERY,
            // 0 and u64::MAX are taken; a mean of 1 byte samples nearly every
            // block anyway. Means above 1 TiB are clamped, so that weights
            // stay far from overflowing the fixed-point counters.
            Sampling::Poisson { mean_bytes } => {
                if mean_bytes < 1 {
                    1
                } else if mean_bytes > MAX_MEAN_BYTES {
                    MAX_MEAN_BYTES
                } else {
                    mean_bytes
                }
            }
        }
    }

    pub(crate) fn decode(mode: u64) -> Sampling {
        match mode {
            OFF => Sampling::Off,
            EVERY => Sampling::Every,
            mean_bytes => Sampling::Poisson { mean_bytes },
        }
    }

    /// How many blocks one sample of a `size`-byte block stands for:
    /// `1 / (1 - exp(-size/R))` for Poisson sampling, 1 otherwise.
    pub(crate) fn weight(self, size: usize) -> f64 {
        // (Means are at most 1 TiB, so a weight times a size stays well
        // within the counters' range.)
        match self {
            Sampling::Poisson { mean_bytes } => {
                let p = -(-(size as f64) / mean_bytes as f64).exp_m1();
                if p > 0.0 {
                    1.0 / p
                } else {
                    1.0
                }
            }
            Sampling::Off | Sampling::Every => 1.0,
        }
    }
}

const OFF: u64 = 0;
const EVERY: u64 = u64::MAX;
/// Largest Poisson mean kept: 1 TiB.
const MAX_MEAN_BYTES: u64 = 1 << 40;

/// The current mode, encoded: read on every allocation (one relaxed load of a
/// line written only when the mode changes).
pub(crate) static MODE: crate::counters::Padded<AtomicU64> =
    crate::counters::Padded(AtomicU64::new(OFF));
/// Seed mixed into each thread's generator.
static SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

/// The sampling mode in force.
pub fn sampling() -> Sampling {
    Sampling::decode(MODE.load(Relaxed))
}

/// Changes the sampling mode at run time (the allocator's configuration sets
/// the initial one). Threads pick the change up at their next allocation;
/// a distance to the next sample already drawn at the old Poisson rate is
/// kept.
pub fn set_sampling(sampling: Sampling) {
    let _publishing = Publishing::lock();
    SET_AT_RUN_TIME.store(true, Relaxed);
    MODE.store(sampling.encode(), Relaxed);
}

/// Whether [`set_sampling`] was called: the allocator's configured mode then
/// no longer applies, even if the allocator's first call comes later.
static SET_AT_RUN_TIME: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The allocator's first call: publishes its configured mode, unless
/// [`set_sampling`] chose one already.
pub(crate) fn publish_configured(sampling: u64) {
    let _publishing = Publishing::lock();
    if !SET_AT_RUN_TIME.load(Relaxed) {
        MODE.store(sampling, Relaxed);
    }
}

/// Makes [`set_sampling`] and [`publish_configured`] one after the other, so
/// that a mode set at run time cannot be overwritten by the configured one.
/// Both are rare (the first allocation of the process, a call by the user):
/// a spin without allocation, usable from the allocator.
struct Publishing;

static PUBLISHING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Publishing {
    fn lock() -> Publishing {
        while PUBLISHING.swap(true, std::sync::atomic::Ordering::Acquire) {
            std::hint::spin_loop();
        }
        Publishing
    }
}

impl Drop for Publishing {
    fn drop(&mut self) {
        PUBLISHING.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Reseeds the calling thread's sampler, for reproducible tests: the same
/// seed and the same sequence of allocations on this thread sample the same
/// blocks. Other threads are not affected.
pub fn seed_sampling(seed: u64) {
    SEED.store(seed, Relaxed);
    if let Some(slot) = crate::thread_slot::current() {
        // Only the seed decides, not which slot this thread happens to hold;
        // the distance is drawn from it at the next allocation.
        slot.sampler_rng.store(splitmix(seed) | 1, Relaxed);
        slot.sample_rate.store(0, Relaxed);
    }
}

thread_local! {
    // Nesting depth of `SamplingSuspended` scopes on this thread. `const`,
    // no destructor: readable from the allocator.
    static SUSPENDED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// While alive, the calling thread's allocations are counted as usual but
/// never sampled: for the profiler's readers (building callsites, a report,
/// a flamegraph), whose allocations are the caller's memory but not the
/// program's callsites. (A sample would also cost a stack walk for each
/// string of a report.) Checked only on the sampled path.
#[derive(Debug)]
pub(crate) struct SamplingSuspended {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl SamplingSuspended {
    pub(crate) fn enter() -> Self {
        let _ = SUSPENDED.try_with(|depth| depth.set(depth.get().saturating_add(1)));
        SamplingSuspended {
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for SamplingSuspended {
    fn drop(&mut self) {
        let _ = SUSPENDED.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// Whether sampling is suspended on the calling thread.
pub(crate) fn suspended() -> bool {
    SUSPENDED.try_with(|depth| depth.get() > 0).unwrap_or(false)
}

/// Owner only: whether to sample an allocation of `size` bytes, for the
/// encoded `mode` (not [`OFF`]).
#[inline(always)]
pub(crate) fn should_sample(slot: &Slot, size: usize, mode: u64) -> bool {
    if mode == EVERY {
        return true;
    }
    if slot.sample_rate.load(Relaxed) != mode {
        restart(slot, mode);
    }
    let left = slot.sample_countdown.load(Relaxed) - size as i64;
    if left > 0 {
        slot.sample_countdown.store(left, Relaxed);
        return false;
    }
    // Sampled: draw the distance to the next sample.
    slot.sample_countdown
        .store(exponential(slot, mode), Relaxed);
    true
}

/// Draws a fresh distance at the current rate: on a thread's first
/// allocation, after a reseed, or when the rate changed. (The exponential
/// distribution is memoryless, so dropping the old distance biases nothing.)
#[cold]
fn restart(slot: &Slot, mean_bytes: u64) {
    if slot.sampler_rng.load(Relaxed) == 0 {
        // Mix in the slot's address so that threads draw differently.
        let seed = SEED.load(Relaxed) ^ (slot as *const Slot as u64).rotate_left(32);
        slot.sampler_rng.store(splitmix(seed) | 1, Relaxed);
    }
    slot.sample_countdown
        .store(exponential(slot, mean_bytes), Relaxed);
    slot.sample_rate.store(mean_bytes, Relaxed);
}

/// An exponentially distributed distance with mean `mean_bytes`, rounded up
/// (a block of `s` bytes then ends a distance `d` with probability exactly
/// `1 - exp(-s/R)`).
fn exponential(slot: &Slot, mean_bytes: u64) -> i64 {
    let mut x = slot.sampler_rng.load(Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    slot.sampler_rng.store(x, Relaxed);
    // 53 random bits → uniform in (0, 1].
    let uniform = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let distance = (-uniform.ln() * mean_bytes as f64).ceil();
    (distance as i64).max(1)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_match_the_closed_form() {
        let poisson = Sampling::Poisson { mean_bytes: 1000 };
        for size in [1usize, 10, 100, 1000, 10_000, 1_000_000] {
            let expected = 1.0 / (1.0 - (-(size as f64) / 1000.0).exp());
            let got = poisson.weight(size);
            assert!(
                (got - expected).abs() / expected < 1e-12,
                "{size}: {got} vs {expected}"
            );
        }
        // Huge blocks are always sampled and stand for themselves.
        assert_eq!(poisson.weight(1 << 40), 1.0);
        assert_eq!(Sampling::Every.weight(123), 1.0);
    }

    #[test]
    fn modes_round_trip_through_their_encoding() {
        for mode in [
            Sampling::Off,
            Sampling::Every,
            Sampling::poisson(),
            Sampling::Poisson { mean_bytes: 1 },
        ] {
            assert_eq!(Sampling::decode(mode.encode()), mode);
        }
        assert_eq!(
            Sampling::decode(Sampling::Poisson { mean_bytes: 0 }.encode()),
            Sampling::Poisson { mean_bytes: 1 }
        );
        assert_eq!(
            Sampling::decode(
                Sampling::Poisson {
                    mean_bytes: u64::MAX
                }
                .encode()
            ),
            Sampling::Poisson {
                mean_bytes: MAX_MEAN_BYTES
            }
        );
    }

    #[test]
    fn distances_have_the_requested_mean() {
        let slot = Slot::EMPTY;
        restart(&slot, 4096);
        let draws = 200_000;
        let mean: f64 = (0..draws)
            .map(|_| exponential(&slot, 4096) as f64)
            .sum::<f64>()
            / draws as f64;
        // Standard error of the mean of an exponential: mean / sqrt(n) ≈ 9.2.
        assert!(
            (mean - 4096.0).abs() < 5.0 * 4096.0 / (draws as f64).sqrt(),
            "mean {mean}"
        );
    }
}
