//! The calling thread's stack as the walkers may read it: its bounds, found
//! once per thread, and a load of one word of it.
//!
//! Every read a walker makes is of an aligned word between its own stack
//! pointer and the top of the thread's stack: mapped memory, whatever the
//! (possibly wrong) frame chain says. A wrong chain gives a wrong, short
//! stack, never a fault.

use std::cell::Cell;

/// The bounds of a thread's own stack, `(low, high)`.
pub(super) type Bounds = (usize, usize);

/// `Cell` states: not looked up yet / not available.
const UNKNOWN: Bounds = (0, 0);
const UNAVAILABLE: Bounds = (1, 1);

thread_local! {
    // Found on the thread's first walk. `const`, no destructor: usable from
    // the allocator.
    static STACK: Cell<Bounds> = const { Cell::new(UNKNOWN) };
}

/// The calling thread's stack bounds, looked up the first time; `None` when
/// they are not available (no thread-locals, or the platform cannot say).
pub(super) fn bounds() -> Option<Bounds> {
    STACK
        .try_with(|cell| {
            if cell.get() == UNKNOWN {
                cell.set(look_up());
            }
            Some(cell.get()).filter(|&bounds| bounds != UNAVAILABLE)
        })
        .ok()
        .flatten()
}

/// The calling thread's stack bounds if an earlier walk looked them up;
/// never looks them up (a signal handler may not: the lookup can lock and
/// allocate).
#[cfg(feature = "cpu")]
pub(super) fn bounds_if_known() -> Option<Bounds> {
    // A signal may land between the two halves of the first write: only a
    // pair with both halves set is used.
    STACK
        .try_with(Cell::get)
        .ok()
        .filter(|&(low, high)| low > 1 && high > low)
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[cold]
fn look_up() -> Bounds {
    // glibc may allocate here (the main thread's bounds come from
    // /proc/self/maps); the walk runs untracked, so that memory is neither
    // counted nor sampled.
    crate::sys::thread_stack_bounds().unwrap_or(UNAVAILABLE)
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn look_up() -> Bounds {
    UNAVAILABLE
}

/// Whether `at..at + 8` is an aligned word between `sp` and the top of the
/// stack `(_, top)`: what [`read_word`] may be given.
#[inline(always)]
pub(super) fn readable(at: usize, sp: usize, (_, top): Bounds) -> bool {
    at >= sp && at.is_multiple_of(8) && at.checked_add(8).is_some_and(|end| end <= top)
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
/// top of its stack (mapped memory): [`readable`] with the current stack
/// pointer, or one below it, and the thread's bounds.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[inline(always)]
pub(super) unsafe fn read_word(at: usize) -> usize {
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
