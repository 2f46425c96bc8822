//! What a callsite's frames say: the function the program wrote, as it
//! wrote it. Inside `#[profile_job]` functions (sync, sync returning a
//! `Result`, `async`), allocations made through a `HashMap` insert and
//! through `iter().map(..).collect()` start at the job's function: not at
//! the closure or async block the macro runs the body in, not in
//! `hashbrown`, not in the ten frames of `collect`. Closures the program
//! wrote keep their names. No frame of any callsite is the profiler's.
//!
//! CI also runs this file built with line tables only
//! (`CARGO_PROFILE_DEV_DEBUG=line-tables-only`), where inlined functions
//! are named without their paths: the profiler's frames must still be gone.
//!
//! Without the test harness (`harness = false`): every allocation of the
//! process is sampled, and the checks read all callsites.

mod common;

use std::collections::HashMap;
use std::hint::black_box;

use profiling_alloc::{
    callsites, callsites::callsites_with, callsites::CallsiteOptions, profile_job, Callsite, Frame,
    ProfilingAllocator, Sampling,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

/// A plain job: the guard is a temporary, the body runs in the function.
#[profile_job]
fn index_numbers(count: u64) -> HashMap<u64, u64> {
    let mut index = HashMap::new();
    for n in 0..count {
        index.insert(black_box(n), n * n);
    }
    index
}

/// A plain job collecting through a mapping closure that does not allocate.
#[profile_job]
fn parse_numbers(text: &str) -> Vec<u64> {
    text.split(',')
        .map(|field| field.trim().parse().unwrap_or(0))
        .collect::<Vec<_>>()
}

/// A job returning a `Result`: the macro runs its body in a closure.
/// `collect` into a `Result` goes through `try_process` and `GenericShunt`;
/// the mapping closure allocates (`to_uppercase`).
#[profile_job]
fn shout_words(text: &str) -> Result<Vec<String>, std::num::ParseIntError> {
    let mut seen = HashMap::new();
    seen.insert(black_box(text.len()), 1u8);
    let counts = text
        .split(' ')
        .map(|word| word.len().to_string().parse::<u64>())
        .collect::<Result<Vec<u64>, _>>()?;
    black_box(&counts);
    Ok(text.split(' ').map(|word| word.to_uppercase()).collect())
}

/// An `async` job: its body runs in an async block polled by the job's
/// future, across an `.await`.
#[profile_job]
async fn index_async(count: u64) -> Vec<u64> {
    let mut index = HashMap::new();
    index.insert(black_box(count), count);
    common::yield_once().await;
    let squares = (0..count).map(|n| n * n).collect::<Vec<_>>();
    black_box(&index);
    squares
}

fn main() {
    // Everything this file checks is made here, once, before any reading.
    let kept = (
        index_numbers(100),
        parse_numbers("1, 2, 3, 4, 5, 6, 7, 8, 9"),
        shout_words("hello callsite frames").expect("numbers"),
        common::block_on(index_async(50)),
    );
    common::quiet::run(
        "callsites_frames",
        &[
            (
                "a_jobs_callsites_start_at_its_function",
                a_jobs_callsites_start_at_its_function,
            ),
            (
                "closures_the_program_wrote_keep_their_names",
                closures_the_program_wrote_keep_their_names,
            ),
            ("plumbing_is_there_unfolded", plumbing_is_there_unfolded),
            ("no_frame_is_the_profilers", no_frame_is_the_profilers),
        ],
    );
    drop(black_box(kept));
}

/// `name` without trailing generic arguments (`parse<u8>` in a build with
/// line tables only).
fn without_generics(name: &str) -> &str {
    match name.find('<') {
        Some(at) if at > 0 && name.ends_with('>') => &name[..at],
        _ => name,
    }
}

/// Whether `frame` is the function `function` of this file: its full path,
/// or (line tables only, inlined) its bare name.
fn is_function(frame: &Frame, function: &str) -> bool {
    let name = without_generics(&frame.function);
    name == function || name.ends_with(&format!("::{function}"))
}

/// Whether a frame names a closure or an async body: `f::{{closure}}`,
/// `{closure#0}`, `{async_fn#0}` (not `block_on<f::{async_fn_env#0}>`).
fn is_closure(frame: &Frame) -> bool {
    let name = without_generics(&frame.function);
    name.rsplit("::").next().unwrap_or(name).starts_with('{')
}

/// The program's part of the stack: from the first frame to the last of the
/// program's own above the thread's entry (below it, the runtime's glue).
fn program_frames(site: &Callsite) -> &[Frame] {
    let entry = site
        .frames
        .iter()
        .position(|f| f.function.contains("__rust_begin_short_backtrace"))
        .unwrap_or(site.frames.len());
    let end = site.frames[..entry]
        .iter()
        .rposition(|f| !is_std(f))
        .map_or(0, |last| last + 1);
    &site.frames[..end]
}

/// Whether a frame is the standard library's (or `hashbrown`'s, inside it).
fn is_std(frame: &Frame) -> bool {
    let name = frame.function.as_str();
    let file = frame.file.as_deref().unwrap_or("");
    [
        "std::",
        "core::",
        "alloc::",
        "hashbrown::",
        "<std::",
        "<core::",
        "<alloc::",
        "<hashbrown::",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
        || file.starts_with("/rustc/")
        || file.starts_with("/rust/deps/")
}

/// The callsites of the job whose function is `function` (a default job
/// name is the function's path).
fn job_sites<'a>(sites: &'a [Callsite], function: &str) -> Vec<&'a Callsite> {
    sites
        .iter()
        .filter(|site| {
            site.job_path
                .last()
                .is_some_and(|job| job.ends_with(&format!("::{function}")))
        })
        .collect()
}

