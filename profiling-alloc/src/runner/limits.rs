//! Resource limits a [`JobProfile`] can be checked against, with presets for
//! serverless platforms' maxima. Which size of a platform a job needs, and
//! what it costs, is [`sizing`](crate::sizing)'s question.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::profile::JobProfile;
use crate::units::{bytes, duration};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// A duration limit and a memory limit (either may be absent), as a
/// platform enforces them per invocation.
///
/// Build a platform's from the dated price sheet,
/// [`Prices::limits`](crate::sizing::Prices::limits) (a size's memory, the
/// time limit, the runtime's baseline), or your own with
/// [`ResourceLimits::new`]; to find the size a job needs and its cost, use
/// [`sizing`](crate::sizing). The constants (each platform's maxima as of
/// 2025: nearly every job fits them, which says little) are deprecated:
/// limits change, and live in data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResourceLimits {
    /// What the limits are, for messages: `"AWS Lambda"`.
    pub name: Cow<'static, str>,
    /// The longest an invocation may run (`max_duration_ns` in JSON).
    #[serde(rename = "max_duration_ns", with = "crate::units::nanos::option")]
    pub max_duration: Option<Duration>,
    /// The most memory an invocation may use, in bytes: a platform counts
    /// the whole process's resident memory.
    pub max_memory_bytes: Option<u64>,
    /// Resident memory the runtime holds before the job runs (the process,
    /// its libraries, the platform's client): counted against
    /// `max_memory_bytes` with the job's own need. 0 unless set
    /// ([`with_baseline`](Self::with_baseline)).
    #[serde(default)]
    pub baseline_bytes: u64,
}

impl ResourceLimits {
    /// AWS Lambda's maxima: a 900-second (15-minute) timeout and 10,240 MB of
    /// memory ("Lambda quotas", AWS Lambda Developer Guide: function timeout
    /// 900 seconds; function memory allocation 128 MB to 10,240 MB, where
    /// Lambda's MB are 1,024 KB).
    #[deprecated(
        note = "platform limits change: they live in the dated price sheet, `sizing::Prices::built_in().limits(id, memory)`"
    )]
    pub const AWS_LAMBDA: ResourceLimits = ResourceLimits {
        name: Cow::Borrowed("AWS Lambda (maximum)"),
        max_duration: Some(Duration::from_secs(900)),
        max_memory_bytes: Some(10_240 * MIB),
        baseline_bytes: 0,
    };

    /// Google Cloud Run functions, HTTP-triggered: a 60-minute (3,600 s)
    /// maximum timeout ("Function timeout", Cloud Run functions docs; 9
    /// minutes for event-driven functions) and Cloud Run's 32 GiB memory
    /// maximum.
    #[deprecated(
        note = "platform limits change: they live in the dated price sheet, `sizing::Prices::built_in().limits(id, memory)`"
    )]
    pub const GOOGLE_CLOUD_RUN_FUNCTIONS: ResourceLimits = ResourceLimits {
        name: Cow::Borrowed("Google Cloud Run functions, HTTP (maximum)"),
        max_duration: Some(Duration::from_secs(3_600)),
        max_memory_bytes: Some(32 * GIB),
        baseline_bytes: 0,
    };

    /// Google Cloud Functions 1st gen: a 540-second (9-minute) maximum
    /// timeout and 8 GiB of memory ("Quotas (1st gen)", Cloud Run functions
    /// docs).
    #[deprecated(
        note = "platform limits change: they live in the dated price sheet, `sizing::Prices::built_in().limits(id, memory)`"
    )]
    pub const GOOGLE_CLOUD_FUNCTIONS_1ST_GEN: ResourceLimits = ResourceLimits {
        name: Cow::Borrowed("Google Cloud Functions 1st gen (maximum)"),
        max_duration: Some(Duration::from_secs(540)),
        max_memory_bytes: Some(8 * GIB),
        baseline_bytes: 0,
    };

    /// Azure Functions on the Consumption plan: a 10-minute maximum timeout
    /// (5 by default) and 1.5 GB of memory per instance ("Azure Functions
    /// scale and hosting", service limits table).
    #[deprecated(
        note = "platform limits change: they live in the dated price sheet, `sizing::Prices::built_in().limits(id, memory)`"
    )]
    pub const AZURE_FUNCTIONS_CONSUMPTION: ResourceLimits = ResourceLimits {
        name: Cow::Borrowed("Azure Functions, Consumption plan (maximum)"),
        max_duration: Some(Duration::from_secs(600)),
        max_memory_bytes: Some(1_536 * MIB),
        baseline_bytes: 0,
    };

    /// Cloudflare Workers: 128 MB of memory per isolate and 30 s of CPU time
    /// per request by default ("Limits", Cloudflare Workers docs). A job
    /// profile measures wall time, which is at least the CPU time of a
    /// single-threaded job: a pass is safe, a failure may not be.
    #[deprecated(
        note = "platform limits change: they live in the dated price sheet, `sizing::Prices::built_in().limits(id, memory)`"
    )]
    pub const CLOUDFLARE_WORKERS: ResourceLimits = ResourceLimits {
        name: Cow::Borrowed("Cloudflare Workers (default CPU limit)"),
        max_duration: Some(Duration::from_secs(30)),
        max_memory_bytes: Some(128 * MIB),
        baseline_bytes: 0,
    };

    /// Limits of your own: e.g. a Lambda function configured with a 30 s
    /// timeout and 512 MB, `ResourceLimits::new("ingest lambda",
    /// Some(Duration::from_secs(30)), Some(512 << 20))`.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        max_duration: Option<Duration>,
        max_memory_bytes: Option<u64>,
    ) -> Self {
        ResourceLimits {
            name: name.into(),
            max_duration,
            max_memory_bytes,
            baseline_bytes: 0,
        }
    }

    /// The same limits with `bytes` of resident memory held by the runtime
    /// before the job runs: a minimal Rust function on AWS Lambda reports
    /// about 15 MB used (see the sizing data's `runtime_baseline_bytes`).
    #[must_use]
    pub fn with_baseline(mut self, bytes: u64) -> Self {
        self.baseline_bytes = bytes;
        self
    }
}

