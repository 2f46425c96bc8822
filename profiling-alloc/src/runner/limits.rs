//! Resource limits a [`JobProfile`] can be checked against, with presets for
//! serverless platforms.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::profile::{JobProfile, MemorySource};
use crate::units::{bytes, duration};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// A duration limit and a memory limit (either may be absent), as a
/// platform enforces them per invocation.
///
/// The presets hold each platform's documented maxima. Your function's
/// configured limits are usually lower: build those with
/// [`ResourceLimits::new`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResourceLimits {
    /// What the limits are, for messages: `"AWS Lambda"`.
    pub name: Cow<'static, str>,
    /// The longest an invocation may run (`max_duration_ns` in JSON).
    #[serde(rename = "max_duration_ns", with = "crate::units::nanos::option")]
    pub max_duration: Option<Duration>,
    /// The most memory an invocation may use, in bytes.
    pub max_memory_bytes: Option<u64>,
}

impl ResourceLimits {
    /// AWS Lambda's maxima: a 900-second (15-minute) timeout and 10,240 MB of
    /// memory ("Lambda quotas", AWS Lambda Developer Guide: function timeout
    /// 900 seconds; function memory allocation 128 MB to 10,240 MB, where
    /// Lambda's MB are 1,024 KB).
    pub const AWS_LAMBDA: ResourceLimits = ResourceLimits {
        name: Cow::Borrowed("AWS Lambda (maximum)"),
        max_duration: Some(Duration::from_secs(900)),
        max_memory_bytes: Some(10_240 * MIB),
    };

    /// Google Cloud Run functions, HTTP-triggered: a 60-minute (3,600 s)
    /// maximum timeout ("Function timeout", Cloud Run functions docs; 9
    /// minutes for event-driven functions) and Cloud Run's 32 GiB memory
    /// maximum.
    pub const GOOGLE_CLOUD_RUN_FUNCTIONS: ResourceLimits = ResourceLimits {
        name: Cow::Borrowed("Google Cloud Run functions, HTTP (maximum)"),
        max_duration: Some(Duration::from_secs(3_600)),
        max_memory_bytes: Some(32 * GIB),
    };

    /// Google Cloud Functions 1st gen: a 540-second (9-minute) maximum
    /// timeout and 8 GiB of memory ("Quotas (1st gen)", Cloud Run functions
    /// docs).
    pub const GOOGLE_CLOUD_FUNCTIONS_1ST_GEN: ResourceLimits = ResourceLimits {
        name: Cow::Borrowed("Google Cloud Functions 1st gen (maximum)"),
        max_duration: Some(Duration::from_secs(540)),
        max_memory_bytes: Some(8 * GIB),
    };

    /// Azure Functions on the Consumption plan: a 10-minute maximum timeout
    /// (5 by default) and 1.5 GB of memory per instance ("Azure Functions
    /// scale and hosting", service limits table).
    pub const AZURE_FUNCTIONS_CONSUMPTION: ResourceLimits = ResourceLimits {
        name: Cow::Borrowed("Azure Functions, Consumption plan (maximum)"),
        max_duration: Some(Duration::from_secs(600)),
        max_memory_bytes: Some(1_536 * MIB),
    };

    /// Cloudflare Workers: 128 MB of memory per isolate and 30 s of CPU time
    /// per request by default ("Limits", Cloudflare Workers docs). A job
    /// profile measures wall time, which is at least the CPU time of a
    /// single-threaded job: a pass is safe, a failure may not be.
    pub const CLOUDFLARE_WORKERS: ResourceLimits = ResourceLimits {
        name: Cow::Borrowed("Cloudflare Workers (default CPU limit)"),
        max_duration: Some(Duration::from_secs(30)),
        max_memory_bytes: Some(128 * MIB),
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
        }
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
    /// The peak memory (plus its error bound) is above the memory limit.
    Memory {
        /// The peak memory plus its error bound: the most it may have been,
        /// in bytes.
        #[serde(rename = "measured_bytes")]
        measured: u64,
        /// What `measured` is.
        source: MemorySource,
        /// The limit, in bytes.
        #[serde(rename = "limit_bytes")]
        limit: u64,
    },
    /// The limit is on memory but the profile has no memory number.
    MemoryUnknown {
        /// The limit, in bytes.
        #[serde(rename = "limit_bytes")]
        limit: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
        match self {
            Violation::Duration { measured, limit } => write!(
                f,
                "duration: the slowest run took {}, over the limit of {}",
                duration(*measured),
                duration(*limit)
            ),
            Violation::Memory {
                measured,
                source,
                limit,
            } => write!(
                f,
                "memory: peak {} ({source}), over the limit of {}",
                bytes(*measured),
                bytes(*limit)
            ),
            Violation::MemoryUnknown { limit } => write!(
                f,
                "memory: limit {} but no peak was measured (no allocator, no getrusage)",
                bytes(*limit)
            ),
        }
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
    /// duration limit, [`peak_memory`](JobProfile::peak_memory) plus its
    /// error bound (the most the peak may have been) against the memory
    /// limit.
    ///
    /// A heap peak leaves out the allocator's overhead, thread stacks and
    /// code, which a platform's memory limit counts: leave headroom, or
    /// compare [`max_rss_bytes`](JobProfile::max_rss_bytes) too.
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
            match &self.peak_memory {
                Some(peak) if peak.bytes.saturating_add(peak.error_bound) > limit => violations
                    .push(Violation::Memory {
                        measured: peak.bytes.saturating_add(peak.error_bound),
                        source: peak.source,
                        limit,
                    }),
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
    use crate::runner::PeakMemory;

    fn profile(slowest: Duration, peak: Option<u64>) -> JobProfile {
        JobProfile {
            name: "ingest".into(),
            sample_size: 10,
            warmup_runs: 2,
            duration: DurationStats {
                max: slowest,
                ..DurationStats::default()
            },
            peak_memory: peak.map(|bytes| PeakMemory {
                bytes,
                source: MemorySource::HeapPeak,
                error_bound: 0,
            }),
            total_blocks_per_run: None,
            total_bytes_per_run: None,
            max_rss_bytes: None,
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
    fn the_error_bound_counts_against_the_memory_limit() {
        let mut near = profile(Duration::ZERO, Some(MIB - 10));
        let limits = ResourceLimits::new("1 MiB", None, Some(MIB));
        assert_eq!(near.fits(&limits), Ok(()));
        near.peak_memory.as_mut().unwrap().error_bound = 64 * 1024;
        let exceeded = near.fits(&limits).unwrap_err();
        assert!(matches!(
            exceeded.violations[..],
            [Violation::Memory { measured, .. }] if measured == MIB - 10 + 64 * 1024
        ));
    }

    #[test]
    fn limits_and_violations_say_their_units_in_json() {
        let limits = ResourceLimits::new("small", Some(Duration::from_millis(5)), None);
        let json = serde_json::to_string(&limits).unwrap();
        assert!(json.contains(r#""max_duration_ns":5000000"#), "{json}");
        let back: ResourceLimits = serde_json::from_str(&json).unwrap();
        assert_eq!(back, limits);
        let violation = Violation::Memory {
            measured: 10,
            source: MemorySource::HeapPeak,
            limit: 5,
        };
        let json = serde_json::to_string(&violation).unwrap();
        assert!(json.contains(r#""measured_bytes":10"#), "{json}");
    }

    #[test]
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
