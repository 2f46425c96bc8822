//! What the operating system says about this process: resident and virtual
//! size, CPU time and threads, and the machine's load. Linux reads `/proc`;
//! elsewhere every reading is `None` (the routes say "not available").

use std::time::Duration;

/// Memory of the process, from the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ProcessMemory {
    /// Resident set size, bytes.
    pub(super) rss_bytes: Option<u64>,
    /// Virtual size, bytes.
    pub(super) virtual_bytes: Option<u64>,
}

/// CPU time of the process so far, and its threads now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct CpuTimes {
    /// Time on CPU in user mode.
    pub(super) user: Duration,
    /// Time on CPU in the kernel.
    pub(super) system: Duration,
    /// Threads of the process.
    pub(super) threads: u64,
    /// When the process started, after the machine booted.
    pub(super) started_after_boot: Duration,
}

/// The process's memory now.
pub(super) fn memory() -> ProcessMemory {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        let page = page_size();
        let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
        let virtual_pages = fields.next().flatten();
        let resident_pages = fields.next().flatten();
        ProcessMemory {
            rss_bytes: resident_pages.map(|p| p.saturating_mul(page)),
            virtual_bytes: virtual_pages.map(|p| p.saturating_mul(page)),
        }
    }
    #[cfg(not(target_os = "linux"))]
    ProcessMemory::default()
}

/// The process's CPU times so far.
pub(super) fn cpu_times() -> Option<CpuTimes> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        parse_stat(&text, clock_ticks_per_second())
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The machine's 1, 5 and 15 minute load averages.
pub(super) fn load_average() -> Option<[f64; 3]> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string("/proc/loadavg").ok()?;
        let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
        Some([fields.next()??, fields.next()??, fields.next()??])
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Reads utime, stime and num_threads from `/proc/<pid>/stat` text. The
/// command name (field 2) may hold spaces and parentheses, so fields are
/// counted from after its last `)`.
fn parse_stat(text: &str, ticks_per_second: u64) -> Option<CpuTimes> {
    let after_name = &text[text.rfind(')')? + 1..];
    // After the name: state is field 3, utime 14, stime 15, num_threads 20.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    let ticks = |n: u64| {
        let per_second = ticks_per_second.max(1);
        Duration::from_secs(n / per_second)
            + Duration::from_nanos((n % per_second) * 1_000_000_000 / per_second)
    };
    Some(CpuTimes {
        user: ticks(field(14)?),
        system: ticks(field(15)?),
        threads: field(20)?,
        started_after_boot: ticks(field(22)?),
    })
}

/// File descriptors the process has open now.
pub(super) fn open_fds() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let entries = std::fs::read_dir("/proc/self/fd").ok()?;
        // Less the descriptor that reading the directory holds.
        Some((entries.count() as u64).saturating_sub(1))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The most file descriptors the process may open (its soft limit).
pub(super) fn max_fds() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid, writable rlimit; getrlimit only writes
        // it.
        let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
        (status == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
    }
    #[cfg(not(unix))]
    None
}

/// When the process started, in seconds since the Unix epoch.
pub(super) fn start_time_seconds(times: &CpuTimes) -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let boot = boot_time(&stat)?;
        Some(boot as f64 + times.started_after_boot.as_secs_f64())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = times;
        None
    }
}

/// The machine's boot time (`btime`, seconds since the epoch) in
/// `/proc/stat` text.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(target_os = "linux")]
fn page_size() -> u64 {
    // SAFETY: sysconf reads a configuration value; it has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

#[cfg(target_os = "linux")]
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a configuration value; it has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        // A command name with spaces and a parenthesis in it.
        let text = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 130 0 0 20 0 7 0 12345 1000000 200";
        let times = parse_stat(text, 100).unwrap();
        assert_eq!(times.user, Duration::from_millis(2500));
        assert_eq!(times.system, Duration::from_millis(1300));
        assert_eq!(times.threads, 7);
        assert_eq!(
            times.started_after_boot,
            Duration::from_secs(123) + Duration::from_millis(450)
        );
        assert_eq!(parse_stat("4242 (cut", 100), None);
        assert_eq!(
            boot_time("cpu 1 2 3\nbtime 1765000000\nprocesses 9\n"),
            Some(1_765_000_000)
        );
        assert_eq!(boot_time("cpu 1 2 3\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_memory_cpu_and_threads() {
        let memory = memory();
        assert!(memory.rss_bytes.unwrap() > 0);
        assert!(memory.virtual_bytes.unwrap() >= memory.rss_bytes.unwrap());
        assert!(cpu_times().unwrap().threads >= 1);
        assert!(load_average().unwrap().iter().all(|l| *l >= 0.0));
        let fds = open_fds().unwrap();
        assert!(fds >= 3, "stdin, stdout, stderr at least: {fds}");
        assert!(max_fds().unwrap() >= fds);
        let started = start_time_seconds(&cpu_times().unwrap()).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            started <= now + 1.0 && started > now - 86_400.0 * 365.0,
            "{started} against {now}"
        );
    }
}
