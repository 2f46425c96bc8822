//! [`CpuProfile`]: what a CPU profile holds, and how it is built from a
//! session's samples (symbols resolved, job paths named, threads named).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::CpuTimers;
use crate::callsites::Frame;
use crate::callsites::StackUnwinder;
use crate::program::ProgramInfo;

/// A CPU profile, from [`CpuProfiling::stop`](super::CpuProfiling::stop):
/// samples per stack, per job path and per thread.
///
/// Each sample stands for one period (1/[`frequency_hz`](Self::frequency_hz)
/// seconds) of CPU time used by the thread it interrupted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CpuProfile {
    /// The program profiled.
    pub program: ProgramInfo,
    /// Samples per CPU-second taken: the frequency asked for, or
    /// [`PROCESS_WIDE_MAX_FREQUENCY_HZ`](super::PROCESS_WIDE_MAX_FREQUENCY_HZ)
    /// if that was higher and the process-wide timer ran.
    pub frequency_hz: u32,
    /// CPU time one sample stands for.
    pub period: Duration,
    /// Wall time from start to stop.
    pub duration: Duration,
    /// Which timers ran.
    pub timers: CpuTimers,
    /// How stacks were walked (the allocation sampler's choice).
    pub unwinder: StackUnwinder,
    /// Samples taken (counting a delivery that stood for several periods as
    /// several).
    pub samples: u64,
    /// Samples dropped because the buffer was full.
    pub dropped_samples: u64,
    /// Threads that ran without a timer (the kernel's limit of queued
    /// signals, `RLIMIT_SIGPENDING`): their CPU time is not sampled.
    pub unprofiled_threads: u64,
    /// CPU time the `cpu-sampler` thread used (listing threads, arming
    /// timers, draining samples): the profiler's own cost beside the signal
    /// handlers' time on the sampled threads. `sampler_cpu_ns` in JSON.
    #[serde(rename = "sampler_cpu_ns", with = "crate::units::nanos", default)]
    pub sampler_cpu_time: Duration,
    /// Samples per distinct stack, job path and thread, most first.
    pub stacks: Vec<CpuStack>,
    /// The threads seen, most CPU first.
    pub threads: Vec<CpuThread>,
}

/// One stack of a [`CpuProfile`] and its samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CpuStack {
    /// Innermost first: the function running when the thread was
    /// interrupted, then its callers (inlined functions as frames of their
    /// own).
    pub frames: Vec<Frame>,
    /// The jobs the thread ran inside, outermost first (empty outside jobs).
    pub job_path: Vec<String>,
    /// The thread's name (or `thread <id>`).
    pub thread: String,
    /// Samples of this stack.
    pub samples: u64,
    /// Whether the stack was cut short (deeper than 128 frames, or not
    /// walkable beyond the interrupted function).
    pub truncated: bool,
}

/// One thread seen while profiling. A thread id the kernel gave again to a
/// later thread shows twice, each thread with its own samples and CPU time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CpuThread {
    /// The kernel's thread id.
    pub tid: u32,
    /// The thread's name as the kernel keeps it (`/proc/self/task/<tid>/comm`,
    /// as `top` and `perf` show it): at most 15 bytes, so a longer name is
    /// cut (`tokio-runtime-worker` reads `tokio-runtime-w`). Read at the
    /// end for a thread still running; for one that exited, as last read
    /// while it ran (again at each listing for 200 ms after it was first
    /// listed, as a new thread names itself after it starts). `thread
    /// <id>` when it could not be read.
    pub name: String,
    /// CPU time it used while profiled (its CPU clock at the end, or when
    /// it was last seen, less when it was first seen).
    pub cpu_time: Duration,
    /// Samples taken on it: about `cpu_time` / period, fewer for a thread
    /// the kernel's tick seldom finds running (see the module's "How it
    /// counts").
    pub samples: u64,
    /// Whether it exited before the profile stopped. The kernel finishes a
    /// thread's exit a moment after a `join` of it returns: a thread joined
    /// just before the stop may still read as running.
    pub exited: bool,
}

/// A stack as a profile tells it apart: frames, job path, thread name.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
type StackKey = (Vec<Frame>, Vec<String>, String);

/// What a session hands to [`CpuProfile::build`].
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(super) struct Gathered {
    pub(super) collected: super::sampler::Collected,
    pub(super) frequency_hz: u32,
    pub(super) period_ns: u64,
    pub(super) duration: Duration,
    pub(super) timers: CpuTimers,
    pub(super) dropped: u64,
}

