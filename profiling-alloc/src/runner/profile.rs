//! [`JobProfile`]: what a job's runs used, summarized; and the recorder
//! that builds it run by run.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::{CpuClock, ProfileConfig};
use super::resources::RunResources;
use crate::job::DurationStats;
use crate::units::{bytes, duration, grouped};
use crate::Error;

/// What a [`ProfileRunner`](super::ProfileRunner) measured over a job's
/// runs: the input of [`sizing`](crate::sizing).
///
/// Percentiles are over the measured runs (nearest rank: with 10 runs, p95
/// and p99 are the slowest run); [`memory_need`](Self::memory_need) is over
/// every run, warm-ups included. In JSON durations are integer nanoseconds
/// (`p95_ns`); [`write_json`](Self::write_json) writes one profile,
/// `profiling-alloc plan` reads it (or an array of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobProfile {
    /// The runner's job name.
    pub name: String,
    /// Measured runs.
    pub sample_size: usize,
    /// Warm-up runs before them.
    pub warmup_runs: usize,
    /// Measured runs whose job returned `Err` (only with
    /// [`allow_errors`](ProfileConfig::allow_errors); otherwise the first
    /// one stops the runner).
    pub errors: usize,
    /// Wall time of the measured runs.
    pub duration: DurationStats,
    /// CPU time of the measured runs, by [`cpu_clock`](Self::cpu_clock);
    /// `None` where the clock cannot be read.
    pub cpu_time: Option<DurationStats>,
    /// The clock `cpu_time` was read from.
    pub cpu_clock: CpuClock,
    /// Total CPU time ÷ total wall time of the measured runs: near 1 for a
    /// job that computes on one thread, near 0 for one that waits, above 1
    /// for one that computes on several threads at once. What lets
    /// [`sizing`](crate::sizing) predict a run at a smaller CPU share.
    pub on_cpu_share: Option<f64>,
    /// The heap during the measured runs; `None` without the allocator.
    pub heap: Option<HeapUse>,
    /// The process's resident memory during the measured runs; `None`
    /// where it cannot be read.
    pub resident: Option<ResidentUse>,
    /// What the job needs resident; `None` when neither the heap nor the
    /// resident memory could be measured.
    pub memory_need: Option<MemoryNeed>,
    /// Every run, warm-ups first, in order.
    pub runs: Vec<RunResources>,
    /// The machine the runs were measured on.
    pub machine: MachineInfo,
}

/// Amounts of the measured runs (bytes), in the shape of
/// [`DurationStats`]: mean, min, nearest-rank percentiles, max.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ByteStats {
    /// Mean.
    pub mean: u64,
    /// Smallest.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl ByteStats {
    /// The statistics of `values` (sorted here); all zero when empty.
    pub(crate) fn of(values: &mut [u64]) -> ByteStats {
        if values.is_empty() {
            return ByteStats::default();
        }
        values.sort_unstable();
        let n = values.len();
        let rank = |q: f64| values[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        let sum = values.iter().map(|&v| u128::from(v)).sum::<u128>();
        ByteStats {
            mean: u64::try_from(sum / n as u128).unwrap_or(u64::MAX),
            min: values[0],
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: values[n - 1],
        }
    }
}

/// The heap during a profile's measured runs, from the allocator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HeapUse {
    /// Each run's own peak: the most the live heap rose above where it
    /// stood when the run began.
    pub peak_bytes: ByteStats,
    /// The largest error bound of those peaks (0 with `exact_peak`, or
    /// while one thread allocates at a time).
    pub peak_error_bound: u64,
    /// Bytes a run kept (live at its end minus at its start), on average.
    pub kept_bytes_mean: i64,
    /// The most one run kept.
    pub kept_bytes_max: i64,
    /// Blocks allocated per run, on average.
    pub total_blocks_per_run: u64,
    /// Bytes allocated per run, on average.
    pub total_bytes_per_run: u64,
}

/// The process's resident memory during a profile's measured runs, from
/// the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResidentUse {
    /// Each run's resident peak: the whole process's, the program's own
    /// data and code included.
    pub peak_bytes: ByteStats,
    /// What `peak_bytes` measures.
    pub source: ResidentSource,
    /// The most resident memory rose above a run's start, warm-ups
    /// included; `None` unless the high-water mark was reset per run.
    pub growth_bytes_max: Option<u64>,
}

