//! Instruction pointers to function names, files and lines, at report time
//! only, with a cache: resolving is the expensive part of a profile (and the
//! first resolution loads debug info), so it never happens while allocating.

use std::collections::HashMap;
use std::sync::Mutex;

use super::callsite::{is_crate_file, slashes, Frame};
use crate::capture::reentrancy::Untracked;

mod paths;
use paths::job_body_name;

static CACHE: Mutex<Option<HashMap<usize, Vec<Frame>>>> = Mutex::new(None);

/// The frames at return address `ip`, innermost first (an address inside
/// inlined code gives several). Cached per address.
pub(crate) fn resolve(ip: usize) -> Vec<Frame> {
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    {
        // The cache and the debug info `backtrace` loads are the profiler's
        // own memory, kept for the rest of the program: untracked, so they
        // neither show up in the user's numbers nor sample themselves.
        let _untracked = Untracked::enter();
        let cache = cache.get_or_insert_with(HashMap::new);
        cache.entry(ip).or_insert_with(|| lookup(ip));
    }
    // The copy handed out is the caller's, counted as usual.
    cache
        .as_ref()
        .and_then(|cache| cache.get(&ip))
        .cloned()
        .unwrap_or_default()
}

fn lookup(ip: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    // A return address points after the call: look up the call itself.
    let address = ip.saturating_sub(1) as *mut std::ffi::c_void;
    backtrace::resolve(address, |symbol| {
        let function = symbol
            .name()
            .map_or_else(|| "???".to_string(), |name| format!("{name:#}"));
        frames.push(Frame {
            function,
            file: symbol.filename().map(|path| path.display().to_string()),
            line: symbol.lineno(),
            inlined: false,
        });
    });
    // Symbols come innermost first: all but the last were inlined into it.
    let inlined = frames.len().saturating_sub(1);
    for frame in &mut frames[..inlined] {
        frame.inlined = true;
    }
    if frames.is_empty() {
        frames.push(Frame {
            function: format!("{ip:#x}"),
            file: None,
            line: None,
            inlined: false,
        });
    }
    frames
}

// Presenting a stack. The walk already left out the sampled path's frames
// (it starts at the allocator's caller, see `unwind::Anchor`); what is left
// to take off is the allocator's entry, the standard library's plumbing and
// the job wrappers `#[profile_job]` puts between a function and its body.

/// The resolved frames of one stack (innermost first) as callsites show
/// them: without the allocator's entry and shims at the top, without the
/// profiler's frames anywhere (a job's body shown as its function), and, if
/// `fold`, without the standard library's plumbing at the top or between
/// the program's frames. At least one frame is kept.
pub(crate) fn present(frames: &mut Vec<Frame>, fold: bool) {
    cut_at_scope(frames);
    trim_top(frames, fold);
    unwrap_jobs(frames);
    if fold {
        fold_between(frames);
    }
}

/// The resolved frames of a CPU sample (innermost first) as CPU profiles
/// show them: the profiler's frames at the top kept (a sample there is time
/// the program spent in the profiler), its job wrappers further down
/// unwrapped as for callsites; nothing folded.
#[cfg(feature = "cpu")]
pub(crate) fn present_cpu(frames: &mut Vec<Frame>) {
    let top = frames
        .iter()
        .take_while(|frame| frame.is_profiler())
        .count();
    if top == frames.len() {
        return;
    }
    let mut below = frames.split_off(top);
    unwrap_jobs(&mut below);
    frames.append(&mut below);
}

/// A stack sampled inside a scope of one closure (`Report::capture_of`)
/// keeps only the frames inside the scope: the scope's entry frame
/// (`job::SCOPE_FRAME`, the innermost one if scopes nest), what called it,
/// and the standard library's call glue just inside it are not the
/// closure's code.
fn cut_at_scope(frames: &mut Vec<Frame>) {
    let Some(entry) = frames
        .iter()
        .position(|frame| frame.function.contains(crate::job::SCOPE_FRAME))
    else {
        return;
    };
    frames.truncate(entry);
    while frames.len() > 1 && frames.last().is_some_and(Frame::is_std_library) {
        frames.pop();
    }
}

