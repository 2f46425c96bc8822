//! The live endpoint (feature `server`): look inside a running service
//! without restarting it.
//!
//! ```no_run
//! # fn main() -> Result<(), profiling_alloc::Error> {
//! // In main, once: serves on $PROFILING_ALLOC_ADDR (default 127.0.0.1:6464),
//! // with $PROFILING_ALLOC_TOKEN as its token when set.
//! let _endpoint = profiling_alloc::server::start_from_env()?;
//! // ... the service runs; dropping the handle stops the endpoint.
//! # Ok(()) }
//! ```
//!
//! Or with every setting in code:
//!
//! ```no_run
//! # fn main() -> Result<(), profiling_alloc::Error> {
//! use std::time::Duration;
//! use profiling_alloc::server::Server;
//!
//! let endpoint = Server::builder()
//!     .addr(([0, 0, 0, 0], 6464))          // off loopback: a token is required
//!     .token("a long random secret")
//!     .leak_interval(Duration::from_secs(30))
//!     .memory_limits(768 << 20, 1 << 30)   // RSS warning and critical, bytes
//!     .start()?;
//! println!("profiling endpoint on http://{}/", endpoint.addr());
//! # Ok(()) }
//! ```
//!
//! # Routes
//!
//! | route | answer | class |
//! |---|---|---|
//! | `GET /` | an HTML page: heap now, top callsites, jobs, links | free |
//! | `GET /metrics` | Prometheus text exposition, prefix `profiling_alloc_`, base units | read |
//! | `GET /debug/pprof/heap` | gzipped pprof heap profile, default sample in-use space | read |
//! | `GET /debug/pprof/allocs` | the same, default sample allocated space | read |
//! | `GET /debug/pprof/{heap,allocs}?seconds=N` | allocations of the next N seconds (1–300), live blocks at the end | exclusive |
//! | `GET /report.json` | the whole [`Report`](crate::Report) | read |
//! | `GET /flamegraph/{allocated,blocks,live,jobs}.svg` | an inferno flamegraph | read |
//! | `GET /jobs` | [`job_stats`](crate::job_stats) as JSON | read |
//! | `GET /memory` | RSS, virtual size, heap live and peak, heap growth, threshold status | read |
//! | `GET /cpu` | CPU use (user, system; of one core and of the machine), load, threads | read |
//! | `GET /allocations` | top callsites by bytes and by live bytes, the size histogram | read |
//! | `GET /leaks` | the [leak analysis](crate::LeakDetector) | analysis |
//! | `POST /snapshot` | writes a report (JSON and heap pprof), answers its id, paths and size | exclusive |
//! | `GET /snapshot/{id}` | that report's JSON (`?format=pprof`: its heap profile) | read |
//!
//! `HEAD` is answered like `GET`, without the body. Errors are JSON
//! (`{"status": 400, "error": "bad_query", "message": "..."}`): an unknown
//! path is 404, a known path with another method 405 (with `Allow`), a bad
//! query (`seconds=abc`, `seconds=100000`) 400, a missing or wrong token
//! 401, a request over a rate limit 429 with `Retry-After`, a malformed or
//! oversized request 400, 413 or 431, a request that does not arrive in
//! time 408, a panic inside a route 500 (the service never sees it), and a
//! full connection queue 503.
//!
//! # Security
//!
//! The endpoint binds `127.0.0.1` unless told otherwise. A non-loopback
//! address without a token is refused by [`ServerBuilder::start`] with
//! [`Error::InsecureAddress`](crate::Error::InsecureAddress). With a token,
//! every route but `/` needs `Authorization: Bearer <token>` or
//! `X-API-Key: <token>` (compared in constant time; the token's length does
//! not show in the timing either), and `/` itself shows only its links
//! until the token is sent. Requests are bounded (8 KiB of request line and
//! headers, 32 headers, 4 KiB of body), the whole request must arrive within
//! the request timeout (5 s: a client sending a byte a second is cut off),
//! responses have a write timeout, and connections wait in a bounded queue
//! for a fixed number of workers.
//!
//! # What the endpoint costs, and what it shows of itself
//!
//! It runs on its own threads (an accept thread, workers, a leak observer),
//! needs no async runtime, and idles blocked in `accept`. Its threads run
//! with sampling suspended: their allocations are counted in the heap
//! totals (they are the process's memory) but never appear among the
//! callsites or in the profiles it serves; `/metrics` reports them apart
//! (`profiling_alloc_endpoint_allocated_bytes_total`).

mod auth;
mod http;
mod listener;
mod metrics;
mod page;
mod process;
mod profiles;
mod rate_limit;
mod routes;
mod snapshots;
mod views;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use rate_limit::RateLimits;

use crate::analysis::{LeakDetector, LeakReport};
use crate::Error;

