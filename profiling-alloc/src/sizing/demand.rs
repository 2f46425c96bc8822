//! [`JobDemand`]: what a job asks of a platform, in the model's terms: its
//! runs' wall and CPU time, its errors, and the memory it needs resident.
//! Made from a [`JobProfile`] (run by run) or from a job of a report (its
//! percentiles).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::{CpuShare, RunTime};
use crate::job::{DurationStats, JobStats};
use crate::runner::JobProfile;

/// What a job asks of a platform: the input of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobDemand {
    /// The job's name.
    pub name: String,
    /// Where the numbers come from, for people: `"job profile: 200 runs
    /// after 5 warm-ups"`.
    pub source: String,
    /// Calls (measured runs) the numbers summarize.
    pub calls: u64,
    /// Of them, those that failed.
    pub errors: u64,
    /// The calls' durations.
    pub durations: Durations,
    /// What the job needs resident.
    pub memory: MemoryDemand,
    /// The CPU architecture the numbers were measured on (`x86_64`), when
    /// known.
    #[serde(default)]
    pub arch: Option<String>,
}

/// A job's durations: each run's wall and CPU time (from a job profile), or
/// percentiles and an on-CPU share (from a report's job).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Durations {
    /// Each measured run.
    Runs(Vec<MeasuredRun>),
    /// Percentiles of the calls, and the share of their wall time on a CPU
    /// where a CPU profile measured it.
    Summary {
        /// Wall time of the calls.
        duration: DurationStats,
        /// CPU ÷ wall time; `None` when not measured.
        on_cpu_share: Option<f64>,
    },
}

/// One run's times.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MeasuredRun {
    /// Wall time.
    #[serde(rename = "wall_ns", with = "crate::units::nanos")]
    pub wall: Duration,
    /// CPU time; `None` when not measured.
    #[serde(rename = "cpu_ns", with = "crate::units::nanos::option")]
    pub cpu: Option<Duration>,
}

/// What a job needs resident, besides the platform runtime's baseline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MemoryDemand {
    /// The job's measured need (heap peak plus the resident overhead
    /// measured beside it, or its resident growth); `None` when not
    /// measured.
    pub measured_bytes: Option<u64>,
    /// Its heap peak alone.
    pub heap_peak_bytes: Option<u64>,
    /// Whether the allocator's resident overhead was measured (else a plan
    /// adds an assumed share of the heap peak).
    pub overhead_measured: bool,
}

/// Duration percentiles: a job's as measured (in its
/// [`JobBaseline`](super::JobBaseline)) or predicted at another CPU share
/// ([`JobDemand::predict_at`]). In JSON, integer nanoseconds (`p95_ns`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Percentiles {
    /// Median.
    #[serde(rename = "p50_ns", with = "crate::units::nanos")]
    pub p50: Duration,
    /// 95th percentile.
    #[serde(rename = "p95_ns", with = "crate::units::nanos")]
    pub p95: Duration,
    /// 99th percentile.
    #[serde(rename = "p99_ns", with = "crate::units::nanos")]
    pub p99: Duration,
    /// Slowest.
    #[serde(rename = "max_ns", with = "crate::units::nanos")]
    pub max: Duration,
}

/// Predicted durations of a job at one CPU share, seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Prediction {
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
    /// The most CPU time of one call there (the slowest percentile's, for
    /// a summary).
    pub(crate) max_cpu: f64,
}

/// A job's calls in the model's terms, made once and predicted at many
/// shares: each run, or for a summary one run at the mean and one at each
/// percentile.
pub(crate) struct ModelRuns {
    times: Vec<RunTime>,
    summary: bool,
}

impl ModelRuns {
    /// The durations where the job gets `share`; `billed` is refilled with
    /// the calls to bill there (each run, or one at the mean), in any order.
    pub(crate) fn predict(&self, share: CpuShare, billed: &mut Vec<RunTime>) -> Prediction {
        billed.clear();
        billed.extend(self.times.iter().map(|r| r.at(share)));
        if self.summary {
            let at = |i: usize| {
                billed.get(i).copied().unwrap_or(RunTime {
                    wall: 0.0,
                    cpu: 0.0,
                })
            };
            let prediction = Prediction {
                p50: at(1).wall,
                p95: at(2).wall,
                p99: at(3).wall,
                max: at(4).wall,
                max_cpu: at(4).cpu,
            };
            billed.truncate(1);
            return prediction;
        }
        let max_cpu = billed.iter().map(|r| r.cpu).fold(0.0, f64::max);
        let max = billed.iter().map(|r| r.wall).fold(0.0, f64::max);
        let n = billed.len();
        // Nearest rank, each found in linear time (the order of the calls
        // does not matter to their bill).
        let mut rank = |q: f64| {
            if n == 0 {
                return 0.0;
            }
            let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            billed
                .select_nth_unstable_by(index, |a, b| a.wall.total_cmp(&b.wall))
                .1
                .wall
        };
        Prediction {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max,
            max_cpu,
        }
    }
}

