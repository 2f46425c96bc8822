//! Walking: the choice between the walks ([`decide`]), made at the first
//! sample and checked again every [`RECHECK_EVERY`] fast walks of a thread,
//! and the reference walk through `backtrace`.

use std::cell::Cell;

use super::stack::{self, Bounds};
use super::{choose, frame_pointers, stack_unwinder, Anchor, StackUnwinder, MAX_FRAMES};

/// One fast walk in this many (per thread) is checked against `backtrace`.
const RECHECK_EVERY: u64 = 1024;

thread_local! {
    // Fast walks of this thread, for the periodic check. Per thread: a
    // shared counter would be a contended write on every sample. `const`, no
    // destructor: usable from the allocator.
    static WALKS: Cell<u64> = const { Cell::new(0) };
}

/// Whether this target has the cached DWARF walk.
const CACHED_DWARF_AVAILABLE: bool = cfg!(all(target_os = "linux", target_arch = "x86_64"));

/// Fills `ips` with the return addresses of the calling thread's stack,
/// innermost first, from the first caller of `anchor`'s function on;
/// returns how many, and whether the stack was longer.
#[inline(never)]
pub(crate) fn walk(ips: &mut [usize], anchor: Anchor) -> (usize, bool) {
    let Some(bounds) = stack::bounds() else {
        return backtrace_walk(ips, anchor);
    };
    match stack_unwinder() {
        StackUnwinder::FramePointers | StackUnwinder::CachedDwarf if recheck_due() => {
            decide(ips, bounds, anchor)
        }
        StackUnwinder::FramePointers => {
            frame_pointers::walk(ips, bounds, anchor).unwrap_or_else(|| backtrace_walk(ips, anchor))
        }
        StackUnwinder::CachedDwarf => {
            cached_walk(ips, bounds, anchor).unwrap_or_else(|| backtrace_walk(ips, anchor))
        }
        StackUnwinder::Backtrace => backtrace_walk(ips, anchor),
        StackUnwinder::Undecided => decide(ips, bounds, anchor),
    }
}

/// Counts a fast walk; true every [`RECHECK_EVERY`]th on a thread.
fn recheck_due() -> bool {
    WALKS
        .try_with(|walks| {
            let n = walks.get().wrapping_add(1);
            walks.set(n);
            n % RECHECK_EVERY == 0
        })
        .unwrap_or(false)
}

/// The cached DWARF walk, where there is one (Linux x86_64).
fn cached_walk(ips: &mut [usize], bounds: Bounds, anchor: Anchor) -> Option<(usize, bool)> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        super::cached_dwarf::walk(ips, bounds, anchor)
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        let _ = (ips, bounds, anchor);
        None
    }
}

/// Walks every way and keeps (or switches to) the cheapest walk that gives
/// the same stack as `backtrace`: frame pointers, then cached DWARF rules;
/// returns the `backtrace` stack. The fast walks fill buffers as long as
/// `ips`, so that they are compared at the depth the caller asked for.
#[cold]
fn decide(ips: &mut [usize], bounds: Bounds, anchor: Anchor) -> (usize, bool) {
    let depth = ips.len().min(MAX_FRAMES);
    let mut pointer_buffer = [0usize; MAX_FRAMES];
    let by_pointers = pointer_buffer.get_mut(..depth).unwrap_or_default();
    let pointers = frame_pointers::walk(by_pointers, bounds, anchor);
    let (n_backtrace, truncated) = backtrace_walk(ips, anchor);
    let reference = ips.get(..n_backtrace).unwrap_or_default();
    let walked = |buffer: &[usize], walk: Option<(usize, bool)>| {
        walk.and_then(|(n, _)| buffer.get(..n))
            .is_some_and(|stack| agrees(stack, reference))
    };
    // The cached walk only when frame pointers do not do: a build with them
    // never lists modules (nor pins libraries) from inside the allocator.
    let pointers_agree = walked(by_pointers, pointers);
    let mut rule_buffer = [0usize; MAX_FRAMES];
    let by_rules = rule_buffer.get_mut(..depth).unwrap_or_default();
    let rules = if pointers_agree {
        None
    } else {
        cached_walk(by_rules, bounds, anchor)
    };
    let choice = match (pointers, rules) {
        _ if pointers_agree => StackUnwinder::FramePointers,
        (_, Some(_)) if walked(by_rules, rules) => StackUnwinder::CachedDwarf,
        // The cached walk ran and got another stack, or there is none on
        // this target.
        (_, Some(_)) => StackUnwinder::Backtrace,
        (_, None) if !CACHED_DWARF_AVAILABLE => StackUnwinder::Backtrace,
        // Frame pointers were in use and are now shown wrong, but the
        // cached walk could not run: stop using them, decide again later.
        (Some(_), None) if stack_unwinder() == StackUnwinder::FramePointers => {
            StackUnwinder::Undecided
        }
        // No verdict now (off the thread's own stack, or the cached walk
        // not ready: modules being listed, no cache free, a small stack):
        // keep what was decided, or decide at a later sample.
        _ => return (n_backtrace, truncated),
    };
    choose(choice);
    (n_backtrace, truncated)
}

