//! The process's largest resident set, from `getrusage`: what a job profile
//! reports as peak memory when the allocator is not installed, and what a
//! report notes beside the heap numbers.

/// The largest resident set size of this process so far, in bytes; `None`
/// where `getrusage` is not available or fails.
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

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(unix)]
    fn a_running_process_has_a_resident_set() {
        let rss = super::max_rss_bytes().expect("getrusage works on unix");
        // A test binary maps at least its own code: more than 100 KiB.
        assert!(rss > 100 * 1024, "{rss}");
    }
}
