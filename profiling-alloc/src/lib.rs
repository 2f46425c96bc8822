//! Allocation and job profiling from inside the program: a counting global
//! allocator with exact heap totals, live bytes, peak and a size histogram;
//! [`measure`] for what one piece of code allocates;
//! [`#[profile_job]`](profile_job) for each job's durations and allocations;
//! sampled allocation stacks per callsite; and reports that become JSON, a
//! text summary and flamegraph SVGs.
//!
//! This page is the manual. The README is the front page; `ARCHITECTURE.md`
//! says how the code is laid out; `BENCHMARKS.md` has the measurements.
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
//! At peak:   8,548 bytes in 3 blocks (exact)
//! Live now:  8,548 bytes in 3 blocks
//! Freed:     0 bytes in 0 blocks
//! ```
//!
//! Any allocator can be wrapped: `ProfilingAllocator::new(mimalloc::MiMalloc)`.
//! The counters are global to the process: install one instance.
//!
//! # Where things are
//!
//! The crate root holds what most programs need: [`ProfilingAllocator`],
//! [`heap_stats`] and [`HeapStats`], [`measure`] and [`AllocDelta`],
//! [`reset_peak`], [`profile_job`], [`job_stats`] and [`JobStats`],
//! [`Report`] and [`FlameKind`], [`Sampling`] and [`set_sampling`],
//! [`callsites()`](fn@callsites) with [`Callsite`] and [`Frame`],
//! [`ProfileRunner`] and [`JobProfile`], and [`Error`]. Everything else is in
//! a module named for what it is about:
//!
//! | module | what is in it |
//! |---|---|
//! | [`heap`] | exact counts: the peak's tolerance, size histograms |
//! | [`callsites`](mod@callsites) | sampled stacks: options, limits, the sampling mode, the stack walk |
//! | [`jobs`] | jobs marked by hand ([`jobs::enter`], [`jobs::instrument`], [`jobs::job`]), job paths |
//! | [`output`] | reports as JSON, pprof, Prometheus; program info; where files go |
//! | [`testing`] | one call from a test to a report or a flamegraph |
//! | [`runner`] | a job run N times: resources, limits, errors |
//! | [`sizing`] | where a job can run and what it costs |
//! | [`analysis`] | leaks, findings, QoS baselines |
//! | `cpu`, `server`, `tracing`, `tower`, `criterion` | CPU profiles, the live endpoint, and the integrations, each behind its feature |
//!
//! # What is counted
//!
//! The conventions are those of dhat-rs and valgrind's DHAT, so numbers can
//! be checked against theirs, and every type speaks the words of
//! [`HeapStats`]: `total_*` (allocated), `freed_*`, `live_*`, `peak_*`, each
//! in `_blocks` and `_bytes`.
//!
//! - A block's size is its `Layout::size()` (what was asked for, not what
//!   the inner allocator rounded it up to).
//! - `alloc_zeroed` counts as an allocation.
//! - A `realloc` adds one block of the new size to `total_blocks` and
//!   `total_bytes`, counts the old block as freed, leaves `live_blocks`
//!   unchanged, moves `live_bytes` by new − old, and is counted in
//!   `reallocs`. So `live == total − freed` always holds, for blocks and
//!   bytes, to the byte once other threads are quiet.
//! - `peak_bytes` is the highest `live_bytes` ever reached and `peak_blocks`
//!   the live blocks at that moment (the latest such moment on a tie).
//! - Failed allocations (null returns) are not counted.
//!
//! # Exact numbers and bounded ones
//!
//! Totals, live counts and [`measure`] deltas are exact. The peak needs a
//! global view, and a global view updated on every call is what makes
//! counting allocators slow, so:
//!
//! - **default**: exact whenever one thread allocated at a time since the
//!   last [`reset_peak`] (or start-up): a single-threaded program, a test,
//!   a phase run alone. Each thread keeps the high-water mark of its own
//!   net bytes on its own cache line, and when only one thread's counters
//!   moved, that mark plus the others' (unchanged) live bytes is the true
//!   peak. While threads allocate concurrently, each reports its change in
//!   live bytes to a shared tracker only once it has drifted by
//!   [`heap::DEFAULT_PEAK_TOLERANCE`] (64 KiB) either way, and the peak is within
//!   `tolerance × threads` of the true one. [`HeapStats::peak_is_exact`]
//!   says which case a reading is, [`HeapStats::peak_error_bound`] how far
//!   off it may be. `.peak_tolerance(bytes)` changes the tolerance.
//! - **exact**: [`ProfilingAllocator::exact_peak`] keeps live bytes and live
//!   blocks in one 128-bit atomic updated on every call, so `peak_bytes` is
//!   the true high-water mark and `peak_blocks` the live blocks at that
//!   instant. It costs a shared atomic per call.
//!
//! [`reset_peak`] sets the peak to the live state, to read the peak of a
//! phase. [`heap::size_histogram`] gives blocks and bytes per power-of-two size
//! class.
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
//! Only the calling thread is counted; calls nest, an outer measure
//! including the inner ones, peak included. [`AllocDelta::live_bytes`] is
//! signed: what the closure kept.
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
//! Jobs nest: [`jobs::job_paths`] keeps the chain of job names with calls and time
//! per chain, and samples taken inside a job carry its path, so flamegraphs
//! start at the job. For a closure or a block, use [`jobs::job`] and
//! [`jobs::job_async`]; for a scope, the guard [`jobs::enter`] (and
//! [`jobs::instrument`] for a future). A dependency on this crate with
//! `default-features = false` (the `enabled` feature off) makes the
//! attribute leave the function as written, and the manual forms run their
//! code unrecorded.
//!
//! # Jobs from `tracing` spans and tower requests
//!
//! A service is often instrumented already. Two layers make that
//! instrumentation jobs, reported wherever jobs are ([`job_stats`],
//! [`jobs::job_paths`], reports, pprof's `job` label, the endpoint's `/jobs` and
//! `/metrics`), and nesting with `#[profile_job]` functions either way:
//!
//! - [`tracing::JobLayer`][tracing-layer] (feature `tracing`), added to a
//!   `tracing-subscriber` registry, records the spans it selects (all, or by
//!   target, name, level or field) as jobs named `target::name` or by a
//!   field such as `http.route`. Allocations are counted per entered
//!   interval on the entering thread and summed, so an `.instrument(span)`
//!   future that moves between tokio's workers is counted exactly; a span's
//!   job path is its parent span's plus its name, whichever thread entered
//!   it.
//! - [`tower::JobLayer`][tower-layer] (feature `tower`), one line in an axum
//!   router (`.layer(profiling_alloc::tower::JobLayer::new())`), makes each
//!   request a job named by its matched route (`GET /items/{id}`), from the
//!   call until its response body is done, 5xx answers counted as errors.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
//! # #[cfg(feature = "tracing")]
//! # fn main() {
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry().with(profiling_alloc::tracing::JobLayer::new());
//! tracing::subscriber::with_default(subscriber, || {
//!     let request = tracing::info_span!("request");
//!     let _entered = request.enter();
//!     let body: String = "hello ".repeat(3);
//!     tracing::info_span!("render").in_scope(|| body.to_uppercase());
//! });
//! let paths: Vec<Vec<String>> =
//!     profiling_alloc::jobs::job_paths().into_iter().map(|path| path.path).collect();
//! assert!(paths.iter().any(|path| path.len() == 2 && path[1].ends_with("::render")));
//! # }
//! # #[cfg(not(feature = "tracing"))]
//! # fn main() {}
//! ```
//!
//! # Callsites
//!
//! Stacks are sampled out of the box (one sample per 512 KiB allocated on
//! average), and [`callsites()`](fn@callsites) tells which code allocated how much and what
//! is still alive, with resolved frames. `Sampling::Every` makes the numbers
//! exact:
//!
//! ```
//! use profiling_alloc::{ProfilingAllocator, Sampling};
//!
//! #[global_allocator]
//! static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);
//!
//! #[inline(never)]
//! fn make_table() -> Vec<u64> {
//!     Vec::with_capacity(4096)
//! }
//!
//! fn main() {
//!     let table = make_table();
//!     let sites = profiling_alloc::callsites();
//!     let site = sites.iter().find(|s| s.total_bytes == 4096.0 * 8.0).unwrap();
//!     assert_eq!((site.total_blocks, site.live_blocks), (1.0, 1.0));
//!     # drop(table);
//! }
//! ```
//!
//! - **Modes** ([`Sampling`]): `Poisson { mean_bytes }` (the default,
//!   [`Sampling::poisson`]: one sample per 512 KiB allocated on average, as
//!   jemalloc's and Go's heap profiles), `Every` (every block: exact
//!   per-callsite numbers, the dhat-equivalent mode for tests and small
//!   programs) and `Off` (only counting). Chosen in the const constructor,
//!   or without a rebuild by the environment variable
//!   `PROFILING_ALLOC_SAMPLING` ([`callsites::SAMPLING_VAR`]: `off`, `every`,
//!   `poisson` or `poisson:SIZE` such as `poisson:64KiB`, read on Linux
//!   once, when the allocator first runs; a value that is none of these keeps the built-in
//!   mode, and a report's [`output::Settings::sampling_origin`] and summary say which
//!   applied and why); changed at run time with [`set_sampling`];
//!   [`callsites::seed_sampling`] makes a thread's samples reproducible. A scope of one closure samples every
//!   block of its thread whatever the mode ([`Report::capture_of`],
//!   [`testing::flamegraph`]).
//! - **Estimates**: Poisson sampling is byte-based, as in tcmalloc, jemalloc
//!   and Go: a block of `s` bytes is sampled with probability
//!   `p = 1 - exp(-s/R)` and a sample stands for `1/p` blocks and `s/p`
//!   bytes, so per-callsite estimates are unbiased; for `N` blocks of size
//!   `s` the standard deviation of the byte estimate is `s·sqrt(N(1-p)/p)`.
//! - **Stacks**: raw return addresses, up to 64 frames by default
//!   ([`callsites::set_stack_depth`], at most 128; deeper stacks are marked
//!   [`Callsite::truncated`]), interned with the job path they were taken
//!   in. Symbols are resolved only when a reader asks, once per address:
//!   demangled, hashes stripped, with files and lines where debug info has
//!   them. The profiler's frames never appear (the walk starts at the
//!   allocator's caller, whatever the debug-info level), a `#[profile_job]`
//!   body shows as its function, and the standard library's plumbing
//!   (hashbrown's, `collect` chains) is folded by default at the top and
//!   between the program's frames ([`callsites::callsites_with`]), so the first frame
//!   is the code that asked.
//! - **Live and leaks**: a free takes its sampled block off its callsite's
//!   live counts, whichever thread frees it, and a realloc moves it; the
//!   common free takes no lock and no hash lookup. [`callsites::live_callsites`] is the
//!   leak view at the moment it is called; filter on
//!   [`Callsite::job_path`] for what one job left alive.
//! - **Bounded memory**: [`callsites::DEFAULT_MAX_STACKS`] stacks and
//!   [`callsites::DEFAULT_MAX_TRACKED_BLOCKS`] live sampled blocks
//!   ([`callsites::DEFAULT_MAX_TRACKED_BLOCKS_EVERY`] under `Every`, where every live
//!   block is a sampled one; at most 160 bytes per tracked block, taken as
//!   blocks are tracked), or what [`callsites::set_sampling_limits`] sets; past that,
//!   samples are dropped and counted ([`callsites::dropped_samples`]; a report's
//!   summary and flamegraphs then carry a warning), and totals are
//!   unaffected. The profiler's own tables and symbol caches are not
//!   counted.
//! - **Readers are never sampled**: what [`callsites()`](fn@callsites), [`Report::capture`]
//!   and drawing a flamegraph allocate is the caller's memory (counted), but
//!   never one of the program's callsites.
//!
//! ## Stack walks
//!
//! Three ways, the cheapest that gives the right stack ([`callsites::stack_unwinder`]
//! says which): following **frame pointers** (a few nanoseconds a frame;
//! right when every function keeps one: build with
//! `-C force-frame-pointers=yes`), **cached DWARF** (Linux x86_64: unwind
//! tables read in place with framehop, the rule of each return address
//! cached; for builds without frame pointers), and **`backtrace`** (libgcc,
//! about a microsecond a stack: the reference and the fallback). The first
//! capture walks with frame pointers and with `backtrace` (and with the
//! cached rules only if frame pointers give another stack) and keeps the
//! first that reproduces the `backtrace` stack; each thread checks again
//! every 1,024 walks. Every stack read is bounded by the stack pointer and
//! the top of the thread's own stack, so a wrong guess gives a short stack,
//! never a fault.
//!
//! Limits of the sampled path: threads counting into the shared slot
//! (beyond 1,024 at once, or tearing down) are not sampled; a sample puts
//! about 1.5 KiB on the allocating thread's stack, and the cached walk is
//! skipped on a thread with less than 128 KiB of stack left; libraries
//! loaded after the first sample are not known to the cached walk (the
//! periodic check then falls back to `backtrace`), and listed libraries are
//! pinned (`RTLD_NODELETE`); after `fork`, the child must not sample if
//! another thread was inside the sampled path at that moment.
//!
//! For names and lines in release builds, keep line tables:
//! `[profile.release] debug = "limited"`. The walk runs inside the
//! allocator, where a panic must not unwind: our code cannot panic, and
//! should a crate it calls panic, the process aborts. framehop has one
//! subtraction that only corrupt unwind tables could overflow, in builds
//! with overflow checks; for debug builds add
//! `[profile.dev.package.framehop] overflow-checks = false` (and the same
//! for `gimli`), as this workspace does.
//!
//! # Reports and flamegraphs
//!
//! [`Report::capture`] takes a snapshot of all of the above: JSON out and
//! back in (typed errors naming the file and what is wrong, a
//! `format_version` checked first), a text summary (`Display`), folded
//! stacks and flamegraph SVGs of bytes or blocks allocated, live bytes and
//! job time ([`FlameKind`]), with job names as root frames:
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
//!     let back = Report::from_json(&report.to_json())?;
//!     assert_eq!(back, report);
//!     # drop(rows);
//!     Ok(())
//! }
//! ```
//!
//! In JSON, durations are integer nanoseconds with the unit in the key
//! (`p99_ns`). Nothing to draw is an error that says what to change
//! ([`Error::NoData`]), never an empty picture. Every reader and writer
//! (readers of jobs and callsites, JSON in and out, folded stacks, SVGs,
//! every `Display`) runs with sampling suspended: what it allocates is the
//! caller's memory, counted, but never one of the program's callsites, so
//! a report never shows up in the next one.
//!
//! # pprof profiles, and what a report says about its program
//!
//! [`Report::to_pprof`] and [`Report::write_pprof`] give the report as a
//! gzipped pprof profile (google/pprof's `profile.proto`), which `go tool
//! pprof`, Pyroscope, Parca, Grafana and speedscope open ([`output::PprofKind`]):
//!
//! - [`output::PprofKind::Heap`] and [`output::PprofKind::Allocs`]: Go's heap layout,
//!   `alloc_objects/count`, `alloc_space/bytes`, `inuse_objects/count`,
//!   `inuse_space/bytes`, one sample per callsite; the period is the
//!   sampling mean (`space/bytes`); values are the report's unbiased
//!   estimates, rounded so that any sum of them stays within one of the
//!   estimates' sum; labels `job` (the innermost job) and `bytes` (the mean
//!   block size). Heap shows in-use space first, Allocs allocated space.
//! - [`output::PprofKind::JobTime`]: `calls/count` and `busy/nanoseconds` per job
//!   path, as the job-time flamegraph draws it.
//!
//! Stacks start at the job path, as in the flamegraphs. Every location
//! carries its function, file and line (inlined functions as extra lines of
//! one location), so viewers need no binary; the one mapping names the
//! executable and its build id. `go tool pprof -top target/profiling/heap.pb.gz`
//! reads the showcase's (`scripts/check-pprof.sh` runs that and more).
//!
//! A report also says what a comparison of two reports needs to know
//! ([`output::ProgramInfo`]): the command line, the package's name and version
//! (from cargo's environment), the build ([`output::BuildInfo`]: rustc version,
//! target, profile, opt-level, debug assertions), the executable and its
//! build id, and labels: from [`output::LABELS_VAR`]
//! (`PROFILING_ALLOC_LABELS=git_commit=3f2a9c1,branch=main`) and from
//! [`Report::with_label`]. Sampled callsites carry the variance of their
//! estimates ([`Callsite::total_bytes_variance`]), so a comparison can tell
//! a change from sampling noise.
//!
//! The JSON (format version 2; version 1 files still read) is the
//! [`Report`]'s fields, with durations as integer nanoseconds and counts
//! in [`HeapStats`]'s words. Abridged:
//!
//! ```json
//! {
//!   "format_version": 2,
//!   "program": {
//!     "name": "showcase", "pid": 4242, "profiler_version": "0.1.0",
//!     "captured_at_unix_ms": 1796248800000, "max_rss_bytes": 61865984,
//!     "executable": "/work/app/target/release/examples/showcase",
//!     "build_id": "5edcf4bf5390f091789bc9ca08e6ed0dfd545418",
//!     "command_line": ["target/release/examples/showcase"],
//!     "crate_name": "app", "crate_version": "1.4.0",
//!     "build": { "rustc_version": "rustc 1.95.0 (59807616e 2026-04-14)",
//!                "target": "x86_64-unknown-linux-gnu", "profile": "release",
//!                "opt_level": "3", "debug_assertions": false },
//!     "labels": { "git_commit": "3f2a9c1" }
//!   },
//!   "settings": { "sampling": { "Poisson": { "mean_bytes": 524288 } }, "..": ".." },
//!   "heap": { "total_blocks": 1200734, "total_bytes": 107262301, "live_bytes": 53307688, "..": ".." },
//!   "size_histogram": { "..": ".." },
//!   "jobs": [ { "name": "app::parse", "calls": 1, "errors": 0, "panics": 0, "cancelled": 0,
//!               "duration": { "total_ns": 121090000, "p50_ns": 121090000, "..": ".." },
//!               "allocations": { "measured_calls": 1, "total_blocks": 769000, "total_bytes": 72290000, "..": ".." } } ],
//!   "job_paths": [ { "path": ["app::parse"], "calls": 1, "total_ns": 121090000,
//!                    "busy_ns": 121090000, "self_busy_ns": 27320000 } ],
//!   "callsites": [ { "frames": [ { "function": "app::parse_order", "file": "src/parse.rs", "line": 88 } ],
//!                    "truncated": false, "job_path": ["app::parse", "app::parse_order"],
//!                    "samples": 790, "total_blocks": 152518.3, "total_bytes": 25584410.2,
//!                    "live_blocks": 0.0, "live_bytes": 0.0,
//!                    "total_blocks_variance": 2.9e7, "total_bytes_variance": 8.1e14,
//!                    "size_classes": [[128, 152518.3]] } ],
//!   "dropped_samples": 0
//! }
//! ```
//!
//! # Reports of one closure, and flamegraphs from tests
//!
//! [`Report::capture_of`] runs a closure and reports only what it did: its
//! thread samples every block while it runs (exact counts, whatever the
//! mode, and without changing the mode for other threads), on a job path of
//! its own, so the report's callsites and job paths are the closure's,
//! rooted at a frame named after the function that called it, and
//! [`Report::scope`] holds its exact [`AllocDelta`]. The test harness, other
//! tests running meanwhile and earlier calls are not in it.
//! [`testing::flamegraph`] is the one call a test makes:
//!
//! ```no_run
//! # fn tokenize(s: &str) -> Vec<String> { s.split(' ').map(String::from).collect() }
//! #[test]
//! fn tokenize_allocations() {
//!     // target/profiling/tokenize.svg: the closure's allocations, nothing else.
//!     let svg = profiling_alloc::testing::flamegraph("tokenize", || {
//!         assert_eq!(tokenize("a b c").len(), 3);
//!     })
//!     .unwrap();
//!     println!("{}", svg.display());
//! }
//! ```
//!
//! Files go to [`output::output_dir`] (absolute: `$PROFILING_ALLOC_DIR`, or
//! `profiling/` in the cargo target directory).
//!
//! # Job profiles and sizing
//!
//! A job profile exists to decide where a job runs. [`ProfileRunner`] runs a
//! job (a closure on this thread or on a worker thread, or an async closure
//! on any executor) a set number of times after warm-up runs, each with a
//! deadline that holds (an async run is dropped at it, a threaded one
//! abandoned; a panic is a [`runner::RunError`]), and records what every run used
//! ([`runner::RunResources`]): wall and CPU time, its own heap peak above where it
//! began and what it kept, allocations, and the process's resident peak
//! (reset per run on Linux). The [`JobProfile`] gives their percentiles, the
//! share of time on a CPU, and what the job needs resident
//! ([`runner::MemoryNeed`]): its heap peak plus the resident overhead measured
//! beside it, not the test process's heap.
//!
//! [`sizing`] turns profiles into a [`Plan`](sizing::Plan): per job, every
//! serverless platform's cheapest size that fits (memory, latency target,
//! limits), a VM shape for a call rate, predicted p95/p99 at each size, the
//! cost of a million calls and of a month, the reason for each rejection,
//! and a QoS baseline. Prices and rules are a dated data file that names its
//! sources and can be replaced. `profiling-alloc plan FILE --rate 50/s
//! --p95 200ms` does the same from a file.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
//! use std::time::Duration;
//! use profiling_alloc::sizing::{self, JobDemand, PlanSettings, Prices};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let profile = profiling_alloc::ProfileRunner::new("render")
//!     .sample_size(20)
//!     .max_execution_time(Duration::from_secs(2))
//!     .run(|| {
//!         std::hint::black_box(format!("{:?}", (0..2_000).collect::<Vec<u32>>()));
//!     })?;
//! let plan = sizing::plan(
//!     &[JobDemand::from_profile(&profile)],
//!     &PlanSettings::new(50.0).p95_target(Duration::from_millis(200)),
//!     &Prices::built_in(),
//! )?;
//! assert!(plan.fits());
//! # Ok(())
//! # }
//! ```
//!
//! The model (waiting stays, computing scales with the CPU share), where it
//! is weak, and the files (profile, deployment file, baseline) are the
//! [`sizing`] module's docs.
//!
//! # Inside a running service
//!
//! Feature `server` adds the `server` module: an HTTP endpoint on threads of its
//! own, loopback unless told otherwise and token-protected off loopback,
//! serving Prometheus metrics, pprof heap profiles (now, or the next N
//! seconds'), the report, flamegraphs, memory and CPU readings, leak
//! analysis and snapshots. `server::start_from_env()` is one line in `main`;
//! the module's docs list every route, its errors and its limits.
//!
//! Two analyses work with or without it, as plain functions and types:
//!
//! - [`analysis::LeakDetector`]: live bytes per callsite observed over time (the
//!   endpoint feeds one every 60 s); [`analysis::LeakDetector::analyze`] names the
//!   callsites whose growth is a significant, unsaturated trend beyond the
//!   sampling noise, with growth per hour, confidence and severity.
//! - [`analysis::findings`]: from the lifetimes of sampled blocks
//!   ([`Callsite::lifetimes`], [`Callsite::reallocated_blocks`]), callsites
//!   whose blocks mostly live under a microsecond or mostly end in a
//!   realloc, and jobs near a [`runner::ResourceLimits`]; every [`Report`] carries
//!   them ([`Report::findings`], [`Report::with_limits`]) and its summary
//!   lists them.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: profiling_alloc::ProfilingAllocator =
//! #     profiling_alloc::ProfilingAllocator::system().sampling(profiling_alloc::Sampling::Every);
//! # fn main() {
//! use profiling_alloc::{analysis::LeakDetector, Report};
//!
//! let mut leaks = LeakDetector::default();
//! let mut kept = Vec::new();
//! for minute in 0..10u64 {
//!     kept.push(vec![0u8; 4096]); // grows every minute
//!     let report = Report::capture();
//!     leaks.observe(minute * 60_000, report.heap.live_bytes, report.settings.sampling, &report.callsites);
//! }
//! let analysis = leaks.analyze();
//! assert!(analysis.suspects.iter().any(|s| s.growth_bytes_per_hour > 0.0));
//! # drop(kept);
//! # }
//! ```
//!
//! # CPU time
//!
//! Feature `cpu` (Linux x86_64) adds the [`cpu`][cpu-module] module:
//! [`cpu::start`][cpu-start] samples every thread's stack each period of
//! CPU time it uses (timers on each thread's own CPU clock, a signal handler
//! that never allocates, locks or waits), with the job path as root frames,
//! so a CPU flamegraph says which job burns the time; stopping returns a
//! [`CpuProfile`][cpu-profile]: flamegraph, pprof CPU profile, hot
//! functions, and each job's on-CPU time against its wall time in
//! [`JobStats::cpu`]. The
//! module's docs say how it counts and what the handler does and does not.
//!
//! # Allocation benchmarks with criterion
//!
//! With the `criterion` feature, [`criterion::AllocatedBytes`][criterion-bytes] and
//! [`criterion::Allocations`][criterion-blocks] are measurements for criterion in place of
//! wall time: `cargo bench` then shows the bytes (`total_bytes`) or blocks
//! (`total_blocks`) the benchmark's thread allocates per iteration, with
//! criterion's statistics, and `--save-baseline` / `--baseline` report an
//! allocation regression as "Performance has regressed":
//!
//! ```toml
//! [dev-dependencies]
//! criterion = "0.8"
//! profiling-alloc = { version = "0.1", features = ["criterion"] }
//! ```
//!
//! ```
//! # #[cfg(feature = "criterion")]
//! # mod bench {
//! use criterion::{criterion_group, Criterion};
//! use profiling_alloc::criterion::AllocatedBytes;
//!
//! fn parse(c: &mut Criterion<AllocatedBytes>) {
//!     c.bench_function("parse", |b| {
//!         b.iter(|| "1,2,3".split(',').map(|n| n.parse::<u32>().unwrap()).collect::<Vec<_>>())
//!     });
//! }
//!
//! criterion_group! {
//!     name = benches;
//!     // Counts are exact: any change against a baseline is a real one.
//!     config = Criterion::default().with_measurement(AllocatedBytes).noise_threshold(0.0);
//!     targets = parse
//! }
//! // criterion_main!(benches); in a bench with `harness = false`, and in it:
//! // #[global_allocator] static ALLOC: profiling_alloc::ProfilingAllocator = ...;
//! # }
//! ```
//!
//! prints, for that benchmark, `parse  time: [16.000 B 16.000 B 16.000 B]`
//! (criterion keeps the word "time"). Counts are exact, so every sample
//! reads the same value; only the benchmark's own thread is counted.
//! [The `criterion` module][criterion-module] says what is counted, the units, and why
//! readings are 0 without the allocator.
//!
//! # Without the allocator
//!
//! When `ProfilingAllocator` is not the global allocator, nothing is counted
//! and the readings say so, in one way: [`HeapStats::active`] and
//! [`AllocDelta::active`] are `false` (and their `Display` says "allocator
//! not installed"); numbers derived from readings are `None`
//! ([`JobStats::allocations`], [`JobProfile::heap`]).
//! Durations are still recorded. Zeros are never passed off as data.
//!
//! # Overhead
//!
//! Each thread counts into its own cache-line-aligned slot with plain loads
//! and stores: no lock, no syscall, no shared write on the common path.
//! Poisson sampling (one sample per 512 KiB by default) adds a cost in
//! proportion to the bytes a program allocates; [`Sampling::Every`] walks a
//! stack per block. The README's overhead table and `BENCHMARKS.md` have
//! the figures against the bare inner allocator, dhat-rs and heaptrack, with
//! the commands that measure them.
//!
//! # Feature flags
//!
//! - `enabled` (default): count. With it off, `ProfilingAllocator` forwards
//!   to the inner allocator and counts nothing, every reading reports "not
//!   active", `#[profile_job]` leaves functions as written, [`jobs::job`],
//!   [`jobs::job_async`] and [`jobs`] run their code unrecorded, and the
//!   `tracing` and `tower` layers do nothing.
//! - `callsites` (default): sampled allocation stacks ([`callsites()`](fn@callsites),
//!   [`Sampling`] sampling anything); brings in `backtrace` and, on Linux
//!   x86_64, `framehop`.
//! - `flamegraph` (default): flamegraph SVGs ([`Report::flamegraph`],
//!   [`testing::flamegraph`]) through `inferno`; folded stacks
//!   ([`Report::folded`]) work without it.
//! - `pprof` (default): pprof profiles ([`Report::to_pprof`]) through
//!   `prost` and `flate2`.
//! - `cpu`: CPU sampling (the `cpu` module), Linux x86_64; no dependency of
//!   its own; turns on `callsites` (its stack walks).
//! - `server`: the live endpoint (the `server` module); brings in `httparse` and
//!   turns on `pprof`, `flamegraph` and `cpu` (CPU profiles on demand).
//! - `axum`: `server::router()`, the endpoint's routes as an axum `Router`
//!   for a service that already serves with axum; brings in `axum` (no
//!   default features) and `tokio` (`rt`), and turns on `server`.
//! - `metrics`: `publish_metrics` and `publish_metrics_every`, the same
//!   numbers as [`output::prometheus_metrics`] through the `metrics` facade, for a
//!   service that already runs an exporter; brings in `metrics`.
//! - `tracing`: [`tracing::JobLayer`][tracing-layer], spans as jobs;
//!   brings in `tracing-core` and `tracing-subscriber` (its `registry`
//!   only).
//! - `tower`: [`tower::JobLayer`][tower-layer], requests as jobs; brings in
//!   `tower-layer`, `tower-service`, `http`, `http-body` and `axum` (no
//!   default features; `matched-path`, for the route's name).
//! - `criterion`: [`criterion::AllocatedBytes`][criterion-bytes] and
//!   [`criterion::Allocations`][criterion-blocks], bytes and blocks allocated per iteration
//!   as criterion measurements; brings in `criterion` (without its default
//!   features).
//!
//! Profiling behind a feature of your own takes one of two shapes. With the
//! dependency optional (`profiling = ["dep:profiling-alloc"]`), normal builds
//! do not compile this crate at all; then write the attribute through
//! `cfg_attr` with its path, `#[cfg_attr(feature = "profiling",
//! profiling_alloc::profile_job)]`, because with the feature off the crate
//! does not exist and a `use profiling_alloc::profile_job;` fails (E0432),
//! while a false `cfg_attr` is removed before its path is looked at. With
//! the dependency always there and `default-features = false` (your
//! feature: `profiling = ["profiling-alloc/default"]`), the attribute, the
//! imports and the allocator stay unconditional: without your feature the
//! attribute expands to the function as written, the allocator only
//! forwards, and readings say there is nothing (`heap_stats()` reports the
//! allocator not installed, `job_stats()` is empty).
//!
// Links into the `criterion` module, which exists with its feature only;
// without it they lead to the feature flags. (The blank `//!` line above
// keeps these link definitions out of the last paragraph.)
#![cfg_attr(
    feature = "criterion",
    doc = "[criterion-bytes]: crate::criterion::AllocatedBytes\n\
           [criterion-blocks]: crate::criterion::Allocations\n\
           [criterion-module]: crate::criterion"
)]
#![cfg_attr(
    feature = "cpu",
    doc = "[cpu-module]: crate::cpu\n\
           [cpu-start]: crate::cpu::start\n\
           [cpu-profile]: crate::cpu::CpuProfile"
)]
#![cfg_attr(
    not(feature = "cpu"),
    doc = "[cpu-module]: #feature-flags\n\
           [cpu-start]: #feature-flags\n\
           [cpu-profile]: #feature-flags"
)]
#![cfg_attr(feature = "tracing", doc = "[tracing-layer]: crate::tracing::JobLayer")]
#![cfg_attr(not(feature = "tracing"), doc = "[tracing-layer]: #feature-flags")]
#![cfg_attr(feature = "tower", doc = "[tower-layer]: crate::tower::JobLayer")]
#![cfg_attr(not(feature = "tower"), doc = "[tower-layer]: #feature-flags")]
#![cfg_attr(
    not(feature = "criterion"),
    doc = "[criterion-bytes]: #feature-flags\n\
           [criterion-blocks]: #feature-flags\n\
           [criterion-module]: #feature-flags"
)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod analysis;
pub mod callsites;
mod capture;
#[cfg(feature = "cpu")]
pub mod cpu;
#[cfg(feature = "criterion")]
pub mod criterion;
mod error;
pub mod heap;
#[cfg(any(feature = "tracing", feature = "tower"))]
mod integrations;
mod io;
mod job;
mod kinds;
pub mod output;
mod program;
pub mod runner;
#[cfg(feature = "server")]
pub mod server;
pub mod sizing;
mod sync;
mod sys;
mod units;

