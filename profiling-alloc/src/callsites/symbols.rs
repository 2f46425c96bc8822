//! Instruction pointers to function names, files and lines, at report time
//! only, with a cache: resolving is the expensive part of a profile (and the
//! first resolution loads debug info), so it never happens while allocating.

use std::collections::HashMap;
use std::sync::Mutex;

use super::callsite::Frame;
use crate::reentrancy::Untracked;

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
        });
    });
    if frames.is_empty() {
        frames.push(Frame {
            function: format!("{ip:#x}"),
            file: None,
            line: None,
        });
    }
    frames
}

/// Frames of the profiler itself and of the allocator entry points, always
/// removed from the top of a stack.
const PROFILER: [&str; 11] = [
    "backtrace::",
    "__rustc::", // the allocator shims (`__rustc::__rust_alloc`) in recent Rust
    "<backtrace::",
    "profiling_alloc::",
    "<profiling_alloc::",
    "__rust_alloc",
    "__rust_realloc",
    "__rust_dealloc",
    "__rg_",
    "__rdl_",
    "_Unwind_",
];

/// Drops the profiler's frames (and, if `fold`, the standard library's)
/// from the top of `frames` (innermost first), keeping at least one frame.
pub(crate) fn trim_top(frames: &mut Vec<Frame>, fold: bool) {
    let skip = frames
        .iter()
        .take_while(|frame| {
            let name = frame.function.as_str();
            PROFILER.iter().any(|prefix| name.starts_with(prefix))
                || (fold && frame.is_std_library())
        })
        .count();
    frames.drain(..skip.min(frames.len().saturating_sub(1)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str) -> Frame {
        Frame {
            function: name.to_string(),
            file: None,
            line: None,
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
