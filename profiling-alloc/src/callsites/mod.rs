//! Callsites: which code allocated how much, from sampled stacks.
//!
//! The route of a sample: the allocator asks [`sampler`] whether this
//! allocation ends the thread's countdown (or the mode is `Every`); if so it
//! calls [`record::on_sample`], which walks the stack (`unwind`), interns
//! it with the thread's job path in [`stack_table`], adds the block's
//! weight to that stack's [`counters`], and remembers the block in
//! [`live_blocks`] so that its free can take it off the live counts again.
//! Nothing is resolved until a reader asks: [`read`] turns the table into
//! [`Callsite`]s, resolving addresses once each ([`symbols`]).
//!
//! - [`callsite`]: `Callsite` and `Frame`, the plain data (with or without
//!   the `callsites` feature, so a report has one shape whatever the build).
//! - [`sampling`]: the mode every thread reads (`Sampling`);
//!   [`sampling_env`], the mode `PROFILING_ALLOC_SAMPLING` chooses.
//! - [`sampler`]: each thread's Poisson countdown.
//! - [`record`]: the sampled path the allocator calls.
//! - [`stack_table`], [`counters`], [`live_blocks`], [`leaked`]: the
//!   tables, bounded and allocated once.
//! - [`symbols`], [`read`]: report time.
//!
//! Invariants of the sampled path (`record` and what it calls): it runs
//! untracked, takes only spin locks that never allocate, never panics, and
//! drops (and counts) a sample rather than grow a table.

mod callsite;
pub(crate) mod sampling;
mod sampling_env;

#[cfg(feature = "callsites")]
mod counters;
#[cfg(feature = "callsites")]
pub(crate) mod leaked;
#[cfg(feature = "callsites")]
mod live_blocks;
#[cfg(feature = "callsites")]
mod read;
#[cfg(feature = "callsites")]
pub(crate) mod record;
#[cfg(feature = "callsites")]
pub(crate) mod sampler;
#[cfg(feature = "callsites")]
pub(crate) mod stack_table;
#[cfg(feature = "callsites")]
pub(crate) mod symbols;

pub use callsite::{Callsite, Frame, LIFETIME_CLASS_BOUNDS_NS};
#[cfg(feature = "callsites")]
pub use live_blocks::{DEFAULT_MAX_TRACKED_BLOCKS, DEFAULT_MAX_TRACKED_BLOCKS_EVERY};
#[cfg(feature = "callsites")]
pub(crate) use read::callsites_within;
#[cfg(feature = "callsites")]
pub use read::{
    callsites, callsites_with, dropped_samples, live_callsites, set_sampling_limits,
    set_stack_depth, CallsiteOptions,
};
pub(crate) use sampling::sampling_origin;
pub use sampling::{sampling, seed_sampling, set_sampling, Sampling};
pub use sampling_env::SAMPLING_VAR;
#[cfg(feature = "callsites")]
pub use stack_table::{DEFAULT_MAX_STACKS, DEFAULT_STACK_DEPTH};
