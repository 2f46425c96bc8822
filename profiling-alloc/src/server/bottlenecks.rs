//! `GET /bottlenecks`: where the time and the memory go, and what to do
//! about it, each recommendation citing its evidence. Read from the latest
//! CPU profile the endpoint took (a session's, or a blocking route's) when
//! it is under 10 minutes old, else from a short one it takes now.
//!
//! **Impact**, 0 to 100, is the percentage of something the process spends
//! that an item accounts for: of the sampled CPU time for a function (its
//! self samples) or a job (the samples taken inside it); of the bytes
//! allocated for an allocation finding's callsite; of the live heap added
//! per hour for a leak suspect (capped at 100). Recommendations are sorted
//! by it.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::http::Response;
use super::shared::{lock, Shared};
use crate::cpu::CpuProfile;

/// A CPU profile younger than this is read rather than a new one taken.
const FRESH: Duration = Duration::from_secs(600);
/// How long the short profile runs when there is no fresh one.
pub(super) const SHORT_PROFILE_SECONDS: u64 = 5;
/// Functions listed.
const TOP_FUNCTIONS: usize = 10;

/// The latest CPU profile the endpoint took.
#[derive(Debug)]
pub(super) struct LatestCpu {
    /// Where it came from: `session <id>`, `/debug/pprof/profile`.
    pub(super) source: String,
    pub(super) ended_unix_ms: u64,
    pub(super) profile: Arc<CpuProfile>,
}

/// Whether a fresh CPU profile is there to read (the request is then a
/// cheap read, not an exclusive one that may take a profile).
pub(super) fn fresh(shared: &Shared) -> bool {
    let now_ms = crate::sys::unix_millis_now();
    lock(&shared.latest_cpu).as_ref().is_some_and(|latest| {
        now_ms.saturating_sub(latest.ended_unix_ms) < FRESH.as_millis() as u64
    })
}

/// Keeps `profile` as the latest.
pub(super) fn keep(shared: &Shared, source: String, profile: &CpuProfile) {
    *lock(&shared.latest_cpu) = Some(LatestCpu {
        source,
        ended_unix_ms: crate::sys::unix_millis_now(),
        profile: Arc::new(profile.clone()),
    });
}

#[derive(Serialize)]
struct Bottlenecks {
    timestamp: String,
    /// The CPU profile read: its source and when it ended.
    profile: ProfileSource,
    functions: Vec<Function>,
    jobs: Vec<JobTime>,
    recommendations: Vec<Recommendation>,
}

#[derive(Serialize)]
struct ProfileSource {
    source: String,
    age_seconds: f64,
    duration_seconds: f64,
    samples: u64,
}

#[derive(Serialize)]
struct Function {
    function: String,
    file: Option<String>,
    line: Option<u32>,
    self_share: f64,
    total_share: f64,
    self_samples: u64,
    samples: u64,
    impact: f64,
}

#[derive(Serialize)]
struct JobTime {
    job: String,
    /// Share of its profiled wall time on a CPU (from every CPU profile).
    on_cpu_share: Option<f64>,
    /// The rest: waiting (I/O, locks, sleeps, a runtime's queue).
    waiting_share: Option<f64>,
    profiled_calls: u64,
    /// Samples taken inside it in the profile read.
    samples: u64,
    impact: f64,
}

#[derive(Serialize)]
struct Recommendation {
    impact: f64,
    /// What to look at, in one sentence.
    advice: String,
    evidence: Vec<crate::analysis::Evidence>,
}

