//! Cost of CPU sampling (feature `cpu`): the same CPU-bound workload (jobs
//! that hash and allocate a little) with no profile, at 100 Hz and at
//! 1 kHz, in alternating rounds of one run, as ratios of medians against
//! the unprofiled runs of the same rounds.
//!
//! Two measures: the workload thread's own CPU time (it includes the signal
//! handler, which runs on that thread) and the whole process's CPU time
//! (which adds the `cpu-sampler` thread's scans and drains). Then what an
//! idle profile costs, and what a profile adds to a process that starts
//! threads one after another (each wakes the sampler).
//!
//! `cargo bench --bench cpu_overhead`

use std::hint::black_box;
use std::time::Duration;

use profiling_alloc::{cpu, profile_job, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

const ROUNDS: usize = 11;
/// Job calls per run (about 0.3 s of CPU here in a release build).
const CALLS: u64 = 60_000;
/// Threads per run of the churn measure.
const CHURN_THREADS: u32 = 2_000;

#[profile_job]
#[inline(never)]
fn hash_record(seed: u64) -> u64 {
    let mut x = seed | 1;
    for i in 0..2_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x = x.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(i);
    }
    let label = black_box(format!("record-{x:x}"));
    x ^ label.len() as u64
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes the clock's reading into `now`.
    let status = unsafe { libc::clock_gettime(id, &raw mut now) };
    assert_eq!(status, 0);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// One run: (thread CPU, process CPU, samples, time to stop). Process CPU
/// is read before the stop: building the profile (symbols) is reported on
/// its own.
fn run(frequency: Option<u32>) -> (Duration, Duration, u64, Duration) {
    let profiling = frequency.map(|hz| cpu::start(hz).expect("starting the CPU profile"));
    let (thread, process) = (
        clock(libc::CLOCK_THREAD_CPUTIME_ID),
        clock(libc::CLOCK_PROCESS_CPUTIME_ID),
    );
    let mut acc = 0;
    for i in 0..CALLS {
        acc ^= hash_record(acc ^ i);
    }
    black_box(acc);
    let thread = clock(libc::CLOCK_THREAD_CPUTIME_ID) - thread;
    let process = clock(libc::CLOCK_PROCESS_CPUTIME_ID) - process;
    let stopping = std::time::Instant::now();
    let samples = profiling.map_or(0, |p| p.stop().samples);
    (thread, process, samples, stopping.elapsed())
}

/// CPU the process uses while a profile runs and nothing else does: the
/// sampler thread's listing of threads and draining, per second; and what
/// starting and stopping cost.
fn idle_cost() -> (Duration, Duration) {
    let before = clock(libc::CLOCK_PROCESS_CPUTIME_ID);
    let profiling = cpu::start(100).expect("starting the CPU profile");
    let started = clock(libc::CLOCK_PROCESS_CPUTIME_ID);
    std::thread::sleep(Duration::from_secs(1));
    let idle = clock(libc::CLOCK_PROCESS_CPUTIME_ID) - started;
    drop(profiling.stop());
    let start_stop = clock(libc::CLOCK_PROCESS_CPUTIME_ID) - before - idle;
    (idle, start_stop)
}

/// Threads started and joined one after another, each allocating (its
/// first allocation wakes the sampler to list the threads): the process's
/// CPU time without a profile and at 100 Hz, medians of [`ROUNDS`] rounds
/// of [`CHURN_THREADS`] threads, run alternately.
fn churn_cost() -> (Duration, Duration) {
    let churn = |profiled: bool| {
        let profiling = profiled.then(|| cpu::start(100).expect("starting the CPU profile"));
        let before = clock(libc::CLOCK_PROCESS_CPUTIME_ID);
        for i in 0..CHURN_THREADS {
            let thread = std::thread::spawn(move || black_box(vec![i as u8; 64]).len());
            black_box(thread.join().expect("a churn thread"));
        }
        let used = clock(libc::CLOCK_PROCESS_CPUTIME_ID) - before;
        drop(profiling.map(cpu::CpuProfiling::stop));
        used
    };
    let (mut unprofiled, mut profiled) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let first = round % 2 == 0;
        for profile in [first, !first] {
            let used = churn(profile);
            if profile {
                profiled.push(used);
            } else {
                unprofiled.push(used);
            }
        }
    }
    (median(unprofiled), median(profiled))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let modes: [Option<u32>; 3] = [None, Some(100), Some(1000)];
    let mut thread = vec![Vec::new(); 3];
    let mut process = vec![Vec::new(); 3];
    let mut samples = [0u64; 3];
    let mut stops = vec![Vec::new(); 3];
    run(None); // warm-up: symbols, caches, the ring
    run(Some(100));
    for round in 0..ROUNDS {
        // Rotate the order so no mode always runs first.
        for k in 0..3 {
            let m = (round + k) % 3;
            let (t, p, s, stop) = run(modes[m]);
            thread[m].push(t);
            process[m].push(p);
            samples[m] += s;
            stops[m].push(stop);
        }
    }
    let (idle, start_stop) = idle_cost();
    let (churn_unprofiled, churn_profiled) = churn_cost();
    let base_thread = median(thread[0].clone());
    let base_process = median(process[0].clone());
    println!(
        "cpu_overhead: {CALLS} job calls per run, {ROUNDS} rounds; medians (thread CPU / process CPU)"
    );
    println!(
        "  unprofiled: {:>8.2} ms / {:>8.2} ms",
        base_thread.as_secs_f64() * 1e3,
        base_process.as_secs_f64() * 1e3
    );
    println!(
        "  idle profile: {:.2} ms of CPU per second (the cpu-sampler thread); start + stop {:.2} ms",
        idle.as_secs_f64() * 1e3,
        start_stop.as_secs_f64() * 1e3
    );
    println!(
        "  thread churn ({CHURN_THREADS} threads started and joined in turn): {:.2} ms unprofiled, {:.2} ms at 100 Hz, ratio {:.3}x (process CPU)",
        churn_unprofiled.as_secs_f64() * 1e3,
        churn_profiled.as_secs_f64() * 1e3,
        churn_profiled.as_secs_f64() / churn_unprofiled.as_secs_f64()
    );
    for m in 1..3 {
        let (t, p) = (median(thread[m].clone()), median(process[m].clone()));
        println!(
            "  {:>5} Hz:   {:>8.2} ms / {:>8.2} ms   ratio {:.3}x / {:.3}x   ({} samples a run, stop {:.1} ms)",
            modes[m].unwrap_or(0),
            t.as_secs_f64() * 1e3,
            p.as_secs_f64() * 1e3,
            t.as_secs_f64() / base_thread.as_secs_f64(),
            p.as_secs_f64() / base_process.as_secs_f64(),
            samples[m] / ROUNDS as u64,
            median(stops[m].clone()).as_secs_f64() * 1e3
        );
    }
}
