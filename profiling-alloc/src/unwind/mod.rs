//! Fast stack walks: following frame pointers, where the build keeps them,
//! and DWARF unwinding with cached rules (`cached_dwarf`) where it does not.
//!
//! Unwinding with DWARF call-frame information (`backtrace`, through libgcc)
//! costs about a microsecond a stack; following the chain of saved frame
//! pointers costs a few nanoseconds a frame. It is only correct when every
//! function on the stack keeps a frame pointer: the standard library does,
//! the program does when built with `-C force-frame-pointers=yes`. So the
//! first capture of the process walks both ways and compares: if the
//! frame-pointer walk reproduces the DWARF stack, it is used from then on
//! (and checked again every [`RECHECK_EVERY`] samples: a stack through code
//! without frame pointers, such as a C library's callback, switches the
//! process back to DWARF). Otherwise, on Linux x86_64, the cached DWARF walk
//! is tried the same way (checked against `backtrace` first and every
//! [`RECHECK_EVERY`] walks after); `backtrace` itself is the last resort.
//!
//! Safety of the walk does not depend on frame pointers being right: it runs
//! only while the stack pointer is inside the thread's own stack (not on a
//! stack the program switched to: coroutines, `stacker` segments), and every
//! read is of a word between the walker's stack pointer and the top of that
//! stack, which is mapped. A wrong chain gives a wrong (short) stack, never a
//! fault.

use std::cell::Cell;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::Relaxed;

/// Not decided yet / DWARF (`backtrace`) / frame pointers / DWARF with
/// cached rules.
const UNDECIDED: u8 = 0;
const DWARF: u8 = 1;
const FRAME_POINTERS: u8 = 2;
const CACHED_DWARF: u8 = 3;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod cached_dwarf;
/// Whether this target has the cached DWARF walk.
const CACHED_DWARF_AVAILABLE: bool = cfg!(all(target_os = "linux", target_arch = "x86_64"));

static UNWINDER: AtomicU8 = AtomicU8::new(UNDECIDED);
/// One frame-pointer walk in this many (per thread) is checked against DWARF.
const RECHECK_EVERY: u64 = 1024;

/// The bounds of a thread's own stack, `(low, high)`: `(0, 0)` not looked up
/// yet, `(1, 1)` not available.
type Bounds = (usize, usize);
const UNKNOWN: Bounds = (0, 0);
const UNAVAILABLE: Bounds = (1, 1);

thread_local! {
    // Found on the thread's first frame-pointer walk. `const`, no
    // destructor: usable from the allocator.
    static STACK: Cell<Bounds> = const { Cell::new(UNKNOWN) };
    // Frame-pointer walks of this thread, for the periodic check. Per
    // thread: a shared counter would be a contended write on every sample.
    static WALKS: Cell<u64> = const { Cell::new(0) };
}

/// Which stack walk capture uses: `"frame pointers"`, `"cached dwarf"`
/// (DWARF call-frame information with a per-address rule cache),
/// `"dwarf"` (`backtrace`, through the platform's unwinder), or
/// `"undecided"` before the first sample.
pub fn stack_unwinder() -> &'static str {
    match UNWINDER.load(Relaxed) {
        FRAME_POINTERS => "frame pointers",
        CACHED_DWARF => "cached dwarf",
        DWARF => "dwarf",
        _ => "undecided",
    }
}

/// Fills `ips` with the return addresses of the calling thread's stack,
/// innermost first; returns how many, and whether the stack was longer.
#[inline(never)]
pub(crate) fn walk(ips: &mut [usize]) -> (usize, bool) {
    let Ok(mut bounds) = STACK.try_with(Cell::get) else {
        return dwarf(ips);
    };
    let walked = match UNWINDER.load(Relaxed) {
        FRAME_POINTERS | CACHED_DWARF if recheck_due() => decide(ips, &mut bounds),
        FRAME_POINTERS => frame_pointers::walk(ips, &mut bounds).unwrap_or_else(|| dwarf(ips)),
        CACHED_DWARF => cached_walk(ips, &mut bounds).unwrap_or_else(|| dwarf(ips)),
        DWARF => dwarf(ips),
        _ => decide(ips, &mut bounds),
    };
    let _ = STACK.try_with(|cell| cell.set(bounds));
    walked
}

/// Counts a frame-pointer walk; true every [`RECHECK_EVERY`]th on a thread.
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
fn cached_walk(ips: &mut [usize], bounds: &mut Bounds) -> Option<(usize, bool)> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        cached_dwarf::walk(ips, frame_pointers::known_bounds(bounds)?)
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        let _ = (ips, bounds);
        None
    }
}

