//! The comparison: heap totals, jobs matched by name, callsites matched by
//! their stacks ([`callsites`](super::callsites)), each number a [`Row`]
//! judged by the [`Thresholds`].

use profiling_alloc::{JobStats, Report};

use super::threshold::{change_percent, Judgement, Noise, Thresholds};
use super::{metadata, Diff, Entry, Metric, Presence, Row, Verdict};

/// A comparison that cannot be made as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// A `--max-bytes-per-call` names a job that neither report has.
    #[error("profiling-alloc: --max-bytes-per-call names the job `{job}`, which neither report has (jobs: {known})")]
    UnknownJob {
        /// The name given.
        job: String,
        /// The jobs the reports have, comma-separated.
        known: String,
    },
    /// The reports are of different programs (another executable or
    /// crate): their numbers say nothing of a change.
    #[error("profiling-alloc: the reports are of different programs ({differences}); compare runs of one program, or pass --allow-different-programs")]
    DifferentPrograms {
        /// What differs, as `executable: base a, head b`.
        differences: String,
    },
    /// A `--max-bytes-per-call` names a job by a short name that ends more
    /// than one job's name.
    #[error("profiling-alloc: --max-bytes-per-call names the job `{job}`, which could be any of {matches}: give the full name")]
    AmbiguousJob {
        /// The name given.
        job: String,
        /// The jobs it could be, comma-separated.
        matches: String,
    },
}

/// Compares `base` (read from `base_file`) with `head` (from `head_file`).
///
/// # Errors
///
/// [`CompareError`] when a `--max-bytes-per-call` limit names no job of
/// either report, or could name several.
pub fn compare(
    base: &Report,
    head: &Report,
    base_file: &str,
    head_file: &str,
    thresholds: &Thresholds,
) -> Result<Diff, CompareError> {
    let mut warnings = metadata::warnings(base, head);
    let thresholds = resolve_limits(base, head, thresholds, &mut warnings)?;
    Ok(Diff {
        base: metadata::side(base, base_file),
        head: metadata::side(head, head_file),
        warnings,
        heap: heap(base, head, &thresholds).into_iter().collect(),
        jobs: jobs(base, head, &thresholds),
        callsites: super::callsites::compare(base, head, &thresholds),
        thresholds,
    })
}

/// The thresholds with each `--max-bytes-per-call` job given its full name:
/// the name itself when a report has it, else the one job whose name ends
/// with `::name`.
fn resolve_limits(
    base: &Report,
    head: &Report,
    thresholds: &Thresholds,
    warnings: &mut Vec<String>,
) -> Result<Thresholds, CompareError> {
    let mut names: Vec<&str> = head.jobs.iter().map(|job| job.name.as_str()).collect();
    for job in &base.jobs {
        if !names.contains(&job.name.as_str()) {
            names.push(&job.name);
        }
    }
    let mut resolved = thresholds.clone();
    for limit in &mut resolved.max_bytes_per_call {
        let full = if names.contains(&limit.job.as_str()) {
            limit.job.clone()
        } else {
            let suffix = format!("::{}", limit.job);
            let matches: Vec<&str> = names
                .iter()
                .copied()
                .filter(|name| name.ends_with(&suffix))
                .collect();
            match matches.as_slice() {
                [one] => one.to_string(),
                [] => {
                    return Err(CompareError::UnknownJob {
                        job: limit.job.clone(),
                        known: names.join(", "),
                    })
                }
                _ => {
                    return Err(CompareError::AmbiguousJob {
                        job: limit.job.clone(),
                        matches: matches.join(", "),
                    })
                }
            }
        };
        if !head.jobs.iter().any(|job| job.name == full) {
            warnings.push(format!(
                "--max-bytes-per-call {}: the head has no job `{full}`, so the limit checks nothing",
                limit.job
            ));
        }
        limit.job = full;
    }
    Ok(resolved)
}

/// A row of `metric`: judged by `judge` when both sides have a value, shown
/// as it is otherwise.
pub(super) fn row(
    metric: Metric,
    base: Option<f64>,
    head: Option<f64>,
    judge: impl FnOnce(f64, f64) -> Judgement,
) -> Row {
    let (judgement, change) = match (base, head) {
        (Some(b), Some(h)) => (judge(b, h), change_percent(b, h)),
        _ => (
            Judgement {
                verdict: Verdict::NotJudged,
                changed: false,
                noise_margin: 0.0,
                note: None,
            },
            None,
        ),
    };
    Row {
        metric,
        base,
        head,
        change_percent: change,
        noise_margin: judgement.noise_margin,
        verdict: judgement.verdict,
        changed: judgement.changed,
        note: judgement.note,
    }
}

