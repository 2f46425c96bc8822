//! Stack walks for the sampled path: the cheapest walk that gives the right
//! stack, chosen at run time and checked again now and then.
//!
//! Unwinding with DWARF call-frame information through `backtrace` (libgcc)
//! costs about a microsecond a stack; following the chain of saved frame
//! pointers ([`frame_pointers`]) costs a few nanoseconds a frame, but is
//! only right when every function on the stack keeps a frame pointer. So
//! the first capture of the process walks both ways and compares: if the
//! frame-pointer walk reproduces the `backtrace` stack, it is used from then
//! on (and checked again every [`RECHECK_EVERY`] walks of a thread: a stack
//! through code without frame pointers, such as a C library's callback,
//! switches the process back). Otherwise, on Linux x86_64, the cached DWARF
//! walk ([`cached_dwarf`]) is tried the same way; `backtrace` itself is the
//! last resort.
//!
//! The cached DWARF walk of a sample starts in the sampled path's own
//! registers (taken with its [`Anchor`]), and keeps the last walk
//! ([`memo`]): when it reaches a frame of that walk, with the same
//! registers and every stack word read from there outwards unchanged, the
//! rest is copied instead of unwound. Allocations in one loop share all but
//! their innermost frames, so most walks unwind a few frames.
//!
//! Safety of the fast walks does not depend on frame pointers or unwind
//! tables being right: they run only while the stack pointer is inside the
//! thread's own stack, and read only words between it and the top of that
//! stack ([`stack`]).
//!
//! Nothing here may panic: the walks run inside the allocator (and, later,
//! a signal handler), where a panic cannot unwind. The lints below make the
//! compiler hold our code to it; `cached_dwarf` says what holds for the
//! crates it calls.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

#[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "callsites"))]
mod cached_dwarf;
#[cfg(feature = "callsites")]
mod frame_pointers;
#[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "cpu"))]
pub(crate) mod interrupted;
#[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "callsites"))]
mod memo;
#[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "callsites"))]
mod rule_ways;
#[cfg(feature = "callsites")]
mod stack;
#[cfg(feature = "callsites")]
mod walk;

#[cfg(feature = "callsites")]
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

/// Most frames a walk fills in.
#[cfg(feature = "callsites")]
pub(crate) const MAX_FRAMES: usize = 128;

/// How stacks are walked, chosen at the first sample: see
/// [`stack_unwinder`](crate::callsites::stack_unwinder).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StackUnwinder {
    /// Not chosen yet: nothing has been sampled.
    Undecided,
    /// Following saved frame pointers: a few nanoseconds a frame, right when
    /// every function on the stack keeps a frame pointer.
    FramePointers,
    /// DWARF call-frame information read in place, with the rule of each
    /// return address cached (Linux x86_64, through `framehop`): for builds
    /// without frame pointers. The caches are built as walks need them,
    /// about 40 KiB each, four for each thread walking at once and 32 at
    /// most (1.3 MiB), and kept for the program's life.
    CachedDwarf,
    /// The `backtrace` crate (the platform's unwinder, libgcc on Linux):
    /// about a microsecond a stack; the reference, and the fallback.
    Backtrace,
}

impl StackUnwinder {
    /// A short name: `"frame pointers"`, `"cached dwarf"`, `"backtrace"`,
    /// `"undecided"`.
    pub fn name(self) -> &'static str {
        match self {
            StackUnwinder::Undecided => "undecided",
            StackUnwinder::FramePointers => "frame pointers",
            StackUnwinder::CachedDwarf => "cached dwarf",
            StackUnwinder::Backtrace => "backtrace",
        }
    }

    #[cfg(feature = "callsites")]
    const fn from_u8(value: u8) -> StackUnwinder {
        match value {
            1 => StackUnwinder::Backtrace,
            2 => StackUnwinder::FramePointers,
            3 => StackUnwinder::CachedDwarf,
            _ => StackUnwinder::Undecided,
        }
    }

    #[cfg(feature = "callsites")]
    const fn to_u8(self) -> u8 {
        match self {
            StackUnwinder::Undecided => 0,
            StackUnwinder::Backtrace => 1,
            StackUnwinder::FramePointers => 2,
            StackUnwinder::CachedDwarf => 3,
        }
    }
}

impl std::fmt::Display for StackUnwinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "callsites")]
static UNWINDER: AtomicU8 = AtomicU8::new(StackUnwinder::Undecided.to_u8());
/// Which stack walk the sampled path uses (see [`StackUnwinder`]):
/// [`StackUnwinder::Undecided`] before the first sample.
#[cfg(feature = "callsites")]
pub fn stack_unwinder() -> StackUnwinder {
    StackUnwinder::from_u8(UNWINDER.load(Relaxed))
}

#[cfg(feature = "callsites")]
fn choose(unwinder: StackUnwinder) {
    UNWINDER.store(unwinder.to_u8(), Relaxed);
}

