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

use std::ffi::{c_int, c_void, CStr, CString};
use std::ops::{Deref, Range};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Acquire;
use std::sync::OnceLock;

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{
    ExplicitModuleSectionInfo, FrameAddress, Module, MustNotAllocateDuringUnwind, Unwinder,
};

use super::{read_stack_word, Bounds};
use crate::spin::SpinLock;

/// Unwinding never allocates: the cache preallocates gimli's evaluation
/// space.
type Policy = MustNotAllocateDuringUnwind;
type Walker = UnwinderX86_64<Mapped, Policy>;
type Cache = CacheX86_64<Policy>;

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

/// Rule caches (about 30 KiB each), taken by whichever thread walks: more
/// than one so that threads sampling at once rarely wait.
const CACHES: usize = 8;
static CACHE_POOL: [SpinLock<Option<Box<Cache>>>; CACHES] = [const { SpinLock::new(None) }; CACHES];
/// Stack a walk needs below its own frame: gimli copies rows of rules
/// (several KiB) while evaluating, and a cache is built on the stack once.
const STACK_NEEDED: usize = 128 * 1024;

/// Walks the calling thread's stack; `None` when it cannot (the stack
/// pointer is not in the thread's stack or too near its end, the modules
/// are still being listed, no cache is free, or the walker panicked): the
/// caller falls back to `backtrace`.
#[inline(never)]
pub(super) fn walk(ips: &mut [usize], bounds: Bounds) -> Option<(usize, bool)> {
    let (pc, sp, bp): (u64, u64, u64);
    // SAFETY: reads the instruction pointer (a `lea` of the next
    // instruction) and two registers; touches no memory.
    unsafe {
        std::arch::asm!(
            "lea {pc}, [rip]",
            "mov {sp}, rsp",
            "mov {bp}, rbp",
            pc = out(reg) pc,
            sp = out(reg) sp,
            bp = out(reg) bp,
            options(nomem, nostack, preserves_flags)
        );
    }
    // The walk starts from this frame (the registers above), so the frames
    // of `catch_unwind` below it are not part of the stack. A panic (an
    // overflow on corrupt unwind data, in a debug build) must not unwind
    // into the allocator.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        walk_from(pc, sp, bp, ips, bounds)
    }))
    .ok()
    .flatten()
}

/// Walks the stack of the frame whose registers are `pc`, `sp`, `bp` (a
/// caller's frame, intact above `sp`).
fn walk_from(
    pc: u64,
    sp: u64,
    bp: u64,
    ips: &mut [usize],
    bounds: Bounds,
) -> Option<(usize, bool)> {
    let (low, top) = bounds;
    let sp_word = usize::try_from(sp).ok()?;
    if sp_word >= top || sp_word.checked_sub(low)? < STACK_NEEDED {
        return None;
    }
    let walker = walker()?;
    let first = my_cache();
    let mut slot = (0..CACHES).find_map(|i| CACHE_POOL[(first + i) % CACHES].try_lock())?;
    let cache: &mut Cache = slot.get_or_insert_with(|| Box::new(Cache::new_in()));
    // Reads only aligned words between this frame's stack pointer and the
    // top of the thread's stack.
    let mut read_stack = |address: u64| {
        let at = usize::try_from(address).map_err(drop)?;
        if at < sp_word || at % 8 != 0 || at.checked_add(8).is_none_or(|end| end > top) {
            return Err(());
        }
        // SAFETY: `at..at + 8` lies between `walk`'s stack pointer (this
        // thread's, still live: `walk` is running) and the top of this
        // thread's stack (checked above): mapped memory of this thread.
        Ok(unsafe { read_stack_word(at) } as u64)
    };
    let mut frames = walker.iter_frames(
        pc,
        UnwindRegsX86_64::new(pc, sp, bp),
        cache,
        &mut read_stack,
    );
    let mut len = 0;
    // An error (an address outside every known module, a rule that cannot
    // be followed) ends the stack where it is, as the end of the chain does
    // for the frame-pointer walk; `decide` checks the result against
    // `backtrace` before this walk is trusted.
    while let Ok(Some(frame)) = frames.next() {
        let FrameAddress::ReturnAddress(address) = frame else {
            continue; // `walk`'s own instruction pointer
        };
        if len == ips.len() {
            return Some((len, true));
        }
        ips[len] = usize::try_from(address.get()).unwrap_or(0);
        len += 1;
    }
    Some((len, false))
}

