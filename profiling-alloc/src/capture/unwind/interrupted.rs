//! Walking the stack of code a signal interrupted (the CPU profiler's
//! handler), from the registers the kernel saved: no allocation, no lock
//! waited for, no lookup that could take one, a bounded number of reads,
//! each of which either is known to be mapped or goes through
//! `process_vm_readv`, which reports a bad address instead of faulting.
//!
//! The walk is the one the process chose ([`stack_unwinder`]): frame
//! pointers, or cached DWARF rules when they are ready
//! ([`prepare_for_signals`]). Anything else gives the interrupted
//! instruction alone: a flat profile rather than a wrong one.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::stack::{self, read_word, readable, Bounds};
use super::{stack_unwinder, StackUnwinder};

/// Registers of the interrupted code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Registers {
    /// The instruction interrupted.
    pub(crate) ip: usize,
    /// Its stack pointer.
    pub(crate) sp: usize,
    /// Its frame pointer register (a frame pointer only in code that keeps one).
    pub(crate) bp: usize,
}

/// Below this, an address is not code (the first pages are never mapped).
const MIN_CODE_ADDRESS: usize = 0x1_0000;
/// Bytes copied per `process_vm_readv`: a stack's frames lie close together,
/// so a few windows serve a whole walk.
const WINDOW: usize = 1024;
/// Stack the cached DWARF walk needs below the handler's frame (gimli's rows
/// of rules are copied on the stack): see `cached_dwarf`.
const DWARF_STACK_NEEDED: usize = super::cached_dwarf::STACK_NEEDED;
const PAGE: usize = 4096;

/// Whether the cached DWARF walk is ready for signal handlers: modules listed
/// and every cache built.
static DWARF_READY: AtomicBool = AtomicBool::new(false);
/// Whether `process_vm_readv` works here (a seccomp filter may refuse it).
static COPY_READS: AtomicBool = AtomicBool::new(false);
/// This process's id, for `process_vm_readv` (read once: `getpid` is a
/// system call).
static PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Makes the walks a signal handler takes ready, outside any handler: decides
/// the walk if it is undecided, lists the modules and builds every rule cache
/// (which allocates), finds the calling thread's stack bounds, and probes
/// `process_vm_readv`. Returns the walk that handlers will take.
pub(crate) fn prepare_for_signals() -> StackUnwinder {
    // What deciding and preparing build (the module list, rule caches) is
    // the profiler's memory, kept for the program's life, as when the first
    // allocation sample decides: not the caller's allocations.
    let _untracked = crate::capture::reentrancy::Untracked::enter();
    // SAFETY: `getpid` has no preconditions.
    PID.store(unsafe { libc::getpid() }, Relaxed);
    let _ = stack::bounds();
    // Decide now, in ordinary code: the first sample decides otherwise, and
    // a handler must not run `backtrace`.
    for _ in 0..8 {
        if stack_unwinder() != StackUnwinder::Undecided {
            break;
        }
        decide_below(DECIDING_DEPTH);
    }
    if super::cached_dwarf::prepare() {
        DWARF_READY.store(true, Release);
    }
    let probe = 0u64;
    let mut reader = CopyReader::new();
    let works = reader.read(std::ptr::from_ref(&probe) as usize).is_some();
    COPY_READS.store(works, Release);
    stack_unwinder()
}

/// Frames of this crate between the deciding walk's anchor and its caller.
/// The decision compares the walks below the few frames where they may
/// differ: it must see frames built as the program is built (with or
/// without frame pointers), not only the standard library's, which keep
/// them.
const DECIDING_DEPTH: u32 = 8;

/// Walks the stack `depth` calls of itself down, which decides the walk.
#[inline(never)]
fn decide_below(depth: u32) {
    if depth > 0 {
        decide_below(std::hint::black_box(depth - 1));
        std::hint::black_box(depth);
        return;
    }
    let mut ips = [0usize; 64];
    let here = 0u8;
    let _ = super::walk(&mut ips, super::Anchor::at(std::hint::black_box(&here)));
}

/// Whether reads of another place of the stack than the thread's known bounds
/// work (`process_vm_readv` allowed): without them, threads whose bounds are
/// not known yet give their interrupted instruction only.
pub(crate) fn copy_reads_work() -> bool {
    COPY_READS.load(Acquire)
}

