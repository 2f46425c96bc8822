//! Each thread's Poisson countdown: the bytes left until its next sample,
//! and the generator that draws the next distance (see `sampling` for why
//! this gives unbiased estimates).
//!
//! The countdown lives in the thread's slot (`Countdown::Poisson`), which
//! the allocator has in a register already: the common allocation
//! subtracts its size there and tests the borrow. It holds the current
//! stretch of the distance minus one, so that a block reaches the stretch's
//! end exactly when its size is larger than the countdown. Everything else,
//! the generator, the rest of the distance, the mean it was drawn at and the
//! scopes that sample every block, is in a `const`-initialised thread-local
//! without a destructor, read only when a stretch ends ([`ended`]).
//!
//! `Off` and `Every` have countdowns of their own in the slot, which a
//! change of mode switches the allocator to: they take effect at once. A
//! new Poisson rate takes effect at the end of the stretch (at most
//! [`STRETCH`] bytes); a distance that ends before is weighed at the mean it
//! was drawn at, so estimates stay unbiased across the change.

use std::cell::Cell;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use crate::capture::counts::slot::{Countdown, OwnerOnly, Slot};

use super::mode::{Sampling, EVERY, OFF, SCOPES_ONLY};

/// One thread's sampler, but for its countdown.
#[derive(Debug)]
struct Sampler {
    /// The generator's state (0: not seeded yet).
    rng: Cell<u64>,
    /// The Poisson mean the thread's distance was drawn at (0: none drawn:
    /// the countdown's end draws one).
    drawn_mean: Cell<u64>,
    /// The distance left after the countdown's stretch ([`STRETCH`]).
    rest: Cell<u64>,
    /// Depth of the scopes on this thread that sample every block
    /// ([`force_every`]).
    forced: Cell<u32>,
}

thread_local! {
    static SAMPLER: Sampler = const {
        Sampler {
            rng: Cell::new(0),
            drawn_mean: Cell::new(0),
            rest: Cell::new(0),
            forced: Cell::new(0),
        }
    };
}

/// The longest stretch of a distance the countdown holds. A longer one is
/// counted down a stretch at a time, and between two the thread looks at the
/// mode again: a new Poisson rate takes effect within this many bytes of a
/// thread's allocations, however long a distance it drew at the old rate
/// (one drawn at a 1 TiB mean, say). At the default mean, one distance in
/// seven is longer.
const STRETCH: u64 = 1 << 20;

/// Seed mixed into each thread's generator.
static SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

/// Counts a new block of `size` bytes down on one of the thread's
/// countdowns: true when it reaches the countdown's end (for Poisson
/// sampling, the end of a stretch of the distance), and [`ended`] must then
/// say whether it is sampled. The allocator's common path.
///
/// # Safety
///
/// The calling thread owns the slot `countdown` is in.
#[inline(always)]
pub(crate) unsafe fn count_down(countdown: &OwnerOnly, size: usize) -> bool {
    // SAFETY: the caller owns the slot.
    unsafe { countdown.count_down(size as u64) }
}

/// A block of `size` bytes borrowed from the countdown `which` (a
/// `Countdown`'s value) of the calling thread's `slot`, under the encoded
/// `mode`: whether it is sampled, and if so the mode to weigh it by. Fills
/// the countdown up again (for Poisson sampling, from the next distance).
///
/// # Safety
///
/// The calling thread owns `slot`.
#[cold]
pub(crate) unsafe fn ended(slot: &Slot, which: u64, size: usize, mode: u64) -> Option<u64> {
    if which == Countdown::Off as u64 {
        // 16 EiB allocated with sampling off.
        // SAFETY: the caller owns the slot.
        unsafe { Countdown::Off.of(slot).set(Countdown::Off.initial()) };
        return None;
    }
    if which == Countdown::Every as u64 {
        // SAFETY: as above.
        unsafe { Countdown::Every.of(slot).set(Countdown::Every.initial()) };
        // The mode may have left `Every` since the thread read which
        // countdown to use: then only a scope of its own samples.
        let forced = SAMPLER
            .try_with(|sampler| sampler.forced.get() > 0)
            .unwrap_or(false);
        return (mode == EVERY || forced).then_some(EVERY);
    }
    // A thread whose locals are gone has no slot either, and never gets
    // here; should it, it does not sample.
    SAMPLER
        // SAFETY: the caller's contract.
        .try_with(|sampler| unsafe { sampler.ended(Countdown::Poisson.of(slot), size, mode) })
        .ok()
        .flatten()
}