/// Walks every way and keeps (or switches to) the cheapest walk that gives
/// the same stack as `backtrace`: frame pointers, then cached DWARF rules;
/// returns the `backtrace` stack.
#[cold]
fn decide(ips: &mut [usize], bounds: &mut Bounds) -> (usize, bool) {
    let mut by_pointers = [0usize; 64];
    let pointers = frame_pointers::walk(&mut by_pointers, bounds);
    let (n_dwarf, truncated) = dwarf(ips);
    let reference = &ips[..n_dwarf];
    // The cached walk only when frame pointers do not do: a build with them
    // never lists modules (nor pins libraries) from inside the allocator.
    let pointers_agree = pointers.is_some_and(|(n, _)| agrees(&by_pointers[..n], reference));
    let mut by_rules = [0usize; 64];
    let rules = if pointers_agree {
        None
    } else {
        cached_walk(&mut by_rules, bounds)
    };
    let choice = match (pointers, rules) {
        _ if pointers_agree => FRAME_POINTERS,
        (_, Some((n, _))) if agrees(&by_rules[..n], reference) => CACHED_DWARF,
        // The cached walk ran and got another stack, or there is none on
        // this target.
        (_, Some(_)) => DWARF,
        (_, None) if !CACHED_DWARF_AVAILABLE => DWARF,
        // Frame pointers were in use and are now shown wrong, but the
        // cached walk could not run: stop using them, decide again later.
        (Some(_), None) if UNWINDER.load(Relaxed) == FRAME_POINTERS => UNDECIDED,
        // No verdict now (off the thread's own stack, or the cached walk
        // not ready: modules being listed, no cache free, a small stack):
        // keep what was decided, or decide at a later sample.
        _ => return (n_dwarf, truncated),
    };
    UNWINDER.store(choice, Relaxed);
    (n_dwarf, truncated)
}

/// Whether the frame-pointer stack matches the DWARF one from their first
/// common return address down to (nearly) the DWARF stack's end: the C
/// library's thread-start frames at the very bottom keep no frame pointer,
/// so up to [`BOTTOM_SLACK`] frames may be missing there.
fn agrees(by_pointers: &[usize], by_dwarf: &[usize]) -> bool {
    // The innermost frames differ (different call sites in the walkers).
    let Some((p, d)) = by_pointers.iter().enumerate().find_map(|(p, ip)| {
        by_dwarf
            .iter()
            .position(|other| other == ip)
            .map(|d| (p, d))
    }) else {
        return false;
    };
    // Only the walkers' own frames may differ: the match must start at the
    // top of both stacks, not in their common bottom (thread start code keeps
    // frame pointers even where the program does not).
    if p > TOP_SLACK || d > TOP_SLACK {
        return false;
    }
    let pointers = &by_pointers[p..];
    let dwarf = &by_dwarf[d..];
    let common = pointers.len().min(dwarf.len());
    common >= 2
        && pointers[..common] == dwarf[..common]
        && pointers.len() + BOTTOM_SLACK >= dwarf.len()
}

/// Frames at the bottom of a stack that the frame-pointer walk may miss.
const BOTTOM_SLACK: usize = 3;
/// Frames at the top (the walkers' own) that may differ between the walks.
const TOP_SLACK: usize = 4;

