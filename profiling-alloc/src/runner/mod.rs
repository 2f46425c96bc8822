//! [`ProfileRunner`]: run a job a set number of times, after warm-up runs,
//! with a deadline per run, and summarize what each run used (wall and CPU
//! time, its own heap peak, what it kept, resident memory) as a
//! [`JobProfile`], from which [`sizing`](crate::sizing) decides where the
//! job can run.

mod alarm;
mod config;
mod error;
mod limits;
mod profile;
mod resources;
mod worker;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

pub use config::{CpuClock, ProfileConfig};
pub use error::{JobResult, RunError, RunPhase};
pub use limits::{LimitExceeded, ResourceLimits, Violation};
pub use profile::{
    ByteStats, HeapUse, JobProfile, MachineInfo, MemoryNeed, ResidentSource, ResidentUse,
};
pub use resources::{RunHeap, RunResident, RunResources};

use error::panic_message;
use resources::{on_thread_cpu, Clocks, RunStart};

/// Runs a job [`sample_size`](ProfileConfig::sample_size) times after
/// [`warmup_runs`](ProfileConfig::warmup_runs) and returns its
/// [`JobProfile`]: per run, wall and CPU time, the job's own heap peak,
/// the bytes it kept and allocated, and the process's resident peak; over
/// the runs, their percentiles and what the job needs resident.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// use profiling_alloc::{runner::ProfileConfig, ProfileRunner};
///
/// # fn main() {
/// let fixture: Vec<u64> = (0..100_000).collect(); // not the job's memory
/// let runner = ProfileRunner::new("sort 10k").sample_size(5);
/// assert_eq!(runner.config().warmup_runs, ProfileConfig::default().warmup_runs);
/// let profile = runner
///     .run(|| {
///         let mut v: Vec<u64> = fixture.iter().rev().take(10_000).copied().collect();
///         v.sort_unstable();
///     })
///     .unwrap();
/// assert_eq!(profile.sample_size, 5);
/// let heap = profile.heap.as_ref().unwrap();
/// assert_eq!(heap.total_blocks_per_run, 1);
/// assert_eq!(heap.peak_bytes.max, 80_000); // its own 10,000 u64, not the fixture
/// println!("{profile}");
/// # }
/// ```
///
/// # Three ways to run
///
/// - [`run`](Self::run): a sync job on the calling thread. A run over its
///   limit is found when it returns (the runner cannot take the thread
///   back before that).
/// - [`run_on_thread`](Self::run_on_thread): a sync job on a worker thread;
///   the runner returns at the deadline whether or not the run has ended.
/// - [`run_async`](Self::run_async): an async job, on whatever executor
///   awaits the runner; a run still waiting at its deadline is dropped.
///
/// A job that panics ends the profile with [`RunError::Panicked`]; the
/// panic does not unwind into the caller (the panic hook still runs: the
/// default one prints the message, and a backtrace with
/// `RUST_BACKTRACE=1`).
///
/// A job returns `()` or a `Result` ([`JobResult`]); an `Err` stops the
/// runner, or is counted with [`allow_errors`](ProfileConfig::allow_errors).
/// Profile a release build: the CPU times drive every prediction and price
/// [`sizing`](crate::sizing) makes.
///
/// # What is measured
///
/// Runs are sequential. The heap numbers and (with the default
/// [`CpuClock::Process`]) the CPU time are the whole process's while a run
/// lasts, from where they stood when it began: work the job hands to other
/// threads is counted, and so is anything unrelated running meanwhile, so
/// profile on a quiet process. What the process held before a run (a
/// fixture, a cache) is not in the run's peak.
///
/// Before each run the runner restarts the heap peak
/// ([`reset_peak`](crate::reset_peak)) and, on Linux, the kernel's
/// resident high-water mark (see
/// [`reset_resident_peak`](ProfileConfig::reset_resident_peak)).
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

    /// The same runner reading a run's CPU time from `clock`.
    pub fn cpu_clock(mut self, clock: CpuClock) -> Self {
        self.config.cpu_clock = clock;
        self
    }

    /// The same runner counting runs that return `Err` as errors and going
    /// on (`true`), or stopping at the first (`false`, the default).
    pub fn allow_errors(mut self, allow: bool) -> Self {
        self.config.allow_errors = allow;
        self
    }

    /// The same runner resetting the kernel's resident high-water mark
    /// before each run (`true`, the default) or leaving it alone.
    pub fn reset_resident_peak(mut self, reset: bool) -> Self {
        self.config.reset_resident_peak = reset;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &ProfileConfig {
        &self.config
    }

    /// Runs a sync job on the calling thread and profiles it.
    ///
    /// A run over the limit is found when it returns, and no further run is
    /// started: a job that may not return in time belongs on
    /// [`run_on_thread`](Self::run_on_thread).
    ///
    /// # Errors
    ///
    /// [`RunError::Timeout`] for a run over the limit, [`RunError::Job`]
    /// carrying the job's `Err` (unless errors are
    /// [allowed](ProfileConfig::allow_errors)), [`RunError::Panicked`] for a
    /// panic, [`RunError::InvalidConfig`] for a `sample_size` of 0.
    pub fn run<R: JobResult>(
        &self,
        mut job: impl FnMut() -> R,
    ) -> Result<JobProfile, RunError<R::Error>> {
        self.check_config()?;
        let mut recorder = profile::Recorder::new(&self.config);
        for phase in self.phases() {
            let start = self.start(phase);
            // Opaque to the optimizer, so a job's work is not removed as
            // unused (as a benchmark harness does with its results).
            let returned = catch_unwind(AssertUnwindSafe(|| {
                on_thread_cpu(|| std::hint::black_box(job()))
            }));
            let (output, thread_cpu) = match returned {
                Ok(value) => value,
                Err(payload) => return Err(self.panicked(phase, &*payload)),
            };
            let clocks = start.stop_clocks(thread_cpu);
            self.finish(&mut recorder, start, clocks, output)?;
        }
        Ok(recorder.into_profile(&self.name))
    }

    /// Runs a sync job on a worker thread and profiles it: the runner
    /// returns at a run's deadline with [`RunError::Timeout`] whether or not
    /// the run has ended, within the time it takes the operating system to
    /// wake the calling thread (well under a millisecond on an idle
    /// machine).
    ///
    /// The job runs on one thread, `profiling-alloc-run`, started before
    /// the first run. A thread cannot be stopped from outside: an abandoned
    /// run goes on there until the job returns; the thread then drops the
    /// job (and what it returned) and exits. A job that never returns keeps
    /// its thread, and whatever it holds, until the process exits, and what
    /// it allocates meanwhile is in the process's numbers.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
    /// use std::time::Duration;
    /// use profiling_alloc::{ProfileRunner, runner::RunError};
    ///
    /// # fn main() {
    /// let stuck = ProfileRunner::new("stuck")
    ///     .max_execution_time(Duration::from_millis(50))
    ///     .run_on_thread(|| std::thread::sleep(Duration::from_secs(3600)));
    /// assert!(matches!(stuck, Err(RunError::Timeout { abandoned: true, .. })));
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run), and [`RunError::Spawn`] when the worker
    /// thread cannot be started.
    pub fn run_on_thread<R, F>(&self, job: F) -> Result<JobProfile, RunError<R::Error>>
    where
        F: FnMut() -> R + Send + 'static,
        R: JobResult + Send + 'static,
    {
        self.check_config()?;
        let mut worker = worker::Worker::start(job).map_err(|source| RunError::Spawn {
            job: self.name.clone(),
            source,
        })?;
        let mut recorder = profile::Recorder::new(&self.config);
        for phase in self.phases() {
            let start = self.start(phase);
            // No deadline at all for a limit beyond what an Instant holds
            // (`Duration::MAX`: "no limit").
            let deadline = start
                .started_at()
                .checked_add(self.config.max_execution_time);
            let (output, thread_cpu) = match worker.run(deadline) {
                Some(worker::Returned::Value { value, thread_cpu }) => (value, thread_cpu),
                Some(worker::Returned::Panicked(message)) => {
                    return Err(RunError::Panicked {
                        job: self.name.clone(),
                        phase,
                        message,
                    })
                }
                None => return Err(self.timeout(phase, start.elapsed(), true)),
            };
            let clocks = start.stop_clocks(thread_cpu);
            self.finish(&mut recorder, start, clocks, output)?;
        }
        Ok(recorder.into_profile(&self.name))
    }

    /// Runs an async job (a closure returning a future) and profiles it.
    /// The returned future runs on whatever executor awaits it.
    ///
    /// A run still going at its deadline is abandoned: a timer thread
    /// (`profiling-alloc-deadline`, one per call of `run_async`) wakes the
    /// runner's task at the deadline, the runner drops the job's future
    /// (cancelled, as a timeout in an async runtime would), and returns
    /// [`RunError::Timeout`]. The bound past the deadline is the time the
    /// executor takes to poll the runner's task again once woken. A future
    /// that blocks inside one poll (a blocking call, a long computation
    /// without an `.await`) is dropped only once that poll returns: run such
    /// a job with [`run_on_thread`](Self::run_on_thread) and a runtime
    /// handle (`move || handle.block_on(job())`).
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
    /// assert_eq!(profile.heap.unwrap().total_bytes_per_run, 4096);
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
    /// With [`CpuClock::Thread`], a run's CPU time is the polling threads'
    /// clocks summed over the job's polls.
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
        let alarm = alarm::Alarm::start();
        let limit = self.config.max_execution_time;
        let mut recorder = profile::Recorder::new(&self.config);
        for phase in self.phases() {
            let start = self.start(phase);
            let deadline = start.started_at().checked_add(limit);
            let mut thread_cpu = Some(Duration::ZERO);
            let mut panic = None;
            // Making the future runs the closure's code: a panic there is
            // the job's too.
            let future = match catch_unwind(AssertUnwindSafe(&mut job)) {
                Ok(future) => future,
                Err(payload) => return Err(self.panicked(phase, &*payload)),
            };
            let output = {
                let mut future = pin!(future);
                std::future::poll_fn(|cx| {
                    if start.elapsed() >= limit {
                        return Poll::Ready(None);
                    }
                    let polled = catch_unwind(AssertUnwindSafe(|| {
                        on_thread_cpu(|| future.as_mut().poll(cx))
                    }));
                    match polled {
                        Ok((poll, spent)) => {
                            thread_cpu = thread_cpu.zip(spent).map(|(sum, spent)| sum + spent);
                            if poll.is_pending() {
                                if let (Some(alarm), Some(deadline)) = (&alarm, deadline) {
                                    alarm.set(deadline, cx.waker());
                                }
                            }
                            poll.map(Some)
                        }
                        Err(payload) => {
                            panic = Some(panic_message(&*payload));
                            Poll::Ready(None)
                        }
                    }
                })
                .await
                // The job's future is dropped here, finished or not.
            };
            if let Some(alarm) = &alarm {
                alarm.clear();
            }
            if let Some(message) = panic {
                return Err(RunError::Panicked {
                    job: self.name.clone(),
                    phase,
                    message,
                });
            }
            let Some(output) = std::hint::black_box(output) else {
                return Err(self.timeout(phase, start.elapsed(), true));
            };
            let clocks = start.stop_clocks(thread_cpu);
            self.finish(&mut recorder, start, clocks, output)?;
        }
        Ok(recorder.into_profile(&self.name))
    }

    fn check_config<E>(&self) -> Result<(), RunError<E>> {
        if self.config.sample_size == 0 {
            return Err(RunError::InvalidConfig {
                job: self.name.clone(),
                reason: "sample_size is 0: at least one measured run is needed",
            });
        }
        if self.config.max_execution_time.is_zero() {
            return Err(RunError::InvalidConfig {
                job: self.name.clone(),
                reason: "max_execution_time is 0: no run could finish in time",
            });
        }
        Ok(())
    }

    fn phases(&self) -> impl Iterator<Item = RunPhase> {
        (1..=self.config.warmup_runs)
            .map(RunPhase::Warmup)
            .chain((1..=self.config.sample_size).map(RunPhase::Measured))
    }

    fn start(&self, phase: RunPhase) -> RunStart {
        RunStart::take(
            phase,
            self.config.cpu_clock,
            self.config.reset_resident_peak,
        )
    }

    fn timeout<E>(&self, phase: RunPhase, elapsed: Duration, abandoned: bool) -> RunError<E> {
        RunError::Timeout {
            job: self.name.clone(),
            phase,
            elapsed,
            limit: self.config.max_execution_time,
            abandoned,
        }
    }

    fn panicked<E>(&self, phase: RunPhase, payload: &(dyn std::any::Any + Send)) -> RunError<E> {
        RunError::Panicked {
            job: self.name.clone(),
            phase,
            message: panic_message(payload),
        }
    }

    /// Checks a run that returned and records it.
    fn finish<R: JobResult>(
        &self,
        recorder: &mut profile::Recorder,
        start: RunStart,
        clocks: Clocks,
        output: R,
    ) -> Result<(), RunError<R::Error>> {
        let phase = start.phase();
        let failed = match output.into_result() {
            Ok(()) => false,
            Err(_) if self.config.allow_errors => true,
            Err(error) => {
                return Err(RunError::Job {
                    job: self.name.clone(),
                    phase,
                    error,
                })
            }
        };
        if clocks.wall > self.config.max_execution_time {
            return Err(self.timeout(phase, clocks.wall, false));
        }
        recorder.push(start.finish(clocks, failed));
        Ok(())
    }
}
