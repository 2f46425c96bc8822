//! Half a core, for checking the sizing model on this machine: the calling
//! thread pinned to one CPU beside a busy competitor pinned to the same
//! one (the scheduler then splits it about evenly), or under a CPU quota of
//! half a core (a cgroup, where the process may make one). Shared by the
//! `sizing_model` bench and test (Linux only).
#![allow(dead_code)] // The bench and the test use different parts.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Pins the calling thread to `cpu`; `false` when the kernel refuses.
pub fn pin_to_cpu(cpu: usize) -> bool {
    // SAFETY: `set` is a plain bit set, zeroed, then given one CPU; pid 0
    // is the calling thread, and the size passed is the set's.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Lets the calling thread run on every CPU again.
pub fn unpin() {
    // SAFETY: as in `pin_to_cpu`, with every CPU the set can name.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..libc::CPU_SETSIZE as usize {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The calling thread's CPU time.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A fixed amount of computation: `rounds` of a xorshift multiply.
#[inline(never)]
pub fn work(rounds: u64) -> u64 {
    let mut x = black_box(0x9e37_79b9_7f4a_7c15u64);
    for i in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x = x.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(i);
    }
    black_box(x)
}

/// Rounds of [`work`] that take about `cpu` of this thread's CPU time.
pub fn calibrate(cpu: Duration) -> u64 {
    let probe = 2_000_000;
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = thread_cpu();
        work(probe);
        best = best.min(thread_cpu() - start);
    }
    (probe as f64 * cpu.as_secs_f64() / best.as_secs_f64().max(1e-9)) as u64
}

/// A thread spinning on one CPU until stopped.
pub struct Competitor {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Duration>,
}

impl Competitor {
    /// Starts spinning on `cpu`.
    pub fn start(cpu: usize) -> Competitor {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                pin_to_cpu(cpu);
                let start = thread_cpu();
                while !stop.load(Ordering::Relaxed) {
                    work(10_000);
                }
                thread_cpu() - start
            }
        });
        Competitor { stop, thread }
    }

    /// Stops it: the CPU time it used.
    pub fn stop(self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// A CPU quota on the calling thread, in a cgroup of its own (cgroup v1's
/// `cpu` controller, which takes single threads); `None` where the
/// process may not make one.
pub struct Quota {
    dir: std::path::PathBuf,
}

impl Quota {
    /// `share` of a core, enforced every `period`.
    pub fn start(share: f64, period: Duration) -> Option<Quota> {
        let root = std::path::Path::new("/sys/fs/cgroup/cpu");
        if !root.join("cpu.cfs_quota_us").exists() {
            return None;
        }
        let dir = root.join(format!("profiling-alloc-model-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        let quota = Quota { dir };
        let period_us = period.as_micros() as u64;
        let written = std::fs::write(quota.dir.join("cpu.cfs_period_us"), period_us.to_string())
            .and_then(|()| {
                std::fs::write(
                    quota.dir.join("cpu.cfs_quota_us"),
                    ((period_us as f64 * share) as u64).to_string(),
                )
            })
            .and_then(|()| std::fs::write(quota.dir.join("tasks"), gettid().to_string()));
        written.ok().map(|()| quota)
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        let _ = std::fs::write("/sys/fs/cgroup/cpu/tasks", gettid().to_string());
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn gettid() -> i64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}
