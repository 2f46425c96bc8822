//! Reports and what they become: a [`Report`] of everything the profiler
//! recorded, and its forms for other tools.
//!
//! - [`Report`]: [`Report::capture`] for the whole program,
//!   [`Report::capture_of`] for one closure
//!   ([`ReportScope`]); JSON out ([`Report::to_json`],
//!   [`Report::write_json`]) and back in ([`Report::read_json`]); a text
//!   summary (`Display`).
//! - Flamegraphs: [`Report::folded`] (inferno's folded lines) and
//!   `Report::write_flamegraph` (SVG, feature `flamegraph`), by
//!   [`FlameKind`].
//! - pprof: `Report::to_pprof` and `Report::write_pprof` (feature `pprof`),
//!   by `PprofKind`, for `go tool pprof` and the viewers that read
//!   `profile.proto`.
//! - Metrics: [`prometheus_metrics`] (the text format), and
//!   `publish_metrics` for the `metrics` facade (feature `metrics`).
//! - What a report says about its program: [`ProgramInfo`], [`BuildInfo`],
//!   labels from [`LABELS_VAR`]; its settings: [`Settings`].
//! - Where files go: [`output_dir`] ([`OUTPUT_DIR_VAR`]).
//! - [`testing`]: one call from a test to a file.
//!
//! Every reader and writer here runs with sampling suspended: what it
//! allocates is counted as the caller's, but never shows among the
//! callsites of the next report. Nothing here prints.

#[cfg(feature = "cpu")]
pub(crate) mod cpu_flame;
mod files;
pub(crate) mod folded;
pub(crate) mod metrics;
#[cfg(feature = "metrics")]
mod metrics_facade;
#[cfg(feature = "pprof")]
mod pprof;
pub(crate) mod report;
mod scope;
mod summary;
#[cfg(feature = "flamegraph")]
mod svg;
pub mod testing;

pub use files::{output_dir, OUTPUT_DIR_VAR};

pub use crate::kinds::FlameKind;
#[cfg(feature = "pprof")]
pub use crate::kinds::PprofKind;
pub use crate::program::{BuildInfo, ProgramInfo, LABELS_VAR};
pub use metrics::prometheus_metrics;
#[cfg(feature = "metrics")]
pub use metrics_facade::{publish_metrics, publish_metrics_every};
pub use report::{Report, Settings};
pub use scope::ReportScope;
