//! CPU sampling (feature `cpu`, Linux x86_64): attribution to jobs, samples
//! against the CPU time the threads' own clocks measured, no allocation in
//! the signal handler, and no deadlock or crash under allocation, nested
//! jobs, a thread exiting and start/stop churn.
//!
//! Without the test harness (`harness = false`): the checks run one after
//! another (one CPU profile at a time), under a watchdog that aborts the
//! process if anything hangs.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::thread_cpu;
use profiling_alloc::cpu::{self, CpuProfile};
use profiling_alloc::{
    job_stats, jobs::job, measure, profile_job, set_sampling, Error, ProfilingAllocator, Sampling,
};

// Sampling off but in the check under allocation: a sample of an allocation
// made before the checks (under the default Poisson sampling, now and then)
// would choose the stack walk, which `cpu::start` chooses itself otherwise.
#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Off);

/// Fixed work: `rounds` rounds of a multiply-xorshift, no allocation.
#[inline(never)]
fn burn(rounds: u64) -> u64 {
    let mut x = black_box(0x9e37_79b9_7f4a_7c15u64);
    for i in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x = x.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(i);
    }
    black_box(x)
}

/// Rounds that take about 20 µs here (measured once, on the thread's clock).
fn rounds_for_20us() -> u64 {
    let start = thread_cpu();
    burn(1_000_000);
    let per_round = (thread_cpu() - start).as_secs_f64() / 1e6;
    ((20e-6 / per_round) as u64).max(1)
}

/// Burns about `cpu` of the calling thread's CPU time as one piece of
/// fixed work (`rounds` take 20 µs), with no system call in it; returns the
/// CPU time it took, by the thread's clock.
///
/// Not a loop that reads the clock until `cpu` has passed: a thread that
/// enters the kernel every few microseconds, while other threads wait for
/// a core, ends its time slices in those calls rather than at the kernel's
/// tick. Its CPU-time timer is checked only at ticks, so its expirations
/// come late, and those still pending when it exits are lost (the `cpu`
/// module's limits).
fn burn_cpu(cpu: Duration, rounds: u64) -> Duration {
    let start = thread_cpu();
    let pieces = (cpu.as_secs_f64() / 20e-6).round() as u64;
    burn(rounds.saturating_mul(pieces));
    thread_cpu() - start
}

#[profile_job]
fn three_parts(rounds: u64) -> u64 {
    burn(3 * rounds)
}

#[profile_job]
fn one_part(rounds: u64) -> u64 {
    burn(rounds)
}

#[profile_job]
fn sleeper() {
    std::thread::sleep(Duration::from_millis(300));
}

/// Samples whose innermost job is `name`.
fn samples_in(profile: &CpuProfile, name: &str) -> u64 {
    profile
        .stacks
        .iter()
        .filter(|s| s.job_path.last().is_some_and(|j| j.ends_with(name)))
        .map(|s| s.samples)
        .sum()
}

fn samples_of_thread(profile: &CpuProfile, thread: &str) -> u64 {
    profile
        .threads
        .iter()
        .filter(|t| t.name == thread)
        .map(|t| t.samples)
        .sum()
}

