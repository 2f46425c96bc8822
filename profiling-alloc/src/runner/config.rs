//! [`ProfileConfig`]: how a [`ProfileRunner`](super::ProfileRunner) runs a
//! job, and [`CpuClock`], which CPU time it counts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a [`ProfileRunner`](super::ProfileRunner) runs a job. Set with the
/// runner's methods ([`sample_size`](super::ProfileRunner::sample_size),
/// [`warmup_runs`](super::ProfileRunner::warmup_runs),
/// [`max_execution_time`](super::ProfileRunner::max_execution_time), ...),
/// or as a whole with [`with_config`](super::ProfileRunner::with_config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileConfig {
    /// Measured runs (default 10; at least 1).
    pub sample_size: usize,
    /// Runs before the measured ones (default 2): they fill caches, start
    /// thread pools and let lazy statics initialize. Their durations are
    /// not in the percentiles, but their memory counts towards the job's
    /// [`MemoryNeed`](super::MemoryNeed): a fresh serverless instance runs
    /// its first call cold too.
    pub warmup_runs: usize,
    /// The longest one run may take (default 300 s). A run still going at
    /// its deadline is abandoned and the runner returns
    /// [`RunError::Timeout`](super::RunError::Timeout).
    pub max_execution_time: Duration,
    /// Which CPU clock a run's CPU time is read from (default
    /// [`CpuClock::Process`]).
    pub cpu_clock: CpuClock,
    /// Whether a run whose job returns `Err` is counted as an error and the
    /// runner goes on (default `false`: the first `Err` stops it with
    /// [`RunError::Job`](super::RunError::Job)). Counted errors give the
    /// profile's [`error_rate`](super::JobProfile::error_rate), as a QoS
    /// baseline wants it; panics and timeouts always stop the runner.
    pub allow_errors: bool,
    /// Whether the process's resident high-water mark is reset before each
    /// run (default `true`), so that each run's resident peak is its own
    /// (Linux: `/proc/self/clear_refs`). `getrusage`'s `ru_maxrss` reads
    /// that mark too (unless a thread that exited since had a higher one):
    /// a program that reads it for itself may see it restart.
    pub reset_resident_peak: bool,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            sample_size: 10,
            warmup_runs: 2,
            max_execution_time: Duration::from_secs(300),
            cpu_clock: CpuClock::Process,
            allow_errors: false,
            reset_resident_peak: true,
        }
    }
}

/// Which CPU time a run counts, in [`ProfileConfig::cpu_clock`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CpuClock {
    /// The whole process's CPU time while the run lasts
    /// (`CLOCK_PROCESS_CPUTIME_ID`): work the job hands to other threads
    /// (a thread pool, spawned tasks) is counted, and so is anything else
    /// the process does meanwhile. Profile on a quiet process.
    #[default]
    Process,
    /// The CPU time of the thread that runs the job: the calling thread,
    /// the worker of [`run_on_thread`](super::ProfileRunner::run_on_thread),
    /// or, for an async job, whichever thread polls it, summed over its
    /// polls. Other threads' work is not counted, nor is anything else.
    Thread,
}

impl std::fmt::Display for CpuClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CpuClock::Process => "process clock",
            CpuClock::Thread => "thread clock",
        })
    }
}