impl JobDemand {
    /// The demand of a job profile: each measured run.
    pub fn from_profile(profile: &JobProfile) -> JobDemand {
        let runs = profile
            .runs
            .iter()
            .filter(|run| run.phase.is_measured())
            .map(|run| MeasuredRun {
                wall: run.wall,
                cpu: run.cpu,
            })
            .collect();
        let need = profile.memory_need;
        JobDemand {
            name: profile.name.clone(),
            source: format!(
                "job profile: {} runs after {} warm-ups",
                profile.sample_size, profile.warmup_runs
            ),
            calls: profile.sample_size as u64,
            errors: profile.errors as u64,
            durations: Durations::Runs(runs),
            arch: Some(profile.machine.arch.clone()),
            memory: MemoryDemand {
                measured_bytes: need.map(|n| n.bytes),
                heap_peak_bytes: need.and_then(|n| n.heap_peak_bytes),
                overhead_measured: need.is_some_and(|n| {
                    n.resident_overhead_bytes.is_some() || n.heap_peak_bytes.is_none()
                }),
            },
        }
    }

    /// The demand of a job of a report (or of [`job_stats`](crate::job_stats)):
    /// its duration percentiles, its on-CPU share where a CPU profile ran,
    /// and the largest peak of one call (on the calling thread) as its heap
    /// need. `None` for a job with no calls.
    pub fn from_job_stats(job: &JobStats) -> Option<JobDemand> {
        if job.calls == 0 {
            return None;
        }
        let peak = job.allocations.as_ref().map(|a| a.peak_bytes_max);
        Some(JobDemand {
            name: job.name.clone(),
            source: format!("report: {} calls", crate::units::grouped(job.calls)),
            calls: job.calls,
            errors: job.errors.saturating_add(job.panics),
            durations: Durations::Summary {
                duration: job.duration,
                on_cpu_share: job.cpu.as_ref().and_then(|cpu| cpu.on_cpu_share()),
            },
            memory: MemoryDemand {
                measured_bytes: peak,
                heap_peak_bytes: peak,
                overhead_measured: false,
            },
            arch: None,
        })
    }