/// Fills `ips` with the interrupted code's stack, innermost first: the
/// interrupted instruction (stored plus one, as a return address is, so that
/// symbol lookups of `ip - 1` find it), then the return addresses of its
/// callers. Returns how many, and whether the stack was longer.
///
/// Must be called on the interrupted thread (a signal handler), whose stack
/// lies above `regs.sp`.
#[inline(never)]
pub(crate) fn walk(regs: Registers, ips: &mut [usize]) -> (usize, bool) {
    let Some(leaf) = ips.first_mut() else {
        return (0, true);
    };
    *leaf = regs.ip.wrapping_add(1);
    let known = stack::bounds_if_known().filter(|&(low, top)| low <= regs.sp && regs.sp < top);
    let mut reader = match known {
        Some(bounds) => Reader::Direct {
            sp: regs.sp,
            bounds,
        },
        None if copy_reads_work() => Reader::Copied(CopyReader::new()),
        None => return (1, true),
    };
    let rest = ips.get_mut(1..).unwrap_or_default();
    let walked = match stack_unwinder() {
        StackUnwinder::FramePointers => Some(frame_pointer_walk(regs, rest, &mut reader)),
        _ if DWARF_READY.load(Acquire) && room_for_dwarf(known) => {
            super::cached_dwarf::walk_interrupted(regs, rest, &mut |at| reader.read(at))
        }
        _ => None,
    };
    match walked {
        Some((n, truncated)) => (n.saturating_add(1), truncated),
        None => (1, true),
    }
}

/// Whether the stack below the handler's frame has room for the DWARF walk:
/// from the known bounds (when the handler runs on that stack), or by
/// probing each page below it (one `process_vm_readv`).
fn room_for_dwarf(known: Option<Bounds>) -> bool {
    let marker = 0u8;
    let here = std::ptr::from_ref(&marker) as usize;
    if let Some((low, top)) = known {
        return (low..top).contains(&here)
            && here
                .checked_sub(low)
                .is_some_and(|room| room >= DWARF_STACK_NEEDED);
    }
    here.checked_sub(DWARF_STACK_NEEDED)
        .is_some_and(|lowest| probe_pages(lowest, here))
}

/// Whether one word of every page from `low` up to `high` can be read.
fn probe_pages(low: usize, high: usize) -> bool {
    const PAGES: usize = DWARF_STACK_NEEDED / PAGE + 1;
    let mut words = [0usize; PAGES];
    let mut remote = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; PAGES];
    let mut count = 0;
    let mut at = low & !(PAGE - 1);
    while at < high && count < PAGES {
        if let Some(iov) = remote.get_mut(count) {
            iov.iov_base = at as *mut libc::c_void;
            iov.iov_len = 8;
        }
        count += 1;
        at = at.saturating_add(PAGE);
    }
    let (Some(words), Some(remote)) = (words.get_mut(..count), remote.get(..count)) else {
        return false;
    };
    copy_in(words, remote) == count * 8
}

/// Copies the memory `remote` describes, in order, into `into` (at most its
/// length) with `process_vm_readv`; returns the bytes copied, which stop
/// short at the first unmapped byte (0 on a refusal).
fn copy_in(into: &mut [usize], remote: &[libc::iovec]) -> usize {
    let local = libc::iovec {
        iov_base: into.as_mut_ptr().cast(),
        iov_len: std::mem::size_of_val(into),
    };
    // SAFETY: `local` describes `into`, writable for its whole length, and
    // the kernel writes no more than that; the remote ranges are only read,
    // by the kernel, which reports unmapped memory as a short count or an
    // error instead of faulting.
    let read = unsafe {
        libc::process_vm_readv(
            PID.load(Relaxed),
            &raw const local,
            1,
            remote.as_ptr(),
            remote.len() as libc::c_ulong,
            0,
        )
    };
    usize::try_from(read).unwrap_or(0)
}

/// Follows saved frame pointers from the interrupted frame pointer into
/// `ips`. Frames must be aligned and lie above the interrupted stack
/// pointer, each above the last; a "return address" below 64 KiB ends the
/// walk.
fn frame_pointer_walk(regs: Registers, ips: &mut [usize], reader: &mut Reader) -> (usize, bool) {
    let mut frame = regs.bp;
    let mut len = 0;
    while frame >= regs.sp && frame.is_multiple_of(8) {
        let (Some(next), Some(ret)) = (reader.read(frame), reader.read(frame.wrapping_add(8)))
        else {
            break;
        };
        if ret < MIN_CODE_ADDRESS || reader.inside_stack(ret) {
            break;
        }
        let Some(slot) = ips.get_mut(len) else {
            return (len, true);
        };
        *slot = ret;
        len += 1;
        if next <= frame {
            break;
        }
        frame = next;
    }
    (len, false)
}

/// Reads words of the interrupted stack.
// The copy's buffer is large, and lives on the handler's stack: a signal
// handler may not allocate to box it.
#[allow(clippy::large_enum_variant)]
enum Reader {
    /// The thread's bounds are known and the stack pointer is within them:
    /// every word from it to the top is mapped; read in place.
    Direct { sp: usize, bounds: Bounds },
    /// Bounds unknown: copy through `process_vm_readv`.
    Copied(CopyReader),
}

