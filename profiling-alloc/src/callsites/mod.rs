//! Callsites: which code allocated how much, from sampled stacks, as
//! readers see them.
//!
//! The samples themselves are taken on the floor (`capture::sampling`): the
//! allocator's countdown picks an allocation, its stack is walked and
//! interned with the thread's job path, and the block's weight goes to that
//! stack's counters. Nothing is resolved until a reader asks: [`read`] turns
//! the table into [`Callsite`]s, resolving addresses once each
//! ([`symbols`]).
//!
//! - [`callsite`]: `Callsite` and `Frame`, the plain data (with or without
//!   the `callsites` feature, so a report has one shape whatever the build).
//! - [`symbols`], [`read`]: report time.

mod callsite;
#[cfg(feature = "callsites")]
mod read;
#[cfg(feature = "callsites")]
pub(crate) mod symbols;

pub use crate::capture::sampling::env::SAMPLING_VAR;
pub use crate::capture::sampling::lifetimes::LIFETIME_CLASS_BOUNDS_NS;
#[cfg(feature = "callsites")]
pub use crate::capture::sampling::live_blocks::{
    DEFAULT_MAX_TRACKED_BLOCKS, DEFAULT_MAX_TRACKED_BLOCKS_EVERY,
};
pub(crate) use crate::capture::sampling::mode::sampling_origin;
pub use crate::capture::sampling::mode::{sampling, seed_sampling, set_sampling, Sampling};
#[cfg(feature = "callsites")]
pub use crate::capture::sampling::stack_table::{DEFAULT_MAX_STACKS, DEFAULT_STACK_DEPTH};
pub use callsite::{Callsite, Frame};
#[cfg(feature = "callsites")]
pub(crate) use read::callsites_within;
#[cfg(feature = "callsites")]
pub use read::{
    callsites, callsites_with, dropped_samples, live_callsites, set_sampling_limits,
    set_stack_depth, CallsiteOptions,
};
