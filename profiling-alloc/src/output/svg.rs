//! Flamegraph SVGs through `inferno`, with titles and units that say what
//! the widths measure.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use inferno::flamegraph::{self, color::BasicPalette, color::MultiPalette, Options, Palette};

use super::files::write_file;
use super::report::Report;
use crate::callsites::Sampling;
use crate::error::Error;
use crate::kinds::FlameKind;
use crate::units::{bytes, grouped};

/// The options every flamegraph of `kind` starts from: its title and unit,
/// and the same SVG for the same stacks.
pub(crate) fn options(kind: FlameKind) -> Options<'static> {
    let mut options = Options::default();
    options.title = kind.title().to_string();
    options.count_name = kind.unit().to_string();
    options.deterministic = true;
    options
}

/// Draws `stacks` (folded stack, count) as the `kind` flamegraph into
/// `writer`.
pub(crate) fn draw(
    kind: FlameKind,
    stacks: &BTreeMap<String, u64>,
    mut options: Options<'_>,
    writer: impl Write,
) -> Result<(), Error> {
    // inferno sums all counts in a u64 and takes differences as isize: a
    // report read from a file may hold counts that overflow either, so
    // scale them all down when their total is that large.
    let total = stacks.values().fold(0u128, |sum, &n| sum + u128::from(n));
    let divisor = total.div_ceil(i64::MAX as u128).max(1);
    let lines: Vec<String> = stacks
        .iter()
        .map(|(stack, &count)| format!("{stack} {}", u128::from(count) / divisor))
        .collect();
    if divisor > 1 {
        options.notes = format!("counts divided by {divisor} to fit");
    }
    flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), writer)
        .map_err(|source| Error::Flamegraph { kind, source })
}

impl Report {
    /// Draws the `kind` flamegraph of this report as an SVG into `writer`.
    ///
    /// The SVG opens in any browser: hover a frame for its name and count,
    /// click to zoom, Ctrl-F to search.
    ///
    /// # Errors
    ///
    /// [`Error::NoData`] when the report has nothing to draw for `kind`
    /// (sampling off, no job run ...: the message says which), and
    /// [`Error::Flamegraph`] when writing fails.
    pub fn flamegraph(&self, kind: FlameKind, writer: impl Write) -> Result<(), Error> {
        crate::capture::reading(|| {
            let stacks = super::folded::stacks(self, kind);
            if let Some(reason) = self.emptiness(kind, stacks.is_empty()) {
                return Err(Error::NoData { kind, reason });
            }
            draw(kind, &stacks, self.options(kind), writer)
        })
    }

    /// Writes the `kind` flamegraph to the file `path` (its directory is
    /// created if needed).
    ///
    /// # Errors
    ///
    /// Those of [`flamegraph`](Report::flamegraph), and [`Error::Io`] naming
    /// the file that could not be written. Nothing is written when there is
    /// no data.
    pub fn write_flamegraph(&self, kind: FlameKind, path: impl AsRef<Path>) -> Result<(), Error> {
        let mut svg = Vec::new();
        self.flamegraph(kind, &mut svg)?;
        write_file(path.as_ref(), svg)
    }

    fn options(&self, kind: FlameKind) -> Options<'static> {
        let mut options = options(kind);
        match kind {
            FlameKind::JobTime => {
                options.name_type = "Job:".to_string();
                options.colors = Palette::Basic(BasicPalette::Hot);
                options.subtitle = Some(format!(
                    "{}: busy (on-CPU poll) time per job path, each job under the jobs \
                     that called it; wall time is in the tables",
                    self.program.name
                ));
            }
            _ => {
                options.colors = match kind {
                    FlameKind::LiveBytes => Palette::Basic(BasicPalette::Mem),
                    _ => Palette::Multi(MultiPalette::Rust),
                };
                let how = match self.settings.sampling {
                    _ if self.scope.is_some() => {
                        "every block of the closure sampled: exact".to_string()
                    }
                    Sampling::Every => "every allocation sampled: exact".to_string(),
                    Sampling::Poisson { mean_bytes } => format!(
                        "Poisson sampling, one sample per {} on average: estimates",
                        bytes(mean_bytes)
                    ),
                    Sampling::Off => "sampling now off: what was sampled before".to_string(),
                };
                let dropped = if self.dropped_samples > 0 {
                    format!(
                        "; WARNING: {} samples DROPPED (tables full): counts are low, \
                         raise set_sampling_limits",
                        grouped(self.dropped_samples)
                    )
                } else {
                    String::new()
                };
                options.subtitle = Some(format!(
                    "{} ({how}); job names are root frames{dropped}",
                    self.program.name
                ));
            }
        }
        options
    }

    /// Why the report has nothing to draw for `kind`, or `None` when it has.
    fn emptiness(&self, kind: FlameKind, empty: bool) -> Option<String> {
        if !empty {
            return None;
        }
        let why = match kind {
            FlameKind::Cpu => {
                "a report holds no CPU samples: take a CpuProfile (cpu::start, feature `cpu`) \
                 and draw its flamegraph"
            }
            FlameKind::JobTime
                if self.job_paths.iter().all(|p| p.busy.is_zero())
                    && self.job_paths.iter().any(|p| !p.total.is_zero()) =>
            {
                "the report was written by an older profiling-alloc, which recorded wall \
                 time only (concurrent jobs' wall times do not add up to a flamegraph)"
            }
            FlameKind::JobTime if !self.job_paths.is_empty() => {
                "every job path's busy time rounds to 0 µs"
            }
            FlameKind::JobTime => {
                "no job has run (mark functions with #[profile_job], or wrap code in job())"
            }
            _ if !self.heap.active => {
                "the ProfilingAllocator is not the global allocator"
            }
            _ if !self.settings.callsites_available => {
                "this build has no `callsites` feature, so no stacks are sampled"
            }
            _ if self.callsites.is_empty() && self.settings.sampling == Sampling::Off => {
                "sampling is off: start it with ProfilingAllocator::sampling(..) or set_sampling(Sampling::Every)"
            }
            FlameKind::LiveBytes => "no sampled block is still alive",
            _ => "no allocation has been sampled yet",
        };
        Some(why.to_string())
    }
}