/// Where a [`ResidentUse`]'s peaks come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResidentSource {
    /// Linux: the kernel's high-water mark (`VmHWM`), reset at each run's
    /// start (`/proc/self/clear_refs`): the run's own peak.
    RunPeak,
    /// The process's high-water mark since it started (`getrusage`'s
    /// `ru_maxrss`, or `VmHWM` where it could not be reset): an upper bound
    /// of a run's peak, and no growth per run.
    ProcessPeak,
}

impl fmt::Display for ResidentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResidentSource::RunPeak => "the run's own high-water mark",
            ResidentSource::ProcessPeak => "the process's high-water mark since it started",
        })
    }
}

/// What a job needs resident to run, over every run of a profile
/// (warm-ups included: a fresh instance runs its first call cold):
/// its heap peak plus the resident memory its runs added beyond it.
///
/// A platform's memory limit counts the whole process: add the runtime's
/// own baseline (the sizing data carries one per platform).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MemoryNeed {
    /// `heap_peak_bytes + resident_overhead_bytes`, or
    /// `resident_growth_bytes` without the allocator.
    pub bytes: u64,
    /// The largest own heap peak of a run, plus its error bound.
    pub heap_peak_bytes: Option<u64>,
    /// The most a run's resident growth exceeded its heap peak: the
    /// allocator's overhead (page rounding, metadata, memory it keeps),
    /// plus code and stack pages a run touched first. `None` where growth
    /// per run cannot be read (the resident mark is not reset per run), or
    /// where no run grew the resident set by its heap peak: the memory was
    /// already resident (freed by earlier work and kept by the allocator),
    /// so the overhead cannot be told apart; a plan then assumes one.
    pub resident_overhead_bytes: Option<u64>,
    /// The most resident memory rose above a run's start.
    pub resident_growth_bytes: Option<u64>,
}

impl MemoryNeed {
    /// The need of `runs`; `None` when none measured a heap or a growth.
    pub(crate) fn of(runs: &[RunResources]) -> Option<MemoryNeed> {
        let max = |values: &mut dyn Iterator<Item = u64>| values.max();
        let heap_peak_bytes = runs
            .iter()
            .map(|run| {
                run.heap
                    .map(|h| h.peak_bytes.saturating_add(h.peak_error_bound))
            })
            .collect::<Option<Vec<u64>>>()
            .and_then(|peaks| max(&mut peaks.into_iter()));
        let growths: Option<Vec<u64>> = runs
            .iter()
            .map(|run| run.resident.and_then(|r| r.growth_bytes()))
            .collect();
        let resident_growth_bytes = growths.clone().and_then(|g| max(&mut g.into_iter()));
        // Only a run whose resident set grew by at least its heap peak shows
        // the allocator's overhead: in the others the memory was already
        // resident (freed by earlier work and kept by the allocator).
        let resident_overhead_bytes = heap_peak_bytes.and(growths).and_then(|growths| {
            let mut overheads = runs.iter().zip(growths).filter_map(|(run, growth)| {
                let heap = run.heap.map_or(0, |h| h.peak_bytes);
                growth.checked_sub(heap)
            });
            max(&mut overheads)
        });
        let bytes = match (heap_peak_bytes, resident_growth_bytes) {
            (Some(heap), _) => heap.saturating_add(resident_overhead_bytes.unwrap_or(0)),
            (None, Some(growth)) => growth,
            (None, None) => return None,
        };
        Some(MemoryNeed {
            bytes,
            heap_peak_bytes,
            resident_overhead_bytes,
            resident_growth_bytes,
        })
    }
}

/// The machine a profile was measured on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MachineInfo {
    /// CPUs the process could run on (`available_parallelism`): a job's
    /// measured parallelism is at most this.
    pub logical_cpus: usize,
    /// The operating system (`std::env::consts::OS`).
    pub os: String,
    /// The CPU architecture (`std::env::consts::ARCH`).
    pub arch: String,
}