/// Heap totals, unless either report counted nothing.
fn heap(base: &Report, head: &Report, t: &Thresholds) -> Option<Entry> {
    let (b, h) = (&base.heap, &head.heap);
    if !b.active || !h.active {
        return None;
    }
    let exact = |metric, base: u64, head: u64| {
        row(metric, Some(base as f64), Some(head as f64), |b, h| {
            t.judge(b, h, Noise::Exact)
        })
    };
    // A peak taken while threads allocated at once is within a bound of the
    // true one, either way.
    let peak_noise = match b.peak_error_bound + h.peak_error_bound {
        0 => Noise::Exact,
        bound => Noise::Bound {
            bound: bound as f64,
        },
    };
    let peak = row(
        Metric::PeakBytes,
        Some(b.peak_bytes as f64),
        Some(h.peak_bytes as f64),
        |base, head| t.judge(base, head, peak_noise),
    );
    Some(Entry {
        name: "heap".to_string(),
        presence: Presence::Both,
        rows: vec![
            exact(Metric::TotalBlocks, b.total_blocks, h.total_blocks),
            exact(Metric::TotalBytes, b.total_bytes, h.total_bytes),
            peak,
            exact(Metric::LiveBlocks, b.live_blocks, h.live_blocks),
            exact(Metric::LiveBytes, b.live_bytes, h.live_bytes),
            exact(Metric::Reallocs, b.reallocs, h.reallocs),
        ],
    })
}

/// Jobs matched by name: the head's in their order, then those only the
/// base has.
fn jobs(base: &Report, head: &Report, t: &Thresholds) -> Vec<Entry> {
    let find = |report: &'_ Report, name: &str| -> Option<JobStats> {
        report.jobs.iter().find(|job| job.name == name).cloned()
    };
    let mut entries: Vec<Entry> = head
        .jobs
        .iter()
        .map(|job| job_entry(find(base, &job.name).as_ref(), Some(job), t))
        .collect();
    entries.extend(
        base.jobs
            .iter()
            .filter(|job| find(head, &job.name).is_none())
            .map(|job| job_entry(Some(job), None, t)),
    );
    entries
}

/// One job's rows; `None` for the report that does not have it.
fn job_entry(base: Option<&JobStats>, head: Option<&JobStats>, t: &Thresholds) -> Entry {
    let name = head
        .or(base)
        .map(|job| job.name.clone())
        .unwrap_or_default();
    let presence = match (base, head) {
        (Some(_), Some(_)) => Presence::Both,
        (None, _) => Presence::Added,
        (_, None) => Presence::Removed,
    };
    let calls = |job: Option<&JobStats>| job.map(|j| j.calls as f64);
    let mut rows = vec![row(Metric::Calls, calls(base), calls(head), |b, h| {
        Judgement {
            verdict: Verdict::NotJudged,
            changed: b != h,
            noise_margin: 0.0,
            note: None,
        }
    })];
    rows.extend(allocation_rows(base, head, &name, t));
    rows.extend(duration_rows(base, head, t));
    if presence == Presence::Added {
        // A new job cannot have grown, but it can break an absolute limit.
        if let Some(row) = rows.iter_mut().find(|r| r.metric == Metric::BytesPerCall) {
            if let (Some(head), Some(limit)) = (row.head, t.bytes_per_call_limit(&name)) {
                let judged = Judgement {
                    verdict: Verdict::Ok,
                    changed: true,
                    noise_margin: 0.0,
                    note: None,
                }
                .with_limit(head, limit);
                row.verdict = judged.verdict;
                row.note = judged.note;
            }
        }
    }
    Entry {
        name,
        presence,
        rows,
    }
}

