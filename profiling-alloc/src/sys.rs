//! Platform calls: the process's resident memory and its peak (`/proc`,
//! `getrusage`), CPU clocks, and the
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

/// CPU time used so far by the whole process (every thread, user and
/// kernel: `CLOCK_PROCESS_CPUTIME_ID`); `None` where the clock is missing.
#[cfg(unix)]
pub(crate) fn process_cpu_time() -> Option<std::time::Duration> {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time used so far by the calling thread (`CLOCK_THREAD_CPUTIME_ID`);
/// `None` where the clock is missing.
#[cfg(unix)]
pub(crate) fn thread_cpu_time() -> Option<std::time::Duration> {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

#[cfg(unix)]
fn cpu_clock(clock: libc::clockid_t) -> Option<std::time::Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; an id the platform does
    // not know makes clock_gettime fail with EINVAL, which is handled.
    if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
        return None;
    }
    let secs = u64::try_from(now.tv_sec).ok()?;
    let nanos = u32::try_from(now.tv_nsec).ok()?;
    Some(std::time::Duration::new(secs, nanos))
}

/// CPU time of the process: not read on this platform.
#[cfg(not(unix))]
pub(crate) fn process_cpu_time() -> Option<std::time::Duration> {
    None
}

/// CPU time of the thread: not read on this platform.
#[cfg(not(unix))]
pub(crate) fn thread_cpu_time() -> Option<std::time::Duration> {
    None
}

/// The process's resident memory as the kernel counts it, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resident {
    /// Resident now (`VmRSS`); `None` where only the peak is known.
    pub(crate) now: Option<u64>,
    /// The high-water mark (`VmHWM`, or `getrusage`'s `ru_maxrss`): since
    /// the process started, or since [`reset_resident_peak`] last succeeded.
    pub(crate) peak: u64,
}

/// Sets the process's resident high-water mark to its resident set now, so
/// that the next [`resident`] reading's peak is the peak since this call
/// (Linux 4.0 and later: writes `5` to `/proc/self/clear_refs`, which
/// changes nothing else). Returns `false` where that is not possible (other
/// platforms, or a `/proc` the process may not write); the peak then
/// stays the process's since it started. `getrusage`'s `ru_maxrss` reads
/// the same mark (or a higher one kept from a thread that exited since), so
/// the process's own readings of it may restart too.
pub(crate) fn reset_resident_peak() -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/clear_refs")
            .and_then(|mut file| file.write_all(b"5"))
            .is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// The process's resident memory now and its high-water mark: `VmRSS` and
/// `VmHWM` of `/proc/self/status` on Linux (read into a buffer on the
/// stack: no allocation), `getrusage`'s `ru_maxrss` for the peak
/// elsewhere on unix; `None` where neither can be read.
pub(crate) fn resident() -> Option<Resident> {
    #[cfg(target_os = "linux")]
    if let Some(resident) = proc_status_resident() {
        return Some(resident);
    }
    max_rss_bytes().map(|peak| Resident { now: None, peak })
}

#[cfg(target_os = "linux")]
fn proc_status_resident() -> Option<Resident> {
    use std::io::Read as _;
    // /proc/self/status is about 1.5 KiB; the fields read come early.
    let mut buffer = [0u8; 8192];
    let mut file = std::fs::File::open("/proc/self/status").ok()?;
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(buffer.get_mut(filled..)?) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    parse_status_resident(buffer.get(..filled)?)
}

