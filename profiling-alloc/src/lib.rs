//! Allocation profiling from inside the program: a counting global allocator
//! with exact heap totals, live bytes, peak and a size histogram, and
//! [`measure`] for what one piece of code allocates.
//!
//! # Setup
//!
//! Install [`ProfilingAllocator`] as the global allocator, usually behind a
//! cargo feature of your own crate so that normal builds do not pay for it:
//!
//! ```
//! # /*
//! #[cfg(feature = "profiling")]
//! # */
//! #[global_allocator]
//! static ALLOC: profiling_alloc::ProfilingAllocator =
//!     profiling_alloc::ProfilingAllocator::system();
//!
//! fn main() {
//!     let data: Vec<u64> = (0..1000).collect();
//!     let stats = profiling_alloc::heap_stats();
//!     assert!(stats.active);
//!     assert!(stats.live_bytes >= 8000);
//!     println!("{stats}");
//!     # drop(data);
//! }
//! ```
//!
//! which prints, in the style of dhat:
//!
//! ```text
//! Total:     8,548 bytes in 3 blocks (0 reallocs)
//! At peak:   8,548 bytes in 3 blocks (within 65,536 bytes)
//! Live now:  8,548 bytes in 3 blocks
//! Freed:     0 bytes in 0 blocks
//! ```
//!
//! Any allocator can be wrapped: `ProfilingAllocator::new(mimalloc::MiMalloc)`.
//!
//! # What is counted
//!
//! The conventions are those of dhat-rs and valgrind's DHAT, so numbers can be
//! checked against theirs:
//!
//! - A block's size is its `Layout::size()` (what was asked for, not what
//!   the inner allocator rounded it up to).
//! - `alloc_zeroed` counts as an allocation.
//! - A `realloc` adds one block of the new size to `total_blocks` and
//!   `total_bytes`, counts the old block as freed, leaves `live_blocks`
//!   unchanged, moves `live_bytes` by new − old, and is counted in
//!   `reallocs`. So `live == total − freed` always holds, for blocks and
//!   bytes.
//! - `peak_bytes` is the highest `live_bytes` ever reached and `peak_blocks`
//!   the live blocks at that moment (the latest such moment on a tie).
//! - Failed allocations (null returns) are not counted.
//!
//! # Exact numbers and bounded ones
//!
//! Totals, live counts and [`measure`] deltas are exact. The peak is exact when
//! asked for with [`ProfilingAllocator::exact_peak`]; by default each thread
//! reports its change in live bytes to the global peak tracker only once it
//! has drifted by [`DEFAULT_PEAK_TOLERANCE`] (64 KiB) in either direction,
//! which keeps the common path free of shared writes. The reported peak is
//! then within `tolerance × threads` of the true peak, and
//! [`HeapStats::peak_error_bound`] says how far. A single-threaded program
//! that wants exact peaks without the shared atomic can also use
//! `.peak_tolerance(0)`.
//!
//! # Measuring a piece of code
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
//! # fn main() {
//! let (_, delta) = profiling_alloc::measure(|| {
//!     let boxed = Box::new([0u8; 64]);
//!     drop(boxed);
//! });
//! assert_eq!(delta.total_blocks, 1);
//! assert_eq!(delta.live_bytes, 0);
//! assert_eq!(delta.peak_bytes, 64);
//! # }
//! ```
//!
//! # Jobs
//!
//! Mark a function with [`#[profile_job]`](profile_job) (sync or `async`)
//! and every call records its duration and what it allocated;
//! [`job_stats`] returns calls, errors, panics, p50/p95/p99/max durations and
//! allocation sums and maxima per job:
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
//! #[profiling_alloc::profile_job(name = "tokenize")]
//! fn tokenize(line: &str) -> Vec<&str> {
//!     line.split_whitespace().collect()
//! }
//!
//! # fn main() {
//! for line in ["a b c", "d e"] {
//!     tokenize(line);
//! }
//! let job = profiling_alloc::job_stats().into_iter().find(|j| j.name == "tokenize").unwrap();
//! assert_eq!(job.calls, 2);
//! assert!(job.duration.p99 >= job.duration.p50);
//! assert_eq!(job.allocations.unwrap().total_blocks, 2);
//! # }
//! ```
//!
//! # Without the allocator
//!
//! When `ProfilingAllocator` is not the global allocator, nothing is counted
//! and the readers say so: [`is_active`] is `false`, [`HeapStats::active`] and
//! [`AllocDelta::active`] are `false`, and [`try_heap_stats`] and
//! [`try_measure`] return `None`. Zeros are never passed off as data.
//!
//! # Overhead
//!
//! Each thread counts into its own cache-line-aligned slot with plain loads
//! and stores: no lock, no syscall, no shared write on the common path. See
//! the README for the measured cost against the bare inner allocator.
//!
//! # Feature flags
//!
//! - `enabled` (default): count. With it off, `ProfilingAllocator` forwards to
//!   the inner allocator and counts nothing, and every reader reports
//!   "not active".
//! - `callsites` (default): sampled allocation stacks ([`callsites`],
//!   [`Sampling`]); brings in the `backtrace` crate.
//! - `flamegraph` (default): flamegraph SVGs ([`Report::flamegraph`],
//!   [`testing::write_flamegraph`]) through `inferno`; folded stacks
//!   ([`Report::folded`]) work without it.
//!
//! # Callsites
//!
//! With sampling on (`ProfilingAllocator::system().sampling(Sampling::Every)`
//! or `Sampling::poisson()`, or [`set_sampling`] at run time),
//! [`callsites`] tells which code allocated how much and what is still
//! alive, with resolved frames. `Every` is exact; Poisson sampling gives
//! unbiased estimates (a sampled block of `s` bytes stands for
//! `s / (1 - exp(-s/R))` bytes).
//!
//! # Reports and flamegraphs
//!
//! [`Report::capture`] takes a snapshot of all of the above: JSON out and
//! back in, a text summary (`Display`), folded stacks and flamegraph SVGs of
//! bytes or blocks allocated, live bytes and job time ([`FlameKind`]), with
//! job names as root frames:
//!
//! ```
//! use profiling_alloc::{FlameKind, ProfilingAllocator, Report, Sampling};
//!
//! #[global_allocator]
//! static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);
//!
//! #[profiling_alloc::profile_job(name = "load")]
//! fn load() -> Vec<String> {
//!     (0..100).map(|i| format!("row {i}")).collect()
//! }
//!
//! fn main() -> Result<(), profiling_alloc::Error> {
//!     let rows = load();
//!     let report = Report::capture();
//!     let folded = report.folded(FlameKind::AllocatedBlocks);
//!     assert!(folded.iter().any(|line| line.starts_with("load;")));
//!     let mut svg = Vec::new();
//!     report.flamegraph(FlameKind::AllocatedBytes, &mut svg)?;
//!     assert!(String::from_utf8_lossy(&svg).contains("<svg"));
//!     # drop(rows);
//!     Ok(())
//! }
//! ```
//!
//! From a test, one call writes `target/profiling/<name>.svg`:
//! [`testing::write_flamegraph`].
//!
//! # Job profiles
//!
//! [`ProfileRunner`] runs a job (a closure, or an async closure on any
//! executor) a set number of times after warm-up runs, with a time limit per
//! run, and returns a [`JobProfile`]: duration percentiles, peak memory and
//! allocations per run, which [`JobProfile::fits`] checks against
//! [`ResourceLimits`] such as [`ResourceLimits::AWS_LAMBDA`].

