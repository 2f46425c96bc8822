//! Stack walks from DWARF call-frame information without libgcc: `framehop`
//! reads each loaded module's `.eh_frame_hdr`/`.eh_frame` straight from
//! memory and caches the unwind rule of every return address it has seen,
//! so a repeated stack costs a cache lookup and a stack read per frame
//! instead of an FDE search and a CFI program per frame. For builds without
//! frame pointers.
//!
//! The modules are listed once (`dl_iterate_phdr`), by the first walk; walks
//! that start while the list is being made fall back to `backtrace` rather
//! than wait (the lister may be waiting for the loader lock that one of them
//! holds). A module loaded later is not known: a walk through it stops
//! there, and the periodic check against `backtrace` then switches the
//! process back to it. Module data is read in place, so every listed
//! library is pinned (`dlopen` with `RTLD_NODELETE`): a program that
//! `dlclose`s a plugin keeps it mapped.
//!
//! Nothing here may panic: a panic must not unwind out of the allocator,
//! and catching it would run the panic hook, which prints and allocates,
//! from inside the allocator. Our code reads with `get`, checks its
//! arithmetic, and gives framehop only readers that refuse what is out of
//! bounds. framehop and gimli check their arithmetic on the values they
//! read, but for one subtraction on framehop's uncached DWARF path
//! (`cfa - 8`), which only unwind tables that put a frame's CFA below
//! address 8 could make overflow; this workspace builds both without
//! overflow checks (see its `Cargo.toml`), so there it wraps to an address
//! the stack reader refuses. In a build that keeps their overflow checks,
//! such a table aborts the process (`sampling::record::no_unwind`) rather
//! than unwind through the allocator.

use std::ffi::{c_int, c_void, CStr, CString};
use std::ops::{Deref, Range};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Acquire;
use std::sync::OnceLock;

use framehop::x86_64::{UnwindRegsX86_64, UnwinderX86_64};
use framehop::{
    ExplicitModuleSectionInfo, FrameAddress, Module, MustNotAllocateDuringUnwind, Unwinder,
};

use super::memo::Memo;
use super::rule_ways::Ways;
use super::stack::Bounds;
use super::Anchor;
use crate::sync::SpinLock;

/// Unwinding never allocates: the cache preallocates gimli's evaluation
/// space.
type Policy = MustNotAllocateDuringUnwind;
type Walker = UnwinderX86_64<Mapped, Policy>;

/// Bytes of a loaded module that stay mapped, readable and unwritten for the
/// rest of the program: its unwind tables, in a read-only segment, within
/// the part loaded from the file; the module is pinned (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
struct Mapped {
    start: usize,
    len: usize,
}

impl Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: a non-empty `Mapped` is built only by `module_of`, from a
        // range checked to lie inside a readable, non-writable loaded
        // segment's file-backed bytes of a module that is never unloaded.
        unsafe { std::slice::from_raw_parts(self.start as *const u8, self.len) }
    }
}

static WALKER: OnceLock<Walker> = OnceLock::new();
/// Set by the thread that lists the modules; others do not wait for it.
static LISTING: AtomicBool = AtomicBool::new(false);

/// Sets of rule caches, taken by whichever thread walks: more than one so
/// that threads sampling at once rarely wait.
const CACHES: usize = 8;
static CACHE_POOL: [SpinLock<RuleCaches>; CACHES] =
    [const { SpinLock::new(RuleCaches::EMPTY) }; CACHES];

/// One walker's rule caches, and its last walk.
struct RuleCaches {
    /// The rule caches, as ways of a set-associative cache (`rule_ways`).
    ways: Ways,
    /// The last walk made with these caches (see `memo`).
    memo: Memo,
}

impl RuleCaches {
    const EMPTY: RuleCaches = RuleCaches {
        ways: Ways::EMPTY,
        memo: Memo::EMPTY,
    };
}

/// Stack a walk needs below its own frame: gimli copies rows of rules
/// (several KiB) while evaluating, and a cache is built on the stack once.
pub(super) const STACK_NEEDED: usize = 128 * 1024;

