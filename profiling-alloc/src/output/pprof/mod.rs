//! pprof profiles of a [`Report`]: google/pprof's `profile.proto`, gzipped,
//! which `go tool pprof`, Pyroscope, Parca, Grafana and speedscope open.
//!
//! - [`proto`]: the messages, declared from `profile.proto`'s field numbers.
//! - [`builder`]: string table, functions and locations, numbered from 1.
//! - [`heap`]: the heap profile in Go's layout; [`job_time`]: busy time per
//!   job path.

mod builder;
#[cfg(feature = "cpu")]
mod cpu;
mod heap;
mod job_time;
mod proto;

use std::io::Write;
use std::path::Path;

use prost::Message;
use serde::{Deserialize, Serialize};

use super::error::Error;
use super::files::write_file;
use super::report::Report;

/// Which pprof profile [`Report::to_pprof`] writes.
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
    /// [`Report`] holds no CPU samples.
    Cpu,
}

impl PprofKind {
    /// Every kind a [`Report`] writes, in the order above.
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

impl std::fmt::Display for PprofKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Report {
    /// The report as a gzipped pprof profile (`profile.proto`).
    ///
    /// The heap kinds hold one sample per callsite: stacks start at the job
    /// path (job names as root frames, as in the flamegraphs), then the
    /// program's frames, each location with its function, file and line and
    /// inlined functions as extra lines of one location, so viewers need no
    /// binary. Values are the report's estimates, already unbiased (each
    /// sample weighed by its own probability before summing; under
    /// [`Sampling::Every`](crate::Sampling::Every) they are exact counts),
    /// rounded to whole numbers so that any sum of them stays within one of
    /// the estimates' sum. The period is the sampling mean in bytes
    /// (`space/bytes`, 1 when every block is sampled). Each sample carries a
    /// string label `job` (the innermost job, if any) and a numeric label
    /// `bytes` (the callsite's mean block size, as Go's profiles have).
    ///
    /// A report without callsites (sampling off) gives a valid profile with
    /// no samples.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
    /// # fn main() -> Result<(), profiling_alloc::Error> {
    /// use profiling_alloc::{PprofKind, Report};
    ///
    /// let (_buffer, report) = Report::capture_of(|| vec![0u8; 4096]);
    /// let bytes = report.to_pprof(PprofKind::Heap)?;
    /// assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Compress`] if compressing fails (it writes to memory, so
    /// only a failing allocation could make it); [`Error::NoData`] for
    /// [`PprofKind::Cpu`], which a report has no samples for.
    pub fn to_pprof(&self, kind: PprofKind) -> Result<Vec<u8>, Error> {
        let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
        let profile = match kind {
            PprofKind::Heap | PprofKind::Allocs => heap::profile(self, kind),
            PprofKind::JobTime => job_time::profile(self),
            PprofKind::Cpu => {
                return Err(Error::NoData {
                    kind: crate::FlameKind::Cpu,
                    reason: "a report holds no CPU samples: take a CpuProfile \
                             (cpu::start, feature `cpu`) and call its to_pprof"
                        .to_string(),
                })
            }
        };
        gzip(&profile.encode_to_vec()).map_err(|source| Error::Compress { kind, source })
    }

    /// Writes [`to_pprof`](Report::to_pprof) to `path` (conventionally
    /// `*.pb.gz`), creating its directory if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file or directory that could not be
    /// written, and those of `to_pprof`.
    pub fn write_pprof(&self, kind: PprofKind, path: impl AsRef<Path>) -> Result<(), Error> {
        let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
        let bytes = self.to_pprof(kind)?;
        write_file(path.as_ref(), bytes)
    }
}

#[cfg(feature = "cpu")]
impl crate::cpu::CpuProfile {
    /// The profile as a gzipped pprof CPU profile, as Go's
    /// `/debug/pprof/profile` serves: sample types `samples/count` and
    /// `cpu/nanoseconds`, period type `cpu/nanoseconds` with the period in
    /// nanoseconds, one sample per stack with job names as root frames, and
    /// string labels `thread` and `job` (the innermost job). Open it with
    /// `go tool pprof`, Pyroscope, Parca or speedscope.
    ///
    /// # Errors
    ///
    /// [`Error::Compress`] if compressing fails.
    pub fn to_pprof(&self) -> Result<Vec<u8>, Error> {
        let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
        let profile = cpu::profile(self);
        gzip(&profile.encode_to_vec()).map_err(|source| Error::Compress {
            kind: PprofKind::Cpu,
            source,
        })
    }

    /// Writes [`to_pprof`](Self::to_pprof) to `path` (conventionally
    /// `cpu.pb.gz`), creating its directory if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file or directory that could not be
    /// written, and those of `to_pprof`.
    pub fn write_pprof(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
        let bytes = self.to_pprof()?;
        write_file(path.as_ref(), bytes)
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::default(),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}
