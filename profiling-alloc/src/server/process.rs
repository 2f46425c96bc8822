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
    })
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
        assert_eq!(parse_stat("4242 (cut", 100), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_memory_cpu_and_threads() {
        let memory = memory();
        assert!(memory.rss_bytes.unwrap() > 0);
        assert!(memory.virtual_bytes.unwrap() >= memory.rss_bytes.unwrap());
        assert!(cpu_times().unwrap().threads >= 1);
        assert!(load_average().unwrap().iter().all(|l| *l >= 0.0));
    }
}