impl CpuProfile {
    /// A profile with nothing in it.
    pub(super) fn empty() -> CpuProfile {
        CpuProfile {
            program: ProgramInfo::current(),
            frequency_hz: 0,
            period: Duration::ZERO,
            duration: Duration::ZERO,
            timers: CpuTimers::PerThread,
            unwinder: crate::callsites::stack_unwinder(),
            samples: 0,
            dropped_samples: 0,
            unprofiled_threads: 0,
            sampler_cpu_time: Duration::ZERO,
            stacks: Vec::new(),
            threads: Vec::new(),
        }
    }

    /// Resolves the samples' symbols and names their job paths and threads.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    pub(super) fn build(gathered: Gathered) -> CpuProfile {
        crate::capture::reading(|| {
            let Gathered {
                collected,
                frequency_hz,
                period_ns,
                duration,
                timers,
                dropped,
            } = gathered;
            let mut profile = CpuProfile {
                frequency_hz,
                period: Duration::from_nanos(period_ns),
                duration,
                timers,
                dropped_samples: dropped,
                unprofiled_threads: collected.unprofiled_threads,
                sampler_cpu_time: collected.sampler_cpu,
                ..CpuProfile::empty()
            };
            let mut merging = Merging::default();
            let name_of = |tid: u32| {
                collected
                    .threads
                    .get(&tid)
                    .map_or_else(|| format!("thread {tid}"), |record| record.name.clone())
            };
            let per_thread = merging.add(&collected.stacks, name_of, period_ns);
            let mut threads: Vec<CpuThread> = collected
                .threads
                .iter()
                .map(|(&tid, record)| {
                    CpuThread::of(tid, record, per_thread.get(&tid).copied().unwrap_or(0))
                })
                .collect();
            for (tid, record, stacks) in &collected.retired {
                let samples = merging.add(stacks, |_| record.name.clone(), period_ns);
                let samples = samples.get(tid).copied().unwrap_or(0);
                threads.push(CpuThread::of(*tid, record, samples));
            }
            crate::job::add_on_cpu(&merging.job_nanos);
            profile.samples = merging.samples;
            profile.stacks = merging
                .merged
                .into_iter()
                .map(
                    |((frames, job_path, thread), (samples, truncated))| CpuStack {
                        frames,
                        job_path,
                        thread,
                        samples,
                        truncated,
                    },
                )
                .collect();
            profile.stacks.sort_by(|a, b| {
                b.samples
                    .cmp(&a.samples)
                    .then_with(|| a.frames.len().cmp(&b.frames.len()))
            });
            profile.threads = threads;
            profile
                .threads
                .sort_by(|a, b| b.cpu_time.cmp(&a.cpu_time).then_with(|| a.tid.cmp(&b.tid)));
            profile
        })
    }

    /// CPU time the samples stand for: samples × period.
    pub fn sampled_time(&self) -> Duration {
        self.period
            .saturating_mul(u32::try_from(self.samples).unwrap_or(u32::MAX))
    }

    /// CPU time the profiled threads' own clocks measured while profiling.
    pub fn cpu_time(&self) -> Duration {
        self.threads.iter().map(|thread| thread.cpu_time).sum()
    }

    /// [`sampled_time`](Self::sampled_time) over [`cpu_time`](Self::cpu_time):
    /// near 1 when every period of CPU was sampled; `None` when no CPU time
    /// was measured. Below 1 when samples were dropped, when threads ran
    /// without a timer, or (process-wide timer) when several cores were busy.
    pub fn capture_ratio(&self) -> Option<f64> {
        let cpu = self.cpu_time().as_secs_f64();
        (cpu > 0.0).then(|| self.sampled_time().as_secs_f64() / cpu)
    }

    /// Samples inside each job (including the jobs it called), by job name,
    /// most first: the job's on-CPU time is samples × [`period`](Self::period).
    pub fn job_samples(&self) -> Vec<(String, u64)> {
        let mut jobs: Vec<(String, u64)> = Vec::new();
        for stack in &self.stacks {
            let mut seen: Vec<&str> = Vec::new();
            for job in &stack.job_path {
                if seen.contains(&job.as_str()) {
                    continue;
                }
                seen.push(job);
                match jobs.iter_mut().find(|(name, _)| name == job) {
                    Some((_, samples)) => *samples += stack.samples,
                    None => jobs.push((job.clone(), stack.samples)),
                }
            }
        }
        jobs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        jobs
    }
}