impl MachineInfo {
    /// This machine.
    pub(crate) fn this() -> MachineInfo {
        MachineInfo {
            logical_cpus: std::thread::available_parallelism().map_or(1, usize::from),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

impl JobProfile {
    /// Errors per measured run: `errors ÷ sample_size`.
    pub fn error_rate(&self) -> f64 {
        if self.sample_size == 0 {
            0.0
        } else {
            self.errors as f64 / self.sample_size as f64
        }
    }

    /// The profile as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        crate::capture::reading(|| {
            // A profile holds numbers, strings and enums only: it always
            // serializes.
            serde_json::to_string_pretty(self).unwrap_or_default()
        })
    }

    /// Writes the profile as JSON to `path` (its directory is created if
    /// needed): what `profiling-alloc plan` reads.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file or directory that could not be written.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        crate::capture::reading(|| crate::io::write_file(path.as_ref(), self.to_json()))
    }

    /// A profile from the JSON of [`to_json`](Self::to_json).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidData`] saying what is wrong, with its line and
    /// column.
    pub fn from_json(text: &str) -> Result<JobProfile, Error> {
        crate::capture::reading(|| crate::io::parse_json(text, "job profile", None))
    }

    /// Reads a profile written by [`write_json`](Self::write_json).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, [`Error::InvalidData`]
    /// when it is not a job profile.
    pub fn read_json(path: impl AsRef<Path>) -> Result<JobProfile, Error> {
        crate::capture::reading(|| {
            let path = path.as_ref();
            let text = crate::io::read_text_file(path)?;
            crate::io::parse_json(&text, "job profile", Some(path))
        })
    }
}

/// Collects the runs.
pub(super) struct Recorder {
    config: ProfileConfig,
    runs: Vec<RunResources>,
}

impl Recorder {
    pub(super) fn new(config: &ProfileConfig) -> Self {
        let runs = config.warmup_runs.saturating_add(config.sample_size);
        Recorder {
            config: *config,
            // Capped: a huge sample size must not fail before the first run.
            runs: Vec::with_capacity(runs.min(4096)),
        }
    }

    pub(super) fn push(&mut self, run: RunResources) {
        self.runs.push(run);
    }

    pub(super) fn into_profile(self, name: &str) -> JobProfile {
        let measured: Vec<&RunResources> =
            self.runs.iter().filter(|r| r.phase.is_measured()).collect();
        let mut walls: Vec<Duration> = measured.iter().map(|r| r.wall).collect();
        let cpus: Option<Vec<Duration>> = measured.iter().map(|r| r.cpu).collect();
        let on_cpu_share = cpus.as_ref().and_then(|cpus| {
            let wall: f64 = walls.iter().map(Duration::as_secs_f64).sum();
            (wall > 0.0).then(|| cpus.iter().map(Duration::as_secs_f64).sum::<f64>() / wall)
        });
        JobProfile {
            name: name.to_string(),
            sample_size: measured.len(),
            warmup_runs: self.config.warmup_runs,
            errors: measured.iter().filter(|r| r.failed).count(),
            duration: DurationStats::of_runs(&mut walls),
            cpu_time: cpus.map(|mut cpus| DurationStats::of_runs(&mut cpus)),
            cpu_clock: self.config.cpu_clock,
            on_cpu_share,
            heap: heap_use(&measured),
            resident: resident_use(&self.runs, &measured),
            memory_need: MemoryNeed::of(&self.runs),
            machine: MachineInfo::this(),
            runs: self.runs,
        }
    }
}

