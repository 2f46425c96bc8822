//! `profiling-suite`: the examples and integration tests of
//! [`profiling_alloc`]. Not published; the library users depend on is
//! `profiling-alloc`.
//!
//! This crate's library only holds what the examples share.

use std::path::PathBuf;

/// The directory examples write their output to: `target/profiling/` of the
/// workspace, or of `$CARGO_TARGET_DIR` when that is set.
pub fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("profiling")
}