    /// Errors per call.
    pub fn error_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.errors as f64 / self.calls as f64
        }
    }

    /// Whether CPU time was measured (else the model takes every run as
    /// computing throughout: the slowest prediction).
    pub(crate) fn cpu_measured(&self) -> bool {
        match &self.durations {
            Durations::Runs(runs) => runs.iter().all(|run| run.cpu.is_some()),
            Durations::Summary { on_cpu_share, .. } => on_cpu_share.is_some(),
        }
    }

    /// The runs in the model's terms (one at each percentile, and one at the
    /// mean, for a summary).
    fn run_times(&self) -> Vec<RunTime> {
        let time = |wall: Duration, cpu: Option<Duration>| RunTime {
            wall: wall.as_secs_f64(),
            cpu: cpu.unwrap_or(wall).as_secs_f64(),
        };
        match &self.durations {
            Durations::Runs(runs) => runs.iter().map(|run| time(run.wall, run.cpu)).collect(),
            Durations::Summary {
                duration,
                on_cpu_share,
            } => {
                let share = on_cpu_share.unwrap_or(1.0);
                [
                    duration.mean,
                    duration.p50,
                    duration.p95,
                    duration.p99,
                    duration.max,
                ]
                .iter()
                .map(|&wall| RunTime {
                    wall: wall.as_secs_f64(),
                    cpu: wall.as_secs_f64() * share,
                })
                .collect()
            }
        }
    }

    /// Threads the job computed on at once: total CPU time over the time
    /// spent computing (1 for a job on one thread).
    pub(crate) fn parallelism(&self) -> f64 {
        let runs = self.run_times();
        let cpu: f64 = runs.iter().map(|r| r.cpu).sum();
        let computing: f64 = runs.iter().map(|r| r.wall.min(r.cpu)).sum();
        if computing > 0.0 {
            (cpu / computing).max(1.0)
        } else {
            1.0
        }
    }

    /// CPU seconds a call uses on this machine, on average.
    pub(crate) fn cpu_per_call(&self) -> f64 {
        match &self.durations {
            Durations::Summary { .. } => self.run_times().first().map_or(0.0, |r| r.cpu),
            Durations::Runs(_) => {
                let runs = self.run_times();
                runs.iter().map(|r| r.cpu).sum::<f64>() / runs.len().max(1) as f64
            }
        }
    }

    /// The job's durations where it gets `vcpus` of CPU time per second
    /// (a fraction is a share of one core) at this machine's speed, by the
    /// [model](super#the-model): what a half-core container or a 512 MB
    /// Lambda function would take.
    ///
    /// ```
    /// use std::time::Duration;
    /// use profiling_alloc::sizing::JobDemand;
    /// # let profile: profiling_alloc::JobProfile = serde_json::from_str(r#"{"name":"x","sample_size":1,"warmup_runs":0,"errors":0,
    /// #   "duration":{"total_ns":0,"mean_ns":0,"min_ns":0,"p50_ns":0,"p95_ns":0,"p99_ns":0,"max_ns":0},
    /// #   "cpu_time":null,"cpu_clock":"process","on_cpu_share":null,"heap":null,"resident":null,"memory_need":null,
    /// #   "runs":[{"phase":{"measured":1},"wall_ns":20000000,"cpu_ns":10000000,"heap":null,"resident":null,"failed":false}],
    /// #   "machine":{"logical_cpus":2,"os":"linux","arch":"x86_64"}}"#).unwrap();
    /// // One run of 20 ms: 10 ms computing, 10 ms waiting.
    /// let demand = JobDemand::from_profile(&profile);
    /// let half = demand.predict_at(0.5);
    /// assert_eq!(half.p95, Duration::from_millis(30)); // 10 waiting + 10 ÷ 0.5
    /// ```
    pub fn predict_at(&self, vcpus: f64) -> Percentiles {
        let share = CpuShare {
            vcpus,
            speed: 1.0,
            max_threads: None,
        };
        let predicted = self.model_runs().predict(share, &mut Vec::new());
        let time = |seconds: f64| Duration::from_nanos(super::faas::nanos(seconds));
        Percentiles {
            p50: time(predicted.p50),
            p95: time(predicted.p95),
            p99: time(predicted.p99),
            max: time(predicted.max),
        }
    }

    /// The job's calls in the model's terms, to predict at many shares.
    pub(crate) fn model_runs(&self) -> ModelRuns {
        ModelRuns {
            times: self.run_times(),
            summary: matches!(self.durations, Durations::Summary { .. }),
        }
    }

    /// Whether any call was measured: a demand of none predicts nothing.
    pub(crate) fn has_calls(&self) -> bool {
        match &self.durations {
            Durations::Runs(runs) => !runs.is_empty(),
            Durations::Summary { .. } => self.calls > 0,
        }
    }

    /// The wall-time percentiles as measured.
    pub(crate) fn measured(&self) -> Percentiles {
        let stats = match &self.durations {
            Durations::Runs(runs) => {
                let mut walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
                DurationStats::of_runs(&mut walls)
            }
            Durations::Summary { duration, .. } => *duration,
        };
        Percentiles {
            p50: stats.p50,
            p95: stats.p95,
            p99: stats.p99,
            max: stats.max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(pairs: &[(u64, u64)]) -> JobDemand {
        JobDemand {
            name: "job".into(),
            source: "test".into(),
            calls: pairs.len() as u64,
            errors: 0,
            durations: Durations::Runs(
                pairs
                    .iter()
                    .map(|&(wall, cpu)| MeasuredRun {
                        wall: Duration::from_millis(wall),
                        cpu: Some(Duration::from_millis(cpu)),
                    })
                    .collect(),
            ),
            memory: MemoryDemand::default(),
            arch: None,
        }
    }

    #[test]
    fn percentiles_are_of_the_predicted_runs() {
        // Nine runs of 10 ms computing and one of 100 ms waiting.
        let mut pairs = vec![(10, 10); 9];
        pairs.push((100, 1));
        let demand = runs(&pairs);
        let half = CpuShare {
            vcpus: 0.5,
            speed: 1.0,
            max_threads: None,
        };
        let mut billed = Vec::new();
        let predicted = demand.model_runs().predict(half, &mut billed);
        assert!((predicted.p50 - 0.020).abs() < 1e-9);
        // The slow run waits: 99 ms of it unchanged, its 1 ms doubled.
        assert!((predicted.max - 0.101).abs() < 1e-9, "{predicted:?}");
        assert!((predicted.max_cpu - 0.010).abs() < 1e-9, "{predicted:?}");
        assert_eq!(billed.len(), 10);
        assert!((demand.cpu_per_call() - 0.0091).abs() < 1e-9);
        assert_eq!(demand.parallelism(), 1.0);
    }

    #[test]
    fn a_summary_predicts_its_percentiles() {
        let demand = JobDemand {
            durations: Durations::Summary {
                duration: DurationStats {
                    mean: Duration::from_millis(10),
                    p50: Duration::from_millis(8),
                    p95: Duration::from_millis(20),
                    p99: Duration::from_millis(40),
                    max: Duration::from_millis(50),
                    ..DurationStats::default()
                },
                on_cpu_share: Some(0.5),
            },
            ..runs(&[])
        };
        let quarter = CpuShare {
            vcpus: 0.25,
            speed: 1.0,
            max_threads: None,
        };
        let mut billed = Vec::new();
        let predicted = demand.model_runs().predict(quarter, &mut billed);
        // Half waiting, half computing four times slower: 2.5 x.
        assert!((predicted.p95 - 0.050).abs() < 1e-9, "{predicted:?}");
        // The slowest call's CPU: 25 ms of its 50 ms measured.
        assert!((predicted.max_cpu - 0.025).abs() < 1e-9, "{predicted:?}");
        assert_eq!(billed.len(), 1, "billed at the mean");
        assert!((billed[0].wall - 0.025).abs() < 1e-9);
        assert!(demand.cpu_measured());
    }
}
