//! The data of sampled stacks, [`Frame`] and [`Callsite`]: plain values,
//! available with or without the `callsites` feature, so that a
//! [`Report`](crate::Report) has one shape whatever the build.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// One frame of a callsite's stack.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Frame {
    /// Demangled function name without the hash suffix
    /// (`my_crate::parse::parse_record`), or `"???"` when unknown.
    pub function: String,
    /// Source file, when debug info has it.
    pub file: Option<String>,
    /// Line in `file`.
    pub line: Option<u32>,
    /// Whether this frame was inlined into the next one (its caller): both
    /// come from one instruction address, as a pprof `Location` with
    /// several lines shows them. Omitted from JSON when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inlined: bool,
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::capture::reading(|| {
            write!(f, "{}", self.function)?;
            if let Some(file) = &self.file {
                write!(f, " ({file}")?;
                if let Some(line) = self.line {
                    write!(f, ":{line}")?;
                }
                write!(f, ")")?;
            }
            Ok(())
        })
    }
}

/// Path prefixes of the standard library's crates.
const STD_PATHS: [&str; 6] = [
    "alloc::", "<alloc::", "core::", "<core::", "std::", "<std::",
];

impl Frame {
    /// Whether this frame is the profiler's own: code of this crate, by its
    /// source file (which line tables keep) or by its path. The one rule
    /// that every reader (callsites, flamegraphs, CPU profiles) applies.
    pub(crate) fn is_profiler(&self) -> bool {
        let name = self.function.as_str();
        name.starts_with("profiling_alloc::")
            || name.starts_with("<profiling_alloc::")
            || self
                .file
                .as_deref()
                .is_some_and(|file| is_crate_file(file, ""))
    }

    /// Whether the frame is the standard library's: its source file is under
    /// the toolchain's `library/` (`/rustc/<commit>/library/alloc/src/raw_vec.rs`),
    /// or its name is a std path. The file catches what names cannot:
    /// `<u64 as core::fmt::Display>::fmt`, `<str>::to_uppercase`, a fn
    /// pointer's `FnOnce::call_once`.
    pub(crate) fn is_std_library(&self) -> bool {
        let std_file = self.file.as_deref().is_some_and(|file| {
            let file = file.replace('\\', "/");
            file.starts_with("/rustc/") && file.contains("/library/")
        });
        std_file
            || STD_PATHS
                .iter()
                .any(|prefix| self.function.starts_with(prefix))
    }
}

/// Allocations made from one place in the program, from sampled stacks, in
/// the words of [`HeapStats`](crate::HeapStats).
///
/// With [`Sampling::Every`](crate::Sampling::Every) (and in a scope of one
/// closure) the counts are exact, whole numbers. With
/// [`Sampling::Poisson`](crate::Sampling::Poisson) they are unbiased
/// estimates (each sample of a `s`-byte block stands for
/// `1 / (1 - exp(-s/R))` blocks), kept unrounded, so that any sum of them
/// (over callsites, over runs) stays unbiased; round them for display only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Callsite {
    /// The stack, innermost (the allocating code) first. The profiler's
    /// frames never appear (the walk starts at the allocator's caller), a
    /// `#[profile_job]` body shows as its function, and by default the
    /// standard library's plumbing (hashbrown's included) is folded at the
    /// top and between the program's frames.
    pub frames: Vec<Frame>,
    /// Whether the stack was cut at the configured depth.
    pub truncated: bool,
    /// The job path the allocations were made in, outermost job first (empty
    /// outside any job).
    pub job_path: Vec<String>,
    /// Samples taken here.
    pub samples: u64,
    /// Blocks allocated here (estimated unless sampling every block).
    pub total_blocks: f64,
    /// Bytes allocated here (estimated likewise).
    pub total_bytes: f64,
    /// Of those, blocks still live.
    pub live_blocks: f64,
    /// Of those, bytes still live.
    pub live_bytes: f64,
    /// The variance of the estimate `total_blocks`, as the estimator gives
    /// it from the samples (0 when every block was counted): a difference
    /// between two runs within a few `sqrt(variance)` is sampling noise.
    #[serde(default)]
    pub total_blocks_variance: f64,
    /// The variance of the estimate `total_bytes`, likewise (bytes²).
    #[serde(default)]
    pub total_bytes_variance: f64,
    /// Blocks per power-of-two size class: `(smallest size, blocks)`.
    pub size_classes: Vec<(u64, f64)>,
    /// Freed blocks by how long they lived (estimated like `total_blocks`):
    /// entry `i` counts lifetimes below [`LIFETIME_CLASS_BOUNDS_NS`](crate::callsites::LIFETIME_CLASS_BOUNDS_NS)`[i]`
    /// (and at or above the bound before); the last entry, 10 s and more.
    /// A block whose life ended in a realloc is counted too. Empty in
    /// reports of versions that did not record lifetimes, and when the
    /// platform has no monotonic clock.
    #[serde(default)]
    pub lifetimes: Vec<f64>,
    /// Of the freed blocks, those whose life ended in a realloc (grown,
    /// shrunk or moved): a `Vec` or `String` growing one push at a time
    /// shows here.
    #[serde(default)]
    pub reallocated_blocks: f64,
}

impl Callsite {
    /// Freed blocks (estimated): the sum of [`lifetimes`](Self::lifetimes).
    pub fn freed_blocks(&self) -> f64 {
        self.lifetimes.iter().sum()
    }

    /// The share of freed blocks that lived under 1 µs ("temporary": made
    /// and dropped at once, a buffer that could be reused), or `None` when
    /// no freed block's lifetime was recorded.
    pub fn temporary_share(&self) -> Option<f64> {
        let freed = self.freed_blocks();
        let under = self.lifetimes.first().copied().unwrap_or(0.0);
        (freed > 0.0).then(|| under / freed)
    }

    /// The share of freed blocks whose life ended in a realloc, or `None`
    /// when none was freed.
    pub fn reallocated_share(&self) -> Option<f64> {
        let freed = self.freed_blocks();
        (freed > 0.0).then(|| (self.reallocated_blocks / freed).min(1.0))
    }
}

/// This crate's source directory as the compiler named it
/// (`profiling-alloc/src/` in its workspace, an absolute path in a
/// registry), the way debug info names its files.
pub(crate) fn crate_src() -> &'static str {
    let here = file!();
    let len = here.len().saturating_sub("callsites/callsite.rs".len());
    here.get(..len).unwrap_or("")
}

/// `path` with forward slashes (as Windows debug info may not have them).
pub(crate) fn slashes(path: &str) -> Cow<'_, str> {
    if path.contains('\\') {
        Cow::Owned(path.replace('\\', "/"))
    } else {
        Cow::Borrowed(path)
    }
}

/// Whether `file` is `name` (e.g. `job/future.rs`) of this crate's sources,
/// or any of them if `name` is empty.
pub(crate) fn is_crate_file(file: &str, name: &str) -> bool {
    let (file, src) = (slashes(file), slashes(crate_src()));
    // A bare `src/` (this crate built as its workspace's root package) would
    // match every crate's sources: tell the profiler's frames by name then.
    if src.trim_end_matches('/').split('/').count() < 2 {
        return false;
    }
    let Some(at) = file.find(&*src) else {
        return false;
    };
    // A relative name matches at a directory boundary only.
    let boundary = at == 0 || file.get(..at).is_some_and(|before| before.ends_with('/'));
    boundary
        && file
            .get(at + src.len()..)
            .is_some_and(|rest| name.is_empty() || rest == name)
}