fn heap_use(measured: &[&RunResources]) -> Option<HeapUse> {
    let heaps: Vec<_> = measured.iter().map(|r| r.heap).collect::<Option<_>>()?;
    let n = heaps.len().max(1) as i64;
    let mut peaks: Vec<u64> = heaps.iter().map(|h| h.peak_bytes).collect();
    let kept: i64 = heaps
        .iter()
        .map(|h| h.kept_bytes)
        .fold(0, i64::saturating_add);
    let mean = |f: fn(&super::RunHeap) -> u64| {
        let sum = heaps.iter().map(|h| u128::from(f(h))).sum::<u128>();
        u64::try_from(sum / n as u128).unwrap_or(u64::MAX)
    };
    Some(HeapUse {
        peak_bytes: ByteStats::of(&mut peaks),
        peak_error_bound: heaps.iter().map(|h| h.peak_error_bound).max().unwrap_or(0),
        kept_bytes_mean: kept / n,
        kept_bytes_max: heaps.iter().map(|h| h.kept_bytes).max().unwrap_or(0),
        total_blocks_per_run: mean(|h| h.total_blocks),
        total_bytes_per_run: mean(|h| h.total_bytes),
    })
}

fn resident_use(all: &[RunResources], measured: &[&RunResources]) -> Option<ResidentUse> {
    let residents: Vec<_> = measured.iter().map(|r| r.resident).collect::<Option<_>>()?;
    let mut peaks: Vec<u64> = residents.iter().map(|r| r.peak_bytes).collect();
    let source = if residents.iter().all(|r| r.reset) {
        ResidentSource::RunPeak
    } else {
        ResidentSource::ProcessPeak
    };
    let growth_bytes_max = all
        .iter()
        .map(|r| r.resident.and_then(|r| r.growth_bytes()))
        .collect::<Option<Vec<u64>>>()
        .and_then(|growths| growths.into_iter().max());
    Some(ResidentUse {
        peak_bytes: ByteStats::of(&mut peaks),
        source,
        growth_bytes_max,
    })
}