/// `VmRSS` and `VmHWM` (in kB) of `/proc/<pid>/status` text, as bytes.
#[cfg(any(target_os = "linux", test))]
fn parse_status_resident(status: &[u8]) -> Option<Resident> {
    let field = |name: &[u8]| -> Option<u64> {
        let line = status
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(name))?;
        let mut digits = line
            .iter()
            .skip_while(|b| !b.is_ascii_digit())
            .take_while(|b| b.is_ascii_digit())
            .peekable();
        digits.peek()?;
        let kib = digits.fold(0u64, |n, &d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        Some(kib.saturating_mul(1024))
    };
    let now = field(b"VmRSS:")?;
    let peak = field(b"VmHWM:")?.max(now);
    Some(Resident {
        now: Some(now),
        peak,
    })
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

/// The executable's GNU build id in lowercase hex, read from its
/// `NT_GNU_BUILD_ID` note in memory (the first object `dl_iterate_phdr`
/// lists is the program itself); `None` when the linker wrote none.
#[cfg(target_os = "linux")]
pub(crate) fn executable_build_id() -> Option<String> {
    /// Room for the id; GNU ld writes 20 bytes (SHA-1), lld up to 32.
    const MAX: usize = 64;
    struct Found {
        bytes: [u8; MAX],
        len: usize,
    }

    /// `dl_iterate_phdr`'s callback: looks in the first object only, and
    /// allocates nothing (the loader's lock is held).
    unsafe extern "C" fn first_object(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `dl_iterate_phdr` passes a valid `dl_phdr_info` for the
        // duration of the call, and `data` is the `Found` the caller passed.
        let (info, found) = unsafe { (&*info, &mut *data.cast::<Found>()) };
        for index in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers.
            let header = unsafe { &*info.dlpi_phdr.add(index) };
            if header.p_type != libc::PT_NOTE {
                continue;
            }
            let start = (info.dlpi_addr as usize).wrapping_add(header.p_vaddr as usize);
            // SAFETY: a PT_NOTE segment is loaded (part of a PT_LOAD
            // segment) at `dlpi_addr + p_vaddr` for `p_memsz` bytes, and
            // stays mapped while the object is loaded (the main program's,
            // for the whole run).
            let notes =
                unsafe { std::slice::from_raw_parts(start as *const u8, header.p_memsz as usize) };
            if let Some(id) = gnu_build_id(notes) {
                let len = id.len().min(MAX);
                found.bytes[..len].copy_from_slice(&id[..len]);
                found.len = len;
                break;
            }
        }
        1 // stop: only the program itself
    }

    let mut found = Found {
        bytes: [0; MAX],
        len: 0,
    };
    // SAFETY: the callback has the signature `dl_iterate_phdr` expects and
    // only writes through `data`, which points to `found`, alive for the call.
    unsafe {
        libc::dl_iterate_phdr(Some(first_object), (&raw mut found).cast());
    }
    if found.len == 0 {
        return None;
    }
    Some(
        found.bytes[..found.len]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The executable's build id: not read on this platform.
#[cfg(not(target_os = "linux"))]
pub(crate) fn executable_build_id() -> Option<String> {
    None
}

/// The descriptor of the `GNU` note of type 3 (`NT_GNU_BUILD_ID`) in a
/// segment of ELF notes: each a 12-byte header (name size, descriptor size,
/// type), then the name and the descriptor, each padded to 4 bytes.
#[cfg(any(target_os = "linux", test))]
fn gnu_build_id(mut notes: &[u8]) -> Option<&[u8]> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let word = |bytes: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let padded = |n: u32| (n as usize).checked_add(3).map(|n| n & !3);
    while notes.len() >= 12 {
        let (name_size, desc_size, kind) = (word(notes, 0)?, word(notes, 4)?, word(notes, 8)?);
        let name_end = 12usize.checked_add(padded(name_size)?)?;
        let desc_end = name_end.checked_add(padded(desc_size)?)?;
        let name = notes.get(12..12 + name_size as usize)?;
        let desc = notes.get(name_end..name_end.checked_add(desc_size as usize)?)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
            return Some(desc);
        }
        notes = notes.get(desc_end..)?;
    }
    None
}

