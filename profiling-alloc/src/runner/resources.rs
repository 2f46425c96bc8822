//! What one run used ([`RunResources`]), and how it is read: the clocks,
//! the heap counters and the kernel's resident memory, around the run.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::config::CpuClock;
use super::error::RunPhase;
use crate::heap::{heap_stats, reset_peak, HeapStats};

/// What one run of a [`ProfileRunner`](super::ProfileRunner) used, warm-up
/// runs included, in [`JobProfile::runs`](super::JobProfile::runs).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunResources {
    /// Which run.
    pub phase: RunPhase,
    /// Wall time, from the job's call (or its future's first poll) to its
    /// return.
    #[serde(rename = "wall_ns", with = "crate::units::nanos")]
    pub wall: Duration,
    /// CPU time meanwhile, by the profile's
    /// [`cpu_clock`](super::JobProfile::cpu_clock); `None` where the clock
    /// cannot be read (not unix).
    #[serde(rename = "cpu_ns", with = "crate::units::nanos::option")]
    pub cpu: Option<Duration>,
    /// The heap, from the allocator; `None` when it is not installed.
    pub heap: Option<RunHeap>,
    /// Resident memory, from the kernel; `None` where it cannot be read.
    pub resident: Option<RunResident>,
    /// Whether the job returned `Err` (counted with
    /// [`allow_errors`](super::ProfileConfig::allow_errors)).
    pub failed: bool,
}

impl RunResources {
    /// The share of the run's wall time spent on a CPU: CPU time ÷ wall
    /// time (above 1 when the run computed on several threads at once).
    pub fn on_cpu_share(&self) -> Option<f64> {
        let wall = self.wall.as_secs_f64();
        (wall > 0.0).then_some(self.cpu?.as_secs_f64() / wall)
    }
}

/// The heap during one run: the whole process's counts, from the run's
/// start (other threads' work included, as a job's thread pool's is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunHeap {
    /// The run's own peak: the most the live heap rose above where it
    /// stood when the run began. What the program held before the run (a
    /// fixture, a cache) is not in it.
    pub peak_bytes: u64,
    /// How far `peak_bytes` may be below the true peak: the allocator's
    /// bound while several threads allocate (0 with `exact_peak`, or one
    /// thread).
    pub peak_error_bound: u64,
    /// Live bytes at the run's end minus at its start: what the run kept
    /// (negative when it freed more than it allocated). The job's returned
    /// value is dropped before this is read.
    pub kept_bytes: i64,
    /// Blocks allocated, reallocs included.
    pub total_blocks: u64,
    /// Bytes allocated.
    pub total_bytes: u64,
}

/// The process's resident memory during one run, from the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunResident {
    /// Resident bytes when the run began; `None` where only the peak can
    /// be read (not Linux).
    pub start_bytes: Option<u64>,
    /// The resident high-water mark at the run's end: the run's own peak
    /// when the mark was reset at its start
    /// ([`ResidentSource::RunPeak`](super::ResidentSource::RunPeak)),
    /// else the process's since it started.
    pub peak_bytes: u64,
    /// Whether the mark was reset at the run's start, so that `peak_bytes`
    /// is the run's.
    pub reset: bool,
}

impl RunResident {
    /// How far resident memory rose above the run's start: `peak − start`,
    /// when the mark was reset and the start is known.
    pub fn growth_bytes(&self) -> Option<u64> {
        self.reset
            .then_some(self.peak_bytes.saturating_sub(self.start_bytes?))
    }
}

/// A run's starting readings. Taken in the order that keeps the runner's
/// own work out: the kernel's first (reading `/proc` allocates nothing, but
/// takes a few microseconds), then the heap, then the clocks last.
pub(super) struct RunStart {
    phase: RunPhase,
    resident: Option<crate::sys::Resident>,
    resident_reset: bool,
    heap: Option<HeapStats>,
    process_cpu: Option<Duration>,
    clock: CpuClock,
    at: Instant,
}

impl RunStart {
    /// Readings before a run. `reset_resident` asks for the resident
    /// high-water mark to start again.
    pub(super) fn take(phase: RunPhase, clock: CpuClock, reset_resident: bool) -> RunStart {
        let resident_reset = reset_resident && crate::sys::reset_resident_peak();
        let resident = crate::sys::resident();
        reset_peak();
        let heap = Some(heap_stats()).filter(|stats| stats.active);
        let process_cpu = match clock {
            CpuClock::Process => crate::sys::process_cpu_time(),
            CpuClock::Thread => None,
        };
        RunStart {
            phase,
            resident,
            resident_reset,
            heap,
            process_cpu,
            clock,
            at: Instant::now(),
        }
    }

    /// Which run.
    pub(super) fn phase(&self) -> RunPhase {
        self.phase
    }

    /// Wall time so far.
    pub(super) fn elapsed(&self) -> Duration {
        self.at.elapsed()
    }

    /// When the run began.
    pub(super) fn started_at(&self) -> Instant {
        self.at
    }

    /// The clocks at the run's end: wall time, and CPU time by the clock
    /// chosen (`thread_cpu` is the job's thread's, measured where it ran).
    pub(super) fn stop_clocks(&self, thread_cpu: Option<Duration>) -> Clocks {
        let wall = self.at.elapsed();
        let cpu = match self.clock {
            CpuClock::Process => crate::sys::process_cpu_time()
                .zip(self.process_cpu)
                .map(|(end, start)| end.saturating_sub(start)),
            CpuClock::Thread => thread_cpu,
        };
        Clocks { wall, cpu }
    }

    /// The run's resources: `clocks` from [`stop_clocks`](Self::stop_clocks)
    /// at its end, then the heap and the kernel read now (after the job's
    /// value was dropped).
    pub(super) fn finish(self, clocks: Clocks, failed: bool) -> RunResources {
        let heap = self.heap.map(|start| {
            let end = heap_stats();
            RunHeap {
                peak_bytes: end.peak_bytes.saturating_sub(start.live_bytes),
                peak_error_bound: end.peak_error_bound,
                kept_bytes: (end.live_bytes as i64).wrapping_sub(start.live_bytes as i64),
                total_blocks: end.total_blocks.saturating_sub(start.total_blocks),
                total_bytes: end.total_bytes.saturating_sub(start.total_bytes),
            }
        });
        let resident = crate::sys::resident().map(|end| RunResident {
            start_bytes: self.resident.and_then(|start| start.now),
            peak_bytes: end.peak,
            reset: self.resident_reset,
        });
        RunResources {
            phase: self.phase,
            wall: clocks.wall,
            cpu: clocks.cpu,
            heap,
            resident,
            failed,
        }
    }
}

/// A run's wall and CPU time, read the moment it returned.
#[derive(Clone, Copy, Debug)]
pub(super) struct Clocks {
    pub(super) wall: Duration,
    pub(super) cpu: Option<Duration>,
}

/// The calling thread's CPU clock around `f`.
pub(super) fn on_thread_cpu<R>(f: impl FnOnce() -> R) -> (R, Option<Duration>) {
    let start = crate::sys::thread_cpu_time();
    let value = f();
    let spent = crate::sys::thread_cpu_time()
        .zip(start)
        .map(|(end, start)| end.saturating_sub(start));
    (value, spent)
}