/// Whether a fast walk's stack matches the `backtrace` one from their first
/// common return address down to (nearly) the reference's end: the C
/// library's thread-start frames at the very bottom keep no frame pointer,
/// so up to [`BOTTOM_SLACK`] frames may be missing there.
fn agrees(fast: &[usize], reference: &[usize]) -> bool {
    // The innermost frames differ (different call sites in the walkers).
    let Some((f, r)) = fast.iter().enumerate().find_map(|(f, ip)| {
        reference
            .iter()
            .position(|other| other == ip)
            .map(|r| (f, r))
    }) else {
        return false;
    };
    // Only the walkers' own frames may differ: the match must start at the
    // top of both stacks, not in their common bottom (thread start code keeps
    // frame pointers even where the program does not).
    if f > TOP_SLACK || r > TOP_SLACK {
        return false;
    }
    let (Some(fast), Some(reference)) = (fast.get(f..), reference.get(r..)) else {
        return false;
    };
    let common = fast.len().min(reference.len());
    common >= 2
        && fast.get(..common) == reference.get(..common)
        && fast.len().saturating_add(BOTTOM_SLACK) >= reference.len()
}

/// Frames at the bottom of a stack that the frame-pointer walk may miss.
const BOTTOM_SLACK: usize = 3;
/// Frames at the top (the walkers' own) that may differ between the walks.
const TOP_SLACK: usize = 4;