#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod allocator;
mod callsites;
mod heap;
mod job;
mod output;
mod reentrancy;
mod runner;
mod sync;
mod sys;
mod units;
mod unwind;

pub use allocator::{ProfilingAllocator, DEFAULT_PEAK_TOLERANCE};
#[cfg(feature = "callsites")]
pub use callsites::{
    callsites, callsites_with, dropped_samples, live_callsites, set_sampling_limits,
    set_stack_depth, CallsiteOptions, DEFAULT_MAX_STACKS, DEFAULT_MAX_TRACKED_BLOCKS,
    DEFAULT_STACK_DEPTH,
};
pub use callsites::{sampling, seed_sampling, set_sampling, Callsite, Frame, Sampling};
pub use heap::{
    heap_stats, measure, reset_peak, size_histogram, AllocDelta, HeapStats, SizeClass,
    SizeHistogram,
};
pub use job::{
    job, job_async, job_paths, job_stats, reset_jobs, DurationStats, JobAllocStats, JobPathStats,
    JobStats,
};
pub use output::{
    output_dir, testing, Error, FlameKind, ProgramInfo, Report, Settings, OUTPUT_DIR_VAR,
};
pub use runner::{
    JobProfile, JobResult, LimitExceeded, MemorySource, PeakMemory, ProfileConfig, ProfileRunner,
    ResourceLimits, RunError, RunPhase, Violation,
};
#[cfg(feature = "callsites")]
pub use unwind::stack_unwinder;
pub use unwind::StackUnwinder;

