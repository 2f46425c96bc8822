//! Jobs held against their QoS baseline ([`Baseline`]): a job whose p95
//! duration is over the baseline's target, or without one more than
//! [`BASELINE_TOLERANCE`] past the baseline's measured p95,
//! whose error rate rose beyond its binomial noise, or one of whose calls
//! peaked above the baseline's memory need, is a finding with its numbers.

use super::findings::{evidence, Finding, FindingKind};
use crate::sizing::Baseline;
use crate::units::{bytes, duration};
use crate::JobStats;

/// How far a job's p95 may grow past its baseline's measured p95 before
/// it is a finding, when the baseline promised no target: 25%, as
/// `profiling-alloc diff` allows against a baseline (a p95 measured twice
/// on a shared machine moves by 10% and more).
pub const BASELINE_TOLERANCE: f64 = 0.25;
/// Calls a job needs before it is held against its baseline: below this a
/// p95 is a handful of calls.
pub const MIN_BASELINE_CALLS: u64 = 100;
/// Standard errors an error rate must rise by.
const RATE_SIGMA: f64 = 3.0;

/// The findings about `jobs` that are worse than `baseline`: p95 over its
/// target (or more than [`BASELINE_TOLERANCE`] over the measured p95), an
/// error rate higher beyond three
/// standard errors of the two rates' difference, a call's heap peak over
/// the memory need. Jobs with fewer than [`MIN_BASELINE_CALLS`] calls, and
/// jobs the baseline does not name, are left alone.
pub fn baseline_findings(jobs: &[JobStats], baseline: &Baseline) -> Vec<Finding> {
    let mut found = Vec::new();
    for job in jobs.iter().filter(|job| job.calls >= MIN_BASELINE_CALLS) {
        let Some(base) = baseline.job(&job.name) else {
            continue;
        };
        let finding = |message: String, numbers: &[(&str, f64)]| Finding {
            kind: FindingKind::OverBaseline,
            frames: Vec::new(),
            job: Some(job.name.clone()),
            message,
            evidence: evidence(numbers),
        };
        let limit = base.p95_limit(BASELINE_TOLERANCE);
        if !limit.is_zero() && job.duration.p95 > limit {
            let against = match base.p95_target {
                Some(target) => format!("its baseline's target of {}", duration(target)),
                None => format!(
                    "its baseline's {} by more than {:.0}%",
                    duration(base.duration.p95),
                    BASELINE_TOLERANCE * 100.0
                ),
            };
            found.push(finding(
                format!(
                    "job {}: p95 duration {} is over {against}",
                    job.name,
                    duration(job.duration.p95),
                ),
                &[
                    ("p95_ns", job.duration.p95.as_nanos() as f64),
                    ("baseline_p95_ns", base.duration.p95.as_nanos() as f64),
                    ("limit_ns", limit.as_nanos() as f64),
                    ("calls", job.calls as f64),
                ],
            ));
        }
        let rate = (job.errors + job.panics) as f64 / job.calls as f64;
        let (nb, nh) = (base.calls.max(1) as f64, job.calls as f64);
        let pooled = (base.error_rate * nb + rate * nh) / (nb + nh);
        let margin = RATE_SIGMA
            * (pooled * (1.0 - pooled) * (1.0 / nb + 1.0 / nh))
                .max(0.0)
                .sqrt();
        if rate - base.error_rate > margin {
            found.push(finding(
                format!(
                    "job {}: {:.2}% of its calls failed, against {:.2}% in its baseline",
                    job.name,
                    rate * 100.0,
                    base.error_rate * 100.0
                ),
                &[
                    ("error_rate", rate),
                    ("baseline_error_rate", base.error_rate),
                    ("calls", job.calls as f64),
                ],
            ));
        }
        let peak = job.allocations.as_ref().map(|a| a.peak_bytes_max);
        if let (Some(peak), Some(need)) = (peak, base.memory_need_bytes) {
            if peak > need {
                found.push(finding(
                    format!(
                        "job {}: a call's heap peak reached {}, over the {} its baseline needed",
                        job.name,
                        bytes(peak),
                        bytes(need)
                    ),
                    &[
                        ("peak_bytes", peak as f64),
                        ("baseline_need_bytes", need as f64),
                    ],
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::jobs::{DurationStats, JobAllocStats};
    use crate::sizing::{JobBaseline, Percentiles};

    fn stats(calls: u64, errors: u64, p95_ms: u64, peak: u64) -> JobStats {
        JobStats {
            name: "search".into(),
            module_path: String::new(),
            file: String::new(),
            line: 0,
            calls,
            errors,
            panics: 0,
            cancelled: 0,
            duration: DurationStats {
                p95: Duration::from_millis(p95_ms),
                ..DurationStats::default()
            },
            allocations: Some(JobAllocStats {
                peak_bytes_max: peak,
                ..JobAllocStats::default()
            }),
            cpu: None,
        }
    }

    fn baseline() -> Baseline {
        Baseline::new(vec![JobBaseline {
            name: "search".into(),
            calls: 1000,
            duration: Percentiles {
                p50: Duration::from_millis(10),
                p95: Duration::from_millis(14),
                p99: Duration::from_millis(16),
                max: Duration::from_millis(17),
            },
            error_rate: 0.01,
            memory_need_bytes: Some(1 << 20),
            p95_target: None,
            p99_target: None,
        }])
    }

    #[test]
    fn a_target_is_the_limit_when_the_baseline_has_one() {
        let mut promised = baseline();
        promised.jobs[0] = promised.jobs[0]
            .clone()
            .with_targets(Some(Duration::from_millis(200)), None);
        // 90 ms is far over the measured 14 ms, but within the promise.
        assert!(baseline_findings(&[stats(1000, 10, 90, 1 << 19)], &promised).is_empty());
        let found = baseline_findings(&[stats(1000, 10, 250, 1 << 19)], &promised);
        assert!(
            found[0]
                .message
                .contains("over its baseline's target of 200.00 ms"),
            "{found:?}"
        );
    }

    #[test]
    fn a_job_within_its_baseline_is_no_finding() {
        // p95 17 ms is within 25% of 14 ms; 1.5% errors within the noise.
        assert!(baseline_findings(&[stats(1000, 15, 17, 1 << 19)], &baseline()).is_empty());
        // Too few calls to judge.
        assert!(baseline_findings(&[stats(50, 40, 90, 1 << 30)], &baseline()).is_empty());
    }

    #[test]
    fn each_promise_broken_is_a_finding_with_its_numbers() {
        let found = baseline_findings(&[stats(1000, 60, 20, 2 << 20)], &baseline());
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(found.len(), 3, "{messages:?}");
        assert!(found.iter().all(|f| f.kind == FindingKind::OverBaseline));
        assert!(
            messages[0]
                .contains("p95 duration 20.00 ms is over its baseline's 14.00 ms by more than 25%"),
            "{messages:?}"
        );
        assert!(
            messages[1].contains("6.00% of its calls failed, against 1.00%"),
            "{messages:?}"
        );
        assert!(
            messages[2].contains("heap peak reached 2.0 MiB"),
            "{messages:?}"
        );
        assert_eq!(found[0].evidence[0].name, "p95_ns");
    }
}