/// Allocations, bytes, kept bytes per call and the peak of one call: exact
/// counts. Allocations and bytes per call are judged against
/// `--max-increase` (and bytes per call against the job's absolute limit);
/// kept bytes and the peak only with `--judge-kept` (see
/// [`Thresholds::judge_kept`]).
fn allocation_rows(
    base: Option<&JobStats>,
    head: Option<&JobStats>,
    name: &str,
    t: &Thresholds,
) -> Vec<Row> {
    let per_call = |job: Option<&JobStats>,
                    value: fn(&profiling_alloc::jobs::JobAllocStats) -> f64| {
        let a = job?.allocations?;
        (a.measured_calls > 0).then(|| value(&a) / a.measured_calls as f64)
    };
    let limit = t.bytes_per_call_limit(name);
    let judge_exact = |b, h| t.judge(b, h, Noise::Exact);
    let judge_bytes = |b, h| match limit {
        Some(limit) => t.judge(b, h, Noise::Exact).with_limit(h, limit),
        None => t.judge(b, h, Noise::Exact),
    };
    let blocks = |a: &profiling_alloc::jobs::JobAllocStats| a.total_blocks as f64;
    let bytes = |a: &profiling_alloc::jobs::JobAllocStats| a.total_bytes as f64;
    let kept = |a: &profiling_alloc::jobs::JobAllocStats| a.live_bytes as f64;
    let peak = |job: Option<&JobStats>| Some(job?.allocations?.peak_bytes_max as f64);
    let counted = |job: Option<&JobStats>| job.and_then(|j| j.allocations).is_some();
    if !counted(base) && !counted(head) {
        return Vec::new();
    }
    vec![
        row(
            Metric::BlocksPerCall,
            per_call(base, blocks),
            per_call(head, blocks),
            judge_exact,
        ),
        row(
            Metric::BytesPerCall,
            per_call(base, bytes),
            per_call(head, bytes),
            judge_bytes,
        ),
        row(
            Metric::KeptBytesPerCall,
            per_call(base, kept),
            per_call(head, kept),
            |b, h| t.judge_kept(b, h),
        ),
        row(Metric::PeakBytesMax, peak(base), peak(head), |b, h| {
            t.judge_kept(b, h)
        }),
    ]
}

/// Reads one duration percentile of a job.
type Percentile = fn(&JobStats) -> std::time::Duration;