/// Two jobs of fixed work in a 3:1 ratio, alternating in calls of tens of
/// microseconds: 75% ± 5 points of their samples go to the first. A job
/// that sleeps gets almost none.
fn three_to_one() {
    let rounds = rounds_for_20us();
    let profiling = cpu::start(1000).expect("start");
    let sleeping = std::thread::Builder::new()
        .name("sleeper".into())
        .spawn(sleeper)
        .unwrap();
    // Each pair's length varies (the ratio stays 3:1): calls of one fixed
    // length drift slowly in phase against the kernel's tick, which makes
    // the split noisier than the sample count says. About 5 s of CPU (a
    // pair takes 80 µs): deliveries come at the kernel's tick (250 Hz
    // here), so about 1,250 independent draws, a standard deviation of 1.2
    // points on the split. The clock is read around the loop only
    // (`burn_cpu` says why).
    let started = thread_cpu();
    let mut rng = 0x9e37_79b9u64;
    for _ in 0..62_500 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let pair = rounds / 2 + rng % rounds;
        three_parts(pair);
        one_part(pair);
    }
    let looped = thread_cpu() - started;
    sleeping.join().unwrap();
    let profile = profiling.stop();
    let (three, one) = (
        samples_in(&profile, "three_parts"),
        samples_in(&profile, "one_part"),
    );
    let share = three as f64 / (three + one) as f64;
    println!(
        "3:1 work at 1 kHz: {three} and {one} samples, {:.1}% to the first (goal 75 ± 5); sleeper {}",
        share * 100.0,
        samples_in(&profile, "sleeper")
    );
    assert!(
        (share - 0.75).abs() <= 0.05,
        "{:.3}\n{}",
        share,
        profile.hotspot_table(10)
    );
    // A sleeping job uses next to no CPU. Not none: on a virtual machine a
    // thread can be charged a few milliseconds at once around its sleep
    // (seen once in CI: one delivery with 4 overruns, 5 samples against
    // 5,500), so the bound is half a percent of the computing jobs'.
    let sleeper = samples_in(&profile, "sleeper");
    assert!(
        sleeper <= 2.max((three + one) / 200),
        "a sleeping job used {sleeper} samples of CPU against {} computing",
        three + one
    );
    // The walk the handler took: CI names the one a build should take.
    println!("stacks walked by {}", profile.unwinder);
    if let Ok(expected) = std::env::var("PROFILING_EXPECT_UNWINDER") {
        assert_eq!(profile.unwinder.name(), expected);
    }
    // Job statistics gained on-CPU time.
    let stats = job_stats();
    let three_stats = stats
        .iter()
        .find(|j| j.name.ends_with("three_parts"))
        .unwrap();
    let sleeper_stats = stats.iter().find(|j| j.name.ends_with("sleeper")).unwrap();
    // The two computing jobs' on-CPU time together is the loop's CPU time
    // by the thread's clock, within 5% (the loop's own work and the jobs'
    // bookkeeping are under 1%). Against wall time, a job that computes is
    // on a CPU for at most all of it (up to the noise of a tick-driven
    // timer against calls of fixed length), and for all of it only when
    // no other program wants the cores: not asserted.
    let one_stats = stats.iter().find(|j| j.name.ends_with("one_part")).unwrap();
    let mut on_cpu = Duration::ZERO;
    for job in [three_stats, one_stats] {
        let cpu = job.cpu.expect("CPU statistics after a profile");
        let share = cpu.on_cpu_share().unwrap();
        println!(
            "{}: {:?} on a CPU of {:?} wall in {} calls: {:.1}%",
            job.name,
            cpu.on_cpu,
            cpu.profiled_wall,
            cpu.profiled_calls,
            share * 100.0
        );
        assert!(share <= 1.25, "{share:.3}");
        assert_eq!(
            cpu.profiled_calls, job.calls,
            "every call ran while profiled"
        );
        on_cpu += cpu.on_cpu;
    }
    let both = on_cpu.as_secs_f64() / looped.as_secs_f64();
    println!(
        "the two jobs: {on_cpu:?} on a CPU of the loop's {looped:?}: {:.1}%",
        both * 100.0
    );
    assert!((0.95..=1.05).contains(&both), "{both:.3}");
    let sleeper = sleeper_stats.cpu.unwrap();
    assert!(sleeper.on_cpu_share().unwrap() < 0.05, "{sleeper:?}");
    // Outputs: folded lines rooted at the jobs, an SVG, a pprof profile.
    let folded = profile.folded();
    assert!(
        folded
            .iter()
            .any(|l| l.contains("three_parts") && l.contains("burn")),
        "{folded:?}"
    );
    let mut svg = Vec::new();
    profile.flamegraph(&mut svg).unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("three_parts") && svg.contains("CPU time by stack")
    );
    let pprof = profile.to_pprof().unwrap();
    assert_eq!(&pprof[..2], &[0x1f, 0x8b], "gzip");
    let table = profile.hotspot_table(5);
    assert!(
        table
            .lines()
            .skip(2)
            .take(5)
            .any(|row| row.contains("cpu_sampling::burn")),
        "{table}"
    );
}