/// Records every call of a function as a job: its duration, and what it
/// allocated, freed, kept and peaked at.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// use profiling_alloc::profile_job;
///
/// #[profile_job]
/// fn parse(input: &str) -> Vec<u32> {
///     input.split(',').filter_map(|n| n.trim().parse().ok()).collect()
/// }
///
/// #[profile_job(name = "checksum")]
/// fn sum(values: &[u32]) -> u64 {
///     values.iter().map(|&v| u64::from(v)).sum()
/// }
///
/// # fn main() {
/// for _ in 0..3 {
///     let values = parse("1, 2, 3");
///     assert_eq!(sum(&values), 6);
/// }
/// let jobs = profiling_alloc::job_stats();
/// let parse = jobs.iter().find(|job| job.name.ends_with("::parse")).unwrap();
/// assert_eq!(parse.calls, 3);
/// let allocations = parse.allocations.unwrap(); // `None` without the allocator
/// assert_eq!(allocations.live_bytes_max, 16);  // each call kept its Vec (room for 4 u32s)
/// let checksum = jobs.iter().find(|job| job.name == "checksum").unwrap();
/// assert_eq!(checksum.allocations.unwrap().total_blocks, 0);
/// # }
/// ```
///
/// # Arguments
///
/// - `#[profile_job]`: the job is named after the function's path:
///   `my_crate::ingest::parse`, `my_crate::Parser::parse` for a method,
///   `<my_crate::Csv as my_crate::Format>::parse` for a trait method (read
///   from `std::any::type_name` of an item inside the function when it is
///   first called, since a macro cannot see the type of an `impl` block).
/// - `#[profile_job(name = "ingest")]`: the job's name. Jobs that share a
///   name are reported together.
/// - `#[profile_job(crate = path)]`: where `profiling_alloc` is, if the
///   dependency is renamed.
///
/// Anything else is a compile error pointing at the offending token, as is the
/// attribute on something other than a function, on a `const fn` (it records
/// at run time), on an `extern "C"` fn (a panic there aborts before the call
/// is recorded: annotate a Rust function it calls) or on a C-variadic fn.
///
/// # What a call records
///
/// - Duration: wall time from entry to exit; for an `async fn`, from the
///   first poll to completion.
/// - Allocations of the calling thread while the job ran, as
///   [`measure`] counts them: blocks and bytes allocated and freed, net bytes
///   kept, and the call's own peak. For an `async fn` they are counted during
///   each poll, on the thread that runs it, so a task that moves between the
///   threads of a multi-threaded runtime is counted right, and time spent
///   waiting is not charged with other tasks' allocations.
/// - How it ended: a return, an `Err` (when the value is a
///   `core::result::Result`, or an alias of it such as `io::Result`), a panic
///   of its own, or, for an async job, cancellation (dropped after its first
///   poll and before completing, by whatever reason, a panic elsewhere
///   included). A cancelled call's numbers stop at its last poll: blocks it
///   still held are counted as kept.
///
/// The call is recorded by a drop guard, so `return`, `?` and panics are all
/// recorded. Jobs nest: a job's allocations include those of the jobs it
/// calls, and [`job_paths`] keeps the chain of job names for a job-time
/// flamegraph. A `static` inside the function identifies the job, so all
/// instantiations of a generic function are one job. Its first call registers
/// it (a short lock, once); later calls take no lock.
///
/// Works on free functions, methods (`self`, `&self`, `&mut self`,
/// `self: Box<Self>`), associated functions, generic functions, `unsafe fn`,
/// functions returning `impl Trait`, and `async fn` (free or in `impl`
/// blocks). A sync function whose body ends in the future it returns (an
/// `async` block for `-> impl Future`, or `Box::pin(async ..)`, which is what
/// `#[async_trait]` makes of an `async fn`) is profiled as that future: the
/// job runs when it is polled, not when it is built. Other attributes
/// (`#[inline]`, `#[must_use]`, docs, `#[cfg]`) are kept, and errors in the
/// body point at the body.
///
/// A function returning a `Result` runs its body in a closure (so the guard
/// sees the value however it was produced); `#[track_caller]` then no longer
/// reaches `Location::caller()` calls inside the body.
///
/// Without the allocator installed, durations are still recorded and
/// [`JobStats::allocations`] is `None`.
///
/// # Zero cost when off
///
/// With this crate's `enabled` feature off (`default-features = false`), the
/// attribute still checks its arguments but leaves the function exactly as
/// written.
///
/// # Manual form
///
/// For a closure or a block, which cannot carry an attribute, use [`job`]
/// and [`job_async`].
pub use profiling_macros::profile_job;

/// Not public API: what `#[profile_job]` expansions call. May change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use crate::job::{
        call_once, ErrorOutcome, JobFuture, JobGuard, JobSite, OtherOutcome, Outcome,
    };
}