/// One limit a [`JobProfile`] does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Violation {
    /// The slowest run took longer than the duration limit.
    Duration {
        /// The slowest run.
        #[serde(rename = "measured_ns", with = "crate::units::nanos")]
        measured: Duration,
        /// The limit.
        #[serde(rename = "limit_ns", with = "crate::units::nanos")]
        limit: Duration,
    },
    /// The job's resident need plus the runtime's baseline is above the
    /// memory limit.
    Memory {
        /// The job's [`MemoryNeed`](crate::runner::MemoryNeed), in bytes.
        #[serde(rename = "need_bytes")]
        need: u64,
        /// The limits' runtime baseline, in bytes.
        #[serde(rename = "baseline_bytes")]
        baseline: u64,
        /// The limit, in bytes.
        #[serde(rename = "limit_bytes")]
        limit: u64,
    },
    /// The limit is on memory but the profile has no memory need.
    MemoryUnknown {
        /// The limit, in bytes.
        #[serde(rename = "limit_bytes")]
        limit: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::capture::reading(|| {
            match self {
            Violation::Duration { measured, limit } => write!(
                f,
                "duration: the slowest run took {}, over the limit of {}",
                duration(*measured),
                duration(*limit)
            ),
            Violation::Memory {
                need,
                baseline,
                limit,
            } => write!(
                f,
                "memory: needs {} resident ({} for the job + {} runtime baseline), over the limit of {}",
                bytes(need.saturating_add(*baseline)),
                bytes(*need),
                bytes(*baseline),
                bytes(*limit)
            ),
            Violation::MemoryUnknown { limit } => write!(
                f,
                "memory: limit {} but the job's memory need was not measured (no allocator, no resident reading)",
                bytes(*limit)
            ),
        }
        })
    }
}

/// The answer of [`JobProfile::fits`] when a limit is exceeded: which ones,
/// and by how much.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
#[error("job {job:?} does not fit {limits}: {}", list(.violations))]
pub struct LimitExceeded {
    /// The profile's job name.
    pub job: String,
    /// The limits' name.
    pub limits: String,
    /// Each limit exceeded.
    pub violations: Vec<Violation>,
}

