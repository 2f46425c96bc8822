//! One call from a test to a file you can open: the flamegraph or the JSON
//! report of what one closure allocated, written under
//! [`output_dir`](crate::output::output_dir) (an absolute path: `profiling/` in the
//! cargo target directory unless `$PROFILING_ALLOC_DIR` says otherwise).
//!
//! ```no_run
//! use profiling_alloc::ProfilingAllocator;
//!
//! #[global_allocator]
//! static ALLOC: ProfilingAllocator = ProfilingAllocator::system();
//!
//! fn parse(text: &str) -> Vec<Vec<u32>> {
//!     text.lines()
//!         .map(|line| line.split(',').map(|n| n.parse().unwrap()).collect())
//!         .collect()
//! }
//!
//! #[test]
//! fn parse_big_file() {
//!     let text = "1,2,3\n".repeat(10_000);
//!     // target/profiling/parse_big_file.svg: which code in the closure
//!     // allocated what, and nothing else.
//!     let svg = profiling_alloc::testing::flamegraph("parse_big_file", || {
//!         assert_eq!(parse(&text).len(), 10_000);
//!     })
//!     .unwrap();
//!     println!("flamegraph: {}", svg.display());
//! }
//! ```
//!
//! The closure's thread samples every block while it runs, whatever the
//! sampling mode, so the graph is exact; its stacks start at a root frame
//! named `name`. Other threads, the test harness among them, are not in it,
//! so tests that write graphs can run in parallel in one binary. Threads the
//! closure starts are not in it either. See [`Report::capture_of`].
//!
//! [`write_flamegraph`] and [`write_report`] write the whole program so far
//! instead (for a program's end, not a test).

use std::path::PathBuf;

use super::files::file_in_output_dir;
use super::report::Report;
use crate::error::Error;
#[cfg(feature = "flamegraph")]
use crate::kinds::FlameKind;

/// Runs `f` and writes the allocated-bytes flamegraph of what it allocated
/// to `output_dir()/name.svg`, returning its path (`f`'s value is dropped
/// once the graph is drawn; assert on it inside the closure).
///
/// # Errors
///
/// [`Error::InvalidName`] when `name` is not a plain file name (checked
/// before `f` runs), [`Error::NoData`] when `f` allocated nothing (or the
/// build has no `callsites` feature), [`Error::Io`] when the file cannot be
/// written.
#[cfg(feature = "flamegraph")]
pub fn flamegraph<R>(name: &str, f: impl FnOnce() -> R) -> Result<PathBuf, Error> {
    flamegraph_of(name, FlameKind::AllocatedBytes, f)
}

/// [`flamegraph`] of another [`FlameKind`]: blocks allocated, bytes `f`
/// left alive, or the time of the jobs it called.
///
/// # Errors
///
/// As [`flamegraph`].
#[cfg(feature = "flamegraph")]
pub fn flamegraph_of<R>(
    name: &str,
    kind: FlameKind,
    f: impl FnOnce() -> R,
) -> Result<PathBuf, Error> {
    let path = crate::capture::reading(|| file_in_output_dir(name, "svg"))?;
    let (value, report) = Report::capture_scope(name, f);
    report.write_flamegraph(kind, &path)?;
    drop(value);
    Ok(path)
}

/// Runs `f` and writes the JSON [`Report`] of what it allocated to
/// `output_dir()/name.json`, returning `f`'s value and the file's path.
///
/// # Errors
///
/// [`Error::InvalidName`] when `name` is not a plain file name (checked
/// before `f` runs), [`Error::Io`] when the file cannot be written.
pub fn report<R>(name: &str, f: impl FnOnce() -> R) -> Result<(R, PathBuf), Error> {
    let path = crate::capture::reading(|| file_in_output_dir(name, "json"))?;
    let (value, report) = Report::capture_scope(name, f);
    report.write_json(&path)?;
    Ok((value, path))
}

/// Writes the allocated-bytes flamegraph of the whole program so far (not
/// only one test: see [`flamegraph`]) to
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
    crate::capture::reading(|| {
        let path = file_in_output_dir(name, "svg")?;
        Report::capture().write_flamegraph(kind, &path)?;
        Ok(path)
    })
}

/// Writes a [`Report`] of the program so far to `output_dir()/name.json`
/// and returns its path.
///
/// # Errors
///
/// [`Error::InvalidName`] when `name` is not a plain file name, [`Error::Io`]
/// when the file cannot be written.
pub fn write_report(name: &str) -> Result<PathBuf, Error> {
    crate::capture::reading(|| {
        let path = file_in_output_dir(name, "json")?;
        Report::capture().write_json(&path)?;
        Ok(path)
    })
}
