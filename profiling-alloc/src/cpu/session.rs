//! One CPU profile from start to stop: the order in which the handler, the
//! timers, the sampler thread and the ring are set up and taken down.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::profile::{CpuProfile, Gathered};
use super::sampler::{self, Collected, Settings, CONTROL};
use super::{CpuTimers, PROCESS_WIDE_MAX_FREQUENCY_HZ};
use crate::capture::signal::buffer::{Ring, SLOTS};
use crate::capture::signal::handler::{
    self, InstallError, MODE, PER_THREAD, PROCESS_WIDE, RING, RUNNING, SESSION,
};
use crate::capture::signal::timers;
use crate::capture::threads::THREAD_STARTS;
use crate::capture::unwind::interrupted;
use crate::error::Error;

/// Whether a session runs (set before its setup, cleared after its end).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The last session's generation.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Environment variable that asks for the process-wide timer.
const TIMERS_VAR: &str = "PROFILING_ALLOC_CPU_TIMERS";

pub(super) fn is_running() -> bool {
    ACTIVE.load(Acquire)
}

/// A running session.
#[derive(Debug)]
pub(super) struct Session {
    generation: u64,
    /// The frequency that runs (see [`arm_timers`]); its period is
    /// [`period_ns`] of it.
    frequency_hz: u32,
    timers: CpuTimers,
    started: Instant,
    sampler: Option<JoinHandle<Collected>>,
}

/// Starts the timers: per-thread ones on the threads there are now (listed
/// from this thread), or the process-wide one when asked for or when
/// per-thread timers cannot be made. Returns the frequency that runs: the
/// process-wide timer's is at most [`PROCESS_WIDE_MAX_FREQUENCY_HZ`], and
/// `settings.period_ns` is set to match.
fn arm_timers(
    frequency_hz: u32,
    settings: &mut Settings,
    collected: &mut Collected,
    seed: &mut u64,
) -> Result<u32, Error> {
    if settings.per_thread {
        let mut tids = Vec::new();
        if collected.scan(settings, seed, &mut tids, false).is_ok() {
            return Ok(frequency_hz);
        }
        *collected = Collected::default();
        settings.per_thread = false;
        MODE.store(PROCESS_WIDE, SeqCst);
        THREAD_STARTS.watch(false);
    }
    let frequency_hz = frequency_hz.min(PROCESS_WIDE_MAX_FREQUENCY_HZ);
    settings.period_ns = period_ns(frequency_hz);
    timers::set_process_timer(settings.period_ns).map_err(|source| Error::CpuTimer {
        call: "setitimer",
        source,
    })?;
    Ok(frequency_hz)
}

/// Nanoseconds of CPU between samples at `frequency_hz`.
fn period_ns(frequency_hz: u32) -> u64 {
    1_000_000_000 / u64::from(frequency_hz.max(1))
}

/// Clears `ACTIVE` unless defused: a start that fails half-way.
struct ActiveGuard(bool);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0 {
            SESSION.store(0, SeqCst);
            THREAD_STARTS.watch(false);
            crate::job::set_cpu_profiling(false);
            ACTIVE.store(false, SeqCst);
        }
    }
}

