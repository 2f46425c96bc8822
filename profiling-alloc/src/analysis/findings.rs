//! Findings: wasteful allocation patterns and jobs close to a limit, each
//! with the numbers that show it. A rule speaks only when the sampled
//! evidence is enough to stand on (a minimum of samples and of estimated
//! blocks), so a finding is never a guess from two samples.
//!
//! - **Temporary blocks**: most of a callsite's freed blocks lived under
//!   1 µs: allocated, used and dropped at once. Reusing one buffer (`clear()`
//!   and refill, or a `String` kept across iterations) removes the
//!   allocations.
//! - **Growth by realloc**: most of a callsite's blocks ended in a realloc:
//!   a `Vec` or `String` grown a push at a time. Reserving ahead
//!   (`with_capacity`, `reserve`) allocates once.
//! - **Near a limit**: a job's p95 duration or its largest peak memory per
//!   call is within 10% of (or over) a configured limit (a serverless
//!   platform's, see [`ResourceLimits`]).
//! - **Over its baseline**: a job's p95, error rate or peak per call is
//!   worse than its QoS baseline ([`baseline_findings`](crate::analysis::baseline_findings)).

use serde::{Deserialize, Serialize};

use crate::{runner::ResourceLimits, Callsite, JobStats};

/// Samples a callsite needs before a rule looks at it.
const MIN_SAMPLES: u64 = 20;
/// Estimated blocks a pattern must cover to be worth a finding.
const MIN_BLOCKS: f64 = 100.0;
/// The share of blocks a pattern must cover.
const MIN_SHARE: f64 = 0.5;
/// How close to a limit (as a share of it) a job must come.
const NEAR_LIMIT: f64 = 0.9;

/// One finding: what, where, and the numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// The rule that found it.
    pub kind: FindingKind,
    /// The callsite's stack (innermost first), for a callsite's finding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<crate::Frame>,
    /// The job: the one a callsite allocated in (innermost), or the job
    /// near a limit.
    pub job: Option<String>,
    /// One sentence: what was seen and what to do.
    pub message: String,
    /// The numbers it rests on.
    pub evidence: Vec<Evidence>,
}

/// A number behind a finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Evidence {
    /// What it is: `"freed_blocks"`, `"temporary_share"`, `"p95_ns"`.
    pub name: String,
    /// Its value, in the unit its name ends with (a share is 0–1).
    pub value: f64,
}

/// The rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// Most freed blocks lived under 1 µs: reuse a buffer.
    TemporaryBlocks,
    /// Most blocks ended in a realloc: reserve ahead.
    ReallocGrowth,
    /// A job's p95 duration is within 10% of the limit, or over it.
    NearDurationLimit,
    /// A job's largest peak memory per call is within 10% of the limit, or
    /// over it.
    NearMemoryLimit,
    /// A job's p95 duration, error rate or peak memory per call is worse
    /// than its QoS baseline promised ([`baseline_findings`](crate::analysis::baseline_findings)).
    OverBaseline,
}

/// The findings about `callsites` and, when `limits` are given, `jobs`.
pub fn findings(
    callsites: &[Callsite],
    jobs: &[JobStats],
    limits: Option<&ResourceLimits>,
) -> Vec<Finding> {
    let mut found: Vec<Finding> = callsites.iter().flat_map(callsite_findings).collect();
    if let Some(limits) = limits {
        found.extend(jobs.iter().flat_map(|job| job_findings(job, limits)));
    }
    found
}