/// The environment variable [`start_from_env`] reads its address from.
pub const ADDR_VAR: &str = "PROFILING_ALLOC_ADDR";
/// The environment variable [`start_from_env`] reads its token from.
pub const TOKEN_VAR: &str = "PROFILING_ALLOC_TOKEN";
/// The address served when none is given: loopback, port 6464.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6464);
/// The longest delta profile (`?seconds=N`) the endpoint takes, in seconds.
pub const MAX_PROFILE_SECONDS: u64 = 300;

/// The live endpoint: [`Server::builder`] configures one.
#[derive(Debug)]
pub struct Server(());

impl Server {
    /// A builder with the defaults: `127.0.0.1:6464`, no token, the default
    /// [`RateLimits`], a leak snapshot every 60 s kept 64 deep, no memory
    /// limits, 4 workers, 64 queued connections, 5 s to read a request, 10 s
    /// to write an answer, 10 snapshots kept.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// The settings of an endpoint; [`start`](ServerBuilder::start) serves it.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `.start()`"]
pub struct ServerBuilder {
    addr: SocketAddr,
    token: Option<String>,
    rate_limits: RateLimits,
    leak_interval: Duration,
    leak_snapshots: usize,
    memory_limits: Option<(u64, u64)>,
    workers: usize,
    max_queued_connections: usize,
    request_timeout: Duration,
    write_timeout: Duration,
    max_snapshots: usize,
    snapshot_dir: Option<PathBuf>,
    job_limits: Option<crate::ResourceLimits>,
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
            snapshot_dir: None,
            job_limits: None,
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
    /// size; at least 3).
    pub fn leak_snapshots(mut self, count: usize) -> Self {
        self.leak_snapshots = count;
        self
    }

    /// Resident-set sizes, in bytes, from which `/memory` reports `warning`
    /// and `critical`.
    pub fn memory_limits(mut self, warning_bytes: u64, critical_bytes: u64) -> Self {
        self.memory_limits = Some((warning_bytes, critical_bytes));
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

    /// Where snapshots are written (default `snapshots/` in
    /// [`output_dir`](crate::output_dir)).
    pub fn snapshot_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.snapshot_dir = Some(dir.into());
        self
    }

    /// Limits (a serverless platform's, or your own) the jobs are held
    /// against: a job whose p95 duration or peak memory per call comes
    /// within 10% of one is a finding in `/allocations`, `/report.json` and
    /// the page.
    pub fn job_limits(mut self, limits: crate::ResourceLimits) -> Self {
        self.job_limits = Some(limits);
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
        let mut threads = listener::spawn(listener, Arc::clone(&shared))
            .map_err(|source| Error::Bind { addr, source })?;
        threads.push(
            spawn_leak_observer(Arc::clone(&shared))
                .map_err(|source| Error::Bind { addr, source })?,
        );
        Ok(ServerHandle {
            addr,
            shared,
            threads,
        })
    }