#[cfg(feature = "callsites")]
pub use callsites::callsites;
pub use callsites::{set_sampling, Callsite, Frame, Sampling};
pub use capture::allocator::ProfilingAllocator;
pub use error::Error;
pub use heap::{heap_stats, measure, reset_peak, AllocDelta, HeapStats};
#[cfg(feature = "tower")]
pub use integrations::tower;
#[cfg(feature = "tracing")]
pub use integrations::tracing;
pub use job::public as jobs;
pub use jobs::{job_stats, JobStats};
pub use output::{testing, FlameKind, Report};
pub use runner::{JobProfile, ProfileRunner};

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
/// is recorded: annotate a Rust function it calls), on a C-variadic fn, or on
/// a declaration without a body (a trait method without a default body, a
/// function of an `extern` block: there is nothing to record; annotate the
/// method of each `impl` instead).
///
/// # What a call records
///
/// - Duration: wall time from entry to exit; for an `async fn`, from the
///   first poll to completion.
/// - Allocations of the calling thread while the job ran, as
///   [`measure`] counts them: blocks and bytes allocated and freed, live bytes
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
/// calls, and [`jobs::job_paths`] keeps the chain of job names for a job-time
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
/// For a closure or a block, which cannot carry an attribute, use [`jobs::job`]
/// and [`jobs::job_async`].
pub use profiling_macros::profile_job;

/// Not public API: what `#[profile_job]` expansions call. May change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use crate::job::{
        call_once, ErrorOutcome, JobFuture, JobGuard, JobSite, OtherOutcome, Outcome,
    };
}
