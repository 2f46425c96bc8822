//! One call from a test to a file you can open: a flamegraph SVG or a JSON
//! report of everything allocated so far, written under
//! [`output_dir`](crate::output_dir) (`target/profiling/`).
//!
//! ```no_run
//! // tests/parse_big_file.rs: its own binary, so its own global allocator.
//! use profiling_alloc::{ProfilingAllocator, Sampling};
//!
//! #[global_allocator]
//! static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);
//!
//! #[test]
//! fn parse_big_file() {
//!     let text = "1,2,3\n".repeat(10_000);
//!     let rows: Vec<Vec<u32>> = text
//!         .lines()
//!         .map(|line| line.split(',').map(|n| n.parse().unwrap()).collect())
//!         .collect();
//!     assert_eq!(rows.len(), 10_000);
//!     // target/profiling/parse_big_file.svg: which code allocated what.
//!     let svg = profiling_alloc::testing::write_flamegraph("parse_big_file").unwrap();
//!     println!("flamegraph: {}", svg.display());
//! }
//! ```
//!
//! The test harness runs tests on several threads at once, and the
//! allocator's numbers are the whole process's: give a test that writes a
//! profile a file of its own in `tests/` (or run with `--test-threads=1`),
//! so the graph shows only that test.

use std::path::PathBuf;

use super::error::Error;
use super::files::file_in_output_dir;
#[cfg(feature = "flamegraph")]
use super::flame_kind::FlameKind;
use super::report::Report;

/// Writes the allocated-bytes flamegraph of the program so far to
/// `output_dir()/name.svg` and returns its path.
///
/// # Errors
///
/// [`Error::InvalidName`] when `name` is not a plain file name,
/// [`Error::NoData`] when nothing was sampled (the message says why: most
/// often, sampling is off), [`Error::Io`] when the file cannot be written.
#[cfg(feature = "flamegraph")]
pub fn write_flamegraph(name: &str) -> Result<PathBuf, Error> {
    write_flamegraph_of(name, FlameKind::AllocatedBytes)
}

/// Writes the `kind` flamegraph of the program so far to
/// `output_dir()/name.svg` and returns its path.
///
/// # Errors
///
/// As [`write_flamegraph`].
#[cfg(feature = "flamegraph")]
pub fn write_flamegraph_of(name: &str, kind: FlameKind) -> Result<PathBuf, Error> {
    let path = file_in_output_dir(name, "svg")?;
    Report::capture().write_flamegraph(kind, &path)?;
    Ok(path)
}

/// Writes a [`Report`] of the program so far to `output_dir()/name.json`
/// and returns its path.
///
/// # Errors
///
/// [`Error::InvalidName`] when `name` is not a plain file name, [`Error::Io`]
/// when the file cannot be written.
pub fn write_report(name: &str) -> Result<PathBuf, Error> {
    let path = file_in_output_dir(name, "json")?;
    Report::capture().write_json(&path)?;
    Ok(path)
}