/// Walks the calling thread's stack, `bounds` (from `stack::bounds`, as for
/// every walk here), from the first caller of `anchor`'s function on; `None`
/// when it cannot (the stack pointer is not in the
/// thread's stack or too near its end, the modules are still being listed,
/// or no cache is free): the caller falls back to `backtrace`.
#[inline(never)]
pub(super) fn walk(ips: &mut [usize], bounds: Bounds, anchor: Anchor) -> Option<(usize, bool)> {
    let here = super::registers_here!()?;
    let (low, top) = bounds;
    let sp = usize::try_from(here.sp).ok()?;
    if sp >= top || sp.checked_sub(low)? < STACK_NEEDED {
        return None;
    }
    // From the anchor's function, where its registers were taken: its frame
    // and its callers' stay intact while this walk runs below them (a start
    // below this frame could only be stale, and is not used).
    let start = anchor
        .start()
        .filter(|start| start.sp >= here.sp && start.sp < top as u64);
    let start = start.unwrap_or(here);
    let regs = UnwindRegsX86_64::new(start.ip, start.sp, start.bp);
    // SAFETY: `bounds` is this thread's stack (this function's
    // precondition, as for the other walks), and `start.sp` is this frame's
    // stack pointer or one at or above it and below the top of that stack
    // (checked above); the walk runs inside this call.
    unsafe { walk_from(regs, ips, bounds, anchor) }
}

/// Walks the stack of the frame whose registers are `regs`, intact above
/// its stack pointer.
///
/// # Safety
///
/// `bounds` must be the calling thread's stack (`stack::bounds`), and
/// `regs.sp()` at or above the thread's stack pointer and below the top of
/// that stack, throughout the call.
unsafe fn walk_from(
    mut regs: UnwindRegsX86_64,
    ips: &mut [usize],
    bounds: Bounds,
    anchor: Anchor,
) -> Option<(usize, bool)> {
    let sp_word = usize::try_from(regs.sp()).ok()?;
    let walker = walker()?;
    let first = my_cache();
    let mut caches = (0..CACHES).find_map(|i| {
        let pool = CACHE_POOL.get(first.wrapping_add(i) % CACHES)?;
        pool.try_lock()
    })?;
    let RuleCaches { ways, memo } = &mut *caches;
    // Reads only aligned words between the start frame's stack pointer and
    // the top of the thread's stack, and notes them for the next walk.
    // SAFETY: `sp_word` is at or above this thread's stack pointer and
    // below its top (this function's contract).
    let mut recording = unsafe { memo.record(sp_word, bounds) };
    let mut address = FrameAddress::InstructionPointer(regs.ip());
    let mut len = 0;
    let mut skipped = 0;
    // Past a full `ips`, the walk goes on (while the memo has room) only so
    // that it can be kept: the next walk of a stack this deep then meets it
    // instead of unwinding every frame again.
    let mut truncated = ips.is_empty();
    // An error (an address outside every known module, a rule that cannot
    // be followed) ends the stack where it is, as the end of the chain does
    // for the frame-pointer walk; `decide` checks the result against
    // `backtrace` before this walk is trusted.
    loop {
        let cache = ways.way(address, true)?;
        let mut read_stack = |at: u64| recording.read(at);
        let ret = match walker.unwind_frame(address, &mut regs, cache, &mut read_stack) {
            Ok(Some(ret)) => ret,
            Ok(None) => {
                recording.finish();
                break;
            }
            Err(_) => break,
        };
        let Some(next) = FrameAddress::from_return_address(ret) else {
            recording.finish();
            break;
        };
        address = next;
        // `regs` are now the caller's: its stack pointer is the callee's at
        // the call.
        let callee_sp = usize::try_from(regs.sp()).unwrap_or(0);
        if len == 0 && !anchor.keeps(callee_sp) {
            // The profiler's frames: a few. More means the rules led astray.
            skipped += 1;
            if skipped > MAX_SKIPPED {
                break;
            }
            continue;
        }
        match ips.get_mut(len) {
            Some(slot) => {
                *slot = usize::try_from(ret).unwrap_or(0);
                len += 1;
            }
            None => truncated = true,
        }
        if recording.on_frame(ret, regs.sp(), regs.bp()) {
            // The rest is the last walk's: copied, not walked.
            for ip in recording.rest() {
                let Some(slot) = ips.get_mut(len) else {
                    return Some((len, true));
                };
                *slot = usize::try_from(ip).unwrap_or(0);
                len += 1;
            }
            break;
        }
        if truncated && !recording.keepable() {
            break;
        }
    }
    Some((len, truncated))
}