/// The reference walk, through `backtrace` (libgcc's unwinder on Linux),
/// from the first caller of `anchor`'s function on.
fn backtrace_walk(ips: &mut [usize], anchor: Anchor) -> (usize, bool) {
    let mut len = 0;
    let mut truncated = false;
    let mut record = |frame: &backtrace::Frame| {
        let ip = frame.ip() as usize;
        if ip == 0 {
            return false;
        }
        // The frame's stack pointer (after its callee returned: the
        // callee's frame address), as libgcc's and LLVM's `_Unwind_GetCFA`
        // give it for a frame being traced, and Windows' stack walk.
        if len == 0 && !anchor.keeps(frame.sp() as usize) {
            return true;
        }
        let Some(slot) = ips.get_mut(len) else {
            truncated = true;
            return false;
        };
        *slot = ip;
        len += 1;
        true
    };
    // SAFETY: `trace_unsynchronized` is unsafe because some unwinders are not
    // thread-safe (dbghelp on Windows); there the synchronised `trace` is
    // used instead. The callback neither allocates nor panics.
    #[cfg(not(windows))]
    unsafe {
        backtrace::trace_unsynchronized(&mut record)
    };
    #[cfg(windows)]
    backtrace::trace(&mut record);
    (len, truncated)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn agreement_allows_missing_bottom_frames_only() {
        let reference = [1, 2, 10, 11, 12, 13, 14, 15, 16];
        assert!(
            agrees(&[9, 10, 11, 12, 13, 14, 15], &reference),
            "thread-start frames missing"
        );
        assert!(!agrees(&[9, 10, 11], &reference), "the walk stopped early");
        assert!(
            !agrees(&[9, 10, 99, 12, 13, 14, 15], &reference),
            "a frame differs"
        );
        assert!(!agrees(&[7, 8], &reference), "nothing in common");
        assert!(
            !agrees(&[9, 14, 15, 16], &reference),
            "only the bottom in common"
        );
    }

    #[test]
    fn stacks_cut_at_the_same_depth_agree() {
        // Both walks stopped at the buffer's end, deep in a long stack.
        let reference: Vec<usize> = (100..228).collect();
        let fast: Vec<usize> = std::iter::once(7).chain(101..228).collect();
        assert!(agrees(&fast, &reference));
    }

    type Walk = fn(&mut [usize], Anchor) -> Option<(usize, bool)>;

    /// The sampled path's shape: anchors the walk at a local of its own
    /// frame, and walks from a function it calls.
    #[inline(never)]
    fn anchored(walk: Walk, starting_here: bool) -> Option<Vec<usize>> {
        let here = 0u8;
        let anchor = Anchor::at(std::hint::black_box(&here));
        // As `record::on_countdown_end` does: the walk may start in this
        // frame.
        let anchor = anchor.starting(if starting_here {
            super::super::registers_here!()
        } else {
            None
        });
        let mut ips = [0usize; 32];
        let (len, _) = std::hint::black_box(walk)(&mut ips, anchor)?;
        Some(ips[..len].to_vec())
    }

    /// The allocator's part: calls the anchored function.
    #[inline(never)]
    fn caller(walk: Walk) -> Option<Vec<usize>> {
        std::hint::black_box(anchored(walk, false))
    }

    /// The same, with the anchored function's registers to start from.
    #[inline(never)]
    fn caller_starting_there(walk: Walk) -> Option<Vec<usize>> {
        std::hint::black_box(anchored(walk, true))
    }

    fn function_at(ip: usize) -> String {
        let mut name = String::new();
        backtrace::resolve((ip - 1) as *mut std::ffi::c_void, |symbol| {
            if name.is_empty() {
                name = symbol.name().map(|n| format!("{n:#}")).unwrap_or_default();
            }
        });
        name
    }

    #[test]
    fn every_walk_starts_at_the_anchors_caller() {
        let by_backtrace: Walk = |ips, anchor| Some(backtrace_walk(ips, anchor));
        let by_rules: Walk = |ips, anchor| cached_walk(ips, stack::bounds()?, anchor);
        let by_pointers: Walk = |ips, anchor| frame_pointers::walk(ips, stack::bounds()?, anchor);
        let reference = caller(by_backtrace).expect("backtrace walks");
        assert!(
            function_at(reference[0]).ends_with("tests::caller"),
            "{}",
            function_at(reference[0])
        );
        // The cached walk, where it runs (Linux x86_64; it declines while
        // another thread lists the modules or holds every cache).
        if let Some(stack) = caller(by_rules) {
            assert_eq!(stack[0], reference[0], "cached DWARF walk");
        }
        // Frame pointers give the right stack only in a build that keeps
        // them; where they do, it starts at the same frame.
        if let Some(stack) = caller(by_pointers).filter(|s| agrees(s, &reference)) {
            assert_eq!(stack[0], reference[0], "frame-pointer walk");
        }
    }

    /// Calls `caller(walk)` (or `caller_starting_there`) from `depth` frames
    /// of itself down.
    #[inline(never)]
    fn nested(depth: usize, walk: Walk, starting_there: bool) -> Option<Vec<usize>> {
        if depth == 0 {
            return match starting_there {
                true => caller_starting_there(walk),
                false => caller(walk),
            };
        }
        let stack = nested(std::hint::black_box(depth - 1), walk, starting_there);
        std::hint::black_box(stack)
    }

    #[test]
    fn cached_walks_that_meet_the_last_one_give_a_full_walks_stack() {
        let by_backtrace: Walk = |ips, anchor| Some(backtrace_walk(ips, anchor));
        let by_rules: Walk = |ips, anchor| cached_walk(ips, stack::bounds()?, anchor);
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        let met_before = super::super::memo::MEETINGS.with(|met| met.get());
        let mut walked = false;
        // Deeper and shallower than the walk before, the same again, and
        // deeper than the 32 frames `anchored` keeps: each walk meets the
        // last one at another frame, or walks on past it.
        for depth in [3, 1, 6, 6, 2, 0, 40, 5, 40, 1] {
            for starting_there in [false, true] {
                // The first walk meets the one kept last (the full walk of
                // the round before); the second is a full walk; the third
                // the reference. One call site, so that the stacks are the
                // same.
                let mut walks = Vec::new();
                for (walk, forget) in [(by_rules, false), (by_rules, true), (by_backtrace, false)] {
                    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
                    if forget {
                        super::super::cached_dwarf::forget_walks();
                    }
                    let _ = forget;
                    walks.push(nested(depth, walk, starting_there));
                }
                let reference = walks[2].take().expect("backtrace walks");
                let [met, full] = [walks[0].take(), walks[1].take()];
                // The cached walk, where it runs (Linux x86_64; it declines
                // while another thread holds every cache).
                if let (Some(met), Some(full)) = (met, full) {
                    walked = true;
                    assert_eq!(met, full, "depth {depth}");
                    // Both starts begin at the anchor's caller.
                    assert_eq!(full[0], reference[0], "depth {depth}");
                    assert!(
                        agrees(&full, &reference),
                        "depth {depth}: {full:x?} against {reference:x?}"
                    );
                }
            }
        }
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        if walked {
            assert!(
                super::super::memo::MEETINGS.with(|met| met.get()) > met_before,
                "no walk met the one before it"
            );
        }
        let _ = walked;
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn a_walk_deeper_than_its_buffer_is_kept_for_the_next() {
        let by_rules: Walk = |ips, anchor| cached_walk(ips, stack::bounds()?, anchor);
        let meetings = || super::super::memo::MEETINGS.with(|met| met.get());
        // Another test's walk through the same caches between the two can
        // replace the kept walk: a few tries.
        let mut outcomes = Vec::new();
        for _ in 0..5 {
            let mut walks = Vec::new();
            let mut met = Vec::new();
            for forget in [true, false] {
                if forget {
                    super::super::cached_dwarf::forget_walks();
                }
                let before = meetings();
                // 40 nested frames: more than the 32 `anchored` keeps.
                walks.push(nested(40, by_rules, true));
                met.push(meetings() > before);
            }
            if let [Some(first), Some(second)] = &walks[..] {
                assert_eq!(first.len(), 32);
                assert_eq!(first, second);
                outcomes.push(met == [false, true]);
            }
        }
        assert!(
            outcomes.is_empty() || outcomes.contains(&true),
            "the second walk never met the first: {outcomes:?}"
        );
    }

    #[test]
    fn the_chosen_walk_returns_this_test_in_the_stack() {
        // The first walk of the process decides (and returns the
        // `backtrace` stack); the second takes the walk chosen. Both start
        // at the anchor's caller, called from the same place. (The frame-
        // pointer walk may miss the thread's start frames at the bottom.)
        let chosen: Walk = |ips, anchor| Some(walk(ips, anchor));
        let stacks: Vec<Vec<usize>> = (0..2).map(|_| caller(chosen).expect("a walk")).collect();
        assert_ne!(stack_unwinder(), StackUnwinder::Undecided);
        let common = stacks[0]
            .len()
            .min(stacks[1].len())
            .saturating_sub(BOTTOM_SLACK);
        assert!(
            common >= 2,
            "{} and {} frames",
            stacks[0].len(),
            stacks[1].len()
        );
        assert_eq!(stacks[0][..common], stacks[1][..common]);
        assert!(
            function_at(stacks[0][1]).contains("the_chosen_walk"),
            "{:?} by {}",
            stacks[0]
                .iter()
                .take(4)
                .map(|&ip| function_at(ip))
                .collect::<Vec<_>>(),
            stack_unwinder()
        );
    }
}
