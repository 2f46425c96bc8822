//! `profiling-alloc diff`: two reports compared number by number, each
//! number judged against a threshold, as a regression gate for CI.
//!
//! - [`compare`](mod@compare): heap totals and jobs matched by name, the rows of the
//!   comparison ([`Diff`]); [`callsites`]: callsites matched by stack;
//!   [`baseline`]: a report's jobs held against a QoS baseline.
//! - [`threshold`]: the rules that judge one row ([`Thresholds`]).
//! - [`noise`]: how far sampled estimates move by chance (variances).
//! - [`metadata`]: warnings when the reports were taken differently.
//! - [`view`]: what the renderings show (changed rows, new and removed).
//! - [`render_text`], [`render_markdown`]: the comparison for a terminal
//!   and for a pull-request comment (JSON is [`Diff`]'s serde form).
//! - [`svg`]: the differential flamegraph.

pub mod baseline;
pub mod callsites;
pub mod compare;
pub mod metadata;
pub mod noise;
pub mod render_markdown;
pub mod render_text;
pub mod svg;
#[cfg(test)]
mod test_reports;
pub mod threshold;
pub mod view;

use serde::Serialize;

pub use compare::{compare, CompareError};
pub use threshold::Thresholds;

/// The comparison of a base report with a head report.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// The base report (before the change).
    pub base: Side,
    /// The head report (after the change).
    pub head: Side,
    /// What the numbers were judged against.
    pub thresholds: Thresholds,
    /// Differences in how the reports were taken that make the comparison
    /// less meaningful (sampling mode, profiler version, ...).
    pub warnings: Vec<String>,
    /// Heap totals: one entry, or none when either report had no allocator
    /// installed.
    pub heap: Vec<Entry>,
    /// One entry per job, matched by name.
    pub jobs: Vec<Entry>,
    /// One entry per callsite, matched by job path and the function names
    /// of its frames.
    pub callsites: Vec<Entry>,
}

/// One of the two reports.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// The file it was read from, as given on the command line.
    pub file: String,
    /// The program's name in the report.
    pub program: String,
    /// The report's labels (`git_commit=3f2a9c1`, from
    /// `PROFILING_ALLOC_LABELS`), as `key=value`.
    pub labels: Vec<String>,
    /// How its callsites were counted: `"every block (exact)"`, `"Poisson,
    /// one sample per 32.0 KiB (estimates)"`, ...
    pub sampling: String,
}

/// A job, a callsite, or the heap: a thing both reports may have, and its
/// numbers side by side.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// The job's name, the callsite's innermost frame, or `"heap"`.
    pub name: String,
    /// Whether both reports have it, or only one.
    pub presence: Presence,
    /// Its numbers.
    pub rows: Vec<Row>,
}

/// Which reports have an [`Entry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Both.
    Both,
    /// Only the head: it appeared.
    Added,
    /// Only the base: it disappeared.
    Removed,
}

/// One number of an entry, before and after.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// What is measured.
    pub metric: Metric,
    /// The base report's value (`None` when it has no such number).
    pub base: Option<f64>,
    /// The head report's value.
    pub head: Option<f64>,
    /// `(head - base) / |base|`, in percent; `None` when the base is 0 or
    /// either value is missing.
    pub change_percent: Option<f64>,
    /// How far `head - base` may move without a real change: `z·σ` of the
    /// sampling noise for sampled estimates, the two bounds added for a
    /// peak known within a bound, 0 for counted numbers.
    pub noise_margin: f64,
    /// What the change amounts to.
    pub verdict: Verdict,
    /// Whether the value moved: for counted numbers any difference; for
    /// sampled estimates, a difference beyond their noise; for durations,
    /// beyond the time threshold. Rows that did not are left out of the text
    /// and markdown unless `--all` is given.
    pub changed: bool,
    /// Why the verdict, when a number alone does not say it (an absolute
    /// limit, too few calls, a peak's bound).
    pub note: Option<String>,
}

/// The judgement of one [`Row`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Over its threshold (and beyond its sampling noise), or over an
    /// absolute limit: fails the gate.
    Regression,
    /// Over its threshold, but not beyond what sampling alone moves it by.
    WithinNoise,
    /// Within its threshold (or better).
    Ok,
    /// Shown, not judged (a duration without `--max-time-increase`, too few
    /// calls, a call count).
    NotJudged,
}

impl Verdict {
    /// The mark of a markdown table: ❌, ⚠️, ✅, or nothing.
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Regression => "❌",
            Verdict::WithinNoise => "⚠️",
            Verdict::Ok => "✅",
            Verdict::NotJudged => "",
        }
    }

    /// The word of the text output.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::WithinNoise => "noise",
            Verdict::Ok => "ok",
            Verdict::NotJudged => "",
        }
    }
}

/// What a [`Row`] measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Heap: blocks allocated.
    TotalBlocks,
    /// Heap: bytes allocated.
    TotalBytes,
    /// Heap: blocks live when the report was taken.
    LiveBlocks,
    /// Heap, callsite: bytes live when the report was taken.
    LiveBytes,
    /// Heap: the highest live bytes.
    PeakBytes,
    /// Heap: reallocations.
    Reallocs,
    /// Job: calls recorded.
    Calls,
    /// Job: blocks allocated per call.
    BlocksPerCall,
    /// Job: bytes allocated per call.
    BytesPerCall,
    /// Job: bytes kept per call (allocated and not freed by the call).
    KeptBytesPerCall,
    /// Job: the highest peak of one call.
    PeakBytesMax,
    /// Job: median duration.
    DurationP50,
    /// Job: 95th percentile duration.
    DurationP95,
    /// Job: 99th percentile duration.
    DurationP99,
    /// Job: failed calls per call (against a QoS baseline).
    ErrorRate,
    /// Job: the peak of one call against the baseline's memory need.
    MemoryNeed,
    /// Callsite: blocks allocated there.
    CallsiteBlocks,
    /// Callsite: bytes allocated there.
    CallsiteBytes,
}