/// Lists the modules and builds a rule cache in every set now, so that a
/// walk from a signal handler ([`walk_interrupted`]) finds one ready and
/// never allocates; false if the modules cannot be listed now.
#[cfg(feature = "cpu")]
pub(super) fn prepare() -> bool {
    // The module list is the profiler's memory too.
    let _untracked = crate::capture::reentrancy::Untracked::enter();
    // Another thread may be listing them: wait for it here, in ordinary code.
    let mut tries = 0u32;
    let walker = loop {
        if let Some(walker) = walker() {
            break walker;
        }
        tries += 1;
        if tries > 2000 {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let _ = walker;
    // The caches are the profiler's memory, kept for the program's life: not
    // the caller's allocations (they showed as its callsites).
    for pool in &CACHE_POOL {
        pool.lock().ways.build_first();
    }
    true
}

/// Walks the stack of interrupted code from its registers (the instruction
/// interrupted, not a return address), reading the stack through `read`;
/// never allocates and never waits: `None` when no cache is free (the
/// interrupted code holds one) or the modules are not listed.
#[cfg(feature = "cpu")]
pub(super) fn walk_interrupted(
    regs: super::interrupted::Registers,
    ips: &mut [usize],
    read: &mut dyn FnMut(usize) -> Option<usize>,
) -> Option<(usize, bool)> {
    let walker = WALKER.get()?;
    let first = my_cache();
    let mut caches = (0..CACHES).find_map(|i| {
        let pool = CACHE_POOL.get(first.wrapping_add(i) % CACHES)?;
        pool.try_lock()
    })?;
    let mut read_stack = |address: u64| {
        let at = usize::try_from(address).map_err(drop)?;
        read(at).map(|word| word as u64).ok_or(())
    };
    let mut regs = UnwindRegsX86_64::new(regs.ip as u64, regs.sp as u64, regs.bp as u64);
    let mut address = FrameAddress::InstructionPointer(regs.ip());
    let mut len = 0;
    let mut last_sp = regs.sp();
    // Errors end the stack where it is, as for the other walks.
    loop {
        // Built by `prepare` or the sampled path: none is built here.
        let cache = caches.ways.way(address, false)?;
        let Ok(Some(ret)) = walker.unwind_frame(address, &mut regs, cache, &mut read_stack) else {
            break;
        };
        // Callers' frames lie higher: a rule that goes down is wrong.
        if regs.sp() <= last_sp {
            break;
        }
        last_sp = regs.sp();
        let Some(next) = FrameAddress::from_return_address(ret) else {
            break;
        };
        address = next;
        let Some(slot) = ips.get_mut(len) else {
            return Some((len, true));
        };
        *slot = usize::try_from(ret).unwrap_or(0);
        len += 1;
    }
    Some((len, false))
}

/// Forgets every kept walk: the next walks are full ones.
#[cfg(test)]
pub(super) fn forget_walks() {
    for pool in &CACHE_POOL {
        pool.lock().memo.forget();
    }
}

/// Frames below the anchor a walk goes through before giving up.
const MAX_SKIPPED: usize = 64;

/// The walker, listing the modules on first use; `None` while another thread
/// lists them.
fn walker() -> Option<&'static Walker> {
    if let Some(walker) = WALKER.get() {
        return Some(walker);
    }
    if LISTING.swap(true, Acquire) {
        return None;
    }
    // Only this thread gets here, once: `set` cannot find it filled. A
    // module that cannot be read is left out; with none, every walk stops at
    // once and `decide` settles on `backtrace`.
    let _ = WALKER.set(list_modules());
    WALKER.get()
}

/// The calling thread's first choice of cache: threads take them in turn,
/// and a thread keeps to its own, so the cache's lines stay in its core.
fn my_cache() -> usize {
    crate::sync::thread_number() % CACHES
}

/// A module found by `dl_iterate_phdr`, and the name to pin it by.
struct Listed {
    module: Module<Mapped>,
    /// `None` for the main program and the vDSO, which are never unloaded.
    pin_name: Option<CString>,
}

/// The unwinder for every module loaded now.
#[cold]
fn list_modules() -> Walker {
    let mut listed: Vec<Listed> = Vec::new();
    // SAFETY: the callback matches the signature `dl_iterate_phdr` expects
    // and receives `listed` back as `data`, alive for the whole call.
    unsafe {
        libc::dl_iterate_phdr(Some(add_module), (&raw mut listed).cast());
    }
    let mut walker = Walker::new();
    for Listed { module, pin_name } in listed {
        if let Some(name) = pin_name {
            // Pin the library: a later `dlclose` must not unmap the tables
            // the walker reads. Outside the iteration, which holds the
            // loader lock `dlopen` takes. A library that is no longer loaded
            // (`RTLD_NOLOAD` finds nothing) is left out.
            // SAFETY: `name` is a NUL-terminated path; the flags only look
            // up an already loaded object and mark it undeletable.
            let handle = unsafe {
                libc::dlopen(
                    name.as_ptr(),
                    libc::RTLD_NOLOAD | libc::RTLD_NODELETE | libc::RTLD_LAZY,
                )
            };
            if handle.is_null() {
                continue;
            }
        }
        walker.add_module(module);
    }
    walker
}

/// `dl_iterate_phdr`'s callback: one loaded object.
unsafe extern "C" fn add_module(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // Nothing here panics (a panic cannot cross the C frame); a module that
    // cannot be read is skipped.
    // SAFETY: `dl_iterate_phdr` passes a valid `dl_phdr_info` for the
    // duration of the call, and `data` is the `Vec` `list_modules` gave it.
    let (info, listed) = unsafe { (&*info, &mut *data.cast::<Vec<Listed>>()) };
    if let Some(module) = module_of(info) {
        listed.push(module);
    }
    0
}

const PT_LOAD: u32 = 1;
const PT_GNU_EH_FRAME: u32 = 0x6474_e550;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
/// `.eh_frame_hdr`'s usual encoding of its `.eh_frame` pointer:
/// `DW_EH_PE_pcrel | DW_EH_PE_sdata4`.
const PCREL_SDATA4: u8 = 0x1b;

/// What a module's program headers say of its code and unwind tables, as
/// addresses relative to its base (SVMAs).
struct Layout {
    text: Range<u64>,
    eh_frame_hdr: Range<u64>,
    /// Bytes loaded from the file into readable segments that are never
    /// written: where unwind tables live.
    read_only: Vec<Range<u64>>,
}

impl Layout {
    /// The layout of the module whose program headers are `headers`.
    fn of(headers: &[libc::Elf64_Phdr]) -> Option<Layout> {
        let span = |start: u64, size: u64| Some(start..start.checked_add(size)?);
        let text = headers
            .iter()
            .find(|h| h.p_type == PT_LOAD && h.p_flags & PF_X != 0)
            .and_then(|h| span(h.p_vaddr, h.p_memsz))?;
        let read_only = headers
            .iter()
            .filter(|h| h.p_type == PT_LOAD && h.p_flags & PF_R != 0 && h.p_flags & PF_W == 0)
            .filter_map(|h| span(h.p_vaddr, h.p_filesz))
            .collect();
        let eh_frame_hdr = headers
            .iter()
            .find(|h| h.p_type == PT_GNU_EH_FRAME)
            .and_then(|h| span(h.p_vaddr, h.p_memsz))?;
        let layout = Layout {
            text,
            eh_frame_hdr,
            read_only,
        };
        layout.within_read_only(&layout.eh_frame_hdr)?;
        Some(layout)
    }

    /// The read-only, file-backed range that holds all of `range`.
    fn within_read_only(&self, range: &Range<u64>) -> Option<Range<u64>> {
        self.read_only
            .iter()
            .find(|seg| seg.start <= range.start && range.end <= seg.end)
            .cloned()
    }
}

/// The `.eh_frame` pointer of an `.eh_frame_hdr`: version 1, the pointer's
/// encoding at byte 1, the pointer itself at bytes 4..8 (relative to byte
/// 4). `None` for another version or encoding.
fn eh_frame_offset(hdr: &[u8]) -> Option<i32> {
    if hdr.first() != Some(&1) || hdr.get(1) != Some(&PCREL_SDATA4) {
        return None;
    }
    Some(i32::from_le_bytes(hdr.get(4..8)?.try_into().ok()?))
}

/// A module's code range and unwind tables, from its program headers.
fn module_of(info: &libc::dl_phdr_info) -> Option<Listed> {
    if info.dlpi_phdr.is_null() || info.dlpi_phnum == 0 {
        return None;
    }
    // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers of a loaded
    // object, valid during the callback.
    let headers =
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    let base = info.dlpi_addr;
    let layout = Layout::of(headers)?;
    let mapped = |svma: &Range<u64>| -> Option<Mapped> {
        let len = svma.end.checked_sub(svma.start)?;
        Some(Mapped {
            start: usize::try_from(base.checked_add(svma.start)?).ok()?,
            len: usize::try_from(len).ok()?,
        })
    };
    let hdr = layout.eh_frame_hdr.clone();
    let hdr_bytes = mapped(&hdr)?;
    let eh_frame_start = hdr
        .start
        .checked_add(4)?
        .checked_add_signed(i64::from(eh_frame_offset(&hdr_bytes)?))?;
    // `.eh_frame` has no length of its own here: read up to the end of the
    // read-only bytes that hold it (gimli stops at each entry's end).
    let holder = layout.within_read_only(&(eh_frame_start..eh_frame_start.checked_add(1)?))?;
    let eh_frame = eh_frame_start..holder.end;
    let text = layout.text;
    let code = base.checked_add(text.start)?..base.checked_add(text.end)?;
    let sections = ExplicitModuleSectionInfo {
        base_svma: 0,
        // The code's range only: its bytes are needed by framehop for Mach-O
        // and PE, not for ELF, and need not be readable.
        text_svma: Some(text),
        eh_frame: Some(mapped(&eh_frame)?),
        eh_frame_svma: Some(eh_frame),
        eh_frame_hdr_svma: Some(hdr),
        eh_frame_hdr: Some(hdr_bytes),
        ..ExplicitModuleSectionInfo::default()
    };
    let (name, pin_name) = names_of(info);
    let module = Module::new(name, code, base, sections);
    Some(Listed { module, pin_name })
}

/// The module's name, and the name to pin it by (`None` for the main
/// program, whose name is empty, and the vDSO, which is not a file).
fn names_of(info: &libc::dl_phdr_info) -> (String, Option<CString>) {
    let name = if info.dlpi_name.is_null() {
        CString::default()
    } else {
        // SAFETY: a non-null `dlpi_name` is a NUL-terminated string.
        CString::from(unsafe { CStr::from_ptr(info.dlpi_name) })
    };
    let pin_name =
        (!name.is_empty() && !name.to_bytes().starts_with(b"linux-vdso")).then(|| name.clone());
    (name.to_string_lossy().into_owned(), pin_name)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn eh_frame_pointers_are_read_only_in_the_usual_encoding() {
        let mut hdr = [1u8, PCREL_SDATA4, 0x03, 0x3b, 0, 0, 0, 0];
        hdr[4..8].copy_from_slice(&(-1234i32).to_le_bytes());
        assert_eq!(eh_frame_offset(&hdr), Some(-1234));
        assert_eq!(eh_frame_offset(&hdr[..6]), None, "too short");
        hdr[0] = 2;
        assert_eq!(eh_frame_offset(&hdr), None, "another version");
        assert_eq!(eh_frame_offset(&[]), None);
    }

    #[test]
    fn the_listing_finds_this_binary() {
        let walker = list_modules();
        let here = the_listing_finds_this_binary as fn() as usize as u64;
        assert!(walker.max_known_code_address() > here);
    }
}