/// A callsite's findings.
fn callsite_findings(site: &Callsite) -> Vec<Finding> {
    let mut found = Vec::new();
    if site.samples < MIN_SAMPLES {
        return found;
    }
    let freed = site.freed_blocks();
    let place = site
        .frames
        .first()
        .map_or_else(|| "???".to_string(), ToString::to_string);
    let finding = |kind, message: String, numbers: &[(&str, f64)]| Finding {
        kind,
        frames: site.frames.clone(),
        job: site.job_path.last().cloned(),
        message,
        evidence: evidence(numbers),
    };
    if let Some(share) = site.temporary_share() {
        if freed * share >= MIN_BLOCKS && share >= MIN_SHARE {
            let message = format!(
                "{place}: {:.0}% of its {} freed blocks lived under 1 µs; reuse one buffer (clear and refill) instead of allocating each time",
                share * 100.0,
                crate::units::grouped(crate::units::whole(freed))
            );
            found.push(finding(
                FindingKind::TemporaryBlocks,
                message,
                &[
                    ("freed_blocks", freed),
                    ("temporary_share", share),
                    ("total_bytes", site.total_bytes),
                ],
            ));
        }
    }
    if let Some(share) = site.reallocated_share() {
        if site.reallocated_blocks >= MIN_BLOCKS && share >= MIN_SHARE {
            let message = format!(
                "{place}: {:.0}% of its blocks ({}) ended in a realloc, a buffer grown step by step; reserve ahead (with_capacity, reserve)",
                share * 100.0,
                crate::units::grouped(crate::units::whole(site.reallocated_blocks))
            );
            found.push(finding(
                FindingKind::ReallocGrowth,
                message,
                &[
                    ("reallocated_blocks", site.reallocated_blocks),
                    ("reallocated_share", share),
                    ("freed_blocks", freed),
                ],
            ));
        }
    }
    found
}

/// A job's findings against `limits`.
fn job_findings(job: &JobStats, limits: &ResourceLimits) -> Vec<Finding> {
    let mut found = Vec::new();
    let near = |value: f64, limit: f64| limit > 0.0 && value >= NEAR_LIMIT * limit;
    let describe = |value: f64, limit: f64| {
        if value > limit {
            "over".to_string()
        } else {
            format!("{:.0}% of", value / limit * 100.0)
        }
    };
    if let Some(max) = limits.max_duration {
        let (p95, limit) = (job.duration.p95.as_nanos() as f64, max.as_nanos() as f64);
        if job.calls > 0 && near(p95, limit) {
            found.push(Finding {
                kind: FindingKind::NearDurationLimit,
                frames: Vec::new(),
                job: Some(job.name.clone()),
                message: format!(
                    "job {}: p95 duration {} is {} the {} limit {}",
                    job.name,
                    crate::units::duration(job.duration.p95),
                    describe(p95, limit),
                    limits.name,
                    crate::units::duration(max)
                ),
                evidence: evidence(&[
                    ("p95_ns", p95),
                    ("limit_ns", limit),
                    ("calls", job.calls as f64),
                ]),
            });
        }
    }
    let peak = job.allocations.as_ref().map(|a| a.peak_bytes_max);
    if let (Some(max), Some(peak)) = (limits.max_memory_bytes, peak) {
        let (peak, limit) = (peak as f64, max as f64);
        if near(peak, limit) {
            found.push(Finding {
                kind: FindingKind::NearMemoryLimit,
                frames: Vec::new(),
                job: Some(job.name.clone()),
                message: format!(
                    "job {}: its largest heap peak in one call, {}, is {} the {} limit {}",
                    job.name,
                    crate::units::bytes(peak as u64),
                    describe(peak, limit),
                    limits.name,
                    crate::units::bytes(max)
                ),
                evidence: evidence(&[("peak_bytes", peak), ("limit_bytes", limit)]),
            });
        }
    }
    found
}

