//! Output: a [`Report`] of everything below, and what it becomes.
//!
//! - [`report`]: `Report::capture`, JSON out and back in.
//! - [`scope`]: `Report::capture_of`, the report of one closure.
//! - [`summary`]: the text summary (`Display`).
//! - [`flame_kind`], [`folded`], [`svg`]: folded stacks and inferno SVGs.
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
mod error;
mod files;
mod flame_kind;
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

pub use error::Error;
pub use files::{output_dir, OUTPUT_DIR_VAR};

pub use flame_kind::FlameKind;
pub use metrics::prometheus_metrics;
#[cfg(feature = "metrics")]
pub use metrics_facade::{publish_metrics, publish_metrics_every};
#[cfg(feature = "pprof")]
pub use pprof::PprofKind;
pub use report::{BuildInfo, ProgramInfo, Report, Settings, LABELS_VAR};
pub use scope::ReportScope;
