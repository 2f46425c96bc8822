//! [`JobProfile`], and the recorder that builds it run by run.

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ProfileConfig, RunPhase};
use crate::heap::{heap_stats, reset_peak, HeapStats};
use crate::job::DurationStats;
use crate::units::{bytes, duration, grouped};

/// What a [`ProfileRunner`](super::ProfileRunner) measured over a job's
/// runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobProfile {
    /// The runner's job name.
    pub name: String,
    /// Measured runs.
    pub sample_size: usize,
    /// Warm-up runs before them (not in the numbers).
    pub warmup_runs: usize,
    /// Durations of the measured runs (percentiles nearest-rank over the
    /// runs: with 10 runs, p95 and p99 are the slowest run).
    pub duration: DurationStats,
    /// The most memory the job needed, with where the number comes from;
    /// `None` when neither source is available.
    pub peak_memory: Option<PeakMemory>,
    /// Blocks allocated per measured run, on average (all threads: the
    /// difference of [`HeapStats::total_blocks`](crate::HeapStats::total_blocks) over the runs); `None`
    /// without the allocator.
    pub total_blocks_per_run: Option<u64>,
    /// Bytes allocated per measured run, on average (all threads); `None`
    /// without the allocator.
    pub total_bytes_per_run: Option<u64>,
    /// The process's largest resident set after the runs (`getrusage`),
    /// whichever source `peak_memory` has; `None` where not available.
    pub max_rss_bytes: Option<u64>,
}

/// The peak memory of a [`JobProfile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PeakMemory {
    /// Bytes.
    pub bytes: u64,
    /// What the number measures.
    pub source: MemorySource,
    /// How far `bytes` may be below the true value: the allocator's peak
    /// error bound (0 with `exact_peak`, and for RSS).
    pub error_bound: u64,
}

/// Where a [`PeakMemory`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MemorySource {
    /// The counting allocator's heap peak during the worst run: live heap
    /// bytes, the program's own data before the run included. What the
    /// program asked for; the allocator's overhead, stacks and code are not
    /// in it.
    HeapPeak,
    /// The process's largest resident set (`getrusage`), used when the
    /// allocator is not installed: the whole process since it started, so
    /// an upper bound for the job.
    ProcessMaxRss,
}

impl fmt::Display for MemorySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemorySource::HeapPeak => "heap peak, from the allocator",
            MemorySource::ProcessMaxRss => "process max RSS, from getrusage",
        })
    }
}

/// Collects the measured runs.
pub(super) struct Recorder {
    durations: Vec<Duration>,
    start: Option<HeapStats>,
    end: Option<HeapStats>,
    peak: Option<(u64, u64)>,
}

impl Recorder {
    pub(super) fn new(sample_size: usize) -> Self {
        Recorder {
            // Capped: a huge sample size must not fail before the first run.
            durations: Vec::with_capacity(sample_size.min(1024)),
            start: None,
            end: None,
            peak: None,
        }
    }

    /// Before a run: for a measured one, restarts the heap peak and notes the
    /// totals on the first. Returns the run's start time.
    pub(super) fn begin(&mut self, phase: RunPhase) -> Instant {
        if let RunPhase::Measured(_) = phase {
            let stats = heap_stats();
            if stats.active {
                reset_peak();
                self.start.get_or_insert(stats);
            }
        }
        Instant::now()
    }

    /// After a run that succeeded within the limit.
    pub(super) fn end(&mut self, phase: RunPhase, elapsed: Duration) {
        let RunPhase::Measured(_) = phase else {
            return;
        };
        self.durations.push(elapsed);
        let stats = heap_stats();
        if stats.active {
            let (peak, bound) = self.peak.unwrap_or((0, 0));
            if stats.peak_bytes >= peak {
                self.peak = Some((stats.peak_bytes, stats.peak_error_bound.max(bound)));
            }
            self.end = Some(stats);
        }
    }

    pub(super) fn into_profile(mut self, name: &str, config: &ProfileConfig) -> JobProfile {
        let runs = self.durations.len().max(1) as u64;
        let per_run = |f: fn(&HeapStats) -> u64| match (&self.start, &self.end) {
            (Some(start), Some(end)) => Some(f(end).saturating_sub(f(start)) / runs),
            _ => None,
        };
        let total_blocks_per_run = per_run(|s| s.total_blocks);
        let total_bytes_per_run = per_run(|s| s.total_bytes);
        let max_rss_bytes = crate::sys::max_rss_bytes();
        let peak_memory = match (self.peak, max_rss_bytes) {
            (Some((bytes, error_bound)), _) => Some(PeakMemory {
                bytes,
                source: MemorySource::HeapPeak,
                error_bound,
            }),
            (None, Some(bytes)) => Some(PeakMemory {
                bytes,
                source: MemorySource::ProcessMaxRss,
                error_bound: 0,
            }),
            (None, None) => None,
        };
        JobProfile {
            name: name.to_string(),
            sample_size: self.durations.len(),
            warmup_runs: config.warmup_runs,
            duration: DurationStats::of_runs(&mut self.durations),
            peak_memory,
            total_blocks_per_run,
            total_bytes_per_run,
            max_rss_bytes,
        }
    }
}

impl fmt::Display for JobProfile {
    /// ```text
    /// job "sort 10k": 10 runs after 2 warm-up runs
    ///   duration   mean 412.0 µs, p50 401.3 µs, p95 480.2 µs, p99 480.2 µs, max 480.2 µs
    ///   memory     peak 39.1 KiB (heap peak, from the allocator)
    ///   per run    1 allocations, 39.1 KiB allocated
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
        let d = &self.duration;
        writeln!(
            f,
            "job {:?}: {} runs after {} warm-up runs",
            self.name, self.sample_size, self.warmup_runs
        )?;
        writeln!(
            f,
            "  duration   mean {}, p50 {}, p95 {}, p99 {}, max {}",
            duration(d.mean),
            duration(d.p50),
            duration(d.p95),
            duration(d.p99),
            duration(d.max)
        )?;
        match &self.peak_memory {
            Some(peak) => writeln!(
                f,
                "  memory     peak {} ({})",
                bytes(peak.bytes),
                peak.source
            )?,
            None => writeln!(f, "  memory     not measured (no allocator, no getrusage)")?,
        }
        match (self.total_blocks_per_run, self.total_bytes_per_run) {
            (Some(blocks), Some(allocated)) => writeln!(
                f,
                "  per run    {} allocations, {} allocated",
                grouped(blocks),
                bytes(allocated)
            ),
            _ => writeln!(
                f,
                "  per run    allocations not counted (allocator not installed)"
            ),
        }
    }
}
