//! Each thread's Poisson countdown: the bytes left until its next sample,
//! and the generator that draws the next distance (see `sampling` for why
//! this gives unbiased estimates).
//!
//! The state is the thread's own, in a `const`-initialised thread-local
//! without a destructor: the allocator reads and writes it with plain loads
//! and stores, only when sampling is on, and never for a thread whose locals
//! are gone (its allocations are counted, not sampled).

use std::cell::Cell;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use super::mode::{EVERY, SCOPES_ONLY};

/// One thread's sampler.
#[derive(Debug)]
struct Sampler {
    /// Bytes left until the next sampled allocation.
    countdown: Cell<i64>,
    /// The generator's state (0: not seeded yet).
    rng: Cell<u64>,
    /// The Poisson mean `countdown` was drawn with (0: draw anew;
    /// [`FORCED`] while the thread samples every block).
    mean_bytes: Cell<u64>,
    /// Depth of the scopes on this thread that sample every block
    /// ([`force_every`]).
    forced: Cell<u32>,
}

/// `Sampler::mean_bytes` while the thread samples every block: no mode
/// equals it, so every allocation takes the slow path, which says yes.
const FORCED: u64 = u64::MAX - 2;

thread_local! {
    static SAMPLER: Sampler = const {
        Sampler {
            countdown: Cell::new(0),
            rng: Cell::new(0),
            mean_bytes: Cell::new(0),
            forced: Cell::new(0),
        }
    };
}

/// Seed mixed into each thread's generator.
static SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

/// Whether to sample an allocation of `size` bytes under the encoded `mode`
/// (not `OFF`): when it ends the calling thread's countdown, which every
/// block ends under `EVERY`.
#[inline(always)]
pub(crate) fn should_sample(size: usize, mode: u64) -> bool {
    // `EVERY` is a countdown that every block ends (see `take_slow`): no
    // test of its own on the common path. A thread whose locals are gone
    // samples under `EVERY` still.
    SAMPLER
        .try_with(|sampler| sampler.take(size, mode))
        .unwrap_or(mode == EVERY)
}

/// Makes the calling thread sample every block until the returned guard is
/// dropped, whatever the mode (scopes nest). The allocator must be asking
/// this thread's sampler meanwhile: the mode must not be `OFF`
/// (`sampling::enter_scope` sees to that).
pub(crate) fn force_every() -> ForcedEvery {
    let _ = SAMPLER.try_with(|sampler| {
        sampler.forced.set(sampler.forced.get().saturating_add(1));
        sampler.mean_bytes.set(FORCED);
    });
    ForcedEvery {
        _not_send: std::marker::PhantomData,
    }
}

/// Whether the calling thread samples every block now ([`force_every`]).
pub(crate) fn forced() -> bool {
    SAMPLER
        .try_with(|sampler| sampler.forced.get() > 0)
        .unwrap_or(false)
}

/// Ends a [`force_every`] scope when dropped (also when unwinding).
#[derive(Debug)]
pub(crate) struct ForcedEvery {
    // Restores the thread that made it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ForcedEvery {
    fn drop(&mut self) {
        let _ = SAMPLER.try_with(|sampler| {
            let depth = sampler.forced.get().saturating_sub(1);
            sampler.forced.set(depth);
            if depth == 0 {
                // Draw a fresh distance at the next allocation.
                sampler.mean_bytes.set(0);
            }
        });
    }
}

/// Reseeds the calling thread's generator and sets the seed later threads
/// mix in.
pub(crate) fn reseed(seed: u64) {
    SEED.store(seed, Relaxed);
    let _ = SAMPLER.try_with(|sampler| {
        // Only the seed decides: the distance is drawn from it at the next
        // allocation.
        sampler.rng.set(splitmix(seed) | 1);
        sampler.mean_bytes.set(0);
    });
}

impl Sampler {
    /// Counts `size` bytes down; true when they end the distance (a new one
    /// is drawn).
    #[inline(always)]
    fn take(&self, size: usize, mean_bytes: u64) -> bool {
        if self.mean_bytes.get() != mean_bytes {
            return self.take_slow(size, mean_bytes);
        }
        // Cannot overflow: the countdown is at least 0 here (it is set to a
        // draw of at least 1, to 0 under `EVERY`, or to `i64::MAX`, and only
        // kept while positive), and a block's size is at most `isize::MAX`.
        // So a plain subtraction, which the common path needs, rather than a
        // saturating one.
        let left = self.countdown.get().wrapping_sub(size as i64);
        if left > 0 {
            self.countdown.set(left);
            return false;
        }
        if mean_bytes == SCOPES_ONLY {
            // Not in a scope: an endless countdown (see `take_slow`).
            self.countdown.set(i64::MAX);
            return false;
        }
        if mean_bytes == EVERY {
            // The countdown stays 0: the next block ends it too.
            return true;
        }
        self.countdown.set(self.exponential(mean_bytes));
        true
    }

