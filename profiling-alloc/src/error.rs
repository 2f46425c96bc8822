//! The errors of reports and flamegraphs: each says what was wrong and, for
//! files, which file.

use std::path::PathBuf;

use crate::kinds::FlameKind;

/// Highest CPU sampling frequency, in samples per CPU-second (published as
/// `cpu::MAX_FREQUENCY_HZ`; here because the error message names it).
#[cfg(feature = "cpu")]
pub(crate) const CPU_MAX_FREQUENCY_HZ: u32 = 10_000;

/// What went wrong writing or reading a [`Report`](crate::Report), or
/// drawing a flamegraph.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("profiling-alloc: {action} {}: {source}", path.display())]
    Io {
        /// What was being done: `"writing"`, `"reading"`, `"creating directory"`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not JSON, or not JSON of a report.
    #[error("profiling-alloc: {} is not a valid report: {message}", origin(.path))]
    InvalidReport {
        /// The file read, if it came from one.
        path: Option<PathBuf>,
        /// What the JSON parser found wrong (a syntax error, a missing or
        /// mistyped field), with its position when known.
        message: String,
        /// Where, 1-based (0 when not known).
        line: usize,
        /// Where, 1-based (0 when not known).
        column: usize,
    },
    /// The text is not JSON, or not JSON of the kind expected: a job
    /// profile, a price sheet, a QoS baseline or a deployment file.
    #[error("profiling-alloc: {} is not a valid {what}: {message}", origin(.path))]
    InvalidData {
        /// What was expected: `"price sheet"`, `"QoS baseline"`, ...
        what: &'static str,
        /// The file read, if it came from one.
        path: Option<PathBuf>,
        /// What is wrong: the parser's message with its line and column, or
        /// the rule a value breaks.
        message: String,
    },
    /// A file of a kind this crate writes, in a version this build cannot
    /// read.
    #[error(
        "profiling-alloc: {} is a {what} of version {found}; this version of profiling-alloc reads version {supported}",
        origin(.path)
    )]
    UnsupportedVersion {
        /// The kind of file: `"price sheet"`, `"QoS baseline"`, ...
        what: &'static str,
        /// The file read, if it came from one.
        path: Option<PathBuf>,
        /// The version in the file.
        found: u64,
        /// The version this build reads.
        supported: u64,
    },
    /// The report was written in a format this version cannot read.
    #[error(
        "profiling-alloc: {} has report format version {found}; this version of profiling-alloc reads versions up to {supported}",
        origin(.path)
    )]
    UnsupportedFormat {
        /// The file read, if it came from one.
        path: Option<PathBuf>,
        /// The `format_version` in the report.
        found: u64,
        /// The newest version this build reads ([`Report::FORMAT_VERSION`](crate::Report::FORMAT_VERSION)).
        supported: u64,
    },
    /// A flamegraph was asked for but the report holds nothing to draw.
    #[error("profiling-alloc: no data for the {kind} flamegraph: {reason}")]
    NoData {
        /// The flamegraph asked for.
        kind: FlameKind,
        /// Why it is empty, and what would fill it.
        reason: String,
    },
    /// A name given for an output file is not a plain file name.
    #[error("profiling-alloc: {name:?} cannot name an output file: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A pprof profile could not be compressed.
    #[cfg(feature = "pprof")]
    #[error("profiling-alloc: compressing the {kind} pprof profile failed: {source}")]
    Compress {
        /// The profile asked for.
        kind: crate::kinds::PprofKind,
        /// The compressor's error.
        #[source]
        source: std::io::Error,
    },
    /// The live endpoint was asked to listen off loopback without a token
    /// (anyone who can reach the address could read the profile).
    #[cfg(feature = "server")]
    #[error(
        "profiling-alloc: refusing to serve on {addr} without a token: it is not a loopback address; set a token (PROFILING_ALLOC_TOKEN, or Server::builder().token(..)) or bind 127.0.0.1"
    )]
    InsecureAddress {
        /// The address asked for.
        addr: std::net::SocketAddr,
    },
    /// The live endpoint could not listen on its address.
    #[cfg(feature = "server")]
    #[error("profiling-alloc: listening on {addr} failed: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A setting is not valid: of the live endpoint (from its builder or
    /// the environment), or of a plan (a rate of 0, a negative target).
    #[error("profiling-alloc: invalid {setting} {value:?}: {reason}")]
    InvalidSetting {
        /// The setting: an environment variable's name or a builder method.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// CPU sampling is not available here: another platform than Linux on
    /// x86_64, or no memory for its buffer.
    #[cfg(feature = "cpu")]
    #[error("profiling-alloc: CPU sampling is not available: {reason}")]
    CpuUnsupported {
        /// Why.
        reason: &'static str,
    },
    /// A CPU profile is already running (one at a time: the signals are
    /// the process's).
    #[cfg(feature = "cpu")]
    #[error("profiling-alloc: a CPU profile is already running; stop it first (one at a time)")]
    CpuAlreadyRunning,
    /// Another handler has `SIGPROF` (another profiler, such as pprof-rs or
    /// gperftools): the two would take each other's signals.
    #[cfg(feature = "cpu")]
    #[error(
        "profiling-alloc: SIGPROF already has a handler (another CPU profiler?); stop it before starting this one"
    )]
    CpuSignalInUse,
    /// The sampling frequency asked for is 0 or above
    /// [`cpu::MAX_FREQUENCY_HZ`](crate::cpu::MAX_FREQUENCY_HZ).
    #[cfg(feature = "cpu")]
    #[error(
        "profiling-alloc: invalid CPU sampling frequency {frequency_hz} Hz: it must be 1 to {} Hz (100 is usual)",
        CPU_MAX_FREQUENCY_HZ
    )]
    CpuInvalidFrequency {
        /// The frequency asked for.
        frequency_hz: u32,
    },
    /// A system call that sets up CPU sampling failed.
    #[cfg(feature = "cpu")]
    #[error("profiling-alloc: starting CPU sampling failed in {call}: {source}")]
    CpuTimer {
        /// What was being done.
        call: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The flamegraph library failed to draw.
    #[error("profiling-alloc: drawing the {kind} flamegraph failed: {source}")]
    Flamegraph {
        /// The flamegraph asked for.
        kind: FlameKind,
        /// inferno's error.
        #[source]
        source: std::io::Error,
    },
}

fn origin(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => path.display().to_string(),
        None => "the text".to_string(),
    }
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_data_names_the_graph_and_the_reason() {
        let error = Error::NoData {
            kind: FlameKind::AllocatedBytes,
            reason: "sampling is off".to_string(),
        };
        assert_eq!(
            error.to_string(),
            "profiling-alloc: no data for the allocated bytes flamegraph: sampling is off"
        );
    }
}
