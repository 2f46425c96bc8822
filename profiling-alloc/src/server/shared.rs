//! What the endpoint's threads share: settings, the token, the rate
//! limiter, the leak detector and its observer thread, snapshots, counters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::builder::ServerBuilder;
use super::memory_levels::{self, MemoryLevels};
use super::{auth, cgroup, process, rate_limit, sessions, snapshots};
use crate::analysis::{LeakDetector, LeakReport};

/// What the endpoint's threads share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) settings: ServerBuilder,
    /// The memory levels in force (set, or from the cgroup's limit).
    pub(super) memory_levels: Option<MemoryLevels>,
    pub(super) token: Option<auth::Token>,
    pub(super) limiter: rate_limit::RateLimiter,
    pub(super) leaks: Mutex<LeakDetector>,
    pub(super) last_leak_report: Mutex<Option<LeakReport>>,
    pub(super) snapshots: Mutex<snapshots::SnapshotStore>,
    /// The OOM early warning's snapshots (`oom_watch`).
    pub(super) oom_snapshots: Mutex<snapshots::SnapshotStore>,
    /// Early-warning snapshots that could not be written.
    pub(super) oom_failures: AtomicU64,
    /// Profiling sessions (`POST /profiles`).
    pub(super) sessions: Mutex<sessions::Sessions>,
    /// The latest CPU profile taken, for `/bottlenecks`.
    pub(super) latest_cpu: Mutex<Option<super::bottlenecks::LatestCpu>>,
    pub(super) cpu_baseline: Mutex<(Instant, Option<process::CpuTimes>)>,
    pub(super) stopping: AtomicBool,
    /// Paired with `wake`: waits that end early when the endpoint stops.
    pub(super) sleep: Mutex<()>,
    pub(super) wake: Condvar,
    pub(super) requests: AtomicU64,
    pub(super) own_bytes: AtomicU64,
    pub(super) own_blocks: AtomicU64,
    pub(super) handler_panics: AtomicU64,
}

impl Shared {
    pub(super) fn new(settings: ServerBuilder) -> Shared {
        let snapshot_dir = settings
            .snapshot_dir
            .clone()
            .unwrap_or_else(|| crate::output::output_dir().join("snapshots"));
        Shared {
            memory_levels: memory_levels::resolve(settings.memory_limits, cgroup::memory()),
            token: settings.token.as_deref().map(auth::Token::new),
            limiter: rate_limit::RateLimiter::new(settings.rate_limits, Instant::now()),
            leaks: Mutex::new(LeakDetector::new(settings.leak_snapshots)),
            last_leak_report: Mutex::new(None),
            oom_snapshots: Mutex::new(snapshots::SnapshotStore::new(
                snapshot_dir.clone(),
                "oom",
                settings.oom_snapshots,
            )),
            oom_failures: AtomicU64::new(0),
            sessions: Mutex::new(sessions::Sessions::new(
                snapshot_dir.clone(),
                settings.max_sessions,
                settings.session_max_age,
            )),
            latest_cpu: Mutex::new(None),
            snapshots: Mutex::new(snapshots::SnapshotStore::new(
                snapshot_dir,
                "snapshot",
                settings.max_snapshots,
            )),
            cpu_baseline: Mutex::new((Instant::now(), process::cpu_times())),
            stopping: AtomicBool::new(false),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            requests: AtomicU64::new(0),
            own_bytes: AtomicU64::new(0),
            own_blocks: AtomicU64::new(0),
            handler_panics: AtomicU64::new(0),
            settings,
        }
    }

    /// A report now, with the job limits' and the baseline's findings when
    /// they were set.
    pub(super) fn report(&self) -> crate::Report {
        let mut report = crate::Report::capture();
        if let Some(limits) = &self.settings.job_limits {
            report = report.with_limits(limits);
        }
        if let Some(baseline) = &self.settings.job_baseline {
            report = report.with_baseline(baseline);
        }
        report
    }

    /// The findings about `sites` and the jobs, with the job limits when
    /// they were set.
    pub(super) fn findings(&self, sites: &[crate::Callsite]) -> Vec<crate::analysis::Finding> {
        let jobs = crate::job_stats();
        let mut found = crate::analysis::findings(sites, &jobs, self.settings.job_limits.as_ref());
        if let Some(baseline) = &self.settings.job_baseline {
            found.extend(crate::analysis::baseline_findings(&jobs, baseline));
        }
        found
    }

    /// Counts a request read.
    pub(super) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds what the endpoint allocated answering one request.
    pub(super) fn count_own(&self, bytes: u64, blocks: u64) {
        self.own_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.own_blocks.fetch_add(blocks, Ordering::Relaxed);
    }

    pub(super) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Waits `duration`, or less if the endpoint stops: whether it stopped.
    pub(super) fn sleep(&self, duration: Duration) -> bool {
        // The settings are bounded (`check_settings`); a day stands in should
        // the addition ever overflow.
        let now = Instant::now();
        let deadline = now
            .checked_add(duration)
            .unwrap_or(now + Duration::from_secs(86_400));
        let mut guard = lock(&self.sleep);
        while !self.stopping() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = match self.wake.wait_timeout(guard, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }
}

/// Locks `mutex`, also after a panic elsewhere poisoned it (the data are
/// counters and caches, whole at every step).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The thread that feeds the leak detector: one observation at start, then
/// one per interval, until the endpoint stops or, for a
/// [`router`](super::router)'s, until every router built on the state is
/// dropped (the thread holds it only weakly between observations).
pub(super) fn spawn_leak_observer(shared: Weak<Shared>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("profiling-alloc-leaks".into())
        .spawn(move || {
            crate::capture::reading(|| {
                while let Some(shared) = shared.upgrade() {
                    observe_leaks(&shared);
                    if shared.sleep(shared.settings.leak_interval) {
                        return;
                    }
                }
            })
        })
}

/// Every sampled callsite, resolved (none without the `callsites` feature).
pub(super) fn sampled_callsites() -> Vec<crate::Callsite> {
    #[cfg(feature = "callsites")]
    return crate::callsites();
    #[cfg(not(feature = "callsites"))]
    Vec::new()
}

/// One observation of live bytes per callsite, and the analysis after it.
fn observe_leaks(shared: &Shared) {
    let heap = crate::heap_stats();
    let mut callsites = sampled_callsites();
    callsites.retain(|site| site.live_blocks > 0.0);
    let now = crate::sys::unix_millis_now();
    let mut detector = lock(&shared.leaks);
    detector.observe(
        now,
        heap.live_bytes,
        crate::callsites::sampling(),
        &callsites,
    );
    let report = detector.analyze();
    drop(detector);
    *lock(&shared.last_leak_report) = Some(report);
}
