//! [`ProfileRunner`]: run a job a set number of times, after warm-up runs,
//! with a time limit per run, and summarize it as a [`JobProfile`].

mod limits;
mod profile;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

pub use limits::{LimitExceeded, ResourceLimits, Violation};
pub use profile::{JobProfile, MemorySource, PeakMemory};

/// How a [`ProfileRunner`] runs a job. Set with the runner's
/// [`sample_size`](ProfileRunner::sample_size),
/// [`warmup_runs`](ProfileRunner::warmup_runs) and
/// [`max_execution_time`](ProfileRunner::max_execution_time), or as a whole
/// with [`with_config`](ProfileRunner::with_config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileConfig {
    /// Measured runs (default 10; at least 1).
    pub sample_size: usize,
    /// Runs before the measured ones, not recorded (default 2): they fill
    /// caches, start thread pools and let lazy statics initialize.
    pub warmup_runs: usize,
    /// The longest one run may take (default 300 s).
    pub max_execution_time: Duration,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            sample_size: 10,
            warmup_runs: 2,
            max_execution_time: Duration::from_secs(300),
        }
    }
}

/// Which run of a [`ProfileRunner`] went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunPhase {
    /// A warm-up run, counted from 1.
    Warmup(usize),
    /// A measured run, counted from 1.
    Measured(usize),
}

impl std::fmt::Display for RunPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunPhase::Warmup(n) => write!(f, "warm-up run {n}"),
            RunPhase::Measured(n) => write!(f, "measured run {n}"),
        }
    }
}