fn describe(site: &Callsite) -> String {
    let frames: Vec<String> = site.frames.iter().take(6).map(Frame::to_string).collect();
    format!("{:?}:\n    {}", site.job_path, frames.join("\n    "))
}

/// Whether a frame's name has no path: a build with line tables only names
/// a function that inlines anything by its bare name (`parse`,
/// `{async_block#0}`), which for an async body says nothing of whose it is.
fn pathless(frame: &Frame) -> bool {
    !without_generics(&frame.function).contains("::")
}

fn a_jobs_callsites_start_at_its_function() {
    let sites = callsites();
    for function in [
        "index_numbers",
        "parse_numbers",
        "shout_words",
        "index_async",
    ] {
        let job = job_sites(&sites, function);
        assert!(!job.is_empty(), "no callsite in job {function}");
        let mut at_function = 0;
        for site in &job {
            let first = &site.frames[0];
            if is_closure(first) {
                // The program's own closures (`shout_words` maps with one
                // that allocates: see the next check), or a body a build
                // with line tables only left without a path.
                assert!(
                    function == "shout_words" || pathless(first),
                    "{}",
                    describe(site)
                );
                continue;
            }
            at_function += 1;
            assert!(is_function(first, function), "{}", describe(site));
            assert!(
                first
                    .file
                    .as_deref()
                    .is_some_and(|file| file.ends_with("callsites_frames.rs")),
                "{}",
                describe(site)
            );
            // Between the job and the thread's entry: the program's frames
            // only (`collect`'s and `hashbrown`'s folded), no closure left
            // by the macro.
            let program = program_frames(site);
            assert!(!program.iter().any(is_std), "{}", describe(site));
            assert!(!program.iter().any(is_closure), "{}", describe(site));
        }
        // Each job has its HashMap insert or its collect (or both) there,
        // unless the build could not name its body (see above).
        let unnamed = job
            .iter()
            .all(|site| is_closure(&site.frames[0]) && pathless(&site.frames[0]));
        assert!(at_function >= 1 || unnamed, "{function}");
        if matches!(function, "shout_words" | "index_async") && !unnamed {
            assert!(at_function >= 2, "{function}: insert and collect");
        }
    }
}

/// `shout_words`' `map(|word| word.to_uppercase())`: the closure is the
/// program's, called from the function (the macro's closure between them
/// read as the function).
fn closures_the_program_wrote_keep_their_names() {
    let sites = callsites();
    let closures: Vec<&Callsite> = job_sites(&sites, "shout_words")
        .into_iter()
        .filter(|s| is_closure(&s.frames[0]))
        .collect();
    assert!(!closures.is_empty(), "the mapping closure allocates");
    for site in closures {
        let [closure, caller, ..] = site.frames.as_slice() else {
            panic!("{}", describe(site));
        };
        let name = closure.function.as_str();
        // One closure deep: the program's own, not the macro's as well.
        let depth = name.matches("{{closure}}").count() + name.matches("{closure#").count();
        assert!(depth <= 1, "{}", describe(site));
        assert!(is_function(caller, "shout_words"), "{}", describe(site));
    }
}

/// Unfolded, the same allocations show the plumbing that folding removes:
/// the folding, not the walk, is what takes it away.
fn plumbing_is_there_unfolded() {
    let mut options = CallsiteOptions::default();
    options.fold_plumbing = false;
    let sites = callsites_with(&options);
    let index = job_sites(&sites, "index_numbers");
    assert!(
        index.iter().any(|site| {
            site.frames.iter().any(|f| {
                f.function.contains("hashbrown")
                    || f.file
                        .as_deref()
                        .is_some_and(|file| file.contains("hashbrown"))
            })
        }),
        "{}",
        index
            .iter()
            .map(|s| describe(s))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let parse = job_sites(&sites, "parse_numbers");
    assert!(parse
        .iter()
        .all(|site| site.frames.first().is_some_and(is_std)));
}

/// Names and files of the sampled path: the walk starts at the allocator's
/// caller, so none of them is in any stack, in any build.
const PROFILER_NAMES: [&str; 12] = [
    "on_countdown_end",
    "new_block_moving_peak",
    "allocated_elsewhere",
    "realloc_elsewhere",
    "record_elsewhere",
    "sample",
    "capture",
    "walk",
    "cached_walk",
    "backtrace_walk",
    "no_unwind",
    "decide",
];

fn no_frame_is_the_profilers() {
    for fold_plumbing in [true, false] {
        let mut options = CallsiteOptions::default();
        options.fold_plumbing = fold_plumbing;
        let sites = callsites_with(&options);
        assert!(!sites.is_empty());
        for site in &sites {
            for frame in &site.frames {
                let name = frame.function.as_str();
                let last = without_generics(name.rsplit("::").next().unwrap_or(name));
                let file = frame.file.as_deref().unwrap_or("").replace('\\', "/");
                let profilers = name.starts_with("profiling_alloc::")
                    || name.starts_with("<profiling_alloc::")
                    || name.starts_with("backtrace::")
                    || name.starts_with("framehop::")
                    || PROFILER_NAMES.contains(&last)
                    || file.contains("profiling-alloc/src/")
                    || file.contains("/backtrace-")
                    || file.contains("/framehop-");
                assert!(!profilers, "{frame} in {}", describe(site));
            }
        }
    }
}
