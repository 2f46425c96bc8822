//! Rate limits per class of route: a token bucket per class (a burst of a
//! minute's allowance, refilled evenly), and for the exclusive class one
//! request at a time. A refused request learns when to retry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How much each class of route may be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Cheap reads (`/metrics`, `/jobs`, `/memory`, `/cpu`, `/report.json`,
    /// flamegraphs, heap profiles now, `/allocations`): requests per minute.
    pub reads_per_minute: u32,
    /// Leak analysis (`/leaks`): requests per minute.
    pub analyses_per_minute: u32,
    /// Snapshots and delta profiles (`POST /snapshot`, `?seconds=N`):
    /// requests per minute, and never two at once.
    pub exclusive_per_minute: u32,
}

impl Default for RateLimits {
    /// 100 reads, 10 analyses and 5 exclusive requests a minute.
    fn default() -> Self {
        RateLimits {
            reads_per_minute: 100,
            analyses_per_minute: 10,
            exclusive_per_minute: 5,
        }
    }
}

/// The class of a route, for rate limiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RouteClass {
    /// Not limited (the index page, errors).
    Free,
    /// A cheap read.
    Read,
    /// Leak analysis.
    Analysis,
    /// One at a time.
    Exclusive,
}

/// A token bucket.
#[derive(Debug)]
struct Bucket {
    /// Tokens now (fractional: refilled continuously).
    tokens: f64,
    /// Most tokens, and tokens per minute.
    per_minute: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

impl Bucket {
    fn new(per_minute: u32, now: Instant) -> Bucket {
        let per_minute = f64::from(per_minute);
        Bucket {
            tokens: per_minute,
            per_minute,
            updated: now,
        }
    }

    /// Takes a token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_minute / 60.0).min(self.per_minute);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if self.per_minute <= 0.0 {
            return Err(Duration::from_secs(60));
        }
        let wait = (1.0 - self.tokens) * 60.0 / self.per_minute;
        Err(Duration::from_secs_f64(wait.clamp(0.0, 3600.0)))
    }
}

/// The limiter of one server.
#[derive(Debug)]
pub(super) struct RateLimiter {
    read: Mutex<Bucket>,
    analysis: Mutex<Bucket>,
    exclusive: Mutex<Bucket>,
    exclusive_busy: AtomicBool,
}

/// Leave to run a request; for the exclusive class, held while it runs.
#[derive(Debug)]
pub(super) struct Permit<'a> {
    busy: Option<&'a AtomicBool>,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(busy) = self.busy {
            busy.store(false, Ordering::Release);
        }
    }
}

/// Why a request may not run now, and when to ask again.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Refusal {
    /// Seconds until a retry may succeed (at least 1), for `Retry-After`.
    pub(super) retry_after_secs: u64,
    /// Whether it was refused because another exclusive request runs.
    pub(super) busy: bool,
}

impl RateLimiter {
    pub(super) fn new(limits: RateLimits, now: Instant) -> RateLimiter {
        RateLimiter {
            read: Mutex::new(Bucket::new(limits.reads_per_minute, now)),
            analysis: Mutex::new(Bucket::new(limits.analyses_per_minute, now)),
            exclusive: Mutex::new(Bucket::new(limits.exclusive_per_minute, now)),
            exclusive_busy: AtomicBool::new(false),
        }
    }

    /// Leave for a request of `class` at `now`, or a refusal.
    pub(super) fn admit(&self, class: RouteClass, now: Instant) -> Result<Permit<'_>, Refusal> {
        let bucket = match class {
            RouteClass::Free => return Ok(Permit { busy: None }),
            RouteClass::Read => &self.read,
            RouteClass::Analysis => &self.analysis,
            RouteClass::Exclusive => &self.exclusive,
        };
        let busy = (class == RouteClass::Exclusive).then_some(&self.exclusive_busy);
        if let Some(flag) = busy {
            if flag.swap(true, Ordering::Acquire) {
                return Err(Refusal {
                    retry_after_secs: 5,
                    busy: true,
                });
            }
        }
        let permit = Permit { busy };
        let taken = bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take(now);
        match taken {
            Ok(()) => Ok(permit),
            Err(wait) => Err(Refusal {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                busy: false,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(reads: u32, exclusive: u32) -> (RateLimiter, Instant) {
        let now = Instant::now();
        let limits = RateLimits {
            reads_per_minute: reads,
            analyses_per_minute: 10,
            exclusive_per_minute: exclusive,
        };
        (RateLimiter::new(limits, now), now)
    }

    #[test]
    fn a_minutes_allowance_then_a_refusal_with_the_wait() {
        let (limiter, now) = limiter(100, 5);
        for _ in 0..100 {
            assert!(limiter.admit(RouteClass::Read, now).is_ok());
        }
        let refusal = limiter.admit(RouteClass::Read, now).unwrap_err();
        // One token comes back every 0.6 s.
        assert_eq!(refusal.retry_after_secs, 1);
        assert!(!refusal.busy);
        assert!(limiter
            .admit(RouteClass::Read, now + Duration::from_millis(600))
            .is_ok());
        // Other classes have their own buckets.
        assert!(limiter.admit(RouteClass::Analysis, now).is_ok());
    }

    #[test]
    fn exclusive_requests_run_one_at_a_time() {
        let (limiter, now) = limiter(100, 5);
        let first = limiter.admit(RouteClass::Exclusive, now).unwrap();
        let refusal = limiter.admit(RouteClass::Exclusive, now).unwrap_err();
        assert!(refusal.busy);
        drop(first);
        assert!(limiter.admit(RouteClass::Exclusive, now).is_ok());
    }

    #[test]
    fn exclusive_allowance_runs_out_and_says_when() {
        let (limiter, now) = limiter(100, 5);
        for _ in 0..5 {
            drop(limiter.admit(RouteClass::Exclusive, now).unwrap());
        }
        let refusal = limiter.admit(RouteClass::Exclusive, now).unwrap_err();
        assert_eq!(refusal.retry_after_secs, 12);
        // A refusal by the bucket does not leave the class marked busy.
        let later = now + Duration::from_secs(12);
        assert!(limiter.admit(RouteClass::Exclusive, later).is_ok());
    }

    #[test]
    fn free_routes_are_never_refused_and_zero_allows_nothing() {
        let (limiter, now) = limiter(0, 0);
        assert!(limiter.admit(RouteClass::Free, now).is_ok());
        assert_eq!(
            limiter
                .admit(RouteClass::Read, now)
                .unwrap_err()
                .retry_after_secs,
            60
        );
    }
}