fn list(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl JobProfile {
    /// Checks the profile against `limits`: the slowest run against the
    /// duration limit, the job's [`memory_need`](JobProfile::memory_need)
    /// (its heap peak plus the resident overhead measured beside it) plus
    /// the limits' [`baseline_bytes`](ResourceLimits::baseline_bytes)
    /// against the memory limit.
    ///
    /// The slowest run is this machine's: a platform that gives a smaller
    /// CPU share runs the job slower ([`sizing`](crate::sizing) predicts by
    /// how much).
    ///
    /// # Errors
    ///
    /// [`LimitExceeded`], listing every limit the profile does not fit.
    pub fn fits(&self, limits: &ResourceLimits) -> Result<(), LimitExceeded> {
        let mut violations = Vec::new();
        if let Some(limit) = limits.max_duration {
            if self.duration.max > limit {
                violations.push(Violation::Duration {
                    measured: self.duration.max,
                    limit,
                });
            }
        }
        if let Some(limit) = limits.max_memory_bytes {
            match &self.memory_need {
                Some(need) if need.bytes.saturating_add(limits.baseline_bytes) > limit => {
                    violations.push(Violation::Memory {
                        need: need.bytes,
                        baseline: limits.baseline_bytes,
                        limit,
                    });
                }
                Some(_) => {}
                None => violations.push(Violation::MemoryUnknown { limit }),
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(LimitExceeded {
                job: self.name.clone(),
                limits: limits.name.to_string(),
                violations,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::DurationStats;
    use crate::runner::{CpuClock, MachineInfo, MemoryNeed};

    fn profile(slowest: Duration, need: Option<u64>) -> JobProfile {
        JobProfile {
            name: "ingest".into(),
            sample_size: 10,
            warmup_runs: 2,
            errors: 0,
            duration: DurationStats {
                max: slowest,
                ..DurationStats::default()
            },
            cpu_time: None,
            cpu_clock: CpuClock::Process,
            on_cpu_share: None,
            heap: None,
            resident: None,
            memory_need: need.map(|bytes| MemoryNeed {
                bytes,
                heap_peak_bytes: Some(bytes),
                resident_overhead_bytes: Some(0),
                resident_growth_bytes: Some(0),
            }),
            runs: Vec::new(),
            machine: MachineInfo::this(),
        }
    }

    #[test]
    fn the_answer_names_each_limit_exceeded() {
        let limits = ResourceLimits::new("small", Some(Duration::from_secs(1)), Some(MIB));
        assert_eq!(
            profile(Duration::from_millis(999), Some(MIB)).fits(&limits),
            Ok(())
        );

        let slow = profile(Duration::from_secs(2), Some(10))
            .fits(&limits)
            .unwrap_err();
        assert_eq!(
            slow.violations,
            [Violation::Duration {
                measured: Duration::from_secs(2),
                limit: Duration::from_secs(1)
            }]
        );
        let both = profile(Duration::from_secs(2), Some(2 * MIB))
            .fits(&limits)
            .unwrap_err();
        assert_eq!(both.violations.len(), 2);
        let message = both.to_string();
        assert!(
            message.contains("duration") && message.contains("memory"),
            "{message}"
        );
        assert!(message.contains("small"), "{message}");

        let unknown = profile(Duration::ZERO, None).fits(&limits).unwrap_err();
        assert_eq!(
            unknown.violations,
            [Violation::MemoryUnknown { limit: MIB }]
        );
    }

    #[test]
    fn the_runtime_baseline_counts_against_the_memory_limit() {
        let job = profile(Duration::ZERO, Some(MIB / 2));
        let limits = ResourceLimits::new("1 MiB", None, Some(MIB));
        assert_eq!(job.fits(&limits), Ok(()));
        let exceeded = job.fits(&limits.with_baseline(MIB / 2 + 1)).unwrap_err();
        assert_eq!(
            exceeded.violations,
            [Violation::Memory {
                need: MIB / 2,
                baseline: MIB / 2 + 1,
                limit: MIB
            }]
        );
        assert!(
            exceeded.to_string().contains("runtime baseline"),
            "{exceeded}"
        );
    }

    #[test]
    fn limits_and_violations_say_their_units_in_json() {
        let limits = ResourceLimits::new("small", Some(Duration::from_millis(5)), None);
        let json = serde_json::to_string(&limits).unwrap();
        assert!(json.contains(r#""max_duration_ns":5000000"#), "{json}");
        let back: ResourceLimits = serde_json::from_str(&json).unwrap();
        assert_eq!(back, limits);
        let violation = Violation::Memory {
            need: 10,
            baseline: 2,
            limit: 5,
        };
        let json = serde_json::to_string(&violation).unwrap();
        assert!(json.contains(r#""need_bytes":10"#), "{json}");
    }

    #[test]
    #[allow(deprecated)]
    fn presets_hold_the_documented_numbers() {
        assert_eq!(
            ResourceLimits::AWS_LAMBDA.max_duration,
            Some(Duration::from_secs(900))
        );
        assert_eq!(
            ResourceLimits::AWS_LAMBDA.max_memory_bytes,
            Some(10_737_418_240)
        );
        assert_eq!(
            ResourceLimits::CLOUDFLARE_WORKERS.max_memory_bytes,
            Some(134_217_728)
        );
    }
}
