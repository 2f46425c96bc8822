//! The live endpoint (feature `server`): look inside a running service
//! without restarting it.
//!
//! ```no_run
//! # fn main() -> Result<(), profiling_alloc::Error> {
//! // In main, once: serves on $PROFILING_ALLOC_ADDR (default 127.0.0.1:6464),
//! // with $PROFILING_ALLOC_TOKEN as its token when set, and the jobs held
//! // against the QoS baseline file $PROFILING_ALLOC_BASELINE names, if any.
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
//!     .token("a long random secret")       // 16 characters at least
//!     .leak_interval(Duration::from_secs(30))
//!     .memory_limits(768 << 20, 1 << 30)   // RSS warning and critical, bytes
//!     .start()?;
//! println!("profiling endpoint on http://{}/", endpoint.addr());
//! # Ok(()) }
//! ```
//!
//! A service that already serves HTTP with axum mounts the same routes
//! instead, with feature `axum`: `app.merge(server::router()?)` (see
//! `router` and `ServerBuilder::router`).
//!
//! # Routes
//!
//! | route | answer | class |
//! |---|---|---|
//! | `GET /` | an HTML page: heap now, top callsites, jobs, findings, links | read (free, links only, without the token) |
//! | `GET /metrics` | Prometheus text exposition: prefix `profiling_alloc_`, base units; the process under the standard `process_*` names | read |
//! | `GET /debug/pprof/heap` | gzipped pprof heap profile, default sample in-use space | read |
//! | `GET /debug/pprof/allocs` | the same, default sample allocated space | read |
//! | `GET /debug/pprof/{heap,allocs}?seconds=N` | allocations of the next N seconds (1–300), live blocks at the end | exclusive |
//! | `GET /debug/pprof/profile?seconds=N&frequency=HZ` | a pprof CPU profile of the next N seconds (default 30, 1–300) at HZ samples per CPU-second (default 100, up to 1,000; 100 under the process-wide timer): see [`cpu`](crate::cpu) | exclusive |
//! | `GET /flamegraph/cpu.svg?seconds=N&frequency=HZ` | the same as a flamegraph | exclusive |
//! | `GET /report.json` | the whole [`Report`](crate::Report) | read |
//! | `GET /flamegraph/{allocated,blocks,live,jobs}.svg` | an inferno flamegraph | read |
//! | `GET /jobs` | [`job_stats`](crate::job_stats) as JSON | read |
//! | `GET /memory` | RSS, virtual size, heap live and peak, resident bytes the heap does not explain, heap growth, the container's limit, the levels, their source and the status | read |
//! | `GET /cpu` | CPU use (user, system; of one core and of the machine), load, threads | read |
//! | `GET /allocations` | top callsites by bytes and by live bytes, the size histogram | read |
//! | `GET /leaks` | the [leak analysis](crate::analysis::LeakDetector) | analysis |
//! | `GET /bottlenecks` | the top functions (file, line, self and total share, samples), each job's on-CPU and waiting shares, and recommendations citing their evidence, from the latest CPU profile (under 10 minutes old) or a 5-second one taken then; each item's impact is defined below | read with a fresh profile, else exclusive |
//! | `POST /snapshot` | writes a report (JSON and heap pprof), answers its id, paths and size | exclusive |
//! | `GET /snapshot/{id}` | that report's JSON (`?format=pprof`: its heap profile) | read |
//! | `POST /profiles?kind=cpu\|allocs\|heap&seconds=N` | starts a profiling session of N seconds (default 30, up to [`MAX_SESSION_SECONDS`]; `frequency=HZ` for `cpu`) on a thread of its own and answers 202 at once with its id and `Location: /profiles/{id}`; 429 while a session of that kind runs | read |
//! | `GET /profiles?kind=..&status=..` | the sessions kept, filtered by kind and by status (`running`, `done`, `failed`) | read |
//! | `GET /profiles/{id}` | a session: status (and its error), start and end, settings, for `cpu` the sampler's overhead (the `cpu-sampler` thread's CPU ÷ the process's), links to its files | read |
//! | `GET /profiles/{id}/{profile.pb.gz,flamegraph.svg,hotspots.json}` | its pprof profile, flamegraph and hot functions (`cpu`) or top callsites (`allocs`, `heap`); 404 `not_ready` until it is done | read |
//!
//! A session survives its client going away (nothing waits on the
//! request), and its files are kept in `profile-{id}/` of the snapshot
//! directory; once it ended more than a day ago, or 20 newer ones have
//! finished ([`ServerBuilder::session_max_age`],
//! [`ServerBuilder::max_sessions`]), it is removed with them when the next
//! session starts or the list is read. The blocking Go-style routes stay, for
//! `go tool pprof` and scrapers.
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
//! # Bottlenecks
//!
//! `/bottlenecks` puts together what the CPU profile, the jobs' CPU shares,
//! the allocation findings and the leak analysis say, each item with an
//! **impact** from 0 to 100: the percentage of the sampled CPU time a
//! function (its self samples) or a job (the samples inside it) accounts
//! for (a job's finding, such as one near its limit, takes the job's), of
//! the bytes allocated for an allocation finding's callsite, and of the
//! live heap added per hour for a leak suspect (at most 100).
//! Recommendations are sorted by impact, and each lists the numbers it
//! rests on: a function taking 5% or more of the CPU itself, a job that
//! waits most of its wall time (under 20% on CPU) or computes most of it
//! (80% or more), temporary blocks, growth by realloc, jobs near a limit or
//! over their baseline, and leak suspects.
//!
//! # Memory levels
//!
//! `/memory` says `warning` or `critical` when resident memory reaches a
//! level, and `/metrics` exports the levels
//! (`profiling_alloc_memory_warning_bytes` and `_critical_bytes`, label
//! `source`), for alert rules. The levels are those set
//! ([`MEMORY_WARNING_VAR`] and [`MEMORY_CRITICAL_VAR`] read by
//! [`ServerBuilder::from_env`], or [`ServerBuilder::memory_limits`]; the
//! last one set wins); with none set, inside a container whose cgroup (v2
//! `memory.max`, v1 `memory.limit_in_bytes`) has a memory limit, 90% and
//! 95% of that limit. `/memory`'s `limits.source` and `source_detail` say
//! which.
//!
//! # OOM early warning
//!
//! While levels are set, a thread reads the resident size every second.
//! When it first passes the warning level, and again after each further
//! 10% rise (at most once per 10 seconds), the endpoint writes a snapshot
//! on its own: a report and a heap pprof, `oom-<id>.json` and `.pb.gz` in
//! the snapshot directory, the newest 5 kept
//! ([`ServerBuilder::oom_snapshots`]). When the kernel's out-of-memory
//! killer ends the process, the heap profile of its last climb is on disk;
//! `/memory` lists them while it runs.
//!
//! # Environment variables
//!
//! | variable | sets | default |
//! |---|---|---|
//! | `PROFILING_ALLOC_ADDR` ([`ADDR_VAR`]) | the address, `ip:port` | `127.0.0.1:6464` |
//! | `PROFILING_ALLOC_TOKEN` ([`TOKEN_VAR`]) | the token (16 characters at least off loopback) | none |
//! | `PROFILING_ALLOC_BASELINE` ([`BASELINE_VAR`]) | a QoS baseline file jobs are held against (findings, `profiling_alloc_job_duration_limit_seconds`) | none |
//! | `PROFILING_ALLOC_MEMORY_WARNING`, `PROFILING_ALLOC_MEMORY_CRITICAL` ([`MEMORY_WARNING_VAR`], [`MEMORY_CRITICAL_VAR`]) | the memory levels, sizes such as `768MiB`; both or neither | 90% and 95% of the cgroup's limit, else none |
//! | `PROFILING_ALLOC_LEAK_INTERVAL` ([`LEAK_INTERVAL_VAR`]) | the leak observer's interval, such as `30s` | `60s` |
//! | `PROFILING_ALLOC_LEAK_SNAPSHOTS` ([`LEAK_SNAPSHOTS_VAR`]) | observations the leak analysis looks back over | 64 |
//! | `PROFILING_ALLOC_MAX_SNAPSHOTS` ([`MAX_SNAPSHOTS_VAR`]) | snapshots kept | 10 |
//! | `PROFILING_ALLOC_OOM_SNAPSHOTS` ([`OOM_SNAPSHOTS_VAR`]) | OOM early-warning snapshots kept (0: off) | 5 |
//! | `PROFILING_ALLOC_MAX_SESSIONS` ([`MAX_SESSIONS_VAR`]) | finished profiling sessions kept | 20 |
//! | `PROFILING_ALLOC_SESSION_MAX_AGE` ([`SESSION_MAX_AGE_VAR`]) | how long a finished session is kept, such as `6h` | `24h` |
//! | `PROFILING_ALLOC_SAMPLING` ([`SAMPLING_VAR`](crate::callsites::SAMPLING_VAR)) | the sampling mode, read by the allocator at its first call (Linux): `off`, `every`, `poisson[:SIZE]` | the allocator's |
//! | `PROFILING_ALLOC_LABELS` ([`LABELS_VAR`](crate::output::LABELS_VAR)) | labels of reports, `k=v,k2=v2` | none |
//! | `PROFILING_ALLOC_DIR` ([`OUTPUT_DIR_VAR`](crate::output::OUTPUT_DIR_VAR)) | where files are written | `profiling/` in the target directory ([`output_dir`](crate::output::output_dir)) |
//!
//! The endpoint's variables are read by [`start_from_env`] and
//! [`ServerBuilder::from_env`]; a value that does not parse stops the start
//! with an error naming the variable and saying what to write.
//!
//! # Scrape configurations
//!
//! Prometheus is checked by `scripts/check-service.sh`; the Pyroscope and
//! Parca configurations follow those tools' documented formats and are not
//! run by the project's checks.
//!
//! ```yaml
//! # prometheus.yml. Prometheus keeps its own `job` label (the scrape job's
//! # name), so the profiler's `job` label arrives as `exported_job`; set
//! # `honor_labels: true` to keep it as `job` instead.
//! scrape_configs:
//!   - job_name: my-service
//!     authorization: { credentials: "<token>" }   # when the endpoint has one
//!     static_configs: [{ targets: ["127.0.0.1:6464"] }]
//! ```
//!
//! ```text
//! // Grafana Alloy, forwarding to Pyroscope
//! pyroscope.scrape "my_service" {
//!   targets    = [{"__address__" = "127.0.0.1:6464", "service_name" = "my-service"}]
//!   forward_to = [pyroscope.write.default.receiver]
//!   profiling_config {
//!     profile.memory      { enabled = true, path = "/debug/pprof/allocs" }
//!     // /debug/pprof/profile?seconds=N, N just under the scrape interval
//!     profile.process_cpu { enabled = true }
//!     profile.goroutine   { enabled = false }
//!     profile.mutex       { enabled = false }
//!     profile.block       { enabled = false }
//!   }
//! }
//! ```
//!
//! ```yaml
//! # parca.yaml
//! scrape_configs:
//!   - job_name: my-service
//!     static_configs: [{ targets: ["127.0.0.1:6464"] }]
//!     profiling_config:
//!       pprof_config:
//!         memory: { enabled: true, path: /debug/pprof/allocs }
//!         process_cpu: { enabled: true }   # /debug/pprof/profile?seconds=N
//! ```
//!
//! # Security
//!
//! The endpoint binds `127.0.0.1` unless told otherwise. A non-loopback
//! address without a token is refused by [`ServerBuilder::start`] with
//! [`Error::InsecureAddress`], and with a token shorter than 16 characters
//! with [`Error::InvalidSetting`] (`openssl rand -hex 16` makes one). With a
//! token,
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
//! It runs on its own threads (an accept thread, workers, a leak observer,
//! the memory watch while levels are set, and a thread per running
//! profiling session, which ends with its session or when the endpoint
//! stops), needs no async runtime, and idles blocked in `accept`. Its threads run
//! with sampling suspended: their allocations are counted in the heap
//! totals (they are the process's memory) but never appear among the
//! callsites or in the profiles it serves; `/metrics` reports them apart
//! (`profiling_alloc_endpoint_allocated_bytes_total`).