/// Evidence from `(name, value)` pairs.
pub(super) fn evidence(pairs: &[(&str, f64)]) -> Vec<Evidence> {
    pairs
        .iter()
        .map(|&(name, value)| Evidence {
            name: name.to_string(),
            value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn site(samples: u64, lifetimes: Vec<f64>, reallocated: f64) -> Callsite {
        Callsite {
            frames: vec![crate::Frame {
                function: "app::parse".into(),
                file: Some("src/app.rs".into()),
                line: Some(7),
                inlined: false,
            }],
            truncated: false,
            job_path: vec!["load".into()],
            samples,
            total_blocks: lifetimes.iter().sum(),
            total_bytes: 1000.0,
            live_blocks: 0.0,
            live_bytes: 0.0,
            total_blocks_variance: 0.0,
            total_bytes_variance: 0.0,
            size_classes: Vec::new(),
            lifetimes,
            reallocated_blocks: reallocated,
        }
    }

    #[test]
    fn mostly_temporary_blocks_are_a_finding_with_their_numbers() {
        let found = findings(&[site(500, vec![400.0, 100.0], 0.0)], &[], None);
        assert_eq!(found.len(), 1);
        let finding = &found[0];
        assert_eq!(finding.kind, FindingKind::TemporaryBlocks);
        assert_eq!(finding.job.as_deref(), Some("load"));
        assert!(
            finding
                .message
                .contains("80% of its 500 freed blocks lived under 1 µs"),
            "{}",
            finding.message
        );
        assert!(finding.message.starts_with("app::parse (src/app.rs:7)"));
        assert_eq!(finding.evidence[1].name, "temporary_share");
        assert_eq!(finding.evidence[1].value, 0.8);
    }

    #[test]
    fn growth_by_realloc_is_a_finding() {
        let found = findings(&[site(500, vec![0.0, 0.0, 500.0], 450.0)], &[], None);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, FindingKind::ReallocGrowth);
        assert!(found[0]
            .message
            .contains("90% of its blocks (450) ended in a realloc"));
    }

    #[test]
    fn too_little_evidence_or_a_minority_is_no_finding() {
        for quiet in [
            site(10, vec![400.0, 100.0], 400.0),  // too few samples
            site(500, vec![40.0, 10.0], 40.0),    // too few blocks
            site(500, vec![200.0, 300.0], 200.0), // a minority
            site(500, Vec::new(), 0.0),           // nothing freed
        ] {
            assert!(
                findings(std::slice::from_ref(&quiet), &[], None).is_empty(),
                "{quiet:?}"
            );
        }
    }

    fn job(p95_ms: u64, peak: u64) -> JobStats {
        let mut stats: JobStats = serde_json::from_value(serde_json::json!({
            "name": "handler", "module_path": "app", "file": "src/app.rs", "line": 1,
            "calls": 100, "errors": 0, "panics": 0, "cancelled": 0,
            "duration": {"total_ns": 0, "mean_ns": 0, "min_ns": 0, "p50_ns": 0,
                         "p95_ns": p95_ms * 1_000_000, "p99_ns": 0, "max_ns": 0},
            "allocations": {"measured_calls": 100, "total_blocks": 0, "total_blocks_max": 0,
                "total_bytes": 0, "total_bytes_max": 0, "freed_bytes": 0, "freed_bytes_max": 0,
                "live_bytes": 0, "live_bytes_max": 0, "peak_bytes_max": peak}
        }))
        .unwrap();
        stats.calls = 100;
        stats
    }

    #[test]
    fn jobs_within_ten_percent_of_a_limit_are_findings() {
        let limits = ResourceLimits::new(
            "a 50 ms, 128 MiB function",
            Some(Duration::from_millis(50)),
            Some(128 << 20),
        );
        let found = findings(
            &[],
            &[job(46, 120 << 20), job(40, 64 << 20), job(60, 0)],
            Some(&limits),
        );
        let kinds: Vec<FindingKind> = found.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                FindingKind::NearDurationLimit,
                FindingKind::NearMemoryLimit,
                FindingKind::NearDurationLimit
            ]
        );
        assert!(
            found[0]
                .message
                .contains("is 92% of the a 50 ms, 128 MiB function limit"),
            "{}",
            found[0].message
        );
        assert!(
            found[2].message.contains("is over the"),
            "{}",
            found[2].message
        );
        assert!(
            findings(&[], &[job(46, 120 << 20)], None).is_empty(),
            "no limits, no job findings"
        );
    }
}