/// `GET /bottlenecks`.
pub(super) fn respond(shared: &Shared, frequency: u32) -> Response {
    let now_ms = crate::sys::unix_millis_now();
    let fresh = lock(&shared.latest_cpu)
        .as_ref()
        .filter(|latest| now_ms.saturating_sub(latest.ended_unix_ms) < FRESH.as_millis() as u64)
        .map(|latest| {
            (
                latest.source.clone(),
                latest.ended_unix_ms,
                Arc::clone(&latest.profile),
            )
        });
    let (source, ended_ms, profile) = match fresh {
        Some(found) => found,
        None => match crate::cpu::start(frequency) {
            Ok(profiling) => {
                shared.sleep(Duration::from_secs(SHORT_PROFILE_SECONDS));
                let profile = profiling.stop();
                let source =
                    format!("a profile of {SHORT_PROFILE_SECONDS} s taken for this request");
                keep(shared, source.clone(), &profile);
                (source, crate::sys::unix_millis_now(), Arc::new(profile))
            }
            Err(crate::Error::CpuAlreadyRunning) => {
                return Response::error(
                    429,
                    "rate_limited",
                    "a CPU profile is running; ask again when it is done (or start a session: POST /profiles?kind=cpu)",
                )
                .with_header("Retry-After", SHORT_PROFILE_SECONDS.to_string());
            }
            Err(error) => return Response::error(501, "unsupported", &error.to_string()),
        },
    };
    let functions = functions(&profile);
    let jobs = jobs(&profile);
    let mut recommendations = cpu_recommendations(&functions, &jobs);
    recommendations.extend(finding_recommendations(shared, &jobs));
    recommendations.sort_by(|a, b| b.impact.total_cmp(&a.impact));
    Response::json(&Bottlenecks {
        timestamp: crate::units::timestamp_now(),
        profile: ProfileSource {
            source,
            age_seconds: now_ms.saturating_sub(ended_ms) as f64 / 1000.0,
            duration_seconds: profile.duration.as_secs_f64(),
            samples: profile.samples,
        },
        functions,
        jobs,
        recommendations,
    })
}

fn percent(share: f64) -> f64 {
    (share * 1000.0).round() / 10.0
}

/// The top functions by self time, with where they are.
fn functions(profile: &CpuProfile) -> Vec<Function> {
    let mut hotspots = profile.hotspots();
    hotspots.truncate(TOP_FUNCTIONS);
    hotspots
        .into_iter()
        .map(|hotspot| {
            let (file, line) = place(profile, &hotspot.function).unzip();
            Function {
                file,
                line: line.flatten(),
                self_share: hotspot.self_share,
                total_share: hotspot.total_share,
                self_samples: hotspot.self_samples,
                samples: hotspot.total_samples,
                impact: percent(hotspot.self_share),
                function: hotspot.function,
            }
        })
        .collect()
}

/// Where `function` ran most: the file and line of its frame taken with the
/// most samples.
fn place(profile: &CpuProfile, function: &str) -> Option<(String, Option<u32>)> {
    let mut tally: Vec<((&str, Option<u32>), u64)> = Vec::new();
    for stack in &profile.stacks {
        let Some(frame) = stack.frames.iter().find(|frame| frame.function == function) else {
            continue;
        };
        let Some(file) = frame.file.as_deref() else {
            continue;
        };
        match tally.iter_mut().find(|(key, _)| *key == (file, frame.line)) {
            Some((_, samples)) => *samples += stack.samples,
            None => tally.push(((file, frame.line), stack.samples)),
        }
    }
    tally
        .into_iter()
        .max_by_key(|(_, samples)| *samples)
        .map(|((file, line), _)| (file.to_string(), line))
}

/// Each job's samples in the profile, beside its on-CPU share of wall time.
fn jobs(profile: &CpuProfile) -> Vec<JobTime> {
    let samples = profile.job_samples();
    let total = profile.samples.max(1) as f64;
    crate::job_stats()
        .into_iter()
        .filter_map(|job| {
            let cpu = job.cpu?;
            let in_profile = samples
                .iter()
                .find(|(name, _)| *name == job.name)
                .map_or(0, |(_, n)| *n);
            let share = cpu.on_cpu_share();
            (cpu.profiled_calls > 0 || in_profile > 0).then(|| JobTime {
                on_cpu_share: share,
                waiting_share: share.map(|s| (1.0 - s).max(0.0)),
                profiled_calls: cpu.profiled_calls,
                samples: in_profile,
                impact: percent(in_profile as f64 / total),
                job: job.name,
            })
        })
        .collect()
}

