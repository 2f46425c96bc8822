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

use super::files::write_file;
use super::report::Report;
use crate::error::Error;
use crate::kinds::PprofKind;

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
    /// use profiling_alloc::{output::PprofKind, Report};
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
        crate::capture::reading(|| {
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
        })
    }

    /// Writes [`to_pprof`](Report::to_pprof) to `path` (conventionally
    /// `*.pb.gz`), creating its directory if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file or directory that could not be
    /// written, and those of `to_pprof`.
    pub fn write_pprof(&self, kind: PprofKind, path: impl AsRef<Path>) -> Result<(), Error> {
        crate::capture::reading(|| {
            let bytes = self.to_pprof(kind)?;
            write_file(path.as_ref(), bytes)
        })
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
        crate::capture::reading(|| {
            let profile = cpu::profile(self);
            gzip(&profile.encode_to_vec()).map_err(|source| Error::Compress {
                kind: PprofKind::Cpu,
                source,
            })
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
        crate::capture::reading(|| {
            let bytes = self.to_pprof()?;
            write_file(path.as_ref(), bytes)
        })
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
