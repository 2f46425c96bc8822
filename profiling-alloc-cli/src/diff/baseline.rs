//! A report's jobs held against a QoS baseline (the file of `plan
//! --write-baseline` or `Baseline::write_json`): per job, the p50/p95/p99
//! durations, the error rate and the memory.

use profiling_alloc::sizing::{Baseline, JobBaseline};
use profiling_alloc::{JobStats, Report};

use super::compare::row;
use super::threshold::{Judgement, Noise, Thresholds};
use super::{metadata, Diff, Entry, Metric, Presence, Side, Verdict};
use crate::units::Percent;

/// `--max-time-increase` when the base is a baseline and none is given:
/// durations are what a baseline is for, and a p95 measured twice on a
/// shared machine moves by 10% and more. A baseline with targets (`plan
/// --p95`) holds p95 and p99 to them instead.
pub const DEFAULT_TIME_INCREASE: f64 = 25.0;

/// Whether `text` is a QoS baseline (its `kind` says so).
pub fn is_baseline(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: Option<String>,
    }
    serde_json::from_str::<Kind>(text)
        .ok()
        .and_then(|k| k.kind)
        .is_some_and(|kind| kind == "profiling-alloc-baseline")
}

/// Compares `head`'s jobs with `baseline` (read from `base_file`).
pub fn compare(
    baseline: &Baseline,
    head: &Report,
    base_file: &str,
    head_file: &str,
    thresholds: &Thresholds,
) -> Diff {
    let mut thresholds = thresholds.clone();
    if thresholds.max_time_increase.is_none() {
        thresholds.max_time_increase = Percent::new(DEFAULT_TIME_INCREASE);
    }
    let matched: Vec<(&JobBaseline, Option<&JobStats>)> = baseline
        .jobs
        .iter()
        .map(|base| (base, matching_job(&base.name, head)))
        .collect();
    let mut jobs: Vec<Entry> = matched
        .iter()
        .map(|&(base, found)| entry(Some(base), found, &thresholds))
        .collect();
    jobs.extend(
        head.jobs
            .iter()
            .filter(|job| {
                !matched
                    .iter()
                    .any(|(_, found)| found.is_some_and(|f| f.name == job.name))
            })
            .map(|job| entry(None, Some(job), &thresholds)),
    );
    Diff {
        base: Side {
            file: base_file.to_string(),
            program: "QoS baseline".to_string(),
            labels: Vec::new(),
            sampling: "none (a QoS baseline holds jobs only)".to_string(),
        },
        head: metadata::side(head, head_file),
        thresholds,
        warnings: vec![
            "the base is a QoS baseline: only jobs are compared (p50/p95/p99, error rate, the peak of one call against the memory need)".to_string(),
        ],
        heap: Vec::new(),
        jobs,
        callsites: Vec::new(),
    }
}

/// The report's job for the baseline's `name`: the one of that name, else
/// the one job whose name ends with `::name` (a profile named `search`, a
/// `#[profile_job]` named `app::search`).
fn matching_job<'a>(name: &str, head: &'a Report) -> Option<&'a JobStats> {
    if let Some(job) = head.jobs.iter().find(|job| job.name == name) {
        return Some(job);
    }
    let suffix = format!("::{name}");
    let mut ends = head.jobs.iter().filter(|job| job.name.ends_with(&suffix));
    match (ends.next(), ends.next()) {
        (Some(job), None) => Some(job),
        _ => None,
    }
}