/// The allocator shims between `alloc::alloc::alloc` and the global
/// allocator (generated in the program, so they have no std file), and the
/// unwinder's own frames, which only a walk that could not be anchored
/// keeps.
const SHIMS: [&str; 8] = [
    "__rustc::", // `__rustc::__rust_alloc` in recent Rust
    "__rust_alloc",
    "__rust_realloc",
    "__rg_",
    "__rdl_",
    "backtrace::",
    "<backtrace::",
    "_Unwind_",
];

/// Drops the allocator's entry (the profiler's frames and the shims) and, if
/// `fold`, the standard library's plumbing from the top of `frames`, keeping
/// at least one frame.
fn trim_top(frames: &mut Vec<Frame>, fold: bool) {
    let skip = frames
        .iter()
        .take_while(|frame| {
            frame.is_profiler()
                || SHIMS.iter().any(|shim| frame.function.starts_with(shim))
                || (fold && is_plumbing(frame))
        })
        .count();
    frames.drain(..skip.min(frames.len().saturating_sub(1)));
}

/// Whether `frame` is one the code `#[profile_job]` generates calls the
/// job's body through: `__private::call_once` (a sync job returning a
/// `Result`) or `JobFuture::poll` (an async job).
fn is_job_wrapper(frame: &Frame) -> bool {
    let name = frame.function.as_str();
    let by_file = frame.file.as_deref().is_some_and(|file| {
        is_crate_file(file, "job/outcome.rs") || is_crate_file(file, "job/future.rs")
    });
    by_file
        || name.starts_with("profiling_alloc::job::outcome::call_once")
        || name.starts_with("<profiling_alloc::job::future::JobFuture<")
}

/// Whether `frame` is the standard library's plumbing: std itself, and the
/// crates std is built from (`hashbrown` under `HashMap`), by name or by
/// their sources (`/rust/deps/hashbrown-0.16.1/src/raw/alloc.rs`).
fn is_plumbing(frame: &Frame) -> bool {
    let name = frame.function.as_str();
    frame.is_std_library()
        || name.starts_with("hashbrown::")
        || name.starts_with("<hashbrown::")
        || frame
            .file
            .as_deref()
            .is_some_and(|file| slashes(file).starts_with("/rust/deps/"))
}

/// Removes the profiler's frames from the rest of the stack. Where they are
/// a job wrapper between a function and the closure (or async block) the
/// macro runs its body in, the two become one frame named after the
/// function, at the body's line, and closures inside the body are named as
/// the function's own: `app::parse::{{closure}}` called through
/// `call_once` from `app::parse` reads `app::parse`, and the body's
/// `app::parse::{{closure}}::{{closure}}` reads `app::parse::{{closure}}`.
fn unwrap_jobs(frames: &mut Vec<Frame>) {
    let mut i = 0;
    while i < frames.len() {
        let run = frames
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|frame| frame.is_profiler())
            .count();
        if run == 0 {
            i += 1;
            continue;
        }
        if run == frames.len() {
            break; // nothing but the profiler: keep it rather than nothing
        }
        let end = i + run;
        let wraps = frames
            .get(i..end)
            .is_some_and(|run| run.iter().any(is_job_wrapper));
        let merged = match (i.checked_sub(1), frames.get(end)) {
            (Some(inner), Some(outer)) if wraps => frames
                .get(inner)
                .and_then(|body| job_body_name(&body.function, &outer.function))
                .map(|name| (inner, name)),
            _ => None,
        };
        let Some((inner, name)) = merged else {
            frames.drain(i..end);
            continue;
        };
        // The body's frame takes the function's name; the function's own
        // frame goes with the wrapper.
        if let Some(body) = frames.get_mut(inner) {
            let old = std::mem::replace(&mut body.function, name.clone());
            rename_closures(frames.get_mut(..inner).unwrap_or_default(), &old, &name);
        }
        frames.drain(i..=end);
    }
}

/// Renames `old::rest` to `new::rest` in `frames`.
fn rename_closures(frames: &mut [Frame], old: &str, new: &str) {
    for frame in frames {
        let rest = frame
            .function
            .strip_prefix(old)
            .and_then(|rest| rest.strip_prefix("::"));
        if let Some(rest) = rest {
            frame.function = format!("{new}::{rest}");
        }
    }
}

