//! What the recorded numbers mean: leaks, wasteful patterns, and jobs
//! worse than their baseline.
//!
//! - [`LeakDetector`]: live bytes per callsite observed at an interval, and
//!   the callsites whose growth looks like a leak ([`LeakReport`],
//!   [`LeakSuspect`], [`GrowingCallsite`]), decided by robust trend
//!   statistics (Mann–Kendall, Theil–Sen, Benjamini–Hochberg).
//! - [`findings`]: wasteful patterns (temporary blocks, growth by realloc)
//!   and jobs near a limit, each a [`Finding`] with its [`Evidence`].
//! - [`baseline_findings`]: jobs worse than their QoS baseline.
//!
//! Plain types fed by their callers: nothing here reads the clock or the
//! allocator, so tests drive them with made-up observations.

mod baseline;
mod findings;
mod leaks;
mod trend;

pub use baseline::{baseline_findings, BASELINE_TOLERANCE, MIN_BASELINE_CALLS};
pub use findings::{findings, Evidence, Finding, FindingKind};
pub use leaks::{
    GrowingCallsite, LeakDetector, LeakReport, LeakSuspect, Severity, DEFAULT_LEAK_SNAPSHOTS,
};