/// The unit of a [`Metric`], which says how to print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A count of blocks, calls, reallocs.
    Count,
    /// Bytes.
    Bytes,
    /// Nanoseconds.
    Nanos,
    /// A share: 0.012 is 1.2%.
    Share,
}

impl Metric {
    /// How the metric reads in a table: `"bytes allocated / call"`.
    pub fn label(self) -> &'static str {
        match self {
            Metric::TotalBlocks => "blocks allocated",
            Metric::TotalBytes => "bytes allocated",
            Metric::LiveBlocks => "live blocks",
            Metric::LiveBytes => "live bytes",
            Metric::PeakBytes => "peak bytes",
            Metric::Reallocs => "reallocs",
            Metric::Calls => "calls",
            Metric::BlocksPerCall => "allocations / call",
            Metric::BytesPerCall => "bytes allocated / call",
            Metric::KeptBytesPerCall => "bytes kept / call",
            Metric::PeakBytesMax => "peak of one call",
            Metric::DurationP50 => "p50",
            Metric::DurationP95 => "p95",
            Metric::DurationP99 => "p99",
            Metric::ErrorRate => "error rate",
            Metric::MemoryNeed => "memory (peak of one call / need)",
            Metric::CallsiteBlocks => "blocks allocated",
            Metric::CallsiteBytes => "bytes allocated",
        }
    }

    /// The metric's unit.
    pub fn unit(self) -> Unit {
        match self {
            Metric::TotalBlocks
            | Metric::LiveBlocks
            | Metric::Reallocs
            | Metric::Calls
            | Metric::BlocksPerCall
            | Metric::CallsiteBlocks => Unit::Count,
            Metric::DurationP50 | Metric::DurationP95 | Metric::DurationP99 => Unit::Nanos,
            Metric::ErrorRate => Unit::Share,
            _ => Unit::Bytes,
        }
    }

    /// A value of this metric, for people: `1,256`, `1.50 KiB`, `3.20 ms`.
    pub fn format(self, value: f64) -> String {
        match self.unit() {
            Unit::Count => crate::units::count(value),
            Unit::Bytes => crate::units::bytes(value),
            Unit::Nanos => crate::units::duration_ns(value),
            Unit::Share => format!("{:.2}%", value * 100.0),
        }
    }
}

impl Side {
    /// The file with the report's labels, if any: `base.json
    /// (git_commit=3f2a9c1)`.
    pub fn labelled_file(&self) -> String {
        if self.labels.is_empty() {
            self.file.clone()
        } else {
            format!("{} ({})", self.file, self.labels.join(", "))
        }
    }
}

impl Row {
    /// `before → after` for people; a missing side is `—`.
    pub fn before_after(&self) -> String {
        let side = |value: Option<f64>| value.map_or("—".to_string(), |v| self.metric.format(v));
        format!("{} → {}", side(self.base), side(self.head))
    }

    /// The change for people: `+20.0%`, `from 0`, ...; a change too small
    /// for a percentage is given in the metric's unit (`+3 B`).
    pub fn change(&self) -> String {
        if let (Some(percent), Some(base), Some(head)) = (self.change_percent, self.base, self.head)
        {
            if percent.abs() < 0.05 && base != head {
                let sign = if head > base { "+" } else { "" };
                return format!("{sign}{}", self.metric.format(head - base));
            }
        }
        crate::units::change(self.change_percent, self.base, self.head)
    }

    /// Whether the row is shown without `--all`: it changed, or it is a
    /// regression or within noise.
    pub fn shown(&self, all: bool) -> bool {
        all || self.changed || matches!(self.verdict, Verdict::Regression | Verdict::WithinNoise)
    }
}

impl Entry {
    /// The worst verdict of its rows (`NotJudged` when none was judged).
    pub fn verdict(&self) -> Verdict {
        self.rows
            .iter()
            .map(|row| row.verdict)
            .min()
            .unwrap_or(Verdict::NotJudged)
    }
}

impl Diff {
    /// Every entry, heap first, then jobs, then callsites.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.heap.iter().chain(&self.jobs).chain(&self.callsites)
    }

    /// How many rows are regressions.
    pub fn regressions(&self) -> usize {
        self.count(Verdict::Regression)
    }

    /// How many rows are over their threshold but within noise.
    pub fn within_noise(&self) -> usize {
        self.count(Verdict::WithinNoise)
    }

    fn count(&self, verdict: Verdict) -> usize {
        self.entries()
            .flat_map(|entry| &entry.rows)
            .filter(|row| row.verdict == verdict)
            .count()
    }

    /// The diff as pretty-printed JSON: `regressions` and `within_noise`
    /// (counts of rows), then every field of [`Diff`].
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Counted<'a> {
            regressions: usize,
            within_noise: usize,
            #[serde(flatten)]
            diff: &'a Diff,
        }
        let counted = Counted {
            regressions: self.regressions(),
            within_noise: self.within_noise(),
            diff: self,
        };
        // Plain structs, strings and finite numbers (the comparison never
        // makes NaN or infinities: changes from 0 are `None`).
        serde_json::to_string_pretty(&counted).unwrap_or_else(|error| {
            serde_json::json!({ "error": format!("cannot serialize the diff: {error}") })
                .to_string()
        })
    }
}
