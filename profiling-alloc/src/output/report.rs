//! [`Report`]: one snapshot of everything the profiler knows, as a value to
//! serialize, print, or draw.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::write_file;
use crate::callsites::Callsite;
use crate::callsites::Sampling;
use crate::error::Error;
use crate::heap::HeapStats;
use crate::heap::SizeHistogram;
use crate::job::{JobPathStats, JobStats, PathNode};
use crate::program::ProgramInfo;

/// A snapshot of the program's heap statistics, jobs and callsites, taken by
/// [`Report::capture`].
///
/// Fields added in later releases of format version 1 will carry serde
/// defaults, so older files stay readable; a change that old readers would
/// misread gets a new [`FORMAT_VERSION`](Report::FORMAT_VERSION).
///
/// Serializable (`serde`), written and read as JSON with
/// [`write_json`](Report::write_json) and [`read_json`](Report::read_json),
/// printed as a text summary with `Display`, and drawn as flamegraphs with
/// [`folded`](Report::folded) and `flamegraph`.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// # fn main() {
/// let data: Vec<u64> = (0..1000).collect();
/// let report = profiling_alloc::Report::capture();
/// assert!(report.heap.live_bytes >= 8000);
///
/// let json = report.to_json();
/// let back = profiling_alloc::Report::from_json(&json).unwrap();
/// assert_eq!(back, report);
/// println!("{report}"); // the text summary
/// # drop(data);
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// The version of this JSON format ([`Report::FORMAT_VERSION`] when
    /// written by this build).
    pub format_version: u64,
    /// The program the report is about.
    pub program: ProgramInfo,
    /// The profiler's settings when the report was taken.
    pub settings: Settings,
    /// Heap totals, live and peak (see [`heap_stats`](crate::heap_stats)).
    pub heap: HeapStats,
    /// Allocated blocks and bytes per power-of-two size class.
    pub size_histogram: SizeHistogram,
    /// Every job called so far (see [`job_stats`](crate::job_stats)).
    pub jobs: Vec<JobStats>,
    /// Time per job path (see [`job_paths`](crate::jobs::job_paths)): the data of
    /// the job-time flamegraph.
    pub job_paths: Vec<JobPathStats>,
    /// Sampled callsites, most bytes first, with resolved frames (empty when
    /// sampling was never on, or without the `callsites` feature).
    pub callsites: Vec<Callsite>,
    /// Samples that could not be recorded because a table was full.
    pub dropped_samples: u64,
    /// Wasteful allocation patterns found in the callsites, and jobs near
    /// a limit when limits were given ([`Report::with_limits`]), each with
    /// its evidence (see [`findings`](crate::analysis::findings)).
    #[serde(default)]
    pub findings: Vec<crate::analysis::Finding>,
    /// `Some` for a report of one closure ([`Report::capture_of`]): its name
    /// and exact counts; the callsites and job paths are then the closure's
    /// only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<super::scope::ReportScope>,
}

/// The profiler's settings in a [`Report`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Settings {
    /// The sampling mode when the report was taken.
    pub sampling: Sampling,
    /// What chose it: the allocator's configuration, the
    /// [`SAMPLING_VAR`](crate::callsites::SAMPLING_VAR) environment variable (or why
    /// its value was ignored), or `set_sampling`. Empty in reports written
    /// before this field existed.
    #[serde(default)]
    pub sampling_origin: String,
    /// Whether this build can sample stacks (the `callsites` feature).
    pub callsites_available: bool,
    /// Frames kept per captured stack (`None` without the `callsites` feature).
    pub stack_depth: Option<u64>,
    /// How stacks were walked ([`StackUnwinder::Undecided`] before the first
    /// sample; `None` without the `callsites` feature).
    ///
    /// [`StackUnwinder::Undecided`]: crate::callsites::StackUnwinder::Undecided
    pub stack_unwinder: Option<crate::callsites::StackUnwinder>,
}

/// Reads the first field of a report only, to check its version before the
/// rest is trusted to have this build's shape.
#[derive(Deserialize)]
struct Header {
    format_version: Option<u64>,
}

impl Report {
    /// The version of the JSON format this build writes, and the newest it
    /// reads. Version 2 added the program's command line, crate, build and
    /// labels ([`ProgramInfo`]) and the callsites' variances; version 1
    /// files still read, those fields empty.
    pub const FORMAT_VERSION: u64 = 2;

    /// Takes a snapshot of everything the profiler knows now.
    ///
    /// Heap numbers are read first, so they describe the program before the
    /// snapshot's own allocations. Those allocations are the caller's memory
    /// (counted, freed by the caller), but never sampled: a report does not
    /// show up among the callsites of the next one. Resolving callsite symbols is the slow
    /// part (the first time, debug info is loaded; later, each address is
    /// cached): call this at the end of a phase, not in a hot loop.
    pub fn capture() -> Report {
        Self::capture_within(None)
    }

