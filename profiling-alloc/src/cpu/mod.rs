//! CPU sampling (feature `cpu`): where the program spends its CPU time, with
//! stacks that start at the job, as allocation stacks do.
//!
//! [`start`] arms a timer on every thread's own CPU-time clock (and on
//! threads started while it runs); each time a thread has used another
//! period of CPU (1/frequency seconds), the kernel interrupts it with
//! `SIGPROF`, and a signal handler records its stack and its job path.
//! [`CpuProfiling::stop`] returns the [`CpuProfile`]: samples per stack,
//! drawn as a flamegraph ([`CpuProfile::write_flamegraph`]), written as a
//! pprof CPU profile ([`CpuProfile::write_pprof`]) or read as a table of
//! hot functions ([`CpuProfile::hotspots`]).
//!
//! ```
//! # fn main() -> Result<(), profiling_alloc::Error> {
//! # if !cfg!(all(target_os = "linux", target_arch = "x86_64")) { return Ok(()); }
//! use profiling_alloc::cpu;
//!
//! #[profiling_alloc::profile_job]
//! fn checksum(data: &[u8]) -> u64 {
//!     data.iter().fold(0u64, |sum, &b| sum.rotate_left(5) ^ u64::from(b))
//! }
//!
//! let profiling = cpu::start(1000)?; // samples per CPU-second, per thread
//! let data = vec![7u8; 1 << 20];
//! let start = std::time::Instant::now();
//! while start.elapsed() < std::time::Duration::from_millis(200) {
//!     std::hint::black_box(checksum(&data));
//! }
//! let profile = profiling.stop();
//! println!("{}", profile.hotspot_table(10)); // self %, total %, samples, function, job
//! assert!(profile.job_samples().iter().any(|(job, _)| job.ends_with("checksum")));
//!
//! let dir = std::env::temp_dir();
//! profile.write_flamegraph(dir.join("cpu.svg"))?; // each stack under its job
//! profile.write_pprof(dir.join("cpu.pb.gz"))?; // go tool pprof -top cpu.pb.gz
//! # Ok(())
//! # }
//! ```
//!
//! # How it counts
//!
//! - **Per-thread timers** ([`CpuTimers::PerThread`]): `timer_create` on
//!   each thread's `CLOCK_THREAD_CPUTIME_ID`, delivered to that thread, the
//!   first expiry at a random point of the first period. Every busy core
//!   is counted. Threads are found by listing `/proc/self/task`: at the
//!   start, every 20 ms (up to every 100 ms while no thread starts or
//!   exits), and at once when a thread allocates for the first time (its
//!   first allocation wakes the sampler, at most one listing every 2 ms).
//!   A thread started while profiling is so sampled from about its first
//!   allocation, usually within a tick (BENCHMARKS.md has the delays
//!   measured). One that allocates nothing, or past the allocator's
//!   per-thread counters (1,024 threads at once), waits for the next
//!   listing, and one that lives less than that may be missed.
//! - **The process-wide timer** ([`CpuTimers::ProcessWide`]):
//!   `setitimer(ITIMER_PROF)`, only where per-thread timers cannot be made
//!   (a seccomp filter, a kernel without POSIX timers), or when
//!   `PROFILING_ALLOC_CPU_TIMERS=process` asks for it. The kernel merges
//!   expirations that come while a signal is pending, so beyond two or three
//!   busy cores it under-counts (golang/go#35057). It also has no overrun
//!   count: it fires at most once a tick, so it runs at
//!   [`PROCESS_WIDE_MAX_FREQUENCY_HZ`] (100 Hz) at most, below the tick's
//!   rate (250 or 1,000 Hz on most kernels; a kernel built with 100 Hz
//!   ticks cannot catch up), where the ticks after one that missed the
//!   process catch up.
//!   Asked for more, it would count a tick's worth of CPU as one period:
//!   at f Hz on a kernel ticking at T Hz, about T/f of the CPU time
//!   (BENCHMARKS.md).
//!   [`CpuProfile::timers`] says which ran, and
//!   [`CpuProfile::frequency_hz`] at what frequency.
//! - Timers fire on the kernel's tick (`CONFIG_HZ`, often 250 Hz): a
//!   delivery that stands for several periods counts as several samples of
//!   the same stack (the timer's overrun count), so above the tick's rate
//!   the samples stay right in number but distinct stacks come at most at
//!   the tick's rate.
//!   [`CpuProfile::capture_ratio`] compares the samples with the CPU time the
//!   threads' clocks measured.
//! - The kernel checks a thread's timer only at the ticks that find the
//!   thread running. A thread that enters the kernel every few microseconds
//!   (reading its own CPU clock, waking other threads) while other threads
//!   wait for a core ends its time slices in those calls, before the tick:
//!   its expirations come late and are counted at the next delivery (the
//!   overrun again), in fewer, heavier samples. Those still pending when
//!   the thread exits, or when the profile stops, are lost, and its
//!   [`CpuThread`] shows fewer samples than its CPU time. The process-wide
//!   timer, which has no overrun count, loses them outright
//!   (BENCHMARKS.md has both measured).
//!
//! # What the handler does, and does not
//!
//! It allocates nothing, takes no lock the interrupted code could hold, and
//! never waits: it walks the interrupted stack with the walk the allocation
//! sampler chose (frame pointers, or DWARF unwind rules read and cached in
//! the process, prepared by `start`; never libgcc), reads the thread's job
//! path from a thread-local, and writes the sample into a preallocated ring
//! that the session's thread empties at each listing (every 20 to 100 ms). When the ring is full the
//! sample is dropped and counted ([`CpuProfile::dropped_samples`]). A sample
//! that lands in the allocator, or in the profiler's own sampled path, is
//! safe and shows those frames: they are CPU the program spent.
//!
//! Where a thread's stack bounds are not known yet (it has had no sampled
//! allocation), its stack is read through `process_vm_readv`, which reports
//! a bad address instead of faulting. Where even that is refused, such a
//! thread's samples hold the interrupted function only.
//!
//! The handler stays installed after `stop` (a signal sent just before the
//! timers were deleted may still arrive, and `SIGPROF`'s default action ends
//! the process); with no session running it returns at once. `start` refuses
//! to replace another profiler's `SIGPROF` handler
//! ([`Error::CpuSignalInUse`]).
//!
//! Limits:
//!
//! - Linux on x86_64 ([`Error::CpuUnsupported`] elsewhere); one profile at
//!   a time ([`Error::CpuAlreadyRunning`]); 1 to [`MAX_FREQUENCY_HZ`] Hz
//!   here (at most [`PROCESS_WIDE_MAX_FREQUENCY_HZ`] under the
//!   process-wide timer), 1 to 1,000 Hz on the endpoint (feature
//!   `server`), where CPU profiles share the exclusive budget (one at a time, 5 a minute by
//!   default) with delta profiles and snapshots: scrape every 15 s or
//!   slower.
//! - The first profile of a process resolves symbols (debug info is loaded
//!   once), which takes a few seconds in a large binary.
//! - The handler reads thread-locals, which is safe when this crate is
//!   linked into the program, not into a library loaded with `dlopen`
//!   (where a thread-local's first use may allocate).
//! - A frame-pointer walk loses the caller of a function interrupted in
//!   its first instructions (before it saved its frame pointer).
//! - Blocking calls that `SA_RESTART` does not restart (`epoll_wait`,
//!   `nanosleep`, ...) may return `EINTR` while profiling; CPU-time timers
//!   fire on threads that run, so this is rare.
//! - A thread is sampled from when a listing finds it: a thread that
//!   allocates is found at its first allocation, one that does not within
//!   100 ms, and may have run unsampled until then.
//! - Stop profiling before `exec`: the process-wide timer survives it, and
//!   the new program would die of its signal.
//! - Corrupt unwind tables could make the DWARF walk misbehave; the
//!   walk's reads are checked, its length bounded.