/// Why [`ProfileRunner::run`] or [`run_async`](ProfileRunner::run_async)
/// gave no profile. `E` is the job's own error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError<E> {
    /// A run took longer than
    /// [`max_execution_time`](ProfileConfig::max_execution_time).
    #[error(
        "profiling-alloc: job {job:?}, {phase}: took {elapsed:?}, over the limit of {limit:?}"
    )]
    Timeout {
        /// The runner's job name.
        job: String,
        /// The run.
        phase: RunPhase,
        /// How long it had run when it was found over the limit.
        elapsed: Duration,
        /// The limit.
        limit: Duration,
    },
    /// The job returned an `Err`.
    #[error("profiling-alloc: job {job:?}, {phase}: the job failed: {error}")]
    Job {
        /// The runner's job name.
        job: String,
        /// The run.
        phase: RunPhase,
        /// The job's error.
        error: E,
    },
    /// The configuration cannot be run.
    #[error("profiling-alloc: job {job:?}: invalid configuration: {reason}")]
    InvalidConfig {
        /// The runner's job name.
        job: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// What a job run by a [`ProfileRunner`] returns: `()` for a job that
/// cannot fail, or a `Result`, whose `Err` stops the runner with
/// [`RunError::Job`].
#[diagnostic::on_unimplemented(
    message = "a job run by ProfileRunner returns `()` or a `Result`, not `{Self}`",
    label = "this job's value",
    note = "return `Ok::<_, std::convert::Infallible>(value)` to keep a value, or end the closure with `;`"
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

/// Runs a job [`sample_size`](ProfileConfig::sample_size) times after
/// [`warmup_runs`](ProfileConfig::warmup_runs) and returns its
/// [`JobProfile`]: durations (mean, p50, p95, p99, max), peak memory, and
/// allocations per run.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// use profiling_alloc::{ProfileConfig, ProfileRunner, ResourceLimits};
///
/// # fn main() {
/// let runner = ProfileRunner::new("sort 10k").sample_size(5);
/// assert_eq!(runner.config().warmup_runs, ProfileConfig::default().warmup_runs);
/// let profile = runner
///     .run(|| {
///         let mut v: Vec<u32> = (0..10_000).rev().collect();
///         v.sort_unstable();
///     })
///     .unwrap();
/// assert_eq!(profile.sample_size, 5);
/// assert_eq!(profile.total_blocks_per_run, Some(1));
/// assert!(profile.fits(&ResourceLimits::AWS_LAMBDA).is_ok());
/// println!("{profile}");
/// # }
/// ```
///
/// Runs are sequential, on the calling thread (or, for
/// [`run_async`](Self::run_async), in the caller's task). The memory and
/// allocation numbers are the whole process's while a run lasts, so work a
/// job hands to other threads is counted, and so is anything unrelated
/// running meanwhile: profile on a quiet process.
///
/// Before each measured run the runner calls [`reset_peak`](crate::reset_peak),
/// so afterwards [`heap_stats`](crate::heap_stats)`().peak_bytes` is the
/// peak since the last run began, not the program's.
///
/// [`RunError::Job`] carries the job's error as it is, without requiring
/// it to implement `std::error::Error`; its `source()` is therefore not
/// chained.
#[derive(Clone, Debug)]
pub struct ProfileRunner {
    name: String,
    config: ProfileConfig,
}

impl ProfileRunner {
    /// A runner for the job `name` with the default [`ProfileConfig`].
    pub fn new(name: impl Into<String>) -> Self {
        ProfileRunner {
            name: name.into(),
            config: ProfileConfig::default(),
        }
    }

    /// The same runner with `config`.
    pub fn with_config(mut self, config: ProfileConfig) -> Self {
        self.config = config;
        self
    }

    /// The same runner with `runs` measured runs (at least 1, or the run
    /// fails with [`RunError::InvalidConfig`]).
    pub fn sample_size(mut self, runs: usize) -> Self {
        self.config.sample_size = runs;
        self
    }

    /// The same runner with `runs` warm-up runs before the measured ones.
    pub fn warmup_runs(mut self, runs: usize) -> Self {
        self.config.warmup_runs = runs;
        self
    }

    /// The same runner with `limit` as the longest one run may take.
    pub fn max_execution_time(mut self, limit: Duration) -> Self {
        self.config.max_execution_time = limit;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &ProfileConfig {
        &self.config
    }

    /// Runs a sync job and profiles it.
    ///
    /// A sync run cannot be interrupted: one over the time limit is found
    /// when it returns, and no further run is started.
    ///
    /// # Errors
    ///
    /// [`RunError::Timeout`] for a run over the limit, [`RunError::Job`]
    /// carrying the job's `Err`, [`RunError::InvalidConfig`] for a
    /// `sample_size` of 0. A panic in the job is not caught.
    pub fn run<R: JobResult>(
        &self,
        mut job: impl FnMut() -> R,
    ) -> Result<JobProfile, RunError<R::Error>> {
        self.check_config()?;
        let mut recorder = profile::Recorder::new(self.config.sample_size);
        for phase in self.phases() {
            let run = recorder.begin(phase);
            // Opaque to the optimizer, so a job's work is not removed as
            // unused (as a benchmark harness does with its results).
            let output = std::hint::black_box(job());
            self.finish(&mut recorder, run, phase, Some(output))?;
        }
        Ok(recorder.into_profile(&self.name, &self.config))
    }

    /// Runs an async job (a closure returning a future) and profiles it.
    /// The returned future runs on whatever executor awaits it.
    ///
    /// The time limit is checked before every poll of a run's future: a run
    /// over it is dropped at its next poll (cancelled, as a timeout in an
    /// async runtime would), and no further run is started. A future that
    /// blocks inside one poll, or is never woken, cannot be stopped.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
    /// # fn main() {
    /// let runner = profiling_alloc::ProfileRunner::new("fetch");
    /// let profile = futures_lite_block_on(runner.run_async(|| async {
    ///     let body = vec![0u8; 4096];
    ///     Ok::<usize, std::io::Error>(body.len())
    /// }))
    /// .unwrap();
    /// assert_eq!(profile.total_bytes_per_run, Some(4096));
    /// # }
    /// # // A tiny executor, so the example needs no runtime.
    /// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut cx = std::task::Context::from_waker(&waker);
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn run_async<F, Fut>(
        &self,
        mut job: F,
    ) -> Result<JobProfile, RunError<<Fut::Output as JobResult>::Error>>
    where
        F: FnMut() -> Fut,
        Fut: Future,
        Fut::Output: JobResult,
    {
        self.check_config()?;
        let limit = self.config.max_execution_time;
        let mut recorder = profile::Recorder::new(self.config.sample_size);
        for phase in self.phases() {
            let run = recorder.begin(phase);
            let mut future = pin!(job());
            let output = std::future::poll_fn(|cx| {
                if run.elapsed() > limit {
                    return Poll::Ready(None);
                }
                future.as_mut().poll(cx).map(Some)
            })
            .await;
            let output = std::hint::black_box(output);
            self.finish(&mut recorder, run, phase, output)?;
        }
        Ok(recorder.into_profile(&self.name, &self.config))
    }

    fn check_config<E>(&self) -> Result<(), RunError<E>> {
        if self.config.sample_size == 0 {
            return Err(RunError::InvalidConfig {
                job: self.name.clone(),
                reason: "sample_size is 0: at least one measured run is needed",
            });
        }
        Ok(())
    }

    fn phases(&self) -> impl Iterator<Item = RunPhase> {
        (1..=self.config.warmup_runs)
            .map(RunPhase::Warmup)
            .chain((1..=self.config.sample_size).map(RunPhase::Measured))
    }

    /// Checks a finished (or, with `None`, abandoned) run and records it.
    fn finish<R: JobResult>(
        &self,
        recorder: &mut profile::Recorder,
        started: Instant,
        phase: RunPhase,
        output: Option<R>,
    ) -> Result<(), RunError<R::Error>> {
        let elapsed = started.elapsed();
        let limit = self.config.max_execution_time;
        let timeout = || RunError::Timeout {
            job: self.name.clone(),
            phase,
            elapsed,
            limit,
        };
        let output = output.ok_or_else(timeout)?;
        if let Err(error) = output.into_result() {
            return Err(RunError::Job {
                job: self.name.clone(),
                phase,
                error,
            });
        }
        if elapsed > limit {
            return Err(timeout());
        }
        recorder.end(phase, elapsed);
        Ok(())
    }
}
