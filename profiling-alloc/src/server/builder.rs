//! [`ServerBuilder`]: the endpoint's settings, their checks, and the
//! environment variables.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::memory_levels::SetBy;
use super::shared::{spawn_leak_observer, Shared};
use super::{listener, RateLimits, ServerHandle, DEFAULT_ADDR};
use crate::Error;

/// The shortest token accepted for an address off loopback.
pub(super) const MIN_TOKEN_CHARS: usize = 16;

/// `token`, described as `what`, if it is long enough to face the network
/// ([`MIN_TOKEN_CHARS`]); else an error saying so, without the token.
pub(super) fn strong_token(token: &str, what: &str) -> Result<(), Error> {
    let chars = token.chars().count();
    if chars >= MIN_TOKEN_CHARS {
        return Ok(());
    }
    Err(Error::InvalidSetting {
        setting: "token",
        value: format!("{chars} characters"),
        reason: format!(
            "{what} must be at least {MIN_TOKEN_CHARS} characters: make one with \
             `openssl rand -hex 16`"
        ),
    })
}

/// The settings of an endpoint; [`start`](ServerBuilder::start) serves it.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `.start()`"]
pub struct ServerBuilder {
    pub(super) addr: SocketAddr,
    pub(super) token: Option<String>,
    pub(super) rate_limits: RateLimits,
    pub(super) leak_interval: Duration,
    pub(super) leak_snapshots: usize,
    /// Warning and critical resident sizes, and who set them.
    pub(super) memory_limits: Option<(u64, u64, SetBy)>,
    pub(super) workers: usize,
    pub(super) max_queued_connections: usize,
    pub(super) request_timeout: Duration,
    pub(super) write_timeout: Duration,
    pub(super) max_snapshots: usize,
    pub(super) oom_snapshots: usize,
    pub(super) max_sessions: usize,
    pub(super) session_max_age: Duration,
    pub(super) snapshot_dir: Option<PathBuf>,
    pub(super) job_limits: Option<crate::runner::ResourceLimits>,
    pub(super) job_baseline: Option<crate::sizing::Baseline>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            addr: DEFAULT_ADDR,
            token: None,
            rate_limits: RateLimits::default(),
            leak_interval: Duration::from_secs(60),
            leak_snapshots: crate::analysis::DEFAULT_LEAK_SNAPSHOTS,
            memory_limits: None,
            workers: 4,
            max_queued_connections: 64,
            request_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_snapshots: 10,
            oom_snapshots: 5,
            max_sessions: 20,
            session_max_age: Duration::from_secs(24 * 3600),
            snapshot_dir: None,
            job_limits: None,
            job_baseline: None,
        }
    }
}

impl ServerBuilder {
    /// The address to listen on (port 0 picks a free port; see
    /// [`ServerHandle::addr`]). A non-loopback address needs a
    /// [`token`](Self::token).
    pub fn addr(mut self, addr: impl Into<SocketAddr>) -> Self {
        self.addr = addr.into();
        self
    }

    /// The token every route but `/` requires.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Requests per minute for each class of route.
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// How often the leak observer records live bytes per callsite.
    pub fn leak_interval(mut self, interval: Duration) -> Self {
        self.leak_interval = interval;
        self
    }

    /// How many observations the leak analysis looks back over (the ring's
    /// size; from 3 to 100,000).
    pub fn leak_snapshots(mut self, count: usize) -> Self {
        self.leak_snapshots = count;
        self
    }

    /// Resident-set sizes, in bytes, from which `/memory` reports `warning`
    /// and `critical`, `/metrics` exports the levels, and the endpoint
    /// writes its OOM early-warning snapshots. Without them (in code or in
    /// [`MEMORY_WARNING_VAR`](super::MEMORY_WARNING_VAR) and
    /// [`MEMORY_CRITICAL_VAR`](super::MEMORY_CRITICAL_VAR)), a container's
    /// cgroup memory limit gives 90% and 95% of it.
    pub fn memory_limits(mut self, warning_bytes: u64, critical_bytes: u64) -> Self {
        self.memory_limits = Some((warning_bytes, critical_bytes, SetBy::Code));
        self
    }

    /// Worker threads answering requests (at least 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Connections that may wait for a worker; more are answered 503.
    pub fn max_queued_connections(mut self, count: usize) -> Self {
        self.max_queued_connections = count;
        self
    }

    /// Time a client has, from connecting, to send its whole request.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Time writing an answer may block.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// How many `POST /snapshot` reports are kept; older ones are deleted.
    pub fn max_snapshots(mut self, count: usize) -> Self {
        self.max_snapshots = count;
        self
    }

    /// How many OOM early-warning snapshots are kept (default 5; 0 turns
    /// the early warning off). While memory levels are set, the endpoint
    /// reads the resident size every second and writes a snapshot (report
    /// and heap pprof, `oom-<id>.json` and `.pb.gz` beside the others) when
    /// it first passes the warning level and after each further 10% rise,
    /// at most one per 10 seconds: the heap profile that explains an
    /// out-of-memory kill outlives the process. `/memory` lists them.
    pub fn oom_snapshots(mut self, count: usize) -> Self {
        self.oom_snapshots = count;
        self
    }