fn dwarf(ips: &mut [usize]) -> (usize, bool) {
    let mut len = 0;
    let mut truncated = false;
    let mut record = |frame: &backtrace::Frame| {
        let ip = frame.ip() as usize;
        if ip == 0 {
            return false;
        }
        if len == ips.len() {
            truncated = true;
            return false;
        }
        ips[len] = ip;
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

/// Reads the word at `at` on the calling thread's stack.
///
/// An assembly load rather than a Rust read: the word may belong to a live
/// frame (the walker's own locals, a caller's `&mut` buffer) or be
/// uninitialised, which a Rust-level read may not touch but a plain load of
/// mapped memory may.
///
/// # Safety
///
/// `at..at + 8` must lie between the calling thread's stack pointer and the
/// top of its stack (mapped memory).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[inline(always)]
unsafe fn read_stack_word(at: usize) -> usize {
    let value: usize;
    // SAFETY: the caller guarantees `at` is readable; the load writes only
    // `value` and has no other effect.
    unsafe {
        std::arch::asm!(
            "mov {value}, qword ptr [{at}]",
            at = in(reg) at,
            value = out(reg) value,
            options(readonly, nostack, preserves_flags)
        );
    }
    value
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod frame_pointers {
    use super::{read_stack_word, Bounds, UNAVAILABLE, UNKNOWN};

    /// The thread's stack bounds, looked up into `bounds` the first time;
    /// `None` when they are not available.
    pub(super) fn known_bounds(bounds: &mut Bounds) -> Option<Bounds> {
        if *bounds == UNKNOWN {
            *bounds = stack_bounds();
        }
        (*bounds != UNAVAILABLE).then_some(*bounds)
    }

    /// The calling thread's stack, `(lowest, highest)` address.
    #[cold]
    fn stack_bounds() -> Bounds {
        // SAFETY: `attr` is initialised by `pthread_getattr_np` before it is
        // read and destroyed once; the out-pointers are valid locals. (For the
        // main thread glibc reads /proc/self/maps here: a few syscalls and an
        // untracked allocation, once per thread, on the sampled path.)
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
                return UNAVAILABLE;
            }
            let mut addr: *mut libc::c_void = std::ptr::null_mut();
            let mut size: libc::size_t = 0;
            let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
            libc::pthread_attr_destroy(&mut attr);
            match (addr as usize).checked_add(size) {
                Some(high) if ok && size > 0 => (addr as usize, high),
                _ => UNAVAILABLE,
            }
        }
    }

    /// Follows the saved frame pointers from this function's frame; `None`
    /// when the thread's stack bounds are unknown or the stack pointer is not
    /// inside them.
    #[inline(never)]
    pub(super) fn walk(ips: &mut [usize], bounds: &mut Bounds) -> Option<(usize, bool)> {
        let (low, top) = known_bounds(bounds)?;
        let (mut frame, sp): (usize, usize);
        // SAFETY: reads two registers, touches no memory.
        unsafe {
            std::arch::asm!("mov {}, rbp", out(reg) frame, options(nomem, nostack, preserves_flags));
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
        }
        if sp < low || sp >= top {
            return None;
        }
        let mut len = 0;
        // Each frame: [frame] = caller's frame pointer, [frame + 8] = return
        // address. A valid frame lies above our stack pointer, below the top
        // of the stack, word-aligned, and callers' frames lie higher.
        while frame >= sp && frame % 8 == 0 && frame.checked_add(16).is_some_and(|end| end <= top) {
            // SAFETY: `sp` is inside this thread's stack (checked above) and
            // `frame..frame + 16` lies between `sp` and the top of that
            // stack (checked just above): mapped memory of this thread.
            let (next, ret) = unsafe { (read_stack_word(frame), read_stack_word(frame + 8)) };
            if ret == 0 {
                break;
            }
            if len == ips.len() {
                return Some((len, true));
            }
            ips[len] = ret;
            len += 1;
            if next <= frame {
                break;
            }
            frame = next;
        }
        Some((len, false))
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod frame_pointers {
    use super::Bounds;

    /// No frame-pointer walk on this target.
    pub(super) fn walk(_ips: &mut [usize], _bounds: &mut Bounds) -> Option<(usize, bool)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_allows_missing_bottom_frames_only() {
        let dwarf = [1, 2, 10, 11, 12, 13, 14, 15, 16];
        assert!(
            agrees(&[9, 10, 11, 12, 13, 14, 15], &dwarf),
            "thread-start frames missing"
        );
        assert!(!agrees(&[9, 10, 11], &dwarf), "the walk stopped early");
        assert!(
            !agrees(&[9, 10, 99, 12, 13, 14, 15], &dwarf),
            "a frame differs"
        );
        assert!(!agrees(&[7, 8], &dwarf), "nothing in common");
        assert!(
            !agrees(&[9, 14, 15, 16], &dwarf),
            "only the bottom in common"
        );
    }

    #[test]
    fn the_chosen_walk_returns_this_test_in_the_stack() {
        let mut ips = [0usize; 64];
        let (len, _) = walk(&mut ips);
        assert!(len >= 2);
        assert_ne!(stack_unwinder(), "undecided");
        // Walked again from the same function, the stack below it is the
        // same, whichever walk was chosen.
        let mut again = [0usize; 64];
        let (len_again, _) = walk(&mut again);
        let bottom = len.min(len_again).saturating_sub(4);
        assert!(bottom >= 2, "{len} and {len_again} frames");
        assert_eq!(ips[len - bottom..len], again[len_again - bottom..len_again]);
    }
}