mod auth;
#[cfg(feature = "axum")]
mod axum;
mod bottlenecks;
mod builder;
mod cgroup;
mod env;
mod http;
mod listener;
mod memory_levels;
mod metrics;
mod oom_watch;
mod page;
mod process;
mod profiles;
mod rate_limit;
mod routes;
mod sessions;
mod shared;
mod snapshots;
mod views;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

#[cfg(feature = "axum")]
pub use self::axum::router;
pub use builder::ServerBuilder;
pub use rate_limit::RateLimits;

use shared::{lock, Shared};

use crate::Error;

/// The environment variable [`start_from_env`] reads its address from.
pub const ADDR_VAR: &str = "PROFILING_ALLOC_ADDR";
/// The environment variable [`start_from_env`] reads its token from.
pub const TOKEN_VAR: &str = "PROFILING_ALLOC_TOKEN";
/// The environment variable naming a QoS baseline file the jobs are held
/// against ([`ServerBuilder::job_baseline`]).
pub const BASELINE_VAR: &str = "PROFILING_ALLOC_BASELINE";
/// The environment variable giving the resident size at which `/memory`
/// says `warning` (with [`MEMORY_CRITICAL_VAR`]; a size such as `768MiB`).
pub const MEMORY_WARNING_VAR: &str = "PROFILING_ALLOC_MEMORY_WARNING";
/// The environment variable giving the resident size at which `/memory`
/// says `critical` (with [`MEMORY_WARNING_VAR`]).
pub const MEMORY_CRITICAL_VAR: &str = "PROFILING_ALLOC_MEMORY_CRITICAL";
/// The environment variable giving the leak observer's interval
/// ([`ServerBuilder::leak_interval`]; a duration such as `30s`).
pub const LEAK_INTERVAL_VAR: &str = "PROFILING_ALLOC_LEAK_INTERVAL";
/// The environment variable giving how many observations the leak analysis
/// looks back over ([`ServerBuilder::leak_snapshots`]).
pub const LEAK_SNAPSHOTS_VAR: &str = "PROFILING_ALLOC_LEAK_SNAPSHOTS";
/// The environment variable giving how many snapshots are kept
/// ([`ServerBuilder::max_snapshots`]).
pub const MAX_SNAPSHOTS_VAR: &str = "PROFILING_ALLOC_MAX_SNAPSHOTS";
/// The environment variable giving how many OOM early-warning snapshots
/// are kept ([`ServerBuilder::oom_snapshots`]; 0 turns the warning off).
pub const OOM_SNAPSHOTS_VAR: &str = "PROFILING_ALLOC_OOM_SNAPSHOTS";
/// The environment variable giving how many finished profiling sessions are
/// kept ([`ServerBuilder::max_sessions`]).
pub const MAX_SESSIONS_VAR: &str = "PROFILING_ALLOC_MAX_SESSIONS";
/// The environment variable giving how long a finished profiling session is
/// kept ([`ServerBuilder::session_max_age`]; a duration such as `6h`).
pub const SESSION_MAX_AGE_VAR: &str = "PROFILING_ALLOC_SESSION_MAX_AGE";
/// The address served when none is given: loopback, port 6464.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6464);
/// The longest profiling session (`POST /profiles?seconds=N`), in seconds.
pub const MAX_SESSION_SECONDS: u64 = 3600;
/// The longest delta profile (`?seconds=N`) the endpoint takes, in seconds.
pub const MAX_PROFILE_SECONDS: u64 = 300;

