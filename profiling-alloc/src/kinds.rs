//! The kinds of output a report draws: flamegraphs ([`FlameKind`]) and
//! pprof profiles ([`PprofKind`]). Here, below the output module, because
//! errors name them too.

use serde::{Deserialize, Serialize};

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
    /// Busy time per job path, in microseconds: the time spent running each
    /// job (a sync call's duration, the time inside an async call's polls)
    /// less the jobs run inside it, under the jobs that called it. Widths
    /// add up: a job is as wide as its own busy time plus its children's,
    /// even when they ran at once. Wall time is in the jobs table.
    JobTime,
    /// CPU samples per stack, each one period of CPU time
    /// (`cpu::CpuProfile::flamegraph`,
    /// feature `cpu`); not in a [`Report`](crate::Report).
    Cpu,
}

impl FlameKind {
    /// Every kind a [`Report`](crate::Report) draws, in the order above
    /// ([`FlameKind::Cpu`] is a `cpu::CpuProfile`'s).
    pub const ALL: [FlameKind; 4] = [
        FlameKind::AllocatedBytes,
        FlameKind::AllocatedBlocks,
        FlameKind::LiveBytes,
        FlameKind::JobTime,
    ];

    /// A short name: `"allocated bytes"`, `"allocated blocks"`, `"live
    /// bytes"`, `"job time"`, `"cpu"`.
    pub fn name(self) -> &'static str {
        match self {
            FlameKind::AllocatedBytes => "allocated bytes",
            FlameKind::AllocatedBlocks => "allocated blocks",
            FlameKind::LiveBytes => "live bytes",
            FlameKind::JobTime => "job time",
            FlameKind::Cpu => "cpu",
        }
    }

    /// The unit of the counts: `"bytes"`, `"blocks"`, `"µs"` or `"samples"`.
    pub fn unit(self) -> &'static str {
        match self {
            FlameKind::AllocatedBytes | FlameKind::LiveBytes => "bytes",
            FlameKind::AllocatedBlocks => "blocks",
            FlameKind::JobTime => "µs",
            FlameKind::Cpu => "samples",
        }
    }

    /// The graph's title.
    #[cfg(feature = "flamegraph")]
    pub(crate) fn title(self) -> &'static str {
        match self {
            FlameKind::AllocatedBytes => "Allocated bytes by stack",
            FlameKind::AllocatedBlocks => "Allocated blocks by stack",
            FlameKind::LiveBytes => "Live bytes by stack (not freed when the report was taken)",
            FlameKind::JobTime => "Busy time by job path",
            FlameKind::Cpu => "CPU time by stack",
        }
    }
}

impl std::fmt::Display for FlameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "pprof")]
/// Which pprof profile [`Report::to_pprof`](crate::Report::to_pprof) writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PprofKind {
    /// The heap profile in the layout of Go's `runtime/pprof`: sample types
    /// `alloc_objects/count`, `alloc_space/bytes`, `inuse_objects/count`,
    /// `inuse_space/bytes`, in that order, one sample per callsite; a viewer
    /// shows in-use space first (what `/debug/pprof/heap` serves).
    Heap,
    /// The same profile, showing allocated space first (what
    /// `/debug/pprof/allocs` serves).
    Allocs,
    /// Busy time per job path (`calls/count`, `busy/nanoseconds`), as the
    /// job-time flamegraph draws it: each path's own busy time, its jobs as
    /// frames, so a job's total in a viewer is its busy time.
    JobTime,
    /// A CPU profile (`samples/count`, `cpu/nanoseconds`), written by
    /// `cpu::CpuProfile::to_pprof` (feature `cpu`); a
    /// [`Report`](crate::Report) holds no CPU samples.
    Cpu,
}

#[cfg(feature = "pprof")]
impl PprofKind {
    /// Every kind a [`Report`](crate::Report) writes, in the order above.
    pub const ALL: [PprofKind; 3] = [PprofKind::Heap, PprofKind::Allocs, PprofKind::JobTime];

    /// A short name: `"heap"`, `"allocs"`, `"job time"`.
    pub fn name(self) -> &'static str {
        match self {
            PprofKind::Heap => "heap",
            PprofKind::Allocs => "allocs",
            PprofKind::JobTime => "job time",
            PprofKind::Cpu => "cpu",
        }
    }
}

#[cfg(feature = "pprof")]
impl std::fmt::Display for PprofKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