/// Samples of every thread, merged into stacks as a profile tells them
/// apart.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[derive(Default)]
struct Merging {
    /// Return addresses of one line resolve alike: one stack.
    merged: std::collections::HashMap<StackKey, (u64, bool)>,
    /// CPU time per job path, its bookkeeping left out.
    job_nanos: Vec<(&'static crate::capture::job_path::PathNode, u64)>,
    samples: u64,
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
impl Merging {
    /// Resolves and merges `stacks`, naming threads with `name_of`; returns
    /// the samples per thread id.
    fn add(
        &mut self,
        stacks: &super::sampler::StacksByThread,
        name_of: impl Fn(u32) -> String,
        period_ns: u64,
    ) -> std::collections::HashMap<u32, u64> {
        let mut per_thread = std::collections::HashMap::new();
        for (&(tid, job, truncated), stacks) in stacks {
            // SAFETY: `job` is 0 or the address of a `&'static PathNode`
            // (the handler read it from the thread's job path; nodes are
            // never freed).
            let node: Option<&'static crate::capture::job_path::PathNode> =
                (job != 0).then(|| unsafe { &*(job as *const crate::capture::job_path::PathNode) });
            let job_path: Vec<String> = node
                .map(|node| {
                    crate::job::path_names(node)
                        .into_iter()
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let thread = name_of(tid);
            for (ips, &samples) in stacks {
                let mut frames: Vec<Frame> = ips
                    .iter()
                    .flat_map(|&ip| crate::callsites::symbols::resolve(ip))
                    .collect();
                crate::callsites::symbols::present_cpu(&mut frames);
                self.samples += samples;
                *per_thread.entry(tid).or_default() += samples;
                // The job's own bookkeeping (its guard, clock reads,
                // statistics) runs outside the wall time it measures.
                if let Some(node) = node.filter(|_| !in_job_bookkeeping(&frames)) {
                    self.job_nanos
                        .push((node, samples.saturating_mul(period_ns)));
                }
                let stack = self
                    .merged
                    .entry((frames, job_path.clone(), thread.clone()))
                    .or_default();
                stack.0 += samples;
                stack.1 |= truncated;
            }
        }
        per_thread
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
impl CpuThread {
    fn of(tid: u32, record: &super::sampler::ThreadRecord, samples: u64) -> CpuThread {
        CpuThread {
            tid,
            name: record.name.clone(),
            cpu_time: Duration::from_nanos(record.cpu_last.saturating_sub(record.cpu_first)),
            samples,
            exited: record.exited,
        }
    }
}

/// Whether a sample landed in the profiler's job bookkeeping: the frames
/// from the leaf up to the first of the program's own (skipping the standard
/// library, the C library and the vDSO, which the bookkeeping calls: clock
/// reads) include a job guard's, a job future's or a measurement's.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn in_job_bookkeeping(frames: &[Frame]) -> bool {
    frames
        .iter()
        .take_while(|frame| frame.is_profiler() || frame.is_std_library() || frame.file.is_none())
        .any(|frame| {
            frame.function.contains("profiling_alloc::job::")
                || frame.function.contains("profiling_alloc::heap::measure")
        })
}

#[cfg(all(test, target_os = "linux", target_arch = "x86_64"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::sampler::{Collected, Stacks, StacksByThread, ThreadRecord};
    use super::*;

    fn record(name: &str, cpu_ms: u64, exited: bool) -> ThreadRecord {
        ThreadRecord {
            name: name.to_string(),
            cpu_first: 0,
            cpu_last: cpu_ms * 1_000_000,
            timer: None,
            exited,
            seen_at: std::time::Instant::now(),
        }
    }

    fn samples_of(tid: u32, weight: u64) -> StacksByThread {
        let mut stacks = Stacks::new();
        stacks.insert(Box::from([]), weight);
        StacksByThread::from([((tid, 0, false), stacks)])
    }

    #[test]
    fn a_reused_thread_id_keeps_each_threads_samples_apart() {
        let mut collected = Collected {
            stacks: samples_of(7, 30),
            ..Collected::default()
        };
        collected.threads.insert(7, record("new", 30, false));
        collected.threads.insert(8, record("idle", 0, false));
        collected
            .retired
            .push((7, record("old", 10, true), samples_of(7, 10)));
        let profile = CpuProfile::build(Gathered {
            collected,
            frequency_hz: 1000,
            period_ns: 1_000_000,
            duration: Duration::from_millis(50),
            timers: CpuTimers::PerThread,
            dropped: 0,
        });
        assert_eq!(profile.samples, 40);
        let thread = |name: &str| profile.threads.iter().find(|t| t.name == name).unwrap();
        assert_eq!((thread("new").tid, thread("new").samples), (7, 30));
        assert_eq!((thread("old").tid, thread("old").samples), (7, 10));
        assert!(thread("old").exited && !thread("new").exited);
        assert_eq!(thread("idle").samples, 0);
        let stack = |name: &str| profile.stacks.iter().find(|s| s.thread == name).unwrap();
        assert_eq!((stack("new").samples, stack("old").samples), (30, 10));
        assert_eq!(profile.capture_ratio(), Some(1.0));
    }
}