impl Session {
    pub(super) fn start(frequency_hz: u32) -> Result<Session, Error> {
        if ACTIVE
            .compare_exchange(false, true, AcqRel, Acquire)
            .is_err()
        {
            return Err(Error::CpuAlreadyRunning);
        }
        let mut guard = ActiveGuard(true);
        handler::install().map_err(|error| match error {
            InstallError::Sigaction(source) => Error::CpuTimer {
                call: "sigaction",
                source,
            },
            InstallError::InUse => Error::CpuSignalInUse,
        })?;
        let ring = ring()?;
        interrupted::prepare_for_signals();
        let generation = GENERATION.fetch_add(1, Relaxed) + 1;
        let process_wide = std::env::var(TIMERS_VAR).is_ok_and(|v| v == "process");
        let mut collected = Collected::default();
        let mut seed = generation.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
        let mut settings = Settings {
            generation,
            period_ns: period_ns(frequency_hz),
            per_thread: !process_wide,
            own_tid: 0,
        };
        MODE.store(
            if process_wide {
                PROCESS_WIDE
            } else {
                PER_THREAD
            },
            SeqCst,
        );
        SESSION.store(generation, SeqCst);
        THREAD_STARTS.watch(settings.per_thread);
        crate::job::set_cpu_profiling(true);
        let frequency_hz = arm_timers(frequency_hz, &mut settings, &mut collected, &mut seed)?;
        *CONTROL.stop.lock().unwrap_or_else(|p| p.into_inner()) = false;
        let thread_settings = settings;
        let spawned = std::thread::Builder::new()
            .name("cpu-sampler".to_string())
            .spawn(move || {
                // SAFETY: no preconditions.
                let own_tid = u32::try_from(unsafe { libc::gettid() }).unwrap_or(0);
                let settings = Settings {
                    own_tid,
                    ..thread_settings
                };
                sampler::run(ring, settings, collected)
            });
        let sampler = match spawned {
            Ok(handle) => handle,
            Err(source) => {
                if !settings.per_thread {
                    let _ = timers::set_process_timer(0);
                }
                return Err(Error::CpuTimer {
                    call: "spawning the cpu-sampler thread",
                    source,
                });
            }
        };
        guard.0 = false;
        Ok(Session {
            generation,
            frequency_hz,
            timers: if settings.per_thread {
                CpuTimers::PerThread
            } else {
                CpuTimers::ProcessWide
            },
            started: Instant::now(),
            sampler: Some(sampler),
        })
    }

    pub(super) fn timers(&self) -> CpuTimers {
        self.timers
    }

    pub(super) fn frequency_hz(&self) -> u32 {
        self.frequency_hz
    }

    /// Ends the session: its timers are deleted, and every sample the ring
    /// accepted is counted (a handler still running after a second's wait
    /// writes a sample of an ended session, which the next drain discards).
    pub(super) fn stop(mut self) -> CpuProfile {
        let duration = self.started.elapsed();
        let collected = self.end();
        let gathered = Gathered {
            collected,
            frequency_hz: self.frequency_hz,
            period_ns: period_ns(self.frequency_hz),
            duration,
            timers: self.timers,
            dropped: RING.get().map_or(0, |ring| ring.dropped.swap(0, Relaxed)),
        };
        let profile = CpuProfile::build(gathered);
        ACTIVE.store(false, SeqCst);
        profile
    }

    /// Ends the session and throws its samples away.
    pub(super) fn discard(mut self) {
        let _ = self.end();
        if let Some(ring) = RING.get() {
            ring.dropped.store(0, Relaxed);
        }
        ACTIVE.store(false, SeqCst);
    }

    /// Stops the signals, the timers and the sampler thread; waits for
    /// handlers still running; drains what is left.
    fn end(&mut self) -> Collected {
        crate::capture::reading(|| {
            // Handlers that start from now on return at once.
            SESSION.store(0, SeqCst);
            THREAD_STARTS.watch(false);
            crate::job::set_cpu_profiling(false);
            if self.timers == CpuTimers::ProcessWide {
                let _ = timers::set_process_timer(0);
            }
            *CONTROL.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
            THREAD_STARTS.condvar().notify_all();
            let mut collected = self
                .sampler
                .take()
                .and_then(|sampler| sampler.join().ok())
                .unwrap_or_default();
            // Handlers that loaded the session before it was cleared finish
            // their sample (a bounded walk); give them a moment.
            let deadline = Instant::now() + Duration::from_secs(1);
            while RUNNING.load(SeqCst) > 0 && Instant::now() < deadline {
                std::thread::yield_now();
            }
            if let Some(ring) = RING.get() {
                collected.drain(ring, self.generation);
            }
            collected
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.sampler.is_some() {
            let _ = self.end();
            ACTIVE.store(false, SeqCst);
        }
    }
}

/// The ring, made by the first session (untracked: the profiler's own
/// memory, kept for the rest of the program).
fn ring() -> Result<&'static Ring, Error> {
    if let Some(ring) = RING.get() {
        return Ok(ring);
    }
    let made = {
        let _untracked = crate::capture::reentrancy::Untracked::enter();
        Ring::new(SLOTS)
    };
    let ring = made.ok_or(Error::CpuUnsupported {
        reason: "no memory for the sample buffer",
    })?;
    let _ = RING.set(ring);
    RING.get().ok_or(Error::CpuUnsupported {
        reason: "no memory for the sample buffer",
    })
}
