//! Flamegraphs of a [`Report`]: folded stacks (Brendan Gregg's format, one
//! `root;…;leaf count` line per stack) for allocated bytes, allocated
//! blocks, live bytes and job time, and SVGs drawn from them by `inferno`.

mod folded;
#[cfg(feature = "flamegraph")]
mod svg;

use serde::{Deserialize, Serialize};

use crate::report::Report;

/// What a flamegraph's widths measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FlameKind {
    /// Bytes allocated per stack (estimated when sampling is Poisson).
    AllocatedBytes,
    /// Blocks allocated per stack (estimated likewise).
    AllocatedBlocks,
    /// Bytes of sampled blocks still alive when the report was taken: the
    /// leak view.
    LiveBytes,
    /// Wall time per job path, in microseconds: each job's own time, under
    /// the jobs that called it.
    JobTime,
}

impl FlameKind {
    /// Every kind, in the order above.
    pub const ALL: [FlameKind; 4] = [
        FlameKind::AllocatedBytes,
        FlameKind::AllocatedBlocks,
        FlameKind::LiveBytes,
        FlameKind::JobTime,
    ];

    /// A short name: `"allocated bytes"`, `"allocated blocks"`, `"live
    /// bytes"`, `"job time"`.
    pub fn name(self) -> &'static str {
        match self {
            FlameKind::AllocatedBytes => "allocated bytes",
            FlameKind::AllocatedBlocks => "allocated blocks",
            FlameKind::LiveBytes => "live bytes",
            FlameKind::JobTime => "job time",
        }
    }

    /// The unit of the counts: `"bytes"`, `"blocks"` or `"µs"`.
    pub fn unit(self) -> &'static str {
        match self {
            FlameKind::AllocatedBytes | FlameKind::LiveBytes => "bytes",
            FlameKind::AllocatedBlocks => "blocks",
            FlameKind::JobTime => "µs",
        }
    }

    /// The graph's title.
    #[cfg(feature = "flamegraph")]
    fn title(self) -> &'static str {
        match self {
            FlameKind::AllocatedBytes => "Allocated bytes by stack",
            FlameKind::AllocatedBlocks => "Allocated blocks by stack",
            FlameKind::LiveBytes => "Live bytes by stack (not freed when the report was taken)",
            FlameKind::JobTime => "Job time by job path",
        }
    }
}

impl std::fmt::Display for FlameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Report {
    /// The report's stacks in folded form, one `root;…;leaf count` line per
    /// distinct stack, sorted; counts in [`FlameKind::unit`]. Feed them to
    /// any flamegraph tool (`inferno-flamegraph`, `flamegraph.pl`,
    /// speedscope).
    ///
    /// Allocation stacks start at the thread's entry (the runtime's start-up
    /// frames below `__rust_begin_short_backtrace` are left out) and, when a
    /// sample was taken inside a job, at the job path instead: the job names,
    /// outermost first, then the frames inside the innermost job's function.
    /// `;` inside a frame name (as in `[u8; 4]`) is written as `,`.
    pub fn folded(&self, kind: FlameKind) -> Vec<String> {
        folded::lines(self, kind)
    }

    /// Why the report has nothing to draw for `kind`, or `None` when it has.
    #[cfg(feature = "flamegraph")]
    fn emptiness(&self, kind: FlameKind, empty: bool) -> Option<String> {
        if !empty {
            return None;
        }
        let why = match kind {
            FlameKind::JobTime if !self.job_paths.is_empty() => {
                "every job path's own time rounds to 0 µs"
            }
            FlameKind::JobTime => {
                "no job has run (mark functions with #[profile_job], or wrap code in job())"
            }
            _ if !self.settings.allocator_active => {
                "the ProfilingAllocator is not the global allocator"
            }
            _ if !self.settings.callsites_available => {
                "this build has no `callsites` feature, so no stacks are sampled"
            }
            _ if self.callsites.is_empty() && self.settings.sampling == crate::Sampling::Off => {
                "sampling is off: start it with ProfilingAllocator::sampling(..) or set_sampling(Sampling::Every)"
            }
            FlameKind::LiveBytes => "no sampled block is still alive",
            _ => "no allocation has been sampled yet",
        };
        Some(why.to_string())
    }
}