    /// [`capture`](Report::capture), with the callsites and job paths of
    /// everything, or only of those inside the job path `scope` (a scope's:
    /// see `Report::capture_of`), so that nothing else is resolved.
    pub(super) fn capture_within(scope: Option<&'static PathNode>) -> Report {
        let heap = crate::heap::heap_stats();
        crate::capture::reading(|| {
            let size_histogram = crate::heap::size_histogram();
            let jobs = crate::job::job_stats();
            let job_paths = match scope {
                Some(node) => crate::job::job_paths_within(node),
                None => crate::job::job_paths(),
            };
            #[cfg(feature = "callsites")]
            let (callsites, dropped_samples) = (
                match scope {
                    Some(node) => crate::callsites::callsites_within(node),
                    None => crate::callsites::callsites(),
                },
                crate::callsites::dropped_samples(),
            );
            #[cfg(not(feature = "callsites"))]
            let (callsites, dropped_samples) = (Vec::new(), 0);
            let findings = crate::analysis::findings(&callsites, &jobs, None);
            Report {
                findings,
                format_version: Self::FORMAT_VERSION,
                program: ProgramInfo::current(),
                settings: Settings::current(),
                heap,
                size_histogram,
                jobs,
                job_paths,
                callsites,
                dropped_samples,
                scope: None,
            }
        })
    }

    /// The report with its findings made again, with `limits`: the job
    /// findings (p95 duration or a call's peak memory within 10% of a
    /// limit) join the callsite findings.
    #[must_use]
    pub fn with_limits(mut self, limits: &crate::runner::ResourceLimits) -> Report {
        crate::capture::reading(|| {
            self.findings = crate::analysis::findings(&self.callsites, &self.jobs, Some(limits));
            self
        })
    }

    /// The report with the findings of its jobs against a QoS `baseline`
    /// added ([`baseline_findings`](crate::analysis::baseline_findings)): a job whose
    /// p95, error rate or peak per call is worse than promised.
    #[must_use]
    pub fn with_baseline(mut self, baseline: &crate::sizing::Baseline) -> Report {
        crate::capture::reading(|| {
            self.findings
                .extend(crate::analysis::baseline_findings(&self.jobs, baseline));
            self
        })
    }

    /// The report with one more label (replacing a label of the same key):
    /// what a comparison of two reports should know about the run.
    ///
    /// ```
    /// let report = profiling_alloc::Report::capture()
    ///     .with_label("git_commit", "3f2a9c1")
    ///     .with_label("runner", "ci-large");
    /// assert_eq!(report.program.labels["git_commit"], "3f2a9c1");
    /// ```
    #[must_use]
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Report {
        crate::capture::reading(|| {
            self.program.labels.insert(key.into(), value.into());
            self
        })
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        crate::capture::reading(|| {
            // Every field is a plain struct, string or number: nothing that
            // serde_json can refuse (no maps with non-string keys, no NaN).
            serde_json::to_string_pretty(self).unwrap_or_else(|error| {
                serde_json::json!({
                    "error": format!("profiling-alloc could not serialize the report: {error}")
                })
                .to_string()
            })
        })
    }

    /// Parses a report from JSON.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidReport`] when the text is not JSON or not a report
    /// (the message names the field), [`Error::UnsupportedFormat`] when it
    /// was written by a newer format version than this build reads.
    pub fn from_json(json: &str) -> Result<Report, Error> {
        crate::capture::reading(|| Self::parse(json, None))
    }

    /// Writes the report as JSON to `path`, creating its directory if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file or directory that could not be written.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        crate::capture::reading(|| write_file(path.as_ref(), self.to_json()))
    }

    /// Reads a report written by [`write_json`](Report::write_json).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, and the errors of
    /// [`from_json`](Report::from_json), naming the file.
    pub fn read_json(path: impl AsRef<Path>) -> Result<Report, Error> {
        crate::capture::reading(|| {
            let path = path.as_ref();
            let json = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
            Self::parse(&json, Some(path.to_path_buf()))
        })
    }

    fn parse(json: &str, path: Option<PathBuf>) -> Result<Report, Error> {
        let invalid = |error: serde_json::Error, path: &Option<PathBuf>| Error::InvalidReport {
            path: path.clone(),
            message: error.to_string(),
            line: error.line(),
            column: error.column(),
        };
        if !json.trim_start().starts_with('{') {
            return Err(Error::InvalidReport {
                path,
                message: "a report is a JSON object (`{ \"format_version\": .. }`)".into(),
                line: 0,
                column: 0,
            });
        }
        let header: Header = serde_json::from_str(json).map_err(|e| invalid(e, &path))?;
        match header.format_version {
            None => {
                return Err(Error::InvalidReport {
                    path,
                    message: "no `format_version` field: not a profiling-alloc report".into(),
                    line: 0,
                    column: 0,
                })
            }
            Some(found) if found > Self::FORMAT_VERSION || found == 0 => {
                return Err(Error::UnsupportedFormat {
                    path,
                    found,
                    supported: Self::FORMAT_VERSION,
                })
            }
            Some(_) => {}
        }
        serde_json::from_str(json).map_err(|e| invalid(e, &path))
    }
}

impl Settings {
    fn current() -> Settings {
        Settings {
            sampling: crate::callsites::sampling(),
            sampling_origin: crate::callsites::sampling_origin(),
            callsites_available: cfg!(feature = "callsites"),
            #[cfg(feature = "callsites")]
            stack_depth: Some(
                crate::capture::sampling::stack_table::DEPTH
                    .load(std::sync::atomic::Ordering::Relaxed) as u64,
            ),
            #[cfg(not(feature = "callsites"))]
            stack_depth: None,
            #[cfg(feature = "callsites")]
            stack_unwinder: Some(crate::capture::unwind::stack_unwinder()),
            #[cfg(not(feature = "callsites"))]
            stack_unwinder: None,
        }
    }
}