/// The walker, listing the modules on first use; `None` while another thread
/// lists them.
fn walker() -> Option<&'static Walker> {
    if let Some(walker) = WALKER.get() {
        return Some(walker);
    }
    if LISTING.swap(true, Acquire) {
        return None;
    }
    // Only this thread gets here, once: `set` cannot find it filled. If
    // listing fails, an empty walker (every walk stops at once, and `decide`
    // settles on `backtrace`) rather than a listing forever in progress.
    let walker = std::panic::catch_unwind(list_modules).unwrap_or_else(|_| Walker::new());
    let _ = WALKER.set(walker);
    WALKER.get()
}

/// The calling thread's first choice of cache: threads take them in turn,
/// and a thread keeps to its own, so the cache's lines stay in its core.
fn my_cache() -> usize {
    crate::thread_slot::thread_number() % CACHES
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
    // A panic must not cross the C frame; a module that cannot be read is
    // skipped.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `dl_iterate_phdr` passes a valid `dl_phdr_info` for the
        // duration of the call, and `data` is the `Vec` `list_modules` gave it.
        let (info, listed) = unsafe { (&*info, &mut *data.cast::<Vec<Listed>>()) };
        if let Some(module) = module_of(info) {
            listed.push(module);
        }
    }));
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
    let span = |start: u64, size: u64| Some(start..start.checked_add(size)?);
    let text = headers
        .iter()
        .find(|h| h.p_type == PT_LOAD && h.p_flags & PF_X != 0)
        .and_then(|h| span(h.p_vaddr, h.p_memsz))?;
    // Bytes that are loaded from the file into a readable segment that is
    // never written: where unwind tables live.
    let read_only: Vec<Range<u64>> = headers
        .iter()
        .filter(|h| h.p_type == PT_LOAD && h.p_flags & PF_R != 0 && h.p_flags & PF_W == 0)
        .filter_map(|h| span(h.p_vaddr, h.p_filesz))
        .collect();
    let within_read_only = |r: &Range<u64>| {
        read_only
            .iter()
            .find(|seg| seg.start <= r.start && r.end <= seg.end)
            .cloned()
    };
    let hdr = headers
        .iter()
        .find(|h| h.p_type == PT_GNU_EH_FRAME)
        .and_then(|h| span(h.p_vaddr, h.p_memsz))?;
    if hdr.end - hdr.start < 8 {
        return None;
    }
    within_read_only(&hdr)?;
    let mapped = |svma: &Range<u64>| -> Option<Mapped> {
        Some(Mapped {
            start: usize::try_from(base.checked_add(svma.start)?).ok()?,
            len: usize::try_from(svma.end - svma.start).ok()?,
        })
    };
    let hdr_bytes = mapped(&hdr)?;
    // Version 1, then the encoding of the `.eh_frame` pointer at offset 4.
    if hdr_bytes[0] != 1 || hdr_bytes[1] != PCREL_SDATA4 {
        return None;
    }
    let offset = i32::from_le_bytes(hdr_bytes[4..8].try_into().ok()?);
    let eh_frame_start = hdr
        .start
        .checked_add(4)?
        .checked_add_signed(i64::from(offset))?;
    // `.eh_frame` has no length of its own here: read up to the end of the
    // read-only bytes that hold it (gimli stops at each entry's end).
    let holder = within_read_only(&(eh_frame_start..eh_frame_start.checked_add(1)?))?;
    let eh_frame = eh_frame_start..holder.end;
    let code = base.checked_add(text.start)?..base.checked_add(text.end)?;
    let name = if info.dlpi_name.is_null() {
        CString::default()
    } else {
        // SAFETY: a non-null `dlpi_name` is a NUL-terminated string.
        CString::from(unsafe { CStr::from_ptr(info.dlpi_name) })
    };
    // The main program has an empty name; the vDSO is not a file.
    let pin_name =
        (!name.is_empty() && !name.to_bytes().starts_with(b"linux-vdso")).then(|| name.clone());
    let sections = ExplicitModuleSectionInfo {
        base_svma: 0,
        // The code's range only: its bytes are needed by framehop for Mach-O
        // and PE, not for ELF, and need not be readable.
        text_svma: Some(text.clone()),
        eh_frame_svma: Some(eh_frame.clone()),
        eh_frame: Some(mapped(&eh_frame)?),
        eh_frame_hdr_svma: Some(hdr.clone()),
        eh_frame_hdr: Some(hdr_bytes),
        ..ExplicitModuleSectionInfo::default()
    };
    let module = Module::new(name.to_string_lossy().into_owned(), code, base, sections);
    Some(Listed { module, pin_name })
}
