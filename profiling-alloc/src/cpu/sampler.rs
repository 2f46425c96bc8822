//! The session's own thread, `cpu-sampler`: every tick (20 ms, lengthened
//! to 100 ms while nothing changes), and at once when a thread starts (its
//! first allocation wakes it), it lists the process's threads
//! (`/proc/self/task`), starts a timer on each new one and drops the timers
//! of threads that exited, and drains the ring of samples into counts per
//! stack. Everything that allocates happens here (or in
//! `stop`), never in the signal handler.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::capture::signal::buffer::{Ring, Sample, SLOTS};
use crate::capture::signal::timers::{self, ThreadTimer};
use crate::capture::threads::THREAD_STARTS;

/// How often threads are listed and the ring drained, at first and after
/// any change (a thread started or exited, the ring a quarter full). A
/// thread that lives less than a tick may be missed.
const TICK: Duration = Duration::from_millis(20);
/// The longest tick, reached by doubling while nothing changes: a waking
/// thread costs about 100 µs of CPU here, so fewer wake-ups are most of
/// the sampler's cost.
const LONGEST_TICK: Duration = Duration::from_millis(100);
/// How long after a thread is first listed its name is read again at each
/// listing: a new thread names itself after it starts, and the listing its
/// first allocation asks for can come before that (long before, when it
/// waits for a core), so the first reading may be its parent's name.
const NAME_SETTLES: Duration = Duration::from_millis(200);
/// The shortest time between two listings when threads start: a program
/// that starts threads by the thousand keeps the sampler to 500 listings a
/// second.
const SHORTEST_GAP: Duration = Duration::from_millis(2);

/// Samples of one (thread, job path, truncation): their stacks and weights.
pub(super) type Stacks = HashMap<Box<[usize]>, u64>;

/// Samples per (thread id, job path node address, truncated).
pub(super) type StacksByThread = HashMap<(u32, usize, bool), Stacks>;

/// One thread seen during the session.
#[derive(Debug)]
pub(super) struct ThreadRecord {
    pub(super) name: String,
    /// Its CPU clock when first seen, and when last read.
    pub(super) cpu_first: u64,
    pub(super) cpu_last: u64,
    /// Its timer, while it lives (per-thread timers only).
    pub(super) timer: Option<ThreadTimer>,
    pub(super) exited: bool,
    /// When it was first listed: its name is read again at each listing
    /// for [`NAME_SETTLES`] after that.
    pub(super) seen_at: Instant,
}

/// What a session gathered.
#[derive(Debug, Default)]
pub(super) struct Collected {
    /// The samples of the threads in `threads`.
    pub(super) stacks: StacksByThread,
    pub(super) threads: HashMap<u32, ThreadRecord>,
    /// Threads that exited and whose id a later thread took, with their
    /// own samples.
    pub(super) retired: Vec<(u32, ThreadRecord, StacksByThread)>,
    /// Threads whose timer could not be made (the signal queue limit).
    pub(super) unprofiled_threads: u64,
    /// The first error that left a thread unprofiled.
    pub(super) timer_error: Option<String>,
    /// CPU time the sampler thread itself used, read as it ends.
    pub(super) sampler_cpu: Duration,
}

/// What a session and its thread share. One for the process (one session
/// runs at a time). The sampler waits on the condition variable of
/// `capture::threads`, which a thread's first allocation notifies.
#[derive(Debug)]
pub(super) struct Control {
    pub(super) stop: Mutex<bool>,
}

/// The session's [`Control`].
pub(super) static CONTROL: Control = Control {
    stop: Mutex::new(false),
};

/// A session's settings, as its thread needs them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Settings {
    pub(super) generation: u64,
    pub(super) period_ns: u64,
    /// Per-thread timers (else the process-wide one, started by `start`).
    pub(super) per_thread: bool,
    /// The sampler thread's own id: not profiled.
    pub(super) own_tid: u32,
}

