//! [`Baseline`]: the QoS baseline file. Per job, the latency percentiles,
//! error rate and memory need that were measured, so that a later run can
//! be held against them: `profiling-alloc diff BASELINE REPORT` and the
//! live endpoint's job findings (`Server::builder().job_baseline(..)`)
//! read it.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::demand::{JobDemand, Percentiles};
use crate::job::JobStats;
use crate::runner::JobProfile;
use crate::Error;

/// What a baseline file's `kind` says.
pub(crate) const KIND: &str = "profiling-alloc-baseline";
/// The version of the baseline format this build writes and reads.
pub const BASELINE_VERSION: u64 = 1;
/// The baseline as a kind of file.
pub(crate) const FILE: super::FileKind = super::FileKind {
    kind: KIND,
    what: "QoS baseline",
    version: BASELINE_VERSION,
};

/// A QoS baseline: per job, what was measured, as JSON:
///
/// ```json
/// { "kind": "profiling-alloc-baseline", "version": 1,
///   "created_at_unix_ms": 1796248800000,
///   "jobs": [{ "name": "search", "calls": 200, "p50_ns": 11800000,
///              "p95_ns": 14000000, "p99_ns": 16200000, "max_ns": 17000000,
///              "error_rate": 0.0, "memory_need_bytes": 1258291 }] }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Baseline {
    /// `"profiling-alloc-baseline"`.
    pub kind: String,
    /// The format's version ([`BASELINE_VERSION`]).
    pub version: u64,
    /// When it was made, milliseconds since the Unix epoch.
    pub created_at_unix_ms: u64,
    /// One entry per job.
    pub jobs: Vec<JobBaseline>,
}

/// One job's baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobBaseline {
    /// The job's name.
    pub name: String,
    /// Calls (runs) measured.
    pub calls: u64,
    /// Their durations as measured (in JSON beside the other fields:
    /// `p95_ns`).
    #[serde(flatten)]
    pub duration: Percentiles,
    /// The p95 promised, when the baseline was made with a target (`plan
    /// --p95`): later runs are held to it rather than to the measured p95.
    #[serde(
        default,
        rename = "p95_target_ns",
        with = "crate::units::nanos::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub p95_target: Option<Duration>,
    /// The p99 promised, likewise (`plan --p99`).
    #[serde(
        default,
        rename = "p99_target_ns",
        with = "crate::units::nanos::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub p99_target: Option<Duration>,
    /// Failed calls per call.
    pub error_rate: f64,
    /// What the job needs resident (a runtime's baseline aside); `None`
    /// when not measured.
    pub memory_need_bytes: Option<u64>,
}

impl JobBaseline {
    /// The baseline of `demand`, with `need` its memory need.
    pub(crate) fn of(demand: &JobDemand, need: Option<u64>) -> JobBaseline {
        JobBaseline {
            name: demand.name.clone(),
            calls: demand.calls,
            duration: demand.measured(),
            p95_target: None,
            p99_target: None,
            error_rate: demand.error_rate(),
            memory_need_bytes: need,
        }
    }

    /// The same baseline promising `p95` and `p99` (either may be absent):
    /// later runs are held to these targets instead of the measured
    /// percentiles.
    #[must_use]
    pub fn with_targets(mut self, p95: Option<Duration>, p99: Option<Duration>) -> Self {
        self.p95_target = p95;
        self.p99_target = p99;
        self
    }

    /// What a later run's p95 is held to: the target when there is one,
    /// else the measured p95 plus `tolerance` (a share: 0.25 is 25%).
    pub fn p95_limit(&self, tolerance: f64) -> Duration {
        self.p95_target
            .unwrap_or_else(|| self.duration.p95.mul_f64(1.0 + tolerance.max(0.0)))
    }

    /// What a later run's p99 is held to, as [`p95_limit`](Self::p95_limit).
    pub fn p99_limit(&self, tolerance: f64) -> Duration {
        self.p99_target
            .unwrap_or_else(|| self.duration.p99.mul_f64(1.0 + tolerance.max(0.0)))
    }