    /// [`take`](Self::take) when the countdown was not drawn at `mean_bytes`:
    /// the thread samples every block (a scope), only scopes sample (an
    /// endless countdown for this thread), or a distance must be drawn.
    #[cold]
    #[inline(never)]
    fn take_slow(&self, size: usize, mean_bytes: u64) -> bool {
        if self.forced.get() > 0 {
            return true;
        }
        if mean_bytes == SCOPES_ONLY {
            self.mean_bytes.set(SCOPES_ONLY);
            self.countdown.set(i64::MAX);
            return false;
        }
        if mean_bytes == EVERY {
            self.mean_bytes.set(EVERY);
            self.countdown.set(0);
            return true;
        }
        self.restart(mean_bytes);
        self.take(size, mean_bytes)
    }

    /// Draws a fresh distance at the current rate: on a thread's first
    /// allocation, after a reseed, or when the rate changed. (The exponential
    /// distribution is memoryless, so dropping the old distance biases
    /// nothing.)
    #[cold]
    fn restart(&self, mean_bytes: u64) {
        if self.rng.get() == 0 {
            // Mix in the thread's own number (its sampler's address alone
            // repeats: a new thread often reuses an exited one's stack), so
            // that threads draw differently.
            let number = crate::sync::thread_number() as u64;
            let seed = SEED.load(Relaxed)
                ^ (self as *const Sampler as u64).rotate_left(32)
                ^ splitmix(number);
            self.rng.set(splitmix(seed) | 1);
        }
        self.countdown.set(self.exponential(mean_bytes));
        self.mean_bytes.set(mean_bytes);
    }

    /// An exponentially distributed distance with mean `mean_bytes`, rounded
    /// up (a block of `s` bytes then ends a distance `d` with probability
    /// exactly `1 - exp(-s/R)`).
    fn exponential(&self, mean_bytes: u64) -> i64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        // 53 random bits → uniform in (0, 1].
        let uniform = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let distance = (-uniform.ln() * mean_bytes as f64).ceil();
        (distance as i64).max(1)
    }
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

    fn sampler() -> Sampler {
        Sampler {
            countdown: Cell::new(0),
            rng: Cell::new(0),
            mean_bytes: Cell::new(0),
            forced: Cell::new(0),
        }
    }

    #[test]
    fn distances_have_the_requested_mean() {
        let sampler = sampler();
        sampler.restart(4096);
        let draws = 200_000;
        let mean: f64 = (0..draws)
            .map(|_| sampler.exponential(4096) as f64)
            .sum::<f64>()
            / draws as f64;
        // Standard error of the mean of an exponential: mean / sqrt(n) ≈ 9.2.
        assert!(
            (mean - 4096.0).abs() < 5.0 * 4096.0 / (draws as f64).sqrt(),
            "mean {mean}"
        );
    }

    #[test]
    fn one_sample_per_mean_bytes_on_average() {
        let sampler = sampler();
        let blocks = 400_000u64;
        let sampled = (0..blocks).filter(|_| sampler.take(64, 1024)).count() as f64;
        // Each 64-byte block is sampled with probability 1 - exp(-1/16).
        let p = -(-64.0f64 / 1024.0).exp_m1();
        let expected = blocks as f64 * p;
        let sd = (blocks as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (sampled - expected).abs() < 5.0 * sd,
            "{sampled} vs {expected}"
        );
    }

    #[test]
    fn threads_started_one_after_another_draw_differently() {
        // A thread that starts after another exits often gets its stack,
        // and so its thread-local's address: the streams must still differ.
        let pattern = || {
            std::thread::spawn(|| {
                (0..2000)
                    .map(|_| should_sample(64, 4096))
                    .collect::<Vec<bool>>()
            })
            .join()
            .unwrap()
        };
        let first = pattern();
        assert!(first.iter().any(|&s| s));
        for _ in 0..4 {
            assert_ne!(pattern(), first);
        }
    }

    #[test]
    fn the_same_seed_samples_the_same_blocks() {
        let pattern = || {
            reseed(42);
            (0..1000)
                .map(|i| should_sample(16 + i % 700, 4096))
                .collect::<Vec<bool>>()
        };
        let first = pattern();
        assert!(first.iter().any(|&s| s) && first.iter().any(|&s| !s));
        assert_eq!(pattern(), first);
        assert!(should_sample(1, EVERY));
    }
}