#[cfg(feature = "callsites")]
pub(crate) use walk::walk;

/// Where the stack a walk returns begins: the address of a local variable
/// of the function whose callers are wanted (the sampled path's entry).
/// That function's frame, and the frames of everything it called (the walk
/// itself), lie below the anchor; the frames of its callers lie above it.
///
/// A walk keeps a frame once the stack pointer of its callee at the call
/// (the callee's canonical frame address) is above the anchor: the first
/// frame kept is the anchor function's caller. This finds the profiler's
/// frames by where they are, not by their names, which depend on the build
/// (a build with line tables only names inlined functions without their
/// paths) and on inlining (release builds fold the walk into its caller).
#[cfg(feature = "callsites")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Anchor {
    local: usize,
    /// The anchor function's registers at a point of its body, when taken
    /// ([`Anchor::starting`]): the cached DWARF walk starts from them.
    start: Option<Start>,
}

/// A function's registers at a point of its body: where a walk of its
/// stack can start without unwinding the frames below it.
#[cfg(feature = "callsites")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Start {
    pub(crate) ip: u64,
    pub(crate) sp: u64,
    pub(crate) bp: u64,
}

#[cfg(feature = "callsites")]
impl Anchor {
    /// No anchor: a walk keeps every frame, its own included.
    #[cfg(test)]
    pub(crate) const NONE: Anchor = Anchor {
        local: 0,
        start: None,
    };

    /// The anchor at `local`, a local variable of the function whose frame
    /// is the last one to skip. The variable must live in that function's
    /// own frame (its address taken, so that it is not kept in a register).
    pub(crate) fn at<T>(local: &T) -> Anchor {
        Anchor {
            local: std::ptr::from_ref(local) as usize,
            start: None,
        }
    }

    /// This anchor, with its function's registers at a point of its body
    /// ([`registers_here!`]): the cached DWARF walk then starts in that
    /// function, instead of unwinding the walk's own frames below it first
    /// (four or five frames, at a hundred instructions or so each).
    pub(crate) fn starting(self, start: Option<Start>) -> Anchor {
        Anchor { start, ..self }
    }

    /// Where a walk may start: see [`starting`](Self::starting).
    pub(crate) fn start(self) -> Option<Start> {
        self.start
    }

    /// Whether a frame whose callee's stack pointer at the call was
    /// `callee_sp` is a caller of the anchor's function. An unknown stack
    /// pointer (0) keeps the frame: a longer stack rather than a wrong one.
    pub(crate) fn keeps(self, callee_sp: usize) -> bool {
        callee_sp > self.local || callee_sp == 0
    }
}

/// The calling function's instruction pointer, stack pointer and frame
/// pointer at this point of its body, as an `Option<Start>` (`None` where
/// the cached DWARF walk does not run). A macro, not a function: the
/// registers must be those of the function it is written in, whose frame
/// is live while they are used, never those of a returned call.
#[cfg(all(feature = "callsites", target_os = "linux", target_arch = "x86_64"))]
macro_rules! registers_here {
    () => {{
        let (ip, sp, bp): (u64, u64, u64);
        // SAFETY: reads the instruction pointer (a `lea` of the next
        // instruction) and two registers; touches no memory.
        unsafe {
            ::std::arch::asm!(
                "lea {ip}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                ip = out(reg) ip,
                sp = out(reg) sp,
                bp = out(reg) bp,
                options(nomem, nostack, preserves_flags)
            );
        }
        Some($crate::capture::unwind::Start { ip, sp, bp })
    }};
}

/// No registers where the cached DWARF walk does not run.
#[cfg(all(
    feature = "callsites",
    not(all(target_os = "linux", target_arch = "x86_64"))
))]
macro_rules! registers_here {
    () => {
        None::<$crate::capture::unwind::Start>
    };
}

#[cfg(feature = "callsites")]
pub(crate) use registers_here;

#[cfg(all(test, feature = "callsites"))]
mod tests {
    use super::*;

    #[test]
    fn unwinders_round_trip_through_their_encoding() {
        for unwinder in [
            StackUnwinder::Undecided,
            StackUnwinder::FramePointers,
            StackUnwinder::CachedDwarf,
            StackUnwinder::Backtrace,
        ] {
            assert_eq!(StackUnwinder::from_u8(unwinder.to_u8()), unwinder);
        }
        assert_eq!(StackUnwinder::CachedDwarf.to_string(), "cached dwarf");
    }

    #[test]
    fn an_anchor_keeps_the_frames_above_it() {
        let local = 0u8;
        let anchor = Anchor::at(&local);
        let at = std::ptr::from_ref(&local) as usize;
        assert!(anchor.keeps(at + 64), "a caller's frame");
        assert!(!anchor.keeps(at - 64), "a callee's frame");
        assert!(anchor.keeps(0), "unknown: kept");
        assert!(Anchor::NONE.keeps(1));
    }
}