/// Makes the calling thread sample every block until the returned guard is
/// dropped, whatever the mode (scopes nest). The thread must be counting
/// down its Poisson countdown (whose end asks this sampler) or the `Every`
/// one meanwhile: the mode must not be `OFF` (`sampling::enter_scope` sees
/// to that, making it `SCOPES_ONLY`).
pub(crate) fn force_every() -> ForcedEvery {
    let _ = SAMPLER.try_with(|sampler| {
        sampler.forced.set(sampler.forced.get().saturating_add(1));
    });
    // Every block ends a countdown of zero.
    end_distance();
    ForcedEvery {
        _not_send: std::marker::PhantomData,
    }
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
        });
        // Draw a fresh distance at the next allocation.
        end_distance();
    }
}

/// Reseeds the calling thread's generator and sets the seed later threads
/// mix in.
pub(crate) fn reseed(seed: u64) {
    SEED.store(seed, Relaxed);
    let _ = SAMPLER.try_with(|sampler| sampler.rng.set(splitmix(seed) | 1));
    // Only the seed decides: the distance is drawn from it at the next
    // allocation.
    end_distance();
}

/// The calling thread's next allocation on its Poisson countdown ends it,
/// and finds no distance drawn: it draws one (or samples, in a scope).
fn end_distance() {
    let _ = SAMPLER.try_with(|sampler| sampler.drawn_mean.set(0));
    // A thread without a slot of its own yet gets a countdown of zero when
    // it claims one. (An untracked thread, whose slot is set aside, would
    // keep its countdown: no caller is untracked.)
    if let Some(slot) = crate::capture::counts::slot_table::own_slot() {
        // SAFETY: the thread's own slot.
        unsafe { Countdown::Poisson.of(slot).set(0) };
    }
}

impl Sampler {
    /// [`ended`] on this thread's sampler.
    ///
    /// # Safety
    ///
    /// As [`ended`].
    unsafe fn ended(&self, countdown: &OwnerOnly, size: usize, mode: u64) -> Option<u64> {
        if self.forced.get() > 0 {
            // Every block ends a countdown of zero, and weighs as one.
            // SAFETY: the caller owns the slot.
            unsafe { countdown.set(0) };
            return Some(EVERY);
        }
        if mode == EVERY {
            // The mode became `Every` after this thread read its countdown:
            // the block is sampled, and the next Poisson distance drawn
            // afresh.
            self.drawn_mean.set(0);
            // SAFETY: the caller owns the slot.
            unsafe { countdown.set(0) };
            return Some(EVERY);
        }
        let mean = mean_bytes(mode);
        // The distance left past the countdown's stretch, and how far this
        // block reaches past the stretch.
        let (rest, past) = if self.drawn_mean.get() == 0 {
            // No distance was drawn (the thread's first allocation, a
            // reseed, the end of a scope): the whole block counts against a
            // fresh one.
            self.drawn_mean.set(mean);
            (self.exponential(mean), size as u64)
        } else {
            // The countdown held `c < size`: the block took `c + 1` bytes to
            // the stretch's end and `size - c - 1` past it, which is `!left`
            // of what the subtraction left.
            // SAFETY: the caller owns the slot.
            (self.rest.get(), !unsafe { countdown.get() })
        };
        if past >= rest {
            // The block ends the distance: a sample, weighed at the mean the
            // distance was drawn at, unless sampling is off or only scopes
            // sample now. The next distance is drawn at the current mean.
            let drawn = self.drawn_mean.get();
            self.drawn_mean.set(mean);
            let next = self.exponential(mean);
            // SAFETY: the caller owns the slot.
            unsafe { self.count_from(countdown, next) };
            return (mode != SCOPES_ONLY && mode != OFF).then_some(drawn);
        }
        let rest = if self.drawn_mean.get() == mean {
            rest - past
        } else {
            // The mean changed: what is left of the distance after this
            // block is drawn anew at the new one. (The exponential
            // distribution is memoryless: given that the distance did not
            // end here, drawing its rest afresh from here biases nothing.)
            self.drawn_mean.set(mean);
            self.exponential(mean)
        };
        // SAFETY: as above.
        unsafe { self.count_from(countdown, rest) };
        None
    }

