//! What a report says about its program: [`ProgramInfo`] (which program,
//! when, on what build) and [`BuildInfo`] (how this crate was compiled).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which program a [`Report`](crate::Report) is about, and when it was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProgramInfo {
    /// The executable's file name (from the first command-line argument).
    pub name: String,
    /// The process id.
    pub pid: u32,
    /// The version of `profiling-alloc` that took the report.
    pub profiler_version: String,
    /// When the report was taken, in milliseconds since the Unix epoch.
    pub captured_at_unix_ms: u64,
    /// The process's largest resident set so far, in bytes (from
    /// `getrusage`; `None` where that is not available).
    pub max_rss_bytes: Option<u64>,
    /// The executable's absolute path, when the platform says
    /// (`std::env::current_exe`): the pprof profile's main mapping.
    #[serde(default)]
    pub executable: Option<String>,
    /// The executable's build id, in hex (the GNU build-id note on Linux;
    /// `None` elsewhere or when the linker wrote none): tools that fetch
    /// symbols or match binaries by it find it in the pprof mapping.
    #[serde(default)]
    pub build_id: Option<String>,
    /// The command line the program was started with, the executable
    /// first (arguments that are not UTF-8 converted lossily).
    #[serde(default)]
    pub command_line: Vec<String>,
    /// The profiled package's name, from cargo's environment:
    /// `CARGO_PKG_NAME`, which `cargo run`, `cargo test` and `cargo bench`
    /// set for the programs they start (`None` when started otherwise; a
    /// label can carry it then).
    #[serde(default)]
    pub crate_name: Option<String>,
    /// The profiled package's version (`CARGO_PKG_VERSION`), likewise.
    #[serde(default)]
    pub crate_version: Option<String>,
    /// How the profiler was compiled: the compiler, target and profile.
    #[serde(default)]
    pub build: BuildInfo,
    /// Labels of the run, for comparisons (`git_commit`, `branch`, a CI
    /// job's id): from `PROFILING_ALLOC_LABELS` (see [`LABELS_VAR`]) and
    /// [`Report::with_label`](crate::Report::with_label).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The environment variable whose labels every report carries:
/// `PROFILING_ALLOC_LABELS=git_commit=3f2a9c1,branch=main`. Items are
/// separated by commas; an item without `=` is a label with an empty value;
/// keys and values are trimmed, and empty keys skipped.
pub const LABELS_VAR: &str = "PROFILING_ALLOC_LABELS";

/// How `profiling-alloc` was compiled, in a [`ProgramInfo`]: the same
/// compiler, target and profile as the program, unless the program's
/// `Cargo.toml` sets a different profile for this one package. Reports of
/// builds that differ here are not comparable number for number (opt-level
/// changes what a program allocates: inlining, `Vec` growth in debug builds).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuildInfo {
    /// `rustc --version` of the compiler: `rustc 1.95.0 (59807616e 2026-04-14)`.
    pub rustc_version: String,
    /// The target triple: `x86_64-unknown-linux-gnu`.
    pub target: String,
    /// Cargo's profile base, `debug` or `release` (cargo's `PROFILE`: a
    /// custom profile reads as the one it inherits from).
    pub profile: String,
    /// The optimization level: `0`–`3`, `s` or `z`.
    pub opt_level: String,
    /// Whether debug assertions were on.
    pub debug_assertions: bool,
}

impl ProgramInfo {
    pub(crate) fn current() -> ProgramInfo {
        let name = std::env::args_os()
            .next()
            .map(PathBuf::from)
            .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let captured_at_unix_ms = crate::sys::unix_millis_now();
        ProgramInfo {
            name,
            pid: std::process::id(),
            profiler_version: env!("CARGO_PKG_VERSION").to_string(),
            captured_at_unix_ms,
            max_rss_bytes: crate::sys::max_rss_bytes(),
            executable: std::env::current_exe()
                .ok()
                .map(|path| path.display().to_string()),
            build_id: crate::sys::executable_build_id(),
            command_line: std::env::args_os()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
            crate_name: std::env::var("CARGO_PKG_NAME").ok(),
            crate_version: std::env::var("CARGO_PKG_VERSION").ok(),
            build: BuildInfo::current(),
            labels: std::env::var(LABELS_VAR)
                .map(|text| parse_labels(&text))
                .unwrap_or_default(),
        }
    }
}

impl BuildInfo {
    pub(crate) fn current() -> BuildInfo {
        BuildInfo {
            rustc_version: env!("PROFILING_ALLOC_RUSTC_VERSION").to_string(),
            target: env!("PROFILING_ALLOC_TARGET").to_string(),
            profile: env!("PROFILING_ALLOC_PROFILE").to_string(),
            opt_level: env!("PROFILING_ALLOC_OPT_LEVEL").to_string(),
            debug_assertions: cfg!(debug_assertions),
        }
    }
}

/// Labels from `k=v,k2=v2` (see [`LABELS_VAR`]).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|item| {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let key = key.trim();
            (!key.is_empty()).then(|| (key.to_string(), value.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_from_the_variable_form() {
        let labels = parse_labels("git_commit=3f2a9c1, branch = main ,,nightly,=x,url=a=b");
        let expected: BTreeMap<String, String> = [
            ("branch", "main"),
            ("git_commit", "3f2a9c1"),
            ("nightly", ""),
            ("url", "a=b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(labels, expected);
        assert!(parse_labels("").is_empty());
    }

    #[test]
    fn build_info_names_this_build() {
        let build = BuildInfo::current();
        assert!(build.rustc_version.starts_with("rustc "), "{build:?}");
        assert!(!build.target.is_empty() && !build.opt_level.is_empty());
        assert_eq!(build.debug_assertions, cfg!(debug_assertions));
    }
}
