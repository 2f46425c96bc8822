//! [`RunError`]: why a [`ProfileRunner`](super::ProfileRunner) gave no
//! profile, [`RunPhase`]: which run, and [`JobResult`]: what a job returns.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which run of a [`ProfileRunner`](super::ProfileRunner): in JSON
/// `{"warmup": 1}` or `{"measured": 3}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    /// A warm-up run, counted from 1.
    Warmup(usize),
    /// A measured run, counted from 1.
    Measured(usize),
}

impl RunPhase {
    /// Whether this is a measured run.
    pub fn is_measured(self) -> bool {
        matches!(self, RunPhase::Measured(_))
    }
}

impl std::fmt::Display for RunPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunPhase::Warmup(n) => write!(f, "warm-up run {n}"),
            RunPhase::Measured(n) => write!(f, "measured run {n}"),
        }
    }
}

/// Why [`ProfileRunner::run`](super::ProfileRunner::run) (or
/// [`run_async`](super::ProfileRunner::run_async),
/// [`run_on_thread`](super::ProfileRunner::run_on_thread)) gave no profile.
/// `E` is the job's own error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError<E> {
    /// A run was still going at its deadline, or came back after it.
    #[error(
        "profiling-alloc: job {job:?}, {phase}: {}, over the limit of {limit:?}",
        if *.abandoned { format!("abandoned after {elapsed:?}") } else { format!("took {elapsed:?}") }
    )]
    Timeout {
        /// The runner's job name.
        job: String,
        /// The run.
        phase: RunPhase,
        /// How long it had run when the runner returned.
        elapsed: Duration,
        /// The limit.
        limit: Duration,
        /// `true` when the run was still going and was abandoned at its
        /// deadline (an async job's future dropped; a sync job left running
        /// on its worker thread); `false` when it returned, too late.
        abandoned: bool,
    },
    /// The job returned an `Err` (and errors are not
    /// [allowed](super::ProfileConfig::allow_errors)).
    #[error("profiling-alloc: job {job:?}, {phase}: the job failed: {error}")]
    Job {
        /// The runner's job name.
        job: String,
        /// The run.
        phase: RunPhase,
        /// The job's error.
        error: E,
    },
    /// The job panicked. The panic was caught: the program goes on, no run
    /// follows. (The panic hook ran as usual: the default one prints the
    /// message to stderr.)
    #[error("profiling-alloc: job {job:?}, {phase}: the job panicked: {message}")]
    Panicked {
        /// The runner's job name.
        job: String,
        /// The run.
        phase: RunPhase,
        /// The panic's message (`"a panic without a message"` when its
        /// payload was not a string).
        message: String,
    },
    /// The configuration cannot be run.
    #[error("profiling-alloc: job {job:?}: invalid configuration: {reason}")]
    InvalidConfig {
        /// The runner's job name.
        job: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// [`run_on_thread`](super::ProfileRunner::run_on_thread) could not
    /// start its worker thread.
    #[error("profiling-alloc: job {job:?}: starting the runner's worker thread failed: {source}")]
    Spawn {
        /// The runner's job name.
        job: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// The message of a panic's payload.
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// What a job run by a [`ProfileRunner`](super::ProfileRunner) returns:
/// `()` for a job that cannot fail, or a `Result`, whose `Err` stops the
/// runner with [`RunError::Job`] (or is counted, with
/// [`allow_errors`](super::ProfileConfig::allow_errors)).
#[diagnostic::on_unimplemented(
    message = "a job run by ProfileRunner returns `()` or a `Result`, not `{Self}`",
    label = "this job's value",
    note = "return `Ok::<_, std::convert::Infallible>(value)` to keep a value, or end the closure with `;` (a closure that never returns: `|| -> () {{ loop {{ .. }} }}`)"
)]
pub trait JobResult {
    /// The job's error type.
    type Error;
    /// `Ok(())` for a success.
    fn into_result(self) -> Result<(), Self::Error>;
}

impl JobResult for () {
    type Error = std::convert::Infallible;
    fn into_result(self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl<T, E> JobResult for Result<T, E> {
    type Error = E;
    fn into_result(self) -> Result<(), E> {
        self.map(drop)
    }
}
