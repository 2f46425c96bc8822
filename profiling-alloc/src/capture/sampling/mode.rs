//! When to capture an allocation's stack: never, always, or byte-based
//! Poisson sampling as in tcmalloc, jemalloc and Go.
//!
//! Poisson sampling: each thread draws the number of bytes until its next
//! sample from an exponential distribution with mean `R`, and counts it down
//! by each allocation's size; the allocation that takes it to zero is
//! sampled, and a new distance is drawn. A block of `s` bytes is then sampled
//! with probability `1 - exp(-s/R)`, so a sample stands for
//! `1 / (1 - exp(-s/R))` blocks and `s / (1 - exp(-s/R))` bytes: estimates
//! built from these weights are unbiased. (The per-thread countdown is in
//! `decision`; this module holds the mode all threads read.)
//!
//! Without stack capture (feature `callsites` off) the mode is kept and
//! reported, but nothing samples.
#![cfg_attr(not(feature = "callsites"), allow(dead_code))]

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8};

use serde::{Deserialize, Serialize};

use super::env::{self, EnvValue, FromEnv};
use crate::capture::counts::slot::Countdown;
use crate::sync::{Padded, SpinLock};

/// Which allocations get their stack captured (see the [`callsites`](mod@crate::callsites) module).
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

/// [`MODE`] for [`Sampling::Off`].
pub(crate) const OFF: u64 = 0;
/// [`MODE`] for [`Sampling::Every`]; any other value is a Poisson mean.
pub(crate) const EVERY: u64 = u64::MAX;
/// [`MODE`] while the chosen mode is [`Sampling::Off`] but a scope samples
/// every block of its own thread (see [`enter_scope`]): only threads inside
/// a scope sample. Never a Poisson mean (those are at most 1 TiB).
pub(crate) const SCOPES_ONLY: u64 = u64::MAX - 1;
/// Largest Poisson mean kept: 1 TiB.
const MAX_MEAN_BYTES: u64 = 1 << 40;

/// The mode the allocator acts on, encoded. It is the chosen mode, except
/// [`SCOPES_ONLY`] for `Off` while scopes run. The allocator's common path
/// reads only the countdown it implies (`Slot::countdown_in_use`), its slow
/// path this.
pub(crate) static MODE: Padded<AtomicU64> = Padded(AtomicU64::new(OFF));
/// The mode chosen by the allocator's configuration or [`set_sampling`]
/// (what [`sampling`] returns).
static CHOSEN: AtomicU64 = AtomicU64::new(OFF);
/// Scopes running now, on any thread ([`enter_scope`]).
static SCOPES: AtomicU64 = AtomicU64::new(0);

/// The sampling mode in force (as chosen: scopes that sample their own
/// thread, such as [`Report::capture_of`](crate::Report::capture_of), do not
/// change it).
pub fn sampling() -> Sampling {
    Sampling::decode(CHOSEN.load(Relaxed))
}

/// Changes the sampling mode at run time (the allocator's configuration sets
/// the initial one). Threads pick the change up at their next allocation,
/// but for a new Poisson rate, which a running thread picks up within 1 MiB
/// of its allocations: the distance it is counting down was drawn at the
/// old rate, and a sample ending it is weighed at that rate.
pub fn set_sampling(sampling: Sampling) {
    let _publishing = PUBLISHING.lock();
    SET_AT_RUN_TIME.store(true, Relaxed);
    CHOSEN.store(sampling.encode(), Relaxed);
    publish_effective();
}

/// Sets [`MODE`] from the chosen mode and the running scopes, and its copy
/// in every slot, which the allocator reads. Called with [`PUBLISHING`]
/// held.
fn publish_effective() {
    let chosen = CHOSEN.load(Relaxed);
    let mode = if chosen == OFF && SCOPES.load(Relaxed) > 0 {
        SCOPES_ONLY
    } else {
        chosen
    };
    if MODE.swap(mode, Relaxed) != mode {
        crate::capture::counts::slot_table::publish_countdown(countdown_of(mode));
    }
}

