//! The `SIGPROF` handler and its installation.
//!
//! The handler runs on whichever thread the timer interrupted, at any
//! instruction: inside the allocator, inside a lock, inside the profiler's
//! own sampled path. So it takes no lock, allocates nothing, calls nothing
//! that could (no `backtrace`, no libgcc, no stack-bounds lookup), and never
//! waits: it walks the interrupted stack with the walks of
//! `capture::unwind::interrupted`, writes one sample into the ring (or
//! counts it dropped), and returns. It makes at most a few system calls:
//! `gettid` once per thread, `process_vm_readv` where the thread's stack
//! bounds are not known. `errno` is saved and restored around it.
//!
//! The handler stays installed once installed: a signal generated just
//! before a timer is deleted may still be delivered after the profile
//! stopped, and the default action for `SIGPROF` ends the process. With no
//! session running, it returns at once.

use std::cell::Cell;
use std::sync::atomic::Ordering::{Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize};
use std::sync::OnceLock;

use super::buffer::Ring;
use crate::capture::unwind::interrupted::{self, Registers};

/// `si_code` of a signal from a POSIX timer (`timer_create`).
const SI_TIMER: libc::c_int = -2;

/// The running session's generation; 0 when none runs.
pub(crate) static SESSION: AtomicU64 = AtomicU64::new(0);
/// How the running session's signals come: [`PER_THREAD`] or [`PROCESS_WIDE`].
pub(crate) static MODE: AtomicU8 = AtomicU8::new(0);
pub(crate) const PER_THREAD: u8 = 1;
pub(crate) const PROCESS_WIDE: u8 = 2;
/// Handlers running now, on any thread: `stop` waits for 0.
pub(crate) static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Signals ignored: no session, another session's timer, or another sender.
pub(crate) static IGNORED: AtomicU64 = AtomicU64::new(0);
/// The samples' ring, made by the first session.
pub(crate) static RING: OnceLock<Ring> = OnceLock::new();

thread_local! {
    // The thread's id, found at its first sample. `const`, no destructor:
    // readable from a signal handler.
    static TID: Cell<u32> = const { Cell::new(0) };
}

/// The handler (`SA_SIGINFO`).
extern "C" fn on_sigprof(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: `__errno_location` returns this thread's errno, always valid.
    let errno = unsafe { *libc::__errno_location() };
    RUNNING.fetch_add(1, SeqCst);
    // SAFETY: the kernel passes a valid siginfo and ucontext for an
    // `SA_SIGINFO` handler, alive while it runs.
    unsafe { sample(info, context) };
    RUNNING.fetch_sub(1, Release);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Takes one sample of the interrupted code, if the signal is the running
/// session's.
///
/// # Safety
///
/// `info` and `context` must be the handler's arguments.
unsafe fn sample(info: *const libc::siginfo_t, context: *const libc::c_void) {
    // SeqCst, as `RUNNING`'s increment before it and `end`'s store and load:
    // either `end` sees this handler running, or this handler sees the
    // session ended.
    let generation = SESSION.load(SeqCst);
    let Some(ring) = RING.get() else {
        return;
    };
    if generation == 0 || info.is_null() || context.is_null() {
        IGNORED.fetch_add(1, Relaxed);
        return;
    }
    // SAFETY: `info` is the kernel's siginfo (non-null, checked).
    let info = unsafe { &*info };
    let from_timer = info.si_code == SI_TIMER;
    let (value, overrun) = if from_timer {
        // SAFETY: a timer's siginfo carries its value and overrun count
        // (read only when `si_code` says the signal came from a timer).
        unsafe { (info.si_value().sival_ptr as u64, info.si_overrun()) }
    } else {
        (0, 0)
    };
    let weight = match MODE.load(Relaxed) {
        // Expirations between two deliveries, each a period of CPU.
        PER_THREAD if from_timer && value == generation => {
            1u32.saturating_add(u32::try_from(overrun).unwrap_or(0))
        }
        PROCESS_WIDE if info.si_code == libc::SI_KERNEL => 1,
        _ => {
            IGNORED.fetch_add(1, Relaxed);
            return;
        }
    };
    // SAFETY: the kernel's ucontext for this signal (non-null, checked).
    let registers = unsafe { registers(&*context.cast::<libc::ucontext_t>()) };
    let job =
        crate::capture::job_path::current().map_or(0, |node| std::ptr::from_ref(node) as usize);
    let tid = thread_id();
    ring.push(|slot| {
        let (depth, truncated) = interrupted::walk(registers, &mut slot.ips);
        slot.generation = generation;
        slot.tid = tid;
        slot.weight = weight;
        slot.depth = u32::try_from(depth).unwrap_or(0);
        slot.truncated = truncated;
        slot.job = job;
    });
}

/// The interrupted instruction, stack pointer and frame pointer.
fn registers(context: &libc::ucontext_t) -> Registers {
    let gregs = &context.uc_mcontext.gregs;
    let register = |index: libc::c_int| {
        usize::try_from(index)
            .ok()
            .and_then(|i| gregs.get(i))
            .map_or(0, |&value| value as usize)
    };
    Registers {
        ip: register(libc::REG_RIP),
        sp: register(libc::REG_RSP),
        bp: register(libc::REG_RBP),
    }
}

/// The calling thread's id, asked of the kernel once per thread.
fn thread_id() -> u32 {
    TID.try_with(|tid| {
        if tid.get() == 0 {
            // SAFETY: `gettid` has no preconditions.
            tid.set(u32::try_from(unsafe { libc::gettid() }).unwrap_or(0));
        }
        tid.get()
    })
    .unwrap_or(0)
}

/// Why the handler could not be installed.
#[derive(Debug)]
pub(crate) enum InstallError {
    /// `sigaction` failed.
    Sigaction(std::io::Error),
    /// Another real handler has `SIGPROF`.
    InUse,
}

/// Installs the handler for `SIGPROF`, unless another real handler has it
/// (another profiler: the two would count each other's signals).
pub(crate) fn install() -> Result<(), InstallError> {
    let ours = on_sigprof as *const () as libc::sighandler_t;
    // SAFETY: a zeroed `sigaction` is a valid out-parameter.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: reads the disposition into `current`; changes nothing.
    if unsafe { libc::sigaction(libc::SIGPROF, std::ptr::null(), &raw mut current) } != 0 {
        return Err(InstallError::Sigaction(std::io::Error::last_os_error()));
    }
    if current.sa_sigaction == ours {
        return Ok(());
    }
    if current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN {
        return Err(InstallError::InUse);
    }
    // SAFETY: a zeroed `sigaction` is valid; the fields are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = ours;
    // No SA_ONSTACK: the walk needs more stack than an alternate stack has.
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // Every signal blocked while the handler runs: another handler that
    // interrupted it (and perhaps never returned, `siglongjmp`) would leave
    // a claimed slot of the ring unpublished.
    // SAFETY: `sa_mask` is a valid sigset to fill; `action` is a complete
    // disposition whose handler has the `SA_SIGINFO` signature.
    let installed = unsafe {
        libc::sigfillset(&raw mut action.sa_mask);
        libc::sigaction(libc::SIGPROF, &raw const action, std::ptr::null_mut())
    };
    if installed != 0 {
        return Err(InstallError::Sigaction(std::io::Error::last_os_error()));
    }
    Ok(())
}
