//! The OOM early warning: while memory levels are set, a thread reads the
//! resident size every second; when it first passes the warning level, and
//! again after each further 10% rise, the endpoint writes a snapshot (a
//! report and a heap pprof) on its own, at most one per
//! [`MIN_GAP`](OomWatch::MIN_GAP), keeping the newest few. The heap profile
//! that explains an out-of-memory kill is then on disk when the process is
//! gone.

use std::sync::Weak;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::shared::Shared;

/// How often the resident size is read.
const INTERVAL: Duration = Duration::from_secs(1);

/// When to write the next early-warning snapshot.
#[derive(Debug)]
pub(super) struct OomWatch {
    /// The resident size that triggers the next snapshot: the warning
    /// level, then 10% above the size at the last one.
    next_bytes: u64,
    last: Option<Instant>,
}

impl OomWatch {
    /// Each snapshot comes at least this long after the one before.
    pub(super) const MIN_GAP: Duration = Duration::from_secs(10);
    /// How much higher the resident size must go for another snapshot.
    pub(super) const RISE: f64 = 0.10;

    /// A watch that first triggers at `warning_bytes`.
    pub(super) fn new(warning_bytes: u64) -> OomWatch {
        OomWatch {
            next_bytes: warning_bytes,
            last: None,
        }
    }

    /// Whether a resident size of `rss_bytes` read at `now` calls for a
    /// snapshot; if so, the next one needs 10% more.
    pub(super) fn check(&mut self, rss_bytes: u64, now: Instant) -> bool {
        if rss_bytes < self.next_bytes {
            return false;
        }
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < Self::MIN_GAP)
        {
            return false;
        }
        self.last = Some(now);
        self.next_bytes = ((rss_bytes as f64) * (1.0 + Self::RISE)) as u64;
        true
    }
}

/// The watch thread, for an endpoint with memory levels and room for
/// early-warning snapshots; it holds the endpoint only weakly between
/// readings, and stops with it.
pub(super) fn spawn(shared: Weak<Shared>) -> std::io::Result<Option<JoinHandle<()>>> {
    let Some(strong) = shared.upgrade() else {
        return Ok(None);
    };
    let Some(levels) = strong.memory_levels.clone() else {
        return Ok(None);
    };
    // Without snapshots to keep, or a resident size to read (not Linux),
    // there is nothing to watch.
    if strong.settings.oom_snapshots == 0 || super::process::memory().rss_bytes.is_none() {
        return Ok(None);
    }
    drop(strong);
    std::thread::Builder::new()
        .name("profiling-alloc-memory-watch".into())
        .spawn(move || {
            crate::capture::reading(|| {
                let mut watch = OomWatch::new(levels.warning_bytes);
                while let Some(shared) = shared.upgrade() {
                    if let Some(rss) = super::process::memory().rss_bytes {
                        if watch.check(rss, Instant::now()) {
                            let report = shared.report();
                            let written = super::snapshots::write_unlocked(
                                &shared.oom_snapshots,
                                &report,
                                Some(rss),
                            );
                            if written.is_err() {
                                shared
                                    .oom_failures
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    }
                    if shared.sleep(INTERVAL) {
                        return;
                    }
                }
            })
        })
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_at_the_warning_level_then_each_ten_percent_higher() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut watch = OomWatch::new(1000);
        assert!(!watch.check(999, at(0)));
        assert!(watch.check(1000, at(1)), "the warning level");
        assert!(!watch.check(1050, at(20)), "5% higher is not enough");
        assert!(watch.check(1100, at(21)), "10% higher");
        // A jump within the minimum gap waits for it.
        assert!(!watch.check(5000, at(25)));
        assert!(watch.check(5000, at(31)));
        // Going down and up again below the mark writes nothing.
        assert!(!watch.check(900, at(100)));
        assert!(!watch.check(5400, at(200)));
        assert!(watch.check(5500, at(201)));
    }
}