fn entry(base: Option<&JobBaseline>, head: Option<&JobStats>, t: &Thresholds) -> Entry {
    let name = base
        .map(|b| b.name.clone())
        .or_else(|| head.map(|h| h.name.clone()))
        .unwrap_or_default();
    let presence = match (base, head) {
        (Some(_), Some(_)) => Presence::Both,
        (None, _) => Presence::Added,
        (_, None) => Presence::Removed,
    };
    if let (Some(base), None) = (base, head) {
        // A promise the report cannot be held to: the gate would check
        // nothing of the job, so it fails.
        return Entry {
            name,
            presence,
            rows: vec![super::Row {
                metric: Metric::Calls,
                base: Some(base.calls as f64),
                head: None,
                change_percent: None,
                noise_margin: 0.0,
                verdict: Verdict::Regression,
                changed: true,
                note: Some(format!(
                    "the report has no job `{}` (nor one ending in `::{}`): its baseline holds it to nothing; name the job alike (#[profile_job(name = \"{}\")])",
                    base.name, base.name, base.name
                )),
            }],
        };
    }
    let base_calls = base.map_or(0, |b| b.calls);
    let head_calls = head.map_or(0, |h| h.calls);
    let mut rows = vec![row(
        Metric::Calls,
        base.map(|b| b.calls as f64),
        head.map(|h| h.calls as f64),
        |b, h| Judgement {
            verdict: Verdict::NotJudged,
            changed: b != h,
            noise_margin: 0.0,
            note: None,
        },
    )];
    let nanos = |d: std::time::Duration| d.as_nanos() as f64;
    for (metric, b, h) in [
        (
            Metric::DurationP50,
            base.map(|b| nanos(b.duration.p50)),
            head.map(|h| nanos(h.duration.p50)),
        ),
        (
            Metric::DurationP95,
            base.map(|b| nanos(b.duration.p95)),
            head.map(|h| nanos(h.duration.p95)),
        ),
        (
            Metric::DurationP99,
            base.map(|b| nanos(b.duration.p99)),
            head.map(|h| nanos(h.duration.p99)),
        ),
    ] {
        let target = match metric {
            Metric::DurationP95 => base.and_then(|b| b.p95_target),
            Metric::DurationP99 => base.and_then(|b| b.p99_target),
            _ => None,
        };
        rows.push(row(metric, b, h, |b, h| match target {
            Some(target) => judge_target(h, target),
            None => t.judge_time(b, h, base_calls, head_calls),
        }));
    }
    let head_rate = head.map(|h| {
        if h.calls == 0 {
            0.0
        } else {
            (h.errors + h.panics) as f64 / h.calls as f64
        }
    });
    rows.push(row(
        Metric::ErrorRate,
        base.map(|b| b.error_rate),
        head_rate,
        |b, h| judge_rate(b, h, base_calls, head_calls, t.noise_sigma),
    ));
    rows.push(row(
        Metric::MemoryNeed,
        base.and_then(|b| b.memory_need_bytes).map(|n| n as f64),
        head.and_then(|h| h.allocations.as_ref())
            .map(|a| a.peak_bytes_max as f64),
        |b, h| {
            // The peak of one call is within the need unless the job grew:
            // judged only upwards, against --max-increase.
            t.judge(b, h.max(0.0), Noise::Exact)
        },
    ));
    Entry {
        name,
        presence,
        rows,
    }
}

/// A duration held to the baseline's target: a regression above it,
/// whatever the measured baseline.
fn judge_target(head: f64, target: std::time::Duration) -> Judgement {
    let over = head > target.as_nanos() as f64;
    Judgement {
        verdict: if over {
            Verdict::Regression
        } else {
            Verdict::Ok
        },
        changed: over,
        noise_margin: 0.0,
        note: Some(format!(
            "target {}",
            crate::units::duration_ns(target.as_nanos() as f64)
        )),
    }
}

/// An error rate judged by a two-proportion test: a regression when the
/// head's rate is above the base's by more than `sigma` standard errors of
/// the difference (the rates pooled), so that a few more failures in a
/// small run are not one.
fn judge_rate(base: f64, head: f64, base_calls: u64, head_calls: u64, sigma: f64) -> Judgement {
    let (nb, nh) = (base_calls.max(1) as f64, head_calls.max(1) as f64);
    let pooled = (base * nb + head * nh) / (nb + nh);
    let margin = sigma
        * (pooled * (1.0 - pooled) * (1.0 / nb + 1.0 / nh))
            .max(0.0)
            .sqrt();
    let increase = head - base;
    let verdict = if increase <= 0.0 {
        Verdict::Ok
    } else if increase > margin {
        Verdict::Regression
    } else {
        Verdict::WithinNoise
    };
    Judgement {
        verdict,
        changed: increase.abs() > margin,
        noise_margin: margin,
        note: (verdict == Verdict::WithinNoise)
            .then(|| format!("within {sigma}σ of the rates' binomial noise")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rates_are_judged_beyond_their_noise() {
        // 1% of 1,000 calls against 1.5% of 1,000: within 3σ (the margin is
        // about 1.6 points); 5% is beyond it.
        assert_eq!(
            judge_rate(0.01, 0.015, 1000, 1000, 3.0).verdict,
            Verdict::WithinNoise
        );
        assert_eq!(
            judge_rate(0.01, 0.05, 1000, 1000, 3.0).verdict,
            Verdict::Regression
        );
        assert_eq!(judge_rate(0.05, 0.01, 1000, 1000, 3.0).verdict, Verdict::Ok);
        // From no errors at all, any error in many calls shows.
        assert_eq!(
            judge_rate(0.0, 0.02, 5000, 5000, 3.0).verdict,
            Verdict::Regression
        );
    }

    #[test]
    fn a_baseline_is_told_from_a_report() {
        assert!(is_baseline(
            r#"{"kind": "profiling-alloc-baseline", "version": 1}"#
        ));
        assert!(!is_baseline(r#"{"format_version": 3}"#));
        assert!(!is_baseline("not json"));
    }
}
