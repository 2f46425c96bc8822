//! Platform calls: the process's largest resident set (`getrusage`) and the
//! bounds of the calling thread's stack (`pthread_getattr_np`). Each returns
//! `None` where the platform does not have it.

/// The largest resident set size of this process so far, in bytes: what a job
/// profile reports as peak memory when the allocator is not installed, and
/// what a report notes beside the heap numbers. `None` where `getrusage` is
/// not available or fails.
#[cfg(unix)]
pub(crate) fn max_rss_bytes() -> Option<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is valid for writes of one `rusage`, which is all
    // getrusage writes; RUSAGE_SELF is a valid `who`.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    // SAFETY: getrusage returned 0, so it filled the struct (and it started
    // zeroed, which is a valid `rusage` in any case).
    let usage = unsafe { usage.assume_init() };
    // Platforms that do not fill the field in leave it 0: not a measurement.
    let max_rss = u64::try_from(usage.ru_maxrss).ok().filter(|&rss| rss > 0)?;
    // Linux and the BSDs report kibibytes; macOS reports bytes.
    if cfg!(target_vendor = "apple") {
        Some(max_rss)
    } else {
        Some(max_rss.saturating_mul(1024))
    }
}

/// The largest resident set size of this process so far: not available on
/// this platform.
#[cfg(not(unix))]
pub(crate) fn max_rss_bytes() -> Option<u64> {
    None
}

/// The calling thread's stack, `(lowest, highest)` address, or `None` when
/// it cannot be found. (For the main thread glibc reads /proc/self/maps: a
/// few syscalls and an allocation. Callers look it up once per thread.)
#[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "callsites"))]
pub(crate) fn thread_stack_bounds() -> Option<(usize, usize)> {
    // SAFETY: `attr` is initialised by `pthread_getattr_np` before it is
    // read and destroyed once; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        match (addr as usize).checked_add(size) {
            Some(high) if ok && size > 0 => Some((addr as usize, high)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(unix)]
    fn a_running_process_has_a_resident_set() {
        let rss = super::max_rss_bytes().expect("getrusage works on unix");
        // A test binary maps at least its own code: more than 100 KiB.
        assert!(rss > 100 * 1024, "{rss}");
    }

    #[test]
    #[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "callsites"))]
    fn this_thread_runs_inside_its_stack() {
        let local = 0u8;
        let here = std::ptr::addr_of!(local) as usize;
        let (low, high) = super::thread_stack_bounds().expect("glibc has the bounds");
        assert!(
            low < here && here < high,
            "{low:#x} < {here:#x} < {high:#x}"
        );
    }
}