/// Samples against frequency × the CPU seconds the busy threads' clocks
/// measured: at least 95% at 100 Hz and at 1 kHz.
fn capture_ratio(frequency: u32) {
    let rounds = rounds_for_20us();
    let profiling = cpu::start(frequency).expect("start");
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            std::thread::Builder::new()
                .name(format!("busy-{i}"))
                .spawn(move || {
                    // Seen by the sampler (it lists threads every 20 ms,
                    // up to 100 ms while none is new) before the clock
                    // starts.
                    std::thread::sleep(Duration::from_millis(150));
                    barrier.wait();
                    burn_cpu(Duration::from_millis(1500), rounds)
                })
                .unwrap()
        })
        .collect();
    let cpu: Duration = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let profile = profiling.stop();
    let samples = samples_of_thread(&profile, "busy-0") + samples_of_thread(&profile, "busy-1");
    let expected = cpu.as_secs_f64() * f64::from(frequency);
    let ratio = samples as f64 / expected;
    println!(
        "{frequency} Hz: {samples} samples for {:.2} CPU-s on 2 threads: {:.1}% of expected (goal >= 95%); whole profile {:.1}% of its threads' CPU time, {} timers, {} dropped",
        cpu.as_secs_f64(),
        ratio * 100.0,
        profile.capture_ratio().unwrap_or(0.0) * 100.0,
        profile.timers,
        profile.dropped_samples
    );
    assert!((0.95..=1.05).contains(&ratio), "{ratio:.3}");
    // These threads never allocated: their stacks were read through copies
    // (their bounds unknown), and still reach the thread's closure.
    let walked: u64 = profile
        .stacks
        .iter()
        .filter(|s| s.thread.starts_with("busy-"))
        .filter(|s| {
            s.frames
                .iter()
                .any(|f| f.function.contains("capture_ratio::{{closure}}"))
        })
        .map(|s| s.samples)
        .sum();
    assert!(
        walked * 10 >= samples * 9,
        "{walked} of {samples} samples walked to the thread's closure\n{:#?}",
        profile.stacks.iter().take(3).collect::<Vec<_>>()
    );
    assert_eq!(profile.timers, cpu::CpuTimers::PerThread);
}

/// A thread that allocates nothing while it is sampled: no allocation is
/// counted on it, so the handler allocated none.
fn no_allocation_in_the_handler() {
    let rounds = rounds_for_20us();
    let profiling = cpu::start(1000).expect("start");
    let worker = std::thread::Builder::new()
        .name("no-alloc".into())
        .spawn(move || {
            std::thread::sleep(Duration::from_millis(60));
            let (_, delta) = measure(|| burn_cpu(Duration::from_millis(500), rounds));
            delta
        })
        .unwrap();
    let delta = worker.join().unwrap();
    let profile = profiling.stop();
    let samples = samples_of_thread(&profile, "no-alloc");
    println!(
        "no-alloc thread: {samples} samples, {} blocks allocated on it",
        delta.total_blocks
    );
    assert!(samples >= 200, "{samples}");
    assert_eq!(delta.total_blocks, 0, "the handler allocated");
}