mod hotspots;
mod profile;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod sampler;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod session;

use serde::{Deserialize, Serialize};

pub use hotspots::Hotspot;
pub use profile::{CpuProfile, CpuStack, CpuThread};

use crate::error::Error;

/// Highest sampling frequency [`start`] accepts, in samples per CPU-second.
pub const MAX_FREQUENCY_HZ: u32 = crate::error::CPU_MAX_FREQUENCY_HZ;

/// Highest frequency the process-wide timer runs at: where that timer is
/// used, a higher frequency asked of [`start`] runs at this one (see the
/// module's "How it counts").
pub const PROCESS_WIDE_MAX_FREQUENCY_HZ: u32 = 100;

/// Which timers made a profile's signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CpuTimers {
    /// One timer on each thread's own CPU clock: every core counted.
    PerThread,
    /// The process-wide `setitimer(ITIMER_PROF)`: under-counts beyond two or
    /// three busy cores.
    ProcessWide,
}

impl CpuTimers {
    /// `"per-thread"` or `"process-wide"`.
    pub fn name(self) -> &'static str {
        match self {
            CpuTimers::PerThread => "per-thread",
            CpuTimers::ProcessWide => "process-wide",
        }
    }
}

impl std::fmt::Display for CpuTimers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A running CPU profile, from [`start`]; [`stop`](CpuProfiling::stop) ends
/// it and returns the profile. Dropped without `stop`, it stops and
/// discards what it gathered.
#[derive(Debug)]
#[must_use = "profiling runs until `stop` is called; dropping this stops it at once"]
pub struct CpuProfiling {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    session: Option<session::Session>,
}