    /// How many finished profiling sessions (`POST /profiles`) are kept,
    /// with their files (default 20); older ones are removed as new ones
    /// start.
    pub fn max_sessions(mut self, count: usize) -> Self {
        self.max_sessions = count;
        self
    }

    /// How long a finished profiling session is kept (default a day).
    pub fn session_max_age(mut self, age: Duration) -> Self {
        self.session_max_age = age;
        self
    }

    /// Where snapshots are written (default `snapshots/` in
    /// [`output_dir`](crate::output::output_dir)).
    pub fn snapshot_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.snapshot_dir = Some(dir.into());
        self
    }

    /// Limits (a serverless platform's, or your own) the jobs are held
    /// against: a job whose p95 duration or peak memory per call comes
    /// within 10% of one is a finding in `/allocations`, `/report.json` and
    /// the page.
    pub fn job_limits(mut self, limits: crate::runner::ResourceLimits) -> Self {
        self.job_limits = Some(limits);
        self
    }

    /// A QoS baseline (`profiling-alloc plan --write-baseline`,
    /// [`Baseline::write_json`](crate::sizing::Baseline::write_json)) the
    /// jobs are held against: a job whose p95 grows more than 10% past its
    /// baseline's, whose error rate rises beyond its noise, or one of whose
    /// calls peaks above its memory need, is a finding in `/allocations`,
    /// `/report.json` and the page ([`baseline_findings`](crate::analysis::baseline_findings)).
    pub fn job_baseline(mut self, baseline: crate::sizing::Baseline) -> Self {
        self.job_baseline = Some(baseline);
        self
    }

    /// Checks the settings, listens, and starts the endpoint's threads.
    ///
    /// # Errors
    ///
    /// [`Error::InsecureAddress`] for a non-loopback address without a
    /// token, [`Error::InvalidSetting`] for an empty token, zero workers, a
    /// zero interval or timeout or a warning limit above the critical one,
    /// [`Error::Bind`] when the address cannot be listened on.
    pub fn start(self) -> Result<ServerHandle, Error> {
        self.check()?;
        let listener = TcpListener::bind(self.addr).map_err(|source| Error::Bind {
            addr: self.addr,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: self.addr,
            source,
        })?;
        let shared = Arc::new(Shared::new(self));
        let threads = listener::spawn(listener, Arc::clone(&shared))
            .map_err(|source| Error::Bind { addr, source })?;
        let mut handle = ServerHandle {
            addr,
            shared,
            threads,
        };
        // Should the observer not start, dropping the handle stops the rest.
        let observer = spawn_leak_observer(Arc::downgrade(&handle.shared))
            .map_err(|source| Error::Bind { addr, source })?;
        handle.threads.push(observer);
        let watch = super::oom_watch::spawn(Arc::downgrade(&handle.shared))
            .map_err(|source| Error::Bind { addr, source })?;
        handle.threads.extend(watch);
        Ok(handle)
    }

    /// The settings and the address: a non-loopback address needs a token.
    fn check(&self) -> Result<(), Error> {
        self.check_settings()?;
        if self.addr.ip().is_loopback() {
            return Ok(());
        }
        match self.token.as_deref() {
            None => Err(Error::InsecureAddress { addr: self.addr }),
            Some(token) => strong_token(
                token,
                &format!("a token guarding an address off loopback ({})", self.addr),
            ),
        }
    }

    /// Every setting but the address.
    pub(super) fn check_settings(&self) -> Result<(), Error> {
        let invalid = |setting, value: String, reason: &str| Error::InvalidSetting {
            setting,
            value,
            reason: reason.to_string(),
        };
        if self.token.as_deref() == Some("") {
            return Err(invalid("token", String::new(), "a token cannot be empty"));
        }
        for (setting, value, range) in [
            ("workers", self.workers, 1..=256),
            (
                "max_queued_connections",
                self.max_queued_connections,
                0..=65_536,
            ),
            ("leak_snapshots", self.leak_snapshots, 3..=100_000),
            ("max_snapshots", self.max_snapshots, 1..=100_000),
            ("oom_snapshots", self.oom_snapshots, 0..=1_000),
            ("max_sessions", self.max_sessions, 1..=10_000),
        ] {
            if !range.contains(&value) {
                return Err(invalid(
                    setting,
                    value.to_string(),
                    &format!("must be from {} to {}", range.start(), range.end()),
                ));
            }
        }
        let hour = Duration::from_secs(3600);
        for (setting, value, most) in [
            ("leak_interval", self.leak_interval, 24 * hour),
            ("request_timeout", self.request_timeout, hour),
            ("write_timeout", self.write_timeout, hour),
            ("session_max_age", self.session_max_age, 365 * 24 * hour),
        ] {
            if value > most {
                return Err(invalid(
                    setting,
                    format!("{value:?}"),
                    &format!("must be at most {most:?}"),
                ));
            }
            if value.is_zero() {
                return Err(invalid(
                    setting,
                    format!("{value:?}"),
                    "must be more than zero",
                ));
            }
        }
        if let Some((warning, critical, _)) = self.memory_limits {
            if warning > critical {
                return Err(invalid(
                    "memory_limits",
                    format!("{warning}, {critical}"),
                    "the warning limit is above the critical one",
                ));
            }
        }
        Ok(())
    }
}
