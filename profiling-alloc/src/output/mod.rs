//! Output: a [`Report`] of everything below, and what it becomes.
//!
//! - [`report`]: `Report::capture`, JSON out and back in.
//! - [`scope`]: `Report::capture_of`, the report of one closure.
//! - [`summary`]: the text summary (`Display`).
//! - [`folded`], [`svg`]: folded stacks and inferno SVGs.
//! - [`metrics`]: the numbers as metric families: Prometheus text, and the
//!   `metrics` facade (feature `metrics`, `metrics_facade`).
//! - [`pprof`]: gzipped `profile.proto` profiles (feature `pprof`).
//! - [`files`]: where files go ([`output_dir`]).
//! - [`testing`]: one call from a test to a file.
//! - [`error`]: the typed [`Error`] of reading, writing and drawing.
//!
//! Invariants: every reader and writer runs with sampling suspended, so a
//! report never shows up among the callsites of the next one; nothing here
//! prints.

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