    /// Loads the countdown with the first stretch of `distance` (at least
    /// 1) and keeps the rest.
    ///
    /// # Safety
    ///
    /// As [`ended`].
    unsafe fn count_from(&self, countdown: &OwnerOnly, distance: u64) {
        let stretch = distance.clamp(1, STRETCH);
        // SAFETY: the caller owns the slot.
        unsafe { countdown.set(stretch - 1) };
        self.rest.set(distance.saturating_sub(stretch));
    }

    /// An exponentially distributed distance with mean `mean_bytes`, rounded
    /// up, at least 1 (a block of `s` bytes then ends a distance `d` with
    /// probability exactly `1 - exp(-s/R)`).
    fn exponential(&self, mean_bytes: u64) -> u64 {
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
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        // 53 random bits → uniform in (0, 1].
        let uniform = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let distance = (-uniform.ln() * mean_bytes as f64).ceil();
        (distance as u64).max(1)
    }
}

/// The Poisson mean a thread draws at under the encoded `mode`: the mean,
/// or for the other modes (`SCOPES_ONLY`, and `OFF` or `EVERY` set since the
/// thread read which countdown to use) the default mean, for a thread that
/// only checks back now and then.
fn mean_bytes(mode: u64) -> u64 {
    if mode == SCOPES_ONLY || mode == EVERY || mode == OFF {
        Sampling::DEFAULT_MEAN_BYTES
    } else {
        mode
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
            rng: Cell::new(0),
            drawn_mean: Cell::new(0),
            rest: Cell::new(0),
            forced: Cell::new(0),
        }
    }

    /// Whether a block of `size` bytes is sampled under `mode` (a Poisson
    /// mean or `SCOPES_ONLY`), as the allocator decides it, and the mode it
    /// weighs as.
    fn decide(sampler: &Sampler, countdown: &OwnerOnly, size: usize, mode: u64) -> Option<u64> {
        // SAFETY: the countdown is this test's own.
        unsafe {
            if count_down(countdown, size) {
                sampler.ended(countdown, size, mode)
            } else {
                None
            }
        }
    }

    thread_local! {
        /// The countdown [`should_sample`] uses: the thread's own, as a slot's.
        static COUNTDOWN: OwnerOnly = const { OwnerOnly::new(0) };
    }

    /// [`decide`] on the calling thread's sampler, with a countdown of the
    /// thread's own.
    fn should_sample(size: usize, mode: u64) -> bool {
        COUNTDOWN.with(|countdown| {
            SAMPLER.with(|sampler| decide(sampler, countdown, size, mode).is_some())
        })
    }

    #[test]
    fn distances_have_the_requested_mean() {
        let sampler = sampler();
        sampler.rng.set(12345);
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
        // Each 64-byte block is sampled with probability 1 - exp(-1/16).
        assert_sampled_at_the_rate(64, 1024);
    }

    /// Decides 400,000 blocks of `size` bytes at the Poisson mean `mean`:
    /// the share sampled is `1 - exp(-size/mean)`, within 5 standard
    /// deviations.
    fn assert_sampled_at_the_rate(size: usize, mean: u64) {
        let sampler = sampler();
        let countdown = OwnerOnly::new(0);
        let blocks = 400_000u64;
        let sampled = (0..blocks)
            .filter(|_| decide(&sampler, &countdown, size, mean).is_some())
            .count() as f64;
        let p = -(-(size as f64) / mean as f64).exp_m1();
        let expected = blocks as f64 * p;
        let sd = (blocks as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (sampled - expected).abs() < 5.0 * sd,
            "{size} B at {mean}: {sampled} vs {expected}"
        );
    }

    #[test]
    fn a_block_ends_the_distance_exactly_when_it_reaches_it() {
        // A countdown of d - 1: a block of d bytes ends a distance of d, a
        // block of d - 1 leaves one byte.
        let sampler = sampler();
        sampler.drawn_mean.set(4096);
        sampler.rng.set(7);
        let countdown = OwnerOnly::new(99);
        assert_eq!(decide(&sampler, &countdown, 99, 4096), None);
        assert_eq!(decide(&sampler, &countdown, 1, 4096), Some(4096));
        let countdown = OwnerOnly::new(99);
        assert_eq!(decide(&sampler, &countdown, 100, 4096), Some(4096));
    }

    #[test]
    fn a_distance_drawn_at_one_mean_weighs_at_it_after_a_change() {
        // The mode changed from a mean of 4096 to one of 1 MiB: the block
        // that ends the old distance weighs at 4096, the next distance is
        // drawn at 1 MiB.
        let sampler = sampler();
        sampler.rng.set(7);
        let countdown = OwnerOnly::new(0);
        sampler.drawn_mean.set(4096);
        // SAFETY: the countdown is this test's own.
        unsafe { sampler.count_from(&countdown, sampler.exponential(4096)) };
        let mut weighed = None;
        while weighed.is_none() {
            weighed = decide(&sampler, &countdown, 512, 1 << 20);
        }
        assert_eq!(weighed, Some(4096));
        assert_eq!(sampler.drawn_mean.get(), 1 << 20);
    }

    #[test]
    fn a_new_rate_takes_effect_within_a_stretch() {
        // A distance drawn at a 1 TiB mean ("nearly off"), then the mean
        // becomes 4 KiB: the first sample comes within a stretch and a few
        // means, and weighs at the new mean.
        let sampler = sampler();
        sampler.rng.set(7);
        let countdown = OwnerOnly::new(0);
        let old = 1u64 << 40;
        sampler.drawn_mean.set(old);
        // SAFETY: the countdown is this test's own.
        unsafe { sampler.count_from(&countdown, sampler.exponential(old)) };
        assert!(sampler.rest.get() > 0);
        let mut allocated = 0u64;
        let weighed = loop {
            allocated += 512;
            if let Some(weighed) = decide(&sampler, &countdown, 512, 4096) {
                break weighed;
            }
            assert!(allocated < STRETCH + 64 * 4096, "{allocated}");
        };
        assert_eq!(weighed, 4096);
    }

    #[test]
    fn distances_longer_than_a_stretch_keep_the_rate() {
        // A mean of 8 MiB: most distances are counted down in stretches.
        assert_sampled_at_the_rate(64 * 1024, 8 << 20);
    }

    #[test]
    fn every_and_off_have_countdowns_of_their_own() {
        // A slot of this test's own: the allocator's path on each word.
        let slot = Slot::EMPTY;
        let new_block = |which: Countdown, size: usize| {
            // SAFETY: the slot is this test's own.
            unsafe {
                count_down(which.of(&slot), size)
                    .then(|| ended(&slot, which as u64, size, EVERY))
                    .flatten()
            }
        };
        for size in [1, 64, 1 << 20] {
            assert_eq!(new_block(Countdown::Every, size), Some(EVERY));
            assert_eq!(new_block(Countdown::Off, size), None);
        }
        // Sampling off borrows only after 16 EiB, and then fills up again.
        // SAFETY: as above.
        unsafe { Countdown::Off.of(&slot).set(10) };
        assert_eq!(new_block(Countdown::Off, 64), None);
        // SAFETY: as above.
        assert_eq!(unsafe { Countdown::Off.of(&slot).get() }, u64::MAX);
    }

    #[test]
    fn only_scopes_sample_and_a_scope_samples_every_block_as_one() {
        let sampler = sampler();
        let countdown = OwnerOnly::new(0);
        let sampled = (0..100_000)
            .filter(|_| decide(&sampler, &countdown, 4096, SCOPES_ONLY).is_some())
            .count();
        assert_eq!(sampled, 0);
        // As `force_every` does.
        sampler.forced.set(1);
        // SAFETY: the countdown is this test's own.
        unsafe { countdown.set(0) };
        for _ in 0..100 {
            assert_eq!(decide(&sampler, &countdown, 1, SCOPES_ONLY), Some(EVERY));
            assert_eq!(decide(&sampler, &countdown, 1, 4096), Some(EVERY));
        }
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
            // As `reseed` does to the thread's slot.
            // SAFETY: the thread's own countdown.
            COUNTDOWN.with(|countdown| unsafe { countdown.set(0) });
            (0..1000)
                .map(|i| should_sample(16 + i % 700, 4096))
                .collect::<Vec<bool>>()
        };
        let first = pattern();
        assert!(first.iter().any(|&s| s) && first.iter().any(|&s| !s));
        assert_eq!(pattern(), first);
    }
}