/// The live endpoint: [`Server::builder`] configures one.
#[derive(Debug)]
pub struct Server(());

impl Server {
    /// A builder with the defaults: `127.0.0.1:6464`, no token, the default
    /// [`RateLimits`], a leak snapshot every 60 s kept 64 deep, memory levels
    /// from a container's cgroup limit if it has one (else none), 4 workers,
    /// 64 queued connections, 5 s to read a request, 10 s to write an
    /// answer, 10 snapshots, 5 early-warning snapshots and 20 profiling
    /// sessions kept, sessions for a day.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// Starts the endpoint on `$PROFILING_ALLOC_ADDR` (default
/// `127.0.0.1:6464`) with `$PROFILING_ALLOC_TOKEN` as its token when set,
/// the jobs held against the QoS baseline file `$PROFILING_ALLOC_BASELINE`
/// names when set, and every other setting at its default:
/// `ServerBuilder::from_env()?.start()`.
///
/// # Errors
///
/// As [`ServerBuilder::from_env`] and [`ServerBuilder::start`].
pub fn start_from_env() -> Result<ServerHandle, Error> {
    ServerBuilder::from_env()?.start()
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

    /// Stops accepting (within a quarter of a second), closes connections
    /// still queued, lets requests in progress finish (a delta profile stops
    /// waiting and answers), and joins the endpoint's threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        {
            // Under the sleepers' lock, so that none checks `stopping`
            // before the store and waits after the notify.
            let _sleepers = lock(&self.shared.sleep);
            self.shared.stopping.store(true, Ordering::Release);
            self.shared.wake.notify_all();
        }
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

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::Duration;

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
    fn off_loopback_a_short_token_is_refused() {
        let error = Server::builder()
            .addr(([0, 0, 0, 0], 0))
            .token("hunter")
            .start()
            .unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(
                error,
                Error::InvalidSetting {
                    setting: "token",
                    ..
                }
            ) && text.contains("at least 16 characters")
                && !text.contains("hunter"),
            "{text}"
        );
        // On loopback, any token that is not empty.
        let endpoint = Server::builder()
            .addr(([127, 0, 0, 1], 0))
            .token("hunter")
            .start()
            .unwrap();
        drop(endpoint);
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
            (
                Server::builder().request_timeout(Duration::MAX),
                "request_timeout",
            ),
            (
                Server::builder().leak_interval(Duration::MAX),
                "leak_interval",
            ),
            (
                Server::builder().leak_snapshots(usize::MAX),
                "leak_snapshots",
            ),
            (
                Server::builder().max_queued_connections(usize::MAX),
                "max_queued_connections",
            ),
            (Server::builder().workers(10_000), "workers"),
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