impl Collected {
    /// Lists the threads: records new ones (and starts their timers), reads
    /// every live one's CPU clock (not in a `quick` listing, which only
    /// looks for threads that started or exited), and stops the timers of
    /// those that exited; true if a thread started or exited. `Err` when, at
    /// the start, the threads cannot be listed or the first timer cannot be
    /// made at all (the session then falls back to the process-wide timer).
    pub(super) fn scan(
        &mut self,
        settings: &Settings,
        seed: &mut u64,
        tids: &mut Vec<u32>,
        quick: bool,
    ) -> Result<bool, std::io::Error> {
        if !list_tasks(tids) {
            if self.threads.is_empty() {
                return Err(std::io::Error::last_os_error());
            }
            return Ok(false);
        }
        let mut changed = false;
        tids.sort_unstable();
        for &tid in tids.iter() {
            if tid == settings.own_tid {
                continue;
            }
            if self.update_known(tid, quick) {
                continue;
            }
            changed = true;
            let cpu = timers::thread_cpu_nanos(tid).unwrap_or(0);
            let timer = if settings.per_thread {
                let first = 1 + next_random(seed) % settings.period_ns.max(1);
                match ThreadTimer::start(tid, settings.period_ns, first, settings.generation) {
                    Ok(timer) => Some(timer),
                    // A thread that exited since the listing: not a reason
                    // to give up on per-thread timers.
                    Err(_) if timers::thread_cpu_nanos(tid).is_none() => continue,
                    Err(error) if self.threads.is_empty() && timers::unavailable(&error) => {
                        return Err(error);
                    }
                    Err(error) => {
                        self.unprofiled_threads += 1;
                        self.timer_error
                            .get_or_insert_with(|| format!("timer_create: {error}"));
                        None
                    }
                }
            } else {
                None
            };
            self.threads.insert(
                tid,
                ThreadRecord {
                    name: thread_name(tid),
                    cpu_first: cpu,
                    cpu_last: cpu,
                    timer,
                    exited: false,
                    seen_at: Instant::now(),
                },
            );
        }
        for (tid, record) in &mut self.threads {
            // A listing of /proc/self/task can miss a live thread (entries
            // move while threads come and go): one is gone when its clock
            // is, not when a listing misses it.
            if !record.exited
                && tids.binary_search(tid).is_err()
                && timers::thread_cpu_nanos(*tid).is_none()
            {
                record.exited = true;
                record.timer = None;
                changed = true;
            }
        }
        Ok(changed)
    }

    /// Updates a thread listed before and returns true; false for a thread
    /// to record. That is a new thread under the id of one that exited
    /// (seen gone, or its clock now behind the last reading: the id was
    /// given again between two listings): the old one is retired with the
    /// samples drained so far, which are its own (the new one had no timer).
    /// A `quick` listing reads no clock or name.
    fn update_known(&mut self, tid: u32, quick: bool) -> bool {
        let Some(record) = self.threads.get_mut(&tid) else {
            return false;
        };
        if quick && !record.exited {
            return true;
        }
        let now = timers::thread_cpu_nanos(tid);
        if !record.exited && now.is_none_or(|now| now >= record.cpu_last) {
            if let Some(now) = now {
                record.cpu_last = now;
            }
            if record.seen_at.elapsed() < NAME_SETTLES {
                record.name = thread_name(tid);
            }
            return true;
        }
        if let Some(mut old) = self.threads.remove(&tid) {
            old.exited = true;
            old.timer = None;
            let samples = self.stacks.extract_if(|key, _| key.0 == tid).collect();
            self.retired.push((tid, old, samples));
        }
        false
    }

    /// Reads every live thread's CPU clock a last time, marks those gone
    /// since the last listing as exited (a clock behind the last reading is
    /// a new thread's under the same id: the old one is gone too), and
    /// deletes the timers.
    pub(super) fn finish(&mut self) {
        for (&tid, record) in &mut self.threads {
            if !record.exited {
                match timers::thread_cpu_nanos(tid) {
                    Some(now) if now >= record.cpu_last => {
                        record.cpu_last = now;
                        record.name = thread_name(tid);
                    }
                    _ => record.exited = true,
                }
            }
            record.timer = None;
        }
    }