/// A thread started while profiling, after a quiet spell (the sampler's
/// listing slowed to every 100 ms): its first allocation wakes the sampler,
/// which starts its timer then rather than at the next listing. The
/// profile saw it from about its start (its `cpu_time` is nearly all of its
/// CPU time), and its CPU time is sampled.
///
/// Then a thread that names itself 50 ms after its first allocation, and
/// exits before the profile stops: the profile has that name, not the one
/// the first listing read (its parent's).
fn a_thread_started_while_profiling() {
    let rounds = rounds_for_20us();
    let profiling = cpu::start(1000).expect("start");
    std::thread::sleep(Duration::from_millis(400));
    // The thread lives until the profile stopped, so that the profile reads
    // its clock at the end (an exited thread's is its last reading).
    let (burnt, stopped) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let started_late = {
        let (burnt, stopped) = (Arc::clone(&burnt), Arc::clone(&stopped));
        std::thread::Builder::new()
            .name("started-late".into())
            .spawn(move || {
                let first = black_box(vec![0u8; 64]);
                drop(first);
                burn_cpu(Duration::from_millis(100), rounds);
                let lifetime_cpu = thread_cpu();
                burnt.wait();
                stopped.wait();
                lifetime_cpu
            })
            .unwrap()
    };
    burnt.wait();
    let named_late = std::thread::spawn(move || {
        let first = black_box(vec![0u8; 64]);
        drop(first);
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: names the calling thread; a NUL-terminated name under 16
        // bytes.
        let named =
            unsafe { libc::pthread_setname_np(libc::pthread_self(), c"named-late".as_ptr()) };
        assert_eq!(named, 0);
        // Alive past the sampler's longest tick (100 ms) after the rename,
        // and within the 200 ms its name is read again: a listing sees it.
        burn_cpu(Duration::from_millis(20), rounds);
        std::thread::sleep(Duration::from_millis(110));
        // SAFETY: gettid has no preconditions.
        unsafe { libc::syscall(libc::SYS_gettid) }
    });
    let named_tid = named_late.join().unwrap();
    // `join` returns when the thread has cleared its id; the kernel ends
    // its exit a moment later, and until then the thread can still be
    // listed and its clock read (CI saw it read as running at the stop).
    let task = format!("/proc/self/task/{named_tid}");
    let gone_by = std::time::Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&task).exists() && std::time::Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(1));
    }
    let profile = profiling.stop();
    stopped.wait();
    let lifetime_cpu = started_late.join().unwrap();
    let thread = |name: &str| {
        profile
            .threads
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no thread named {name} in {:?}", profile.threads))
    };
    let started = thread("started-late");
    let unseen = lifetime_cpu.saturating_sub(started.cpu_time);
    let ratio = started.samples as f64 / (lifetime_cpu.as_secs_f64() * 1000.0);
    println!(
        "a thread started after 400 ms of profiling: seen after {:.2} ms of its {:.1} ms of CPU; {} samples, {:.1}% of expected",
        unseen.as_secs_f64() * 1000.0,
        lifetime_cpu.as_secs_f64() * 1000.0,
        started.samples,
        ratio * 100.0
    );
    assert!(
        unseen < Duration::from_millis(10),
        "{started:?}, {lifetime_cpu:?} of CPU"
    );
    assert!(ratio >= 0.8, "{started:?}, {lifetime_cpu:?} of CPU");
    let named = thread("named-late");
    assert!(named.exited && named.samples > 0, "{named:?}");
}

#[profile_job]
fn outer_job(rng: &mut u64) -> u64 {
    let mut kept = 0u64;
    for _ in 0..50 {
        kept += inner_job(rng);
    }
    kept
}

#[profile_job]
fn inner_job(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let size = (*rng % 4000) as usize + 1;
    let block = black_box(vec![1u8; size]);
    block.len() as u64
}

/// Four threads allocating with every allocation sampled, in nested jobs,
/// a fifth capturing backtraces (libgcc's unwinder and its locks), a thread
/// that starts and exits while profiled, at 997 Hz: no deadlock, no crash,
/// exact totals.
fn under_allocation() {
    let rounds = rounds_for_20us();
    let before = profiling_alloc::callsites::sampling();
    set_sampling(Sampling::Every);
    let profiling = cpu::start(997).expect("start");
    let stop = Arc::new(AtomicBool::new(false));
    let allocators: Vec<_> = (0..4u64)
        .map(|i| {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("alloc-{i}"))
                .spawn(move || {
                    let mut rng = 0x1234_5678 + i;
                    let mut calls = 0u64;
                    let (bytes, delta) = measure(|| {
                        let mut bytes = 0u64;
                        while !stop.load(Relaxed) {
                            bytes += outer_job(&mut rng);
                            calls += 1;
                        }
                        bytes
                    });
                    // Exact: each inner call allocated one block of `size`
                    // bytes and freed it.
                    assert_eq!(delta.total_blocks, calls * 50, "blocks");
                    assert_eq!(delta.total_bytes, bytes, "bytes");
                    assert_eq!(delta.freed_bytes, bytes, "freed");
                    calls
                })
                .unwrap()
        })
        .collect();
    let tracer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut captured = 0u64;
            while !stop.load(Relaxed) {
                job("capture_backtrace", || {
                    let _ = black_box(std::backtrace::Backtrace::force_capture());
                });
                captured += 1;
            }
            captured
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let short_lived = std::thread::Builder::new()
        .name("short-lived".into())
        .spawn(move || {
            // Found by the sampler's listing (every 20 to 100 ms) first.
            std::thread::sleep(Duration::from_millis(150));
            burn_cpu(Duration::from_millis(200), rounds);
        })
        .unwrap();
    short_lived.join().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Relaxed);
    let calls: u64 = allocators.into_iter().map(|t| t.join().unwrap()).sum();
    let captured = tracer.join().unwrap();
    let profile = profiling.stop();
    set_sampling(before);
    let exited = profile.threads.iter().find(|t| t.name == "short-lived");
    println!(
        "under allocation: {} samples, {calls} outer calls, {captured} backtraces, {} dropped, {} threads without a timer; short-lived thread {:?}",
        profile.samples, profile.dropped_samples, profile.unprofiled_threads, exited.map(|t| (t.samples, t.exited))
    );
    assert!(
        samples_in(&profile, "inner_job") > 0,
        "{}",
        profile.hotspot_table(10)
    );
    assert!(
        profile
            .stacks
            .iter()
            .any(|s| s.job_path.len() == 2 && s.job_path[0].ends_with("outer_job")),
        "nested job paths"
    );
    let exited = exited.expect("the short-lived thread was seen");
    // Every thread's samples and CPU time, should this one have none.
    assert!(
        exited.exited && exited.samples > 0,
        "{exited:?}\nthreads {:?}",
        profile.threads
    );
}

