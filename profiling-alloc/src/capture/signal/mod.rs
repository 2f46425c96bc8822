//! CPU sampling's part on the floor: the `SIGPROF` handler ([`handler`]),
//! the lock-free ring it writes samples into ([`buffer`]), and the timers
//! that send the signal ([`timers`]). Sessions, the sampler thread and the
//! profiles they build are in `cpu`, above.

pub(crate) mod buffer;
pub(crate) mod handler;
pub(crate) mod timers;