    /// Moves every sample of session `generation` from the ring into the
    /// counts (one reader at a time: the caller's); returns how many samples
    /// it took out.
    pub(super) fn drain(&mut self, ring: &Ring, generation: u64) -> usize {
        let stacks = &mut self.stacks;
        let mut taken = 0;
        while ring.pop(|sample: &Sample| {
            taken += 1;
            if sample.generation != generation {
                return;
            }
            let depth = usize::try_from(sample.depth).unwrap_or(0);
            let ips = sample.ips.get(..depth).unwrap_or_default();
            let by_stack = stacks
                .entry((sample.tid, sample.job, sample.truncated))
                .or_default();
            match by_stack.get_mut(ips) {
                Some(weight) => *weight += u64::from(sample.weight),
                None => {
                    by_stack.insert(ips.into(), u64::from(sample.weight));
                }
            }
        }) {}
        taken
    }
}

/// The sampler thread's loop: drain and scan every tick until told to stop,
/// then delete the timers. Returns what it gathered. Draining first gives
/// the samples of a thread whose id the scan finds reused to the thread
/// that exited.
pub(super) fn run(ring: &'static Ring, settings: Settings, mut collected: Collected) -> Collected {
    crate::capture::reading(|| {
        let mut seed = settings.generation.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut tids = Vec::with_capacity(64);
        let mut tick = TICK;
        let mut woken = false;
        let mut fully_listed = Instant::now();
        loop {
            let listed = Instant::now();
            let busy = collected.drain(ring, settings.generation) > SLOTS / 4;
            // A listing a new thread asked for only looks for new threads, but
            // one in a tick reads every clock and the new threads' names.
            let quick = woken && fully_listed.elapsed() < TICK;
            if !quick {
                fully_listed = listed;
            }
            let changed = collected
                .scan(&settings, &mut seed, &mut tids, quick)
                .unwrap_or(false);
            tick = if changed || busy {
                TICK
            } else {
                (tick * 2).min(LONGEST_TICK)
            };
            let stop = CONTROL.stop.lock().unwrap_or_else(|p| p.into_inner());
            let (stop, _) = THREAD_STARTS
                .condvar()
                .wait_timeout_while(stop, tick, |stop| !*stop && !THREAD_STARTS.pending())
                .unwrap_or_else(|p| p.into_inner());
            if *stop {
                break;
            }
            drop(stop);
            // Cleared before the listing: a thread that starts during it wakes
            // the next wait at once.
            woken = THREAD_STARTS.take();
            if woken {
                std::thread::sleep(SHORTEST_GAP.saturating_sub(listed.elapsed()));
            }
        }
        collected.finish();
        collected.sampler_cpu =
            Duration::from_nanos(timers::thread_cpu_nanos(settings.own_tid).unwrap_or(0));
        collected
    })
}

/// A xorshift step: the first expirations' offsets.
pub(super) fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// The thread's name (`/proc/self/task/<tid>/comm`), or its id.
fn thread_name(tid: u32) -> String {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
        .map(|name| name.trim_end().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("thread {tid}"))
}

/// The ids of this process's threads into `tids`; false if they cannot be
/// listed. Reads the directory with `getdents64` into a buffer on the stack:
/// no allocation per scan.
fn list_tasks(tids: &mut Vec<u32>) -> bool {
    tids.clear();
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/task".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return false;
    }
    let mut buffer = [0u8; 4096];
    loop {
        // SAFETY: `buffer` is writable for its length; `fd` is open.
        let read =
            unsafe { libc::syscall(libc::SYS_getdents64, fd, buffer.as_mut_ptr(), buffer.len()) };
        let Ok(read @ 1..) = usize::try_from(read) else {
            break;
        };
        parse_entries(buffer.get(..read).unwrap_or_default(), tids);
    }
    // SAFETY: `fd` was opened above and is closed once.
    unsafe { libc::close(fd) };
    true
}