/// Starts sampling every thread's CPU use `frequency_hz` times per CPU-second
/// (100 is the usual rate; up to [`MAX_FREQUENCY_HZ`]; at most
/// [`PROCESS_WIDE_MAX_FREQUENCY_HZ`] under the process-wide timer, see
/// [`CpuProfiling::frequency_hz`]).
///
/// # Errors
///
/// - [`Error::CpuInvalidFrequency`]: `frequency_hz` is 0 or above
///   [`MAX_FREQUENCY_HZ`].
/// - [`Error::CpuAlreadyRunning`]: a profile is running (one at a time).
/// - [`Error::CpuSignalInUse`]: another handler has `SIGPROF`.
/// - [`Error::CpuUnsupported`]: not Linux on x86_64.
/// - [`Error::CpuTimer`]: the timers could not be started.
pub fn start(frequency_hz: u32) -> Result<CpuProfiling, Error> {
    if frequency_hz == 0 || frequency_hz > MAX_FREQUENCY_HZ {
        return Err(Error::CpuInvalidFrequency { frequency_hz });
    }
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        let session = session::Session::start(frequency_hz)?;
        Ok(CpuProfiling {
            session: Some(session),
        })
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        Err(Error::CpuUnsupported {
            reason: "CPU sampling needs Linux on x86_64",
        })
    }
}

/// Whether a CPU profile is running.
pub fn is_running() -> bool {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        session::is_running()
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        false
    }
}

impl CpuProfiling {
    /// Stops sampling and returns the profile, its stacks' symbols resolved.
    pub fn stop(mut self) -> CpuProfile {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        if let Some(session) = self.session.take() {
            return session.stop();
        }
        CpuProfile::empty()
    }

    /// Which timers this profile runs on.
    pub fn timers(&self) -> CpuTimers {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        if let Some(session) = &self.session {
            return session.timers();
        }
        CpuTimers::PerThread
    }

    /// Samples per CPU-second this profile takes: the frequency given to
    /// [`start`], or [`PROCESS_WIDE_MAX_FREQUENCY_HZ`] if that was higher
    /// and the process-wide timer runs.
    pub fn frequency_hz(&self) -> u32 {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        if let Some(session) = &self.session {
            return session.frequency_hz();
        }
        0
    }
}

impl Drop for CpuProfiling {
    fn drop(&mut self) {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        if let Some(session) = self.session.take() {
            session.discard();
        }
    }
}