/// p50, p95 and p99, judged only with `--max-time-increase` and enough
/// calls.
fn duration_rows(base: Option<&JobStats>, head: Option<&JobStats>, t: &Thresholds) -> Vec<Row> {
    let calls = |job: Option<&JobStats>| job.map_or(0, |j| j.calls);
    let (base_calls, head_calls) = (calls(base), calls(head));
    let nanos = |job: Option<&JobStats>, pick: Percentile| {
        job.filter(|j| j.calls > 0)
            .map(|j| pick(j).as_nanos() as f64)
    };
    let percentiles: [(Metric, Percentile); 3] = [
        (Metric::DurationP50, |j| j.duration.p50),
        (Metric::DurationP95, |j| j.duration.p95),
        (Metric::DurationP99, |j| j.duration.p99),
    ];
    percentiles
        .into_iter()
        .map(|(metric, pick)| {
            row(metric, nanos(base, pick), nanos(head, pick), |b, h| {
                t.judge_time(b, h, base_calls, head_calls)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::diff::test_reports::{job, job_timed, report};
    use crate::units::{JobLimit, Percent};

    fn diff(base: &Report, head: &Report, t: &Thresholds) -> Diff {
        compare(base, head, "base.json", "head.json", t).unwrap()
    }

    fn find<'a>(entries: &'a [Entry], name: &str, metric: Metric) -> &'a Row {
        entries
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.rows.iter().find(|r| r.metric == metric))
            .unwrap_or_else(|| panic!("no {metric:?} row for {name}"))
    }

    #[test]
    fn identical_reports_pass_with_nothing_changed() {
        let r = report(json!({ "jobs": [job("app::parse", 100, 5, 500, 0, 400)] }));
        let d = diff(&r, &r, &Thresholds::default());
        assert_eq!(d.regressions(), 0);
        assert!(d.entries().flat_map(|e| &e.rows).all(|row| !row.changed));
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn a_job_allocating_more_per_call_regresses() {
        let base = report(json!({ "jobs": [job("app::parse", 100, 5, 1000, 0, 800)] }));
        // 20% more bytes per call, over twice the calls.
        let head = report(json!({ "jobs": [job("app::parse", 200, 5, 1200, 0, 800)] }));
        let d = diff(&base, &head, &Thresholds::default());
        let bytes = find(&d.jobs, "app::parse", Metric::BytesPerCall);
        assert_eq!((bytes.base, bytes.head), (Some(1000.0), Some(1200.0)));
        assert_eq!(bytes.verdict, Verdict::Regression);
        assert!((bytes.change_percent.unwrap() - 20.0).abs() < 1e-9);
        assert_eq!(
            find(&d.jobs, "app::parse", Metric::BlocksPerCall).verdict,
            Verdict::Ok
        );
        let calls = find(&d.jobs, "app::parse", Metric::Calls);
        assert_eq!((calls.verdict, calls.changed), (Verdict::NotJudged, true));
        assert_eq!(d.regressions(), 1);
    }

    #[test]
    fn per_call_thresholds_hold_at_their_edge() {
        let base = report(json!({ "jobs": [job("j", 3, 20, 1000, 100, 500)] }));
        let head = report(json!({ "jobs": [job("j", 7, 21, 1050, 105, 525)] }));
        // Kept bytes and the peak are judged with --judge-kept only.
        let judge_kept = Thresholds {
            judge_kept: true,
            ..Thresholds::default()
        };
        let d = diff(&base, &head, &judge_kept);
        for metric in [
            Metric::BlocksPerCall,
            Metric::BytesPerCall,
            Metric::KeptBytesPerCall,
            Metric::PeakBytesMax,
        ] {
            let row = find(&d.jobs, "j", metric);
            assert_eq!(row.verdict, Verdict::Ok, "{metric:?} at +5%");
            assert!(row.changed, "{metric:?}");
        }
        let head = report(json!({ "jobs": [job("j", 7, 22, 1051, 106, 526)] }));
        assert_eq!(diff(&base, &head, &judge_kept).regressions(), 4);
        let d = diff(&base, &head, &Thresholds::default());
        assert_eq!(d.regressions(), 2, "allocations and bytes per call");
        let kept = find(&d.jobs, "j", Metric::KeptBytesPerCall);
        assert_eq!((kept.verdict, kept.changed), (Verdict::NotJudged, true));
    }

    #[test]
    fn jobs_that_appear_and_disappear_are_listed_not_judged() {
        let base =
            report(json!({ "jobs": [job("old", 1, 1, 10, 0, 10), job("kept", 1, 1, 10, 0, 10)] }));
        let head = report(
            json!({ "jobs": [job("kept", 1, 1, 10, 0, 10), job("new", 1, 9, 900, 0, 900)] }),
        );
        let d = diff(&base, &head, &Thresholds::default());
        let presence: Vec<(&str, Presence)> = d
            .jobs
            .iter()
            .map(|e| (e.name.as_str(), e.presence))
            .collect();
        assert_eq!(
            presence,
            [
                ("kept", Presence::Both),
                ("new", Presence::Added),
                ("old", Presence::Removed)
            ]
        );
        let new = find(&d.jobs, "new", Metric::BytesPerCall);
        assert_eq!((new.base, new.head), (None, Some(900.0)));
        assert_eq!(new.verdict, Verdict::NotJudged);
        assert_eq!(d.regressions(), 0);
    }

    #[test]
    fn an_absolute_limit_applies_to_the_head_and_to_new_jobs() {
        let base = report(json!({ "jobs": [job("app::parse", 1, 1, 2000, 0, 10)] }));
        let head = report(json!({ "jobs": [
            job("app::parse", 1, 1, 2000, 0, 10),
            job("app::render", 1, 1, 5000, 0, 10)
        ] }));
        let t = Thresholds {
            max_bytes_per_call: vec![
                "parse=1KiB".parse().unwrap(),
                "app::render=4KiB".parse().unwrap(),
            ],
            ..Thresholds::default()
        };
        let d = diff(&base, &head, &t);
        let parse = find(&d.jobs, "app::parse", Metric::BytesPerCall);
        assert_eq!(parse.verdict, Verdict::Regression);
        assert_eq!(
            parse.note.as_deref(),
            Some("over the limit of 1.00 KiB per call")
        );
        let render = find(&d.jobs, "app::render", Metric::BytesPerCall);
        assert_eq!(render.verdict, Verdict::Regression);
        assert_eq!(d.thresholds.max_bytes_per_call[0].job, "app::parse");
        assert_eq!(d.regressions(), 2);
    }

    #[test]
    fn a_limit_on_no_job_is_an_error_and_on_a_removed_one_a_warning() {
        let base = report(
            json!({ "jobs": [job("app::parse", 1, 1, 10, 0, 10), job("app::gone", 1, 1, 10, 0, 10)] }),
        );
        let head = report(
            json!({ "jobs": [job("app::parse", 1, 1, 10, 0, 10), job("lib::parse", 1, 1, 10, 0, 10)] }),
        );
        let with = |limit: &str| Thresholds {
            max_bytes_per_call: vec![limit.parse::<JobLimit>().unwrap()],
            ..Thresholds::default()
        };
        let error = compare(&base, &head, "b", "h", &with("pars=1")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "profiling-alloc: --max-bytes-per-call names the job `pars`, which neither report has \
             (jobs: app::parse, lib::parse, app::gone)"
        );
        let error = compare(&base, &head, "b", "h", &with("parse=1")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("could be any of app::parse, lib::parse"),
            "{error}"
        );
        let d = diff(&base, &head, &with("gone=1"));
        assert!(
            d.warnings[0].contains("the head has no job `app::gone`"),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn durations_need_a_threshold_and_enough_calls() {
        let base = report(json!({ "jobs": [
            job_timed("many", 500, [1, 10, 10], 0, 1000),
            job_timed("few", 5, [1, 10, 10], 0, 1000)
        ] }));
        let head = report(json!({ "jobs": [
            job_timed("many", 500, [1, 10, 10], 0, 2000),
            job_timed("few", 5, [1, 10, 10], 0, 2000)
        ] }));
        let d = diff(&base, &head, &Thresholds::default());
        assert_eq!(
            find(&d.jobs, "many", Metric::DurationP99).verdict,
            Verdict::NotJudged
        );
        let t = Thresholds {
            max_time_increase: Percent::new(50.0),
            ..Thresholds::default()
        };
        let d = diff(&base, &head, &t);
        assert_eq!(
            find(&d.jobs, "many", Metric::DurationP50).verdict,
            Verdict::Regression
        );
        assert_eq!(
            find(&d.jobs, "few", Metric::DurationP50).verdict,
            Verdict::NotJudged
        );
        assert_eq!(d.regressions(), 3);
    }

    #[test]
    fn heap_totals_are_exact_and_the_peak_has_its_bound() {
        let base = report(json!({}));
        let head = report(json!({ "heap": {
            "total_bytes": 110000, "peak_bytes": 22000,
            "peak_is_exact": false, "peak_error_bound": 65536
        } }));
        let d = diff(&base, &head, &Thresholds::default());
        let heap = &d.heap;
        assert_eq!(
            find(heap, "heap", Metric::TotalBytes).verdict,
            Verdict::Regression
        );
        let peak = find(heap, "heap", Metric::PeakBytes);
        assert_eq!(peak.verdict, Verdict::WithinNoise);
        assert_eq!(peak.noise_margin, 65536.0);
        assert_eq!(find(heap, "heap", Metric::TotalBlocks).verdict, Verdict::Ok);
    }

    #[test]
    fn reports_that_counted_nothing_have_no_heap_rows() {
        let base = report(json!({ "heap": { "active": false }, "jobs": [{
            "name": "j", "module_path": "", "file": "", "line": 0, "calls": 2,
            "errors": 0, "panics": 0, "cancelled": 0,
            "duration": { "total_ns": 2, "mean_ns": 1, "min_ns": 1, "p50_ns": 1,
                          "p95_ns": 1, "p99_ns": 1, "max_ns": 1 },
            "allocations": null
        }] }));
        let head = report(json!({ "jobs": [job("j", 2, 1, 10, 0, 10)] }));
        let d = diff(&base, &head, &Thresholds::default());
        assert!(d.heap.is_empty());
        let bytes = find(&d.jobs, "j", Metric::BytesPerCall);
        assert_eq!((bytes.base, bytes.verdict), (None, Verdict::NotJudged));
        assert_eq!(d.regressions(), 0);
    }

    #[test]
    fn the_thresholds_given_are_used() {
        let base = report(json!({ "jobs": [job("j", 1, 10, 1000, 0, 10)] }));
        let head = report(json!({ "jobs": [job("j", 1, 10, 1150, 0, 10)] }));
        let t = Thresholds {
            max_increase: Percent::new(20.0).unwrap(),
            ..Thresholds::default()
        };
        assert_eq!(diff(&base, &head, &t).regressions(), 0);
        let t = Thresholds {
            max_increase: Percent::new(10.0).unwrap(),
            ..Thresholds::default()
        };
        assert_eq!(diff(&base, &head, &t).regressions(), 1);
    }
}
