//! [`JobProfile`], and the recorder that builds it run by run.

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ProfileConfig, RunPhase};
use crate::stats::{heap_stats, reset_peak, HeapStats};
use crate::units::{bytes, duration, grouped};

/// What a [`ProfileRunner`](super::ProfileRunner) measured over a job's
/// runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobProfile {
    /// The runner's job name.
    pub name: String,
    /// Measured runs.
    pub sample_size: usize,
    /// Warm-up runs before them (not in the numbers).
    pub warmup_runs: usize,
    /// Durations of the measured runs.
    pub duration: RunDurations,
    /// The most memory the job needed, with where the number comes from;
    /// `None` when neither source is available.
    pub peak_memory: Option<PeakMemory>,
    /// Blocks allocated per measured run, on average (all threads); `None`
    /// without the allocator.
    pub allocations_per_run: Option<u64>,
    /// Bytes allocated per measured run, on average (all threads); `None`
    /// without the allocator.
    pub bytes_allocated_per_run: Option<u64>,
    /// The process's largest resident set after the runs (`getrusage`),
    /// whichever source `peak_memory` has; `None` where not available.
    pub max_rss_bytes: Option<u64>,
}

/// Durations of a job's measured runs. Percentiles are nearest-rank over the
/// runs themselves: with 10 runs, p95 and p99 are the slowest run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDurations {
    /// Mean.
    pub mean: Duration,
    /// Fastest run.
    pub min: Duration,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest run.
    pub max: Duration,
}

/// The peak memory of a [`JobProfile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        let allocations_per_run = per_run(|s| s.total_blocks);
        let bytes_allocated_per_run = per_run(|s| s.total_bytes);
        let max_rss_bytes = crate::rusage::max_rss_bytes();
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
            duration: summarize(&mut self.durations),
            peak_memory,
            allocations_per_run,
            bytes_allocated_per_run,
            max_rss_bytes,
        }
    }
}

/// Mean, min, nearest-rank percentiles and max of `durations`.
fn summarize(durations: &mut [Duration]) -> RunDurations {
    if durations.is_empty() {
        return RunDurations::default();
    }
    durations.sort_unstable();
    let n = durations.len();
    let rank = |q: f64| durations[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    let total_nanos = durations.iter().fold(0u128, |sum, d| sum + d.as_nanos());
    let mean_nanos = u64::try_from(total_nanos / n as u128).unwrap_or(u64::MAX);
    RunDurations {
        mean: Duration::from_nanos(mean_nanos),
        min: durations[0],
        p50: rank(0.50),
        p95: rank(0.95),
        p99: rank(0.99),
        max: durations[n - 1],
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
        match (self.allocations_per_run, self.bytes_allocated_per_run) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut runs: Vec<Duration> = (1..=10).rev().map(Duration::from_millis).collect();
        let d = summarize(&mut runs);
        assert_eq!(d.min, Duration::from_millis(1));
        assert_eq!(d.p50, Duration::from_millis(5));
        assert_eq!(d.p95, Duration::from_millis(10));
        assert_eq!(d.p99, Duration::from_millis(10));
        assert_eq!(d.max, Duration::from_millis(10));
        assert_eq!(d.mean, Duration::from_micros(5500));

        let mut one = vec![Duration::from_millis(7)];
        let d = summarize(&mut one);
        assert_eq!((d.min, d.p50, d.p99), (one[0], one[0], one[0]));
    }
}
