//! [`CliError`]: everything that makes the tool exit with status 1, each
//! with a one-line message that names the file and what is wrong.

use std::path::PathBuf;

/// What went wrong, as one line for the terminal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Reading a report, drawing or writing its outputs failed (the
    /// library's message names the file).
    #[error(transparent)]
    Report(#[from] profiling_alloc::Error),
    /// The comparison cannot be made as asked.
    #[error(transparent)]
    Compare(#[from] crate::diff::CompareError),
    /// A file could not be written.
    #[error("profiling-alloc: writing {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The differential flamegraph has nothing to draw.
    #[error("profiling-alloc: no differential flamegraph: {0}")]
    NothingToDraw(String),
    /// The file holds no job to plan.
    #[error("profiling-alloc: {0} holds no job to plan (a report whose jobs were never called, or an empty array)")]
    NothingToPlan(String),
    /// inferno failed to draw.
    #[error("profiling-alloc: drawing the differential flamegraph failed: {0}")]
    Draw(#[source] std::io::Error),
}

impl CliError {
    /// A [`CliError::Write`] of `path`.
    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> CliError {
        CliError::Write {
            path: path.into(),
            source,
        }
    }
}