fn evidence(name: &str, value: f64) -> crate::analysis::Evidence {
    crate::analysis::Evidence {
        name: name.to_string(),
        value,
    }
}

fn cpu_recommendations(functions: &[Function], jobs: &[JobTime]) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for function in functions.iter().filter(|f| f.self_share >= 0.05).take(3) {
        let place = match (&function.file, function.line) {
            (Some(file), Some(line)) => format!(" ({file}:{line})"),
            _ => String::new(),
        };
        out.push(Recommendation {
            impact: function.impact,
            advice: format!(
                "{}{place} runs {:.1}% of the sampled CPU time itself: the first place to make cheaper",
                function.function,
                function.self_share * 100.0
            ),
            evidence: vec![
                evidence("self_samples", function.self_samples as f64),
                evidence("self_share", function.self_share),
                evidence("total_share", function.total_share),
            ],
        });
    }
    for job in jobs {
        let Some(on_cpu) = job.on_cpu_share else {
            continue;
        };
        let advice = if on_cpu < 0.2 {
            format!(
                "job {} waits {:.0}% of its wall time (off CPU): look at its I/O, locks, sleeps and what it awaits, not its computation",
                job.job,
                (1.0 - on_cpu) * 100.0
            )
        } else if on_cpu >= 0.8 {
            format!(
                "job {} computes {:.0}% of its wall time: a faster CPU, more of them, or less work per call shortens it",
                job.job,
                on_cpu.min(1.0) * 100.0
            )
        } else {
            continue;
        };
        out.push(Recommendation {
            impact: job.impact,
            advice,
            evidence: vec![
                evidence("on_cpu_share", on_cpu),
                evidence("profiled_calls", job.profiled_calls as f64),
                evidence("samples", job.samples as f64),
            ],
        });
    }
    out
}

/// The findings (allocation callsites', jobs') and the leak suspects, as
/// recommendations. A job's finding has the job's impact.
fn finding_recommendations(shared: &Shared, jobs: &[JobTime]) -> Vec<Recommendation> {
    let sites = super::shared::sampled_callsites();
    let total_bytes: f64 = sites.iter().map(|s| s.total_bytes).sum::<f64>().max(1.0);
    let mut out: Vec<Recommendation> = shared
        .findings(&sites)
        .into_iter()
        .map(|finding| {
            let impact = if finding.frames.is_empty() {
                jobs.iter()
                    .find(|job| Some(&job.job) == finding.job.as_ref())
                    .map_or(0.0, |job| job.impact)
            } else {
                let bytes: f64 = sites
                    .iter()
                    .filter(|site| site.frames == finding.frames)
                    .map(|site| site.total_bytes)
                    .sum();
                percent(bytes / total_bytes)
            };
            Recommendation {
                impact,
                advice: finding.message,
                evidence: finding.evidence,
            }
        })
        .collect();
    if let Some(report) = lock(&shared.last_leak_report).as_ref() {
        let heap = (report.heap_live_bytes as f64).max(1.0);
        for suspect in &report.suspects {
            let function = suspect
                .frames
                .first()
                .map_or("a callsite", |frame| frame.function.as_str());
            out.push(Recommendation {
                impact: percent((suspect.growth_bytes_per_hour / heap).min(1.0)),
                advice: format!(
                    "{function} keeps {} more bytes an hour and does not level off: a leak suspect (see /leaks)",
                    suspect.growth_bytes_per_hour.round()
                ),
                evidence: vec![
                    evidence("growth_bytes_per_hour", suspect.growth_bytes_per_hour),
                    evidence("live_bytes", suspect.live_bytes),
                    evidence("confidence", suspect.confidence),
                ],
            });
        }
    }
    out
}