impl Reader {
    /// The aligned word at `at`, or `None` if it cannot be read safely.
    fn read(&mut self, at: usize) -> Option<usize> {
        match self {
            Reader::Direct { sp, bounds } => {
                if !readable(at, *sp, *bounds) {
                    return None;
                }
                // SAFETY: `sp` lies within the thread's stack bounds (checked
                // when the reader was made), and a thread's stack is mapped
                // from any point in it to its top: `at..at + 8`, between `sp`
                // and the top (`readable`), is mapped memory.
                Some(unsafe { read_word(at) })
            }
            Reader::Copied(copy) => copy.read(at),
        }
    }

    /// Whether `address` lies in the thread's stack (so cannot be code).
    fn inside_stack(&self, address: usize) -> bool {
        match self {
            Reader::Direct { bounds, .. } => (bounds.0..bounds.1).contains(&address),
            Reader::Copied(_) => false,
        }
    }
}

/// Reads through copies of [`WINDOW`]-byte aligned windows, made by
/// `process_vm_readv` into a buffer on the handler's stack.
struct CopyReader {
    base: usize,
    valid: usize,
    words: [usize; WINDOW / 8],
}

impl CopyReader {
    fn new() -> CopyReader {
        CopyReader {
            base: 0,
            valid: 0,
            words: [0; WINDOW / 8],
        }
    }

    /// The aligned word at `at`, or `None` if it is not mapped.
    fn read(&mut self, at: usize) -> Option<usize> {
        if !at.is_multiple_of(8) {
            return None;
        }
        let end = at.checked_add(8)?;
        if at < self.base || end > self.base.saturating_add(self.valid) {
            self.fill(at & !(WINDOW - 1));
        }
        let offset = at.checked_sub(self.base)?;
        if end > self.base.saturating_add(self.valid) {
            return None;
        }
        self.words.get(offset / 8).copied()
    }

    fn fill(&mut self, base: usize) {
        let remote = libc::iovec {
            iov_base: base as *mut libc::c_void,
            iov_len: WINDOW,
        };
        self.base = base;
        self.valid = copy_in(&mut self.words, &[remote]);
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn copies_read_mapped_words_and_refuse_unmapped_ones() {
        prepare_for_signals();
        assert!(copy_reads_work(), "process_vm_readv is refused here");
        let words = [11usize, 22, 33];
        let mut reader = CopyReader::new();
        assert_eq!(
            reader.read(std::ptr::from_ref(&words[1]) as usize),
            Some(22)
        );
        assert_eq!(
            reader.read(std::ptr::from_ref(&words[2]) as usize),
            Some(33)
        );
        assert_eq!(reader.read(8), None, "the first page is never mapped");
        assert_eq!(
            reader.read(std::ptr::from_ref(&words[0]) as usize + 1),
            None,
            "unaligned"
        );
        // A page mapped without access.
        // SAFETY: a fresh anonymous mapping, unmapped below.
        unsafe {
            let page = libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(page, libc::MAP_FAILED);
            assert_eq!(reader.read(page as usize + 64), None, "PROT_NONE");
            assert!(!probe_pages(page as usize, page as usize + PAGE));
            libc::munmap(page, PAGE);
        }
    }

    #[test]
    fn frame_pointer_walks_stop_at_bad_frames() {
        prepare_for_signals();
        // A synthetic stack: frame at [0] -> frame at [4] -> back down.
        let mut stack = [0usize; 8];
        let base = stack.as_ptr() as usize;
        stack[0] = base + 32; // saved frame pointer: the frame at [4]
        stack[1] = 0x40_0000; // return address
        stack[4] = base; // points down: a loop, ends the walk
        stack[5] = 0x40_1000;
        let regs = Registers {
            ip: 0x40_2000,
            sp: base,
            bp: base,
        };
        // Each walk reads a fresh copy of the stack as it is now.
        let walk = |stack: &[usize], regs: Registers, ips: &mut [usize]| {
            std::hint::black_box(stack);
            frame_pointer_walk(regs, ips, &mut Reader::Copied(CopyReader::new()))
        };
        let mut ips = [0usize; 8];
        assert_eq!(walk(&stack, regs, &mut ips), (2, false));
        assert_eq!(&ips[..2], &[0x40_0000, 0x40_1000]);
        // Unaligned, and below the stack pointer: nothing.
        let odd = Registers {
            bp: base + 4,
            ..regs
        };
        assert_eq!(walk(&stack, odd, &mut ips).0, 0);
        let below = Registers {
            sp: base + 8,
            ..regs
        };
        assert_eq!(walk(&stack, below, &mut ips).0, 0);
        // A buffer too short: truncated.
        let mut one = [0usize; 1];
        assert_eq!(walk(&stack, regs, &mut one), (1, true));
        // A return address that cannot be code ends it.
        stack[1] = 0x100;
        assert_eq!(walk(&stack, regs, &mut ips).0, 0);
    }
}
