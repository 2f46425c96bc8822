//! Callsites: which code allocated how much, from sampled stacks.
//!
//! - Reading: [`callsites()`](fn@callsites) (sorted by bytes, merged by
//!   function and job path), [`callsites_with`] ([`CallsiteOptions`]),
//!   [`live_callsites`] (what is still allocated), [`dropped_samples`].
//! - Sampling: [`Sampling`], chosen in the allocator's const constructor,
//!   by [`SAMPLING_VAR`], or at run time with [`set_sampling`];
//!   [`sampling`] tells the mode in force, [`seed_sampling`] makes runs
//!   repeatable.
//! - Bounds: [`set_stack_depth`] ([`DEFAULT_STACK_DEPTH`]) and
//!   [`set_sampling_limits`] ([`DEFAULT_MAX_STACKS`],
//!   [`DEFAULT_MAX_TRACKED_BLOCKS`], [`DEFAULT_MAX_TRACKED_BLOCKS_EVERY`]).
//! - The stack walk: [`stack_unwinder`] says which [`StackUnwinder`] this
//!   build uses.
//! - The data: [`Callsite`] and [`Frame`]; lifetimes by
//!   [`LIFETIME_CLASS_BOUNDS_NS`].
//!
//! With [`Sampling::Every`] the counts are exact; with
//! [`Sampling::Poisson`] they are unbiased estimates, with their variance.
//! Without the `callsites` feature, the types and the mode are here, and
//! nothing samples.

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
#[cfg(feature = "callsites")]
pub use crate::capture::unwind::stack_unwinder;
pub use crate::capture::unwind::StackUnwinder;
pub use callsite::{Callsite, Frame};
#[cfg(feature = "callsites")]
pub(crate) use read::callsites_within;
#[cfg(feature = "callsites")]
pub use read::{
    callsites, callsites_with, dropped_samples, live_callsites, set_sampling_limits,
    set_stack_depth, CallsiteOptions,
};