    /// The baseline of a job profile.
    pub fn from_profile(profile: &JobProfile) -> JobBaseline {
        JobBaseline::of(
            &JobDemand::from_profile(profile),
            profile.memory_need.map(|need| need.bytes),
        )
    }
}

impl Baseline {
    /// A baseline of `jobs`.
    pub fn new(jobs: Vec<JobBaseline>) -> Baseline {
        Baseline {
            kind: KIND.to_string(),
            version: BASELINE_VERSION,
            created_at_unix_ms: crate::sys::unix_millis_now(),
            jobs,
        }
    }

    /// The baseline of job profiles.
    pub fn from_profiles<'a>(profiles: impl IntoIterator<Item = &'a JobProfile>) -> Baseline {
        Baseline::new(
            profiles
                .into_iter()
                .map(JobBaseline::from_profile)
                .collect(),
        )
    }

    /// The baseline of jobs' statistics, such as a report's
    /// (`Baseline::from_job_stats(&report.jobs)`) or
    /// [`job_stats`](crate::job_stats)'s: each call's largest heap peak, on
    /// its thread, as its memory need.
    pub fn from_job_stats(jobs: &[JobStats]) -> Baseline {
        Baseline::new(
            jobs.iter()
                .filter_map(JobDemand::from_job_stats)
                .map(|demand| {
                    let need = demand.memory.measured_bytes;
                    JobBaseline::of(&demand, need)
                })
                .collect(),
        )
    }

    /// The job `name`'s baseline.
    pub fn job(&self, name: &str) -> Option<&JobBaseline> {
        self.jobs.iter().find(|job| job.name == name)
    }

    /// The baseline as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        super::pretty_json(self)
    }

    /// Writes the baseline to `path` (its directory is created if needed).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file or directory that could not be written.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        super::write_json(self, path.as_ref())
    }

    /// A baseline from its JSON.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidData`] saying what is wrong, or that the text is
    /// another kind of file; [`Error::UnsupportedVersion`].
    pub fn from_json(text: &str) -> Result<Baseline, Error> {
        FILE.parse(text, None)
    }

    /// Reads a baseline file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`], and the errors of [`from_json`](Self::from_json)
    /// naming the file.
    pub fn read_json(path: impl AsRef<Path>) -> Result<Baseline, Error> {
        FILE.read(path.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_baseline_reads_back_and_names_its_kind() {
        let baseline = Baseline::new(vec![JobBaseline {
            name: "search".into(),
            calls: 200,
            duration: Percentiles {
                p50: Duration::from_millis(12),
                p95: Duration::from_millis(14),
                p99: Duration::from_millis(16),
                max: Duration::from_millis(17),
            },
            error_rate: 0.01,
            memory_need_bytes: Some(1 << 20),
            p95_target: None,
            p99_target: None,
        }]);
        let json = baseline.to_json();
        assert!(json.contains(r#""p95_ns": 14000000"#), "{json}");
        assert!(
            json.contains(r#""kind": "profiling-alloc-baseline""#),
            "{json}"
        );
        let back = Baseline::from_json(&json).unwrap();
        assert_eq!(back, baseline);
        assert_eq!(back.job("search").unwrap().calls, 200);
        assert!(back.job("other").is_none());
        let job = &back.jobs[0];
        assert_eq!(job.p95_limit(0.25), Duration::from_millis(14).mul_f64(1.25));
        let promised = job
            .clone()
            .with_targets(Some(Duration::from_millis(200)), None);
        assert_eq!(promised.p95_limit(0.25), Duration::from_millis(200));
        let one = serde_json::to_string(&promised).unwrap();
        assert!(one.contains(r#""p95_target_ns":200000000"#), "{one}");
        assert!(!one.contains("p99_target_ns"), "{one}");

        let newer = json.replace(r#""version": 1"#, r#""version": 7"#);
        let error = Baseline::from_json(&newer).unwrap_err().to_string();
        assert!(
            error.contains("version 7") && error.contains("reads version 1"),
            "{error}"
        );
        let error = Baseline::from_json("[]").unwrap_err().to_string();
        assert!(error.contains("not a valid QoS baseline"), "{error}");
    }
}
