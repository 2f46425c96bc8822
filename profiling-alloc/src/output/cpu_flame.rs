//! A [`CpuProfile`] as folded stacks and as a flamegraph: each stack under
//! its job path, or under its thread's name outside jobs.

use std::collections::BTreeMap;
use std::path::Path;

use super::files::write_lines;
use super::folded::{join, rooted};
use crate::cpu::{CpuProfile, CpuStack};
use crate::error::Error;

impl CpuProfile {
    /// The profile's stacks in folded form, one `root;…;leaf samples` line
    /// per distinct stack, sorted: the job path (outermost job first) or,
    /// outside jobs, the thread's name in brackets (`[main]`), then the
    /// frames from the thread's entry (or from just inside the innermost
    /// job's function) to the function that was running.
    pub fn folded(&self) -> Vec<String> {
        crate::capture::reading(|| {
            stacks(self)
                .into_iter()
                .map(|(stack, samples)| format!("{stack} {samples}"))
                .collect()
        })
    }

    /// Writes [`folded`](CpuProfile::folded) to `path`, a line each,
    /// creating its directory if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file or directory that could not be written.
    pub fn write_folded(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        crate::capture::reading(|| write_lines(path.as_ref(), &self.folded()))
    }

    /// Draws the CPU flamegraph ([`FlameKind::Cpu`](crate::FlameKind::Cpu))
    /// as an SVG into `writer`: widths are samples, each one period of CPU.
    ///
    /// # Errors
    ///
    /// [`Error::NoData`] when no sample was taken, [`Error::Flamegraph`]
    /// when writing fails.
    #[cfg(feature = "flamegraph")]
    pub fn flamegraph(&self, writer: impl std::io::Write) -> Result<(), Error> {
        use inferno::flamegraph::{color::BasicPalette, Palette};

        crate::capture::reading(|| {
            let kind = crate::FlameKind::Cpu;
            let stacks = stacks(self);
            if stacks.is_empty() {
                return Err(Error::NoData {
                    kind,
                    reason: "no CPU sample was taken: nothing ran long enough on a CPU while \
                         profiling (each sample is one period of CPU time)"
                        .to_string(),
                });
            }
            let mut options = super::svg::options(kind);
            options.colors = Palette::Basic(BasicPalette::Hot);
            let capture = self.capture_ratio().map_or_else(String::new, |ratio| {
                format!(", {:.0}% of the measured CPU time sampled", ratio * 100.0)
            });
            let dropped = if self.dropped_samples > 0 {
                format!(
                    "; WARNING: {} samples dropped (buffer full)",
                    self.dropped_samples
                )
            } else {
                String::new()
            };
            options.subtitle = Some(format!(
            "{}: {} samples at {} Hz, {:.3} ms of CPU each ({} timers{capture}); job names and [thread] are root frames{dropped}",
            self.program.name,
            self.samples,
            self.frequency_hz,
            self.period.as_secs_f64() * 1000.0,
            self.timers,
        ));
            super::svg::draw(kind, &stacks, options, writer)
        })
    }

    /// Writes the CPU flamegraph to the file `path` (its directory created
    /// if needed).
    ///
    /// # Errors
    ///
    /// Those of [`flamegraph`](CpuProfile::flamegraph), and [`Error::Io`]
    /// naming the file that could not be written. Nothing is written when
    /// there is no sample.
    #[cfg(feature = "flamegraph")]
    pub fn write_flamegraph(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let mut svg = Vec::new();
        self.flamegraph(&mut svg)?;
        super::files::write_file(path.as_ref(), svg)
    }
}

/// Each distinct folded stack and its samples.
fn stacks(profile: &CpuProfile) -> BTreeMap<String, u64> {
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    for stack in &profile.stacks {
        if stack.samples > 0 {
            *sums.entry(folded_stack(stack)).or_default() += stack.samples;
        }
    }
    sums
}

/// `root;…;leaf` for one stack.
pub(crate) fn folded_stack(stack: &CpuStack) -> String {
    let frames = rooted(&stack.frames, &stack.job_path, profiler_top(stack));
    let thread = format!("[{}]", stack.thread);
    let roots: Vec<&str> = if stack.job_path.is_empty() {
        vec![thread.as_str()]
    } else {
        stack.job_path.iter().map(String::as_str).collect()
    };
    join(
        roots
            .into_iter()
            .chain(frames.iter().map(|frame| frame.function.as_str())),
    )
}

/// How many of the innermost frames are the profiler's own: kept, since a
/// sample there is CPU the program spent in the profiler.
pub(crate) fn profiler_top(stack: &CpuStack) -> usize {
    stack
        .frames
        .iter()
        .take_while(|frame| frame.is_profiler())
        .count()
}