impl fmt::Display for JobProfile {
    /// ```text
    /// job "search": 200 runs after 5 warm-up runs, 0 errors
    ///   duration   mean 12.1 ms, p50 11.8 ms, p95 14.0 ms, p99 16.2 ms, max 17.0 ms
    ///   CPU        mean 6.0 ms, p95 7.1 ms (process clock): on CPU 49% of the time
    ///   heap       own peak p50 113.0 KiB, p95 113.0 KiB, max 113.0 KiB; kept +0 B a run; allocated 212.0 KiB in 41 blocks a run
    ///   resident   the process's peak during a run: p50 14.2 MiB, max 14.9 MiB (the run's own high-water mark)
    ///   needs      1.2 MiB resident: heap peak 113.0 KiB + 1.1 MiB resident overhead
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::capture::reading(|| {
            let d = &self.duration;
            writeln!(
                f,
                "job {:?}: {} runs after {} warm-up runs, {} errors",
                self.name,
                grouped(self.sample_size as u64),
                grouped(self.warmup_runs as u64),
                grouped(self.errors as u64)
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
            match (&self.cpu_time, self.on_cpu_share) {
                (Some(cpu), Some(share)) => writeln!(
                    f,
                    "  CPU        mean {}, p95 {} ({}): on CPU {:.0}% of the time",
                    duration(cpu.mean),
                    duration(cpu.p95),
                    self.cpu_clock,
                    share * 100.0
                )?,
                _ => writeln!(f, "  CPU        not measured (no CPU clock here)")?,
            }
            match &self.heap {
            Some(heap) => writeln!(
                f,
                "  heap       own peak p50 {}, p95 {}, max {}; kept {}{} a run; allocated {} in {} blocks a run",
                bytes(heap.peak_bytes.p50),
                bytes(heap.peak_bytes.p95),
                bytes(heap.peak_bytes.max),
                if heap.kept_bytes_mean < 0 { "-" } else { "+" },
                bytes(heap.kept_bytes_mean.unsigned_abs()),
                bytes(heap.total_bytes_per_run),
                grouped(heap.total_blocks_per_run)
            )?,
            None => writeln!(f, "  heap       not counted (allocator not installed)")?,
        }
            if let Some(resident) = &self.resident {
                writeln!(
                    f,
                    "  resident   the process's peak during a run: p50 {}, max {} ({})",
                    bytes(resident.peak_bytes.p50),
                    bytes(resident.peak_bytes.max),
                    resident.source
                )?;
            }
            match &self.memory_need {
            Some(need) => match (need.heap_peak_bytes, need.resident_overhead_bytes) {
                (Some(heap), Some(overhead)) => writeln!(
                    f,
                    "  needs      {} resident: heap peak {} + {} resident overhead",
                    bytes(need.bytes),
                    bytes(heap),
                    bytes(overhead)
                ),
                (Some(heap), None) => writeln!(
                    f,
                    "  needs      {} resident: heap peak {} (the resident overhead not measured: the runs reused memory already resident, or no per-run reading)",
                    bytes(need.bytes),
                    bytes(heap)
                ),
                _ => writeln!(
                    f,
                    "  needs      {} resident: growth of the resident set",
                    bytes(need.bytes)
                ),
            },
            None => writeln!(
                f,
                "  needs      not measured (no allocator, no resident reading)"
            ),
        }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{RunHeap, RunPhase, RunResident};

    fn run(phase: RunPhase, heap_peak: u64, growth: u64) -> RunResources {
        RunResources {
            phase,
            wall: Duration::from_millis(10),
            cpu: Some(Duration::from_millis(5)),
            heap: Some(RunHeap {
                peak_bytes: heap_peak,
                ..RunHeap::default()
            }),
            resident: Some(RunResident {
                start_bytes: Some(1000),
                peak_bytes: 1000 + growth,
                reset: true,
            }),
            failed: false,
        }
    }

    #[test]
    fn the_need_is_the_largest_heap_peak_plus_the_largest_overhead() {
        let runs = [
            // Cold: resident grew 300 beyond a heap peak of 100.
            run(RunPhase::Warmup(1), 100, 400),
            // Warm: memory reused, no growth.
            run(RunPhase::Measured(1), 150, 0),
            run(RunPhase::Measured(2), 120, 130),
        ];
        let need = MemoryNeed::of(&runs).unwrap();
        assert_eq!(need.heap_peak_bytes, Some(150));
        assert_eq!(need.resident_overhead_bytes, Some(300));
        assert_eq!(need.resident_growth_bytes, Some(400));
        assert_eq!(need.bytes, 450);
    }

    #[test]
    fn memory_already_resident_shows_no_overhead() {
        // Every run reused memory the process held: growth below the heap
        // peak says nothing of the overhead.
        let runs = [
            run(RunPhase::Warmup(1), 4000, 100),
            run(RunPhase::Measured(1), 4000, 0),
        ];
        let need = MemoryNeed::of(&runs).unwrap();
        assert_eq!(need.resident_overhead_bytes, None);
        assert_eq!((need.bytes, need.heap_peak_bytes), (4000, Some(4000)));
    }

    #[test]
    fn without_the_allocator_the_need_is_the_resident_growth() {
        let mut runs = [run(RunPhase::Measured(1), 0, 700)];
        runs[0].heap = None;
        let need = MemoryNeed::of(&runs).unwrap();
        assert_eq!((need.bytes, need.heap_peak_bytes), (700, None));
        runs[0].resident = None;
        assert_eq!(MemoryNeed::of(&runs), None);
    }

    #[test]
    fn byte_stats_are_nearest_rank() {
        let mut values: Vec<u64> = (1..=10).rev().collect();
        let stats = ByteStats::of(&mut values);
        assert_eq!(
            (stats.min, stats.p50, stats.p95, stats.max, stats.mean),
            (1, 5, 10, 10, 5)
        );
        assert_eq!(ByteStats::of(&mut []), ByteStats::default());
    }

    #[test]
    fn a_profile_reads_back_from_json() {
        let mut recorder = Recorder::new(&ProfileConfig::default());
        recorder.push(run(RunPhase::Warmup(1), 10, 20));
        recorder.push(run(RunPhase::Measured(1), 10, 20));
        let profile = recorder.into_profile("json");
        let json = profile.to_json();
        assert!(json.contains(r#""wall_ns": 10000000"#), "{json}");
        assert!(json.contains(r#""phase": {"#), "{json}");
        assert_eq!(JobProfile::from_json(&json).unwrap(), profile);
        assert_eq!(profile.on_cpu_share, Some(0.5));
        let error = JobProfile::from_json("{\"name\": 3}").unwrap_err();
        assert!(
            error.to_string().contains("is not a valid job profile"),
            "{error}"
        );
    }
}
