//! The frame-pointer walk: follows the chain of saved frame pointers, a few
//! nanoseconds a frame. Right only when every function on the stack keeps a
//! frame pointer (the standard library does; a program does when built with
//! `-C force-frame-pointers=yes`), which `decide` checks before trusting it.

use super::stack::Bounds;
use super::Anchor;

/// Below this, an address is not code (the first pages are never mapped).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const MIN_CODE_ADDRESS: usize = 0x1_0000;

/// Follows the saved frame pointers from this function's frame into `ips`,
/// from the first caller of `anchor`'s function on; returns how many, and
/// whether the stack was longer. `None` when the
/// stack pointer is not inside the thread's own stack (a stack the program
/// switched to: coroutines, `stacker` segments), or when a "return address"
/// cannot be one (below 64 KiB, or inside the stack): a frame pointer
/// register used for something else.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[inline(never)]
pub(super) fn walk(ips: &mut [usize], bounds: Bounds, anchor: Anchor) -> Option<(usize, bool)> {
    use super::stack::{read_word, readable};

    let (low, top) = bounds;
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
    // address. A valid frame lies above our stack pointer, below the top of
    // the stack, word-aligned, and callers' frames lie higher.
    while let Some(ret_at) = frame
        .checked_add(8)
        .filter(|&at| readable(frame, sp, bounds) && readable(at, sp, bounds))
    {
        // SAFETY: `sp` is inside this thread's stack (checked above) and both
        // words lie between `sp` and the top of that stack (`readable`):
        // mapped memory of this thread.
        let (next, ret) = unsafe { (read_word(frame), read_word(ret_at)) };
        if ret == 0 {
            break;
        }
        // A return address points into code: never into the first pages
        // nor into this thread's stack. Such a value means a frame pointer
        // register that held something else (code built without frame
        // pointers): the walk is wrong, and the caller falls back.
        if ret < MIN_CODE_ADDRESS || (low..top).contains(&ret) {
            return None;
        }
        // The callee's stack pointer at the call: just above the return
        // address it pushed.
        if len > 0 || anchor.keeps(ret_at.saturating_add(8)) {
            let Some(slot) = ips.get_mut(len) else {
                return Some((len, true));
            };
            *slot = ret;
            len += 1;
        }
        if next <= frame {
            break;
        }
        frame = next;
    }
    Some((len, false))
}

/// No frame-pointer walk on this target.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
pub(super) fn walk(_ips: &mut [usize], _bounds: Bounds, _anchor: Anchor) -> Option<(usize, bool)> {
    None
}