    fn check(&self) -> Result<(), Error> {
        let invalid = |setting, value: String, reason: &str| Error::InvalidSetting {
            setting,
            value,
            reason: reason.to_string(),
        };
        if self.token.as_deref() == Some("") {
            return Err(invalid("token", String::new(), "a token cannot be empty"));
        }
        if self.token.is_none() && !self.addr.ip().is_loopback() {
            return Err(Error::InsecureAddress { addr: self.addr });
        }
        if self.workers == 0 {
            return Err(invalid(
                "workers",
                "0".into(),
                "at least one worker is needed",
            ));
        }
        for (setting, value) in [
            ("leak_interval", self.leak_interval),
            ("request_timeout", self.request_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(
                    setting,
                    format!("{value:?}"),
                    "must be more than zero",
                ));
            }
        }
        if let Some((warning, critical)) = self.memory_limits {
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

/// Starts the endpoint on `$PROFILING_ALLOC_ADDR` (default
/// `127.0.0.1:6464`) with `$PROFILING_ALLOC_TOKEN` as its token when set,
/// and every other setting at its default: `ServerBuilder::from_env()?.start()`.
///
/// # Errors
///
/// As [`ServerBuilder::from_env`] and [`ServerBuilder::start`].
pub fn start_from_env() -> Result<ServerHandle, Error> {
    ServerBuilder::from_env()?.start()
}

impl ServerBuilder {
    /// A builder with the address and token from the environment
    /// ([`ADDR_VAR`], [`TOKEN_VAR`]; unset or empty leaves the default) and
    /// the rest at the defaults, to adjust before [`start`](Self::start).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] naming the variable when the address does
    /// not parse as `ip:port`.
    pub fn from_env() -> Result<ServerBuilder, Error> {
        let mut builder = Server::builder();
        if let Some(value) = std::env::var_os(ADDR_VAR).filter(|v| !v.is_empty()) {
            let text = value.to_string_lossy().into_owned();
            let addr = text
                .parse::<SocketAddr>()
                .map_err(|e| Error::InvalidSetting {
                    setting: ADDR_VAR,
                    value: text.clone(),
                    reason: format!("{e} (expected ip:port, e.g. 127.0.0.1:6464)"),
                })?;
            builder = builder.addr(addr);
        }
        if let Some(token) = std::env::var_os(TOKEN_VAR).filter(|v| !v.is_empty()) {
            builder = builder.token(token.to_string_lossy().into_owned());
        }
        Ok(builder)
    }
}

/// A running endpoint. Dropping it (or [`shutdown`](Self::shutdown)) stops
/// it: keep it alive for as long as the service should be observable.
#[derive(Debug)]
#[must_use = "dropping the handle stops the endpoint"]
pub struct ServerHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address it listens on (with the port chosen, if 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in progress finish (a delta profile
    /// stops waiting and answers), and joins the endpoint's threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.wake.notify_all();
        // Wake the accept loop with a connection of our own.
        let mut wake_addr = self.addr;
        if wake_addr.ip().is_unspecified() {
            wake_addr.set_ip(match wake_addr {
                SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        let _ = TcpStream::connect_timeout(&wake_addr, Duration::from_secs(1));
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the endpoint's threads share.
#[derive(Debug)]
struct Shared {
    settings: ServerBuilder,
    token: Option<auth::Token>,
    limiter: rate_limit::RateLimiter,
    leaks: Mutex<LeakDetector>,
    last_leak_report: Mutex<Option<LeakReport>>,
    snapshots: Mutex<snapshots::SnapshotStore>,
    cpu_baseline: Mutex<(Instant, Option<process::CpuTimes>)>,
    stopping: AtomicBool,
    /// Paired with `wake`: waits that end early when the endpoint stops.
    sleep: Mutex<()>,
    wake: Condvar,
    requests: AtomicU64,
    own_bytes: AtomicU64,
    own_blocks: AtomicU64,
    handler_panics: AtomicU64,
}

impl Shared {
    fn new(settings: ServerBuilder) -> Shared {
        let snapshot_dir = settings
            .snapshot_dir
            .clone()
            .unwrap_or_else(|| crate::output_dir().join("snapshots"));
        Shared {
            token: settings.token.as_deref().map(auth::Token::new),
            limiter: rate_limit::RateLimiter::new(settings.rate_limits, Instant::now()),
            leaks: Mutex::new(LeakDetector::new(settings.leak_snapshots)),
            last_leak_report: Mutex::new(None),
            snapshots: Mutex::new(snapshots::SnapshotStore::new(
                snapshot_dir,
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

    /// A report now, with the job limits' findings when limits were set.
    fn report(&self) -> crate::Report {
        let report = crate::Report::capture();
        match &self.settings.job_limits {
            Some(limits) => report.with_limits(limits),
            None => report,
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Waits `duration`, or less if the endpoint stops: whether it stopped.
    fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
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
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The thread that feeds the leak detector: one observation at start, then
/// one per interval, until the endpoint stops.
fn spawn_leak_observer(shared: Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("profiling-alloc-leaks".into())
        .spawn(move || {
            let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
            loop {
                observe_leaks(&shared);
                if shared.sleep(shared.settings.leak_interval) {
                    return;
                }
            }
        })
}

/// One observation of live bytes per callsite, and the analysis after it.
fn observe_leaks(shared: &Shared) {
    let heap = crate::heap_stats();
    #[cfg(feature = "callsites")]
    let callsites = crate::live_callsites();
    #[cfg(not(feature = "callsites"))]
    let callsites = Vec::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut detector = lock(&shared.leaks);
    detector.observe(now, heap.live_bytes, crate::sampling(), &callsites);
    let report = detector.analyze();
    drop(detector);
    *lock(&shared.last_leak_report) = Some(report);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_loopback_without_a_token_is_refused() {
        let error = Server::builder()
            .addr(([0, 0, 0, 0], 0))
            .start()
            .unwrap_err();
        assert!(matches!(error, Error::InsecureAddress { .. }), "{error}");
        assert!(error.to_string().contains("without a token"));
    }

    #[test]
    fn bad_settings_are_named() {
        let cases = [
            (Server::builder().token(""), "token"),
            (Server::builder().workers(0), "workers"),
            (
                Server::builder().leak_interval(Duration::ZERO),
                "leak_interval",
            ),
            (Server::builder().memory_limits(2, 1), "memory_limits"),
        ];
        for (builder, name) in cases {
            match builder.addr(([127, 0, 0, 1], 0)).start() {
                Err(Error::InvalidSetting { setting, .. }) => assert_eq!(setting, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_taken_port_is_a_bind_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let error = Server::builder().addr(addr).start().unwrap_err();
        assert!(matches!(error, Error::Bind { .. }), "{error}");
    }
}
