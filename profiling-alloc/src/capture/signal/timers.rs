//! The timers that make `SIGPROF`: one per thread on the thread's own CPU
//! clock, delivered to that thread (`timer_create` with
//! `SIGEV_THREAD_ID`), or, where those cannot be made, the process-wide
//! `setitimer(ITIMER_PROF)`, which coalesces expirations once several cores
//! are busy (golang/go#35057) and so under-counts.

use std::io;

/// A thread's CPU-time clock, by its id: the kernel's
/// `MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)`, the clock
/// `pthread_getcpuclockid` gives (any thread of this process). `None` for
/// an id too large to encode (thread ids stay below 2^22).
pub(crate) fn thread_clock(tid: u32) -> Option<libc::clockid_t> {
    let tid = libc::clockid_t::try_from(tid)
        .ok()
        .filter(|&tid| tid > 0 && tid < 1 << 28)?;
    Some(((!tid) << 3) | 6)
}

/// Nanoseconds of CPU the thread `tid` has used, or `None` once it has
/// exited.
pub(crate) fn thread_cpu_nanos(tid: u32) -> Option<u64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let clock = thread_clock(tid)?;
    // SAFETY: writes the clock's reading into `now`.
    if unsafe { libc::clock_gettime(clock, &raw mut now) } != 0 {
        return None;
    }
    let seconds = u64::try_from(now.tv_sec).ok()?;
    let nanos = u64::try_from(now.tv_nsec).ok()?;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// A timer on one thread's CPU clock; deleted on drop.
#[derive(Debug)]
pub(crate) struct ThreadTimer(libc::timer_t);

// SAFETY: a timer id is a handle the kernel owns; any thread of the process
// may arm or delete it.
unsafe impl Send for ThreadTimer {}

impl ThreadTimer {
    /// A timer that sends `SIGPROF`, carrying `generation`, to thread `tid`
    /// every `period_ns` of that thread's CPU time, the first time after
    /// `first_ns` (a random point of the first period, so that threads that
    /// run less than a period are sampled in proportion, not never).
    pub(crate) fn start(
        tid: u32,
        period_ns: u64,
        first_ns: u64,
        generation: u64,
    ) -> io::Result<ThreadTimer> {
        // SAFETY: all-zero bytes are a valid `sigevent` (its padding is
        // private); the fields used are set below.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = libc::SIGPROF;
        event.sigev_value = libc::sigval {
            sival_ptr: generation as usize as *mut libc::c_void,
        };
        event.sigev_notify_thread_id = libc::c_int::try_from(tid).unwrap_or(0);
        let mut timer: libc::timer_t = std::ptr::null_mut();
        let clock = thread_clock(tid).ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
        // SAFETY: `event` is a complete `SIGEV_THREAD_ID` event and `timer`
        // receives the new timer's id.
        if unsafe { libc::timer_create(clock, &raw mut event, &raw mut timer) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let timer = ThreadTimer(timer);
        let spec = libc::itimerspec {
            it_interval: timespec(period_ns),
            it_value: timespec(first_ns.max(1)),
        };
        // SAFETY: `timer` was just created; `spec` is a valid setting.
        if unsafe { libc::timer_settime(timer.0, 0, &raw const spec, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(timer)
    }
}

impl Drop for ThreadTimer {
    fn drop(&mut self) {
        // SAFETY: the id came from `timer_create` and is deleted once.
        unsafe { libc::timer_delete(self.0) };
    }
}

/// Whether `error` from `timer_create` means per-thread timers cannot be
/// made in this process at all (a seccomp filter, a kernel without POSIX
/// timers), rather than for one thread (it exited, the signal queue limit).
pub(crate) fn unavailable(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EINVAL | libc::ENOTSUP | libc::EPERM | libc::ENOSYS)
    )
}

/// Starts (`period_ns` > 0) or stops (0) the process-wide profiling timer.
pub(crate) fn set_process_timer(period_ns: u64) -> io::Result<()> {
    let interval = timeval(period_ns);
    let setting = libc::itimerval {
        it_interval: interval,
        it_value: interval,
    };
    // SAFETY: `setting` is a valid timer value; the old one is not wanted.
    if unsafe { libc::setitimer(libc::ITIMER_PROF, &raw const setting, std::ptr::null_mut()) } != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn timespec(nanos: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(nanos / 1_000_000_000).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::try_from(nanos % 1_000_000_000).unwrap_or(0),
    }
}

fn timeval(nanos: u64) -> libc::timeval {
    libc::timeval {
        tv_sec: libc::time_t::try_from(nanos / 1_000_000_000).unwrap_or(libc::time_t::MAX),
        tv_usec: libc::suseconds_t::try_from((nanos % 1_000_000_000) / 1000).unwrap_or(0),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_threads_clock_by_id_is_the_one_pthread_gives() {
        // SAFETY: no preconditions.
        let tid = u32::try_from(unsafe { libc::gettid() }).unwrap();
        let mut clock: libc::clockid_t = 0;
        // SAFETY: writes this thread's clock id into `clock`.
        let status = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &raw mut clock) };
        assert_eq!(status, 0);
        assert_eq!(thread_clock(tid), Some(clock));
        let before = thread_cpu_nanos(tid).unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_nanos(tid).unwrap() > before, "{x}");
        assert_eq!(thread_cpu_nanos(4_194_301), None, "no such thread");
        assert_eq!(thread_clock(u32::MAX / 2), None, "not a thread id");
    }

    #[test]
    fn the_event_puts_the_thread_id_where_the_kernel_reads_it() {
        // struct sigevent: sigval (8), signo (4), notify (4), then the union
        // whose first int is the thread id; 64 bytes in all.
        assert_eq!(std::mem::size_of::<libc::sigevent>(), 64);
        assert_eq!(
            std::mem::offset_of!(libc::sigevent, sigev_notify_thread_id),
            16
        );
    }
}