/// The process-wide timer, as asked for by the environment (where
/// per-thread timers cannot be made it is the fallback): one busy thread is
/// sampled in full. Asked for 1 kHz, it runs at 100 Hz: it fires at most
/// once a tick (250 Hz here) and has no overrun count, so at 1 kHz it
/// would count a quarter of the CPU time.
fn process_wide_timer() {
    let rounds = rounds_for_20us();
    std::env::set_var("PROFILING_ALLOC_CPU_TIMERS", "process");
    let profiling = cpu::start(1000).expect("start");
    std::env::remove_var("PROFILING_ALLOC_CPU_TIMERS");
    assert_eq!(profiling.timers(), cpu::CpuTimers::ProcessWide);
    assert_eq!(profiling.frequency_hz(), cpu::PROCESS_WIDE_MAX_FREQUENCY_HZ);
    // About a second of calls, the clock read around them only (see
    // `burn_cpu`: a clock read per call would hide the thread from the
    // tick, and the process-wide timer has no overrun count to catch up).
    let start = thread_cpu();
    for _ in 0..50_000 {
        one_part(rounds);
    }
    let cpu = thread_cpu() - start;
    let profile = profiling.stop();
    assert_eq!(profile.timers, cpu::CpuTimers::ProcessWide);
    assert_eq!(profile.frequency_hz, 100);
    assert_eq!(profile.period, Duration::from_millis(10));
    let ratio = samples_in(&profile, "one_part") as f64 / (cpu.as_secs_f64() * 100.0);
    println!(
        "process-wide timer asked for 1 kHz, ran at {} Hz, one busy thread: {:.1}% of expected",
        profile.frequency_hz,
        ratio * 100.0
    );
    assert!((0.85..=1.1).contains(&ratio), "{ratio:.3}");
}

/// Typed errors: a bad frequency, a second profile.
fn errors() {
    assert!(matches!(
        cpu::start(0),
        Err(Error::CpuInvalidFrequency { frequency_hz: 0 })
    ));
    assert!(matches!(
        cpu::start(cpu::MAX_FREQUENCY_HZ + 1),
        Err(Error::CpuInvalidFrequency { .. })
    ));
    let first = cpu::start(100).unwrap();
    assert!(cpu::is_running());
    let second = cpu::start(100);
    assert!(
        matches!(second, Err(Error::CpuAlreadyRunning)),
        "{second:?}"
    );
    drop(first);
    assert!(!cpu::is_running(), "dropping stops it");
    cpu::start(100).unwrap().stop();
}

/// Many short profiles at 1 kHz while threads burn CPU: every signal that
/// arrives after a stop is ignored, none ends the process.
fn start_stop_churn() {
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    burn(10_000);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut samples = 0;
    for _ in 0..200 {
        let profiling = cpu::start(1000).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        samples += profiling.stop().samples;
    }
    stop.store(true, Relaxed);
    for thread in busy {
        thread.join().unwrap();
    }
    println!(
        "200 start/stop cycles in {:?}: {samples} samples",
        started.elapsed()
    );
}

fn main() {
    // Anything that hangs fails the test instead of stalling CI.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(300));
        eprintln!("cpu_sampling: still running after 300 s: aborting");
        std::process::abort();
    });
    errors();
    three_to_one();
    capture_ratio(100);
    capture_ratio(1000);
    no_allocation_in_the_handler();
    a_thread_started_while_profiling();
    process_wide_timer();
    under_allocation();
    start_stop_churn();
    println!("cpu_sampling: all checks passed");
}