/// The runtime's entry into a thread's (or `main`'s) code: the frames from
/// it outwards start the thread, and readers look for it there (the folded
/// stacks root a flamegraph above it).
const THREAD_ENTRY: &str = "__rust_begin_short_backtrace";

/// Folds each run of plumbing that has one of the program's frames on both
/// sides (`Iterator::collect` and its ten adapters between a closure and
/// the function that collects, `HashMap::entry` between a closure and the
/// caller), above the thread's entry.
fn fold_between(frames: &mut Vec<Frame>) {
    let mut entry = frames
        .iter()
        .position(|frame| frame.function.contains(THREAD_ENTRY))
        .unwrap_or(frames.len());
    let mut i = 1;
    while i < entry {
        let run = frames
            .get(i..entry)
            .unwrap_or_default()
            .iter()
            .take_while(|frame| is_plumbing(frame))
            .count();
        if run > 0 && i + run < entry {
            frames.drain(i..i + run);
            entry -= run;
            i += 1;
        } else {
            i += run.max(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callsites::callsite::crate_src;

    fn frame(name: &str) -> Frame {
        Frame {
            function: name.to_string(),
            file: None,
            line: None,
            inlined: false,
        }
    }

    #[test]
    fn trimming_keeps_the_first_user_frame() {
        let stack = || {
            vec![
                frame("backtrace::backtrace::trace_unsynchronized"),
                frame("profiling_alloc::callsites::on_sample"),
                frame("__rust_alloc"),
                frame("alloc::raw_vec::RawVec<T,A>::grow_one"),
                frame("app::parse"),
                frame("std::rt::lang_start"),
            ]
        };
        let mut folded = stack();
        trim_top(&mut folded, true);
        assert_eq!(folded[0].function, "app::parse");
        assert_eq!(folded.len(), 2, "frames below the user's are kept");
        let mut std_impl = vec![
            Frame {
                function: "<u64 as core::fmt::Display>::fmt".to_string(),
                file: Some("/rustc/0123abcd/library/core/src/fmt/num.rs".to_string()),
                line: Some(12),
                inlined: false,
            },
            frame("app::report"),
        ];
        trim_top(&mut std_impl, true);
        assert_eq!(std_impl[0].function, "app::report");
        let mut unfolded = stack();
        trim_top(&mut unfolded, false);
        assert_eq!(
            unfolded[0].function,
            "alloc::raw_vec::RawVec<T,A>::grow_one"
        );
    }

    fn at(name: &str, file: &str, line: u32) -> Frame {
        Frame {
            function: name.to_string(),
            file: Some(file.to_string()),
            line: Some(line),
            inlined: false,
        }
    }

    fn names(frames: &[Frame]) -> Vec<&str> {
        frames.iter().map(|f| f.function.as_str()).collect()
    }

    /// A file of this crate as debug info names it.
    fn ours(name: &str) -> String {
        let src = crate_src();
        if src.starts_with('/') {
            format!("{src}{name}")
        } else {
            format!("/home/dev/project/{src}{name}")
        }
    }

    const STD: &str = "/rustc/0123abcd/library/alloc/src/vec/mod.rs";
    const HASHBROWN: &str = "/rust/deps/hashbrown-0.16.1/src/raw/mod.rs";

    /// The runtime's frames from the thread's entry outwards.
    fn runtime() -> Vec<Frame> {
        vec![
            at("core::ops::function::FnOnce::call_once", STD, 250),
            frame("std::sys::backtrace::__rust_begin_short_backtrace"),
            frame("std::rt::lang_start"),
            frame("main"),
        ]
    }

    #[test]
    fn hashbrown_under_a_hash_map_is_folded() {
        // As a build with full debug info names them, then as one with line
        // tables only (inlined functions without their paths).
        let full = [
            "hashbrown::raw::alloc::inner::do_alloc",
            "hashbrown::raw::RawTable<T,A>::reserve_rehash",
            "hashbrown::map::HashMap<K,V,S,A>::insert",
        ];
        let short = [
            "do_alloc<alloc::alloc::Global>",
            "reserve_rehash<u64>",
            "insert<u64>",
        ];
        for table in [full, short] {
            let mut stack = vec![
                at("alloc::alloc::alloc", STD, 95),
                at(
                    "<alloc::alloc::Global as core::alloc::Allocator>::allocate",
                    STD,
                    429,
                ),
            ];
            stack.extend(table.iter().map(|name| at(name, HASHBROWN, 1)));
            stack.push(frame(
                "std::collections::hash::map::HashMap<K,V,S,A>::insert",
            ));
            stack.push(at("app::index", "/src/app.rs", 7));
            stack.extend(runtime());
            let expected_len = 1 + runtime().len();
            present(&mut stack, true);
            assert_eq!(stack[0].function, "app::index");
            assert_eq!(stack.len(), expected_len, "{:?}", names(&stack));
        }
    }

    /// `text.split(',').map(|w| w.to_uppercase()).collect::<Vec<_>>()` in
    /// `app::parse`: the closure allocates, ten frames of `collect` below it.
    fn collect_chain() -> Vec<Frame> {
        [
            "core::iter::adapters::map::map_fold::{{closure}}",
            "<core::str::iter::Split<P> as core::iter::traits::iterator::Iterator>::fold",
            "<core::iter::adapters::map::Map<I,F> as core::iter::traits::iterator::Iterator>::fold",
            "core::iter::traits::iterator::Iterator::for_each",
            "alloc::vec::Vec<T,A>::extend_trusted",
            "<alloc::vec::Vec<T,A> as alloc::vec::spec_extend::SpecExtend<T,I>>::spec_extend",
            "<alloc::vec::Vec<T> as alloc::vec::spec_from_iter_nested::SpecFromIterNested<T,I>>::from_iter",
            "<alloc::vec::Vec<T> as alloc::vec::spec_from_iter::SpecFromIter<T,I>>::from_iter",
            "<alloc::vec::Vec<T> as core::iter::traits::collect::FromIterator<T>>::from_iter",
            "core::iter::traits::iterator::Iterator::collect",
        ]
        .iter()
        .map(|name| at(name, STD, 1))
        .collect()
    }

    #[test]
    fn a_collect_chain_between_two_frames_of_the_program_is_folded() {
        let stack = || {
            let mut stack = vec![
                at("alloc::str::<impl str>::to_uppercase", STD, 1),
                at("app::parse::{{closure}}", "/src/app.rs", 4),
            ];
            stack.extend(collect_chain());
            stack.push(at("app::parse", "/src/app.rs", 4));
            stack.push(at("app::main", "/src/app.rs", 9));
            stack.extend(runtime());
            stack
        };
        let mut folded = stack();
        present(&mut folded, true);
        let runtime = runtime();
        let mut expected = vec!["app::parse::{{closure}}", "app::parse", "app::main"];
        expected.extend(names(&runtime));
        assert_eq!(names(&folded), expected, "the runtime's frames are kept");
        let mut unfolded = stack();
        present(&mut unfolded, false);
        assert_eq!(unfolded, stack(), "nothing to trim: all kept");
    }

    #[test]
    fn plumbing_that_reaches_the_thread_entry_is_kept() {
        // A spawned thread's closure: the builder's glue leads to the entry,
        // with no frame of the program below it.
        let mut stack = vec![
            at("app::worker::{{closure}}", "/src/app.rs", 3),
            at(
                "std::thread::Builder::spawn_unchecked_::{{closure}}",
                STD,
                1,
            ),
            frame("std::sys::backtrace::__rust_begin_short_backtrace"),
            frame("std::sys::pal::unix::thread::Thread::new::thread_start"),
            frame("start_thread"),
        ];
        let before = stack.clone();
        present(&mut stack, true);
        assert_eq!(stack, before);
    }

    #[test]
    fn a_sync_jobs_closure_reads_as_its_function() {
        // `#[profile_job] fn parse(..) -> Result<..>` runs its body in a
        // closure through `__private::call_once`; the body maps with a
        // closure of its own.
        let stack = |wrapper: Frame, function: &str| {
            vec![
                at("app::parse::{{closure}}::{{closure}}", "/src/app.rs", 5),
                at("core::iter::adapters::map::map_fold::{{closure}}", STD, 1),
                at("app::parse::{{closure}}", "/src/app.rs", 5),
                wrapper,
                at(function, "/src/app.rs", 2),
                at("app::main", "/src/app.rs", 9),
            ]
        };
        let full = frame("profiling_alloc::job::outcome::call_once");
        // Line tables only: the wrapper and the function inlined into its
        // caller are named without their paths.
        let short = at(
            "call_once<core::result::Result<u8, ()>, app::parse::{closure_env#0}>",
            &ours("job/outcome.rs"),
            49,
        );
        for (wrapper, function) in [(full, "app::parse"), (short, "parse")] {
            let mut stack = stack(wrapper, function);
            present(&mut stack, true);
            assert_eq!(
                names(&stack),
                ["app::parse::{{closure}}", "app::parse", "app::main"]
            );
            assert_eq!(stack[1].line, Some(5), "the body's line");
        }
    }

    #[test]
    fn an_async_jobs_block_reads_as_its_function() {
        // `#[profile_job] async fn fetch()`: the body is an async block
        // polled by `JobFuture` from the function's own future.
        let poll =
            "<profiling_alloc::job::future::JobFuture<F,C> as core::future::future::Future>::poll";
        for outer in ["app::fetch::{{closure}}", "{async_fn#0}"] {
            let mut stack = vec![
                at("alloc::vec::Vec<T>::with_capacity", STD, 1),
                at("app::fetch::{{closure}}::{{closure}}", "/src/app.rs", 12),
                at(poll, &ours("job/future.rs"), 98),
                at(outer, "/src/app.rs", 10),
                at("app::block_on", "/src/app.rs", 30),
            ];
            present(&mut stack, true);
            assert_eq!(names(&stack), ["app::fetch", "app::block_on"]);
            assert_eq!(stack[0].line, Some(12));
        }
    }

    #[test]
    fn closures_the_program_wrote_keep_their_names() {
        // `profiling_alloc::jobs::job("load", || ..)`: the closure is the user's.
        let mut manual = vec![
            at("app::main::{{closure}}", "/src/app.rs", 3),
            at(
                "profiling_alloc::job::guard::job",
                &ours("job/guard.rs"),
                107,
            ),
            at("app::main", "/src/app.rs", 3),
        ];
        present(&mut manual, true);
        assert_eq!(names(&manual), ["app::main::{{closure}}", "app::main"]);
        // A function returning an async block the job wraps: the block
        // keeps its name, the future's poll goes.
        let mut returned = vec![
            at("app::load::{{closure}}", "/src/app.rs", 3),
            frame("<profiling_alloc::job::future::JobFuture<F,C> as core::future::future::Future>::poll"),
            at("app::serve::{{closure}}", "/src/app.rs", 20),
        ];
        present(&mut returned, true);
        assert_eq!(
            names(&returned),
            ["app::load::{{closure}}", "app::serve::{{closure}}"]
        );
    }

    #[test]
    fn the_allocators_entry_is_trimmed_by_its_file() {
        // Line tables only: the allocator's inlined frames have short names.
        let mut stack = vec![
            at(
                "record<std::alloc::System>",
                &ours("capture/allocator.rs"),
                155,
            ),
            at(
                "alloc<std::alloc::System>",
                &ours("capture/allocator.rs"),
                243,
            ),
            at("__rustc::__rust_alloc", "/src/app.rs", 1),
            at("alloc", STD, 95),
            at("app::parse", "/src/app.rs", 4),
        ];
        present(&mut stack, false);
        assert_eq!(names(&stack), ["alloc", "app::parse"]);
        // Another crate's `src/allocator.rs` is not ours.
        assert!(!at("alloc", "/home/dev/other/src/allocator.rs", 1).is_profiler());
    }

    #[test]
    fn resolves_a_function_of_this_binary() {
        #[inline(never)]
        fn here() -> usize {
            let mut ip = 0;
            backtrace::trace(|frame| {
                ip = frame.ip() as usize;
                false
            });
            ip
        }
        let frames = resolve(here());
        assert!(!frames.is_empty());
        assert!(
            frames
                .iter()
                .any(|f| f.function.contains("trace") || f.function.contains("here")),
            "{frames:?}"
        );
        assert_eq!(resolve(here()), frames, "cached");
    }
}