/// The countdown new blocks count down on under the encoded `mode`.
fn countdown_of(mode: u64) -> Countdown {
    match mode {
        OFF => Countdown::Off,
        EVERY => Countdown::Every,
        // A Poisson mean, or `SCOPES_ONLY`: a thread in a scope has a
        // countdown of zero; the others finish the stretch they were
        // counting down, then draw at the default mean without sampling.
        _ => Countdown::Poisson,
    }
}

/// A scope that samples every block of one thread starts: while the chosen
/// mode is `Off`, the allocator must still ask that thread's sampler.
pub(crate) fn enter_scope() {
    let _publishing = PUBLISHING.lock();
    SCOPES.fetch_add(1, Relaxed);
    publish_effective();
}

/// The end of a scope [`enter_scope`] began.
pub(crate) fn leave_scope() {
    let _publishing = PUBLISHING.lock();
    let _ = SCOPES.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    publish_effective();
}

/// Whether [`set_sampling`] was called: the allocator's configured mode then
/// no longer applies, even if the allocator's first call comes later.
static SET_AT_RUN_TIME: AtomicBool = AtomicBool::new(false);

/// Makes [`set_sampling`] and [`publish_configured`] one after the other, so
/// that a mode set at run time cannot be overwritten by the configured one.
/// Both are rare (the first allocation of the process, a call by the user),
/// and the lock never allocates: usable from the allocator.
static PUBLISHING: SpinLock<()> = SpinLock::new(());

/// What `PROFILING_ALLOC_SAMPLING` said at the allocator's first call:
/// 0 not read yet or unset, [`ENV_MODE`] a mode, [`ENV_INVALID`] not one.
static FROM_ENV: AtomicU8 = AtomicU8::new(0);
/// Its value, as read then.
static ENV_VALUE: SpinLock<EnvValue> = SpinLock::new(EnvValue::EMPTY);
const ENV_MODE: u8 = 1;
const ENV_INVALID: u8 = 2;

/// The allocator's first call: publishes its configured mode, or the one
/// `PROFILING_ALLOC_SAMPLING` names, unless [`set_sampling`] chose one
/// already. Runs inside the allocator: `read` neither allocates nor locks.
pub(crate) fn publish_configured(sampling: u64) {
    let _publishing = PUBLISHING.lock();
    if !SET_AT_RUN_TIME.load(Relaxed) {
        let (read, value) = env::read();
        *ENV_VALUE.lock() = value;
        let mode = match read {
            FromEnv::Unset => sampling,
            FromEnv::Mode(mode) => {
                FROM_ENV.store(ENV_MODE, Relaxed);
                mode.encode()
            }
            FromEnv::Invalid => {
                FROM_ENV.store(ENV_INVALID, Relaxed);
                sampling
            }
        };
        CHOSEN.store(mode, Relaxed);
        publish_effective();
    }
}

/// Why the mode in force is what it is: the allocator's configuration,
/// `PROFILING_ALLOC_SAMPLING` (or why it was ignored), or `set_sampling`.
pub(crate) fn sampling_origin() -> String {
    let from_env = match FROM_ENV.load(Relaxed) {
        ENV_MODE => FromEnv::Mode(sampling()),
        ENV_INVALID => FromEnv::Invalid,
        _ => FromEnv::Unset,
    };
    let value = *ENV_VALUE.lock();
    env::origin(from_env, &value, SET_AT_RUN_TIME.load(Relaxed))
}

/// Reseeds the calling thread's sampler, for reproducible tests: the same
/// seed and the same sequence of allocations on this thread sample the same
/// blocks. Other threads are not affected (threads started later mix this
/// seed into theirs).
pub fn seed_sampling(seed: u64) {
    #[cfg(feature = "callsites")]
    super::decision::reseed(seed);
    #[cfg(not(feature = "callsites"))]
    let _ = seed;
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
}