/// The numeric names in a `getdents64` buffer of `linux_dirent64` records:
/// `d_ino` (8 bytes), `d_off` (8), `d_reclen` (2), `d_type` (1), then the
/// NUL-terminated name.
fn parse_entries(buffer: &[u8], tids: &mut Vec<u32>) {
    let mut at = 0;
    while let Some(record) = buffer.get(at..) {
        let Some(len) = record
            .get(16..18)
            .map(|b| usize::from(u16::from_ne_bytes([b[0], b[1]])))
        else {
            break;
        };
        if len < 20 {
            break;
        }
        let name = record.get(19..len.min(record.len())).unwrap_or_default();
        let name = name.split(|&b| b == 0).next().unwrap_or_default();
        if let Some(tid) = std::str::from_utf8(name).ok().and_then(|n| n.parse().ok()) {
            tids.push(tid);
        }
        at += len;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A record of the calling thread as a listing would make it, its clock
    /// last read at `cpu_last`.
    fn record_of_this_thread(cpu_last: u64) -> (u32, Collected) {
        // SAFETY: no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        let mut collected = Collected::default();
        collected.threads.insert(
            tid,
            ThreadRecord {
                name: "before".into(),
                cpu_first: 0,
                cpu_last,
                timer: None,
                exited: false,
                seen_at: Instant::now(),
            },
        );
        collected
            .stacks
            .insert((tid, 0, false), Stacks::from([(Box::from([1usize]), 3)]));
        (tid, collected)
    }

    #[test]
    fn a_clock_behind_its_last_reading_is_a_new_thread_under_a_reused_id() {
        let (tid, mut collected) = record_of_this_thread(0);
        assert!(collected.update_known(tid, false), "a clock that went on");
        assert!(collected.threads[&tid].cpu_last > 0);
        assert!(collected.retired.is_empty());

        let (tid, mut collected) = record_of_this_thread(u64::MAX);
        assert!(!collected.update_known(tid, false), "to be recorded anew");
        assert!(!collected.threads.contains_key(&tid));
        let (retired_tid, old, samples) = &collected.retired[0];
        assert_eq!(*retired_tid, tid);
        assert!(old.exited);
        assert_eq!(samples.values().flat_map(|s| s.values()).sum::<u64>(), 3);
        assert!(collected.stacks.is_empty(), "the samples went with it");
    }

    #[test]
    fn a_quick_listing_reads_no_clock() {
        let (tid, mut collected) = record_of_this_thread(u64::MAX);
        assert!(collected.update_known(tid, true));
        assert_eq!(collected.threads[&tid].cpu_last, u64::MAX);
    }

    #[test]
    fn stopping_marks_a_thread_under_a_reused_id_as_exited() {
        let (tid, mut collected) = record_of_this_thread(u64::MAX);
        collected.finish();
        let record = &collected.threads[&tid];
        assert!(record.exited);
        assert_eq!(record.name, "before", "not the new thread's name");
        let (tid, mut collected) = record_of_this_thread(0);
        collected.finish();
        let record = &collected.threads[&tid];
        assert!(!record.exited && record.cpu_last > 0);
    }

    #[test]
    fn listing_finds_this_thread_and_others() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            // SAFETY: no preconditions.
            tx.send(unsafe { libc::gettid() } as u32).unwrap();
            done_rx.recv().unwrap();
        });
        let other_tid = rx.recv().unwrap();
        let mut tids = Vec::new();
        assert!(list_tasks(&mut tids));
        // SAFETY: no preconditions.
        let me = unsafe { libc::gettid() } as u32;
        assert!(tids.contains(&me) && tids.contains(&other_tid), "{tids:?}");
        assert!(!tids.contains(&0));
        done_tx.send(()).unwrap();
        other.join().unwrap();
        assert!(!thread_name(me).is_empty());
    }

    #[test]
    fn bad_records_end_the_parse() {
        let mut tids = Vec::new();
        parse_entries(&[0u8; 10], &mut tids);
        let mut record = vec![0u8; 24];
        record[16..18].copy_from_slice(&24u16.to_ne_bytes());
        record[19..22].copy_from_slice(b"123");
        record.extend_from_slice(&[0u8; 24]); // a record of length 0
        parse_entries(&record, &mut tids);
        assert_eq!(tids, [123]);
    }
}
