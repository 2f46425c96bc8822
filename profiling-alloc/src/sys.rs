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