/// Nanoseconds on a monotonic clock (`CLOCK_MONOTONIC`: read through the
/// vDSO on Linux where the clocksource allows, as `tsc` and `kvm-clock` do,
/// about 25 ns; a system call otherwise, e.g. under Xen), never 0; 0 where there is no such clock
/// or the read fails. For the lifetimes of sampled blocks: called on the
/// sampled path, so it must not allocate, lock or panic.
#[cfg(all(unix, feature = "callsites"))]
pub(crate) fn monotonic_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_MONOTONIC is a
    // clock every unix this builds on has.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
        return 0;
    }
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000)
        .saturating_add(nanos)
        .max(1)
}

/// No monotonic clock read on this platform: lifetimes are not recorded.
#[cfg(all(not(unix), feature = "callsites"))]
pub(crate) fn monotonic_nanos() -> u64 {
    0
}

/// Milliseconds since the Unix epoch now, by the system clock (0 if the
/// clock reads before 1970).
pub(crate) fn unix_millis_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_build_id_note_is_found_among_others() {
        let mut notes = Vec::new();
        let mut note = |name: &[u8], kind: u32, desc: &[u8]| {
            notes.extend((name.len() as u32).to_ne_bytes());
            notes.extend((desc.len() as u32).to_ne_bytes());
            notes.extend(kind.to_ne_bytes());
            for part in [name, desc] {
                notes.extend(part);
                notes.resize(notes.len().next_multiple_of(4), 0);
            }
        };
        note(b"GNU\0", 1, &[0; 16]); // NT_GNU_ABI_TAG
        note(b"Go\0", 3, &[9; 3]); // another vendor's type 3
        note(b"GNU\0", 3, &[0xab, 0xcd, 0x01]);
        assert_eq!(super::gnu_build_id(&notes), Some(&[0xab, 0xcd, 0x01][..]));
        assert_eq!(
            super::gnu_build_id(&notes[..notes.len() - 4]),
            None,
            "cut short"
        );
        assert_eq!(super::gnu_build_id(&[]), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_test_binary_has_a_build_id() {
        // GNU ld and lld both write one by default for Rust's Linux targets.
        let id = super::executable_build_id().expect("a build id note");
        assert!(
            id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
    }

    #[test]
    fn resident_fields_are_read_from_status_text() {
        let status = b"Name:\tcargo\nVmPeak:\t  99 kB\nVmHWM:\t    2136 kB\nVmRSS:\t    1024 kB\nRssAnon:\t 152 kB\n";
        assert_eq!(
            super::parse_status_resident(status),
            Some(super::Resident {
                now: Some(1024 * 1024),
                peak: 2136 * 1024
            })
        );
        assert_eq!(super::parse_status_resident(b"VmRSS:\t kB\n"), None);
        assert_eq!(super::parse_status_resident(b""), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_resident_peak_restarts_when_reset() {
        // Touch 32 MiB, let it go, and reset: the peak falls back to the
        // resident set now (where /proc/self/clear_refs may be written).
        let mut big = vec![0u8; 32 << 20];
        for page in big.chunks_mut(4096) {
            page[0] = 1;
        }
        std::hint::black_box(&big);
        let before = super::resident().expect("/proc/self/status");
        assert!(before.peak >= 32 << 20, "{before:?}");
        drop(big);
        if super::reset_resident_peak() {
            let after = super::resident().expect("/proc/self/status");
            assert!(after.peak < before.peak, "{before:?} then {after:?}");
            assert!(after.peak >= after.now.unwrap_or(0));
        }
    }

    #[test]
    #[cfg(unix)]
    fn cpu_clocks_advance_with_work() {
        let (thread, process) = (super::thread_cpu_time(), super::process_cpu_time());
        let (thread, process) = (
            thread.expect("thread clock"),
            process.expect("process clock"),
        );
        let mut x = 1u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        let thread_spent = super::thread_cpu_time().unwrap() - thread;
        let process_spent = super::process_cpu_time().unwrap() - process;
        assert!(thread_spent > std::time::Duration::ZERO);
        // The process clock counts this thread too (read a moment later,
        // so allow for the reads themselves).
        assert!(
            process_spent + std::time::Duration::from_millis(1) >= thread_spent,
            "{process_spent:?} < {thread_spent:?}"
        );
    }

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
