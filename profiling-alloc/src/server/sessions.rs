//! Profiling sessions, as an on-demand profiling service offers them:
//! `POST /profiles?kind=cpu|allocs|heap&seconds=N` answers 202 at once and
//! a thread of its own takes the profile, so that no client holds a request
//! open for minutes (proxies cut those) and a client that goes away loses
//! nothing. `GET /profiles/{id}` tells how it went and links its files (a
//! pprof profile, a flamegraph, the hotspots as JSON), kept in the
//! profiling directory and removed by age and count; `GET /profiles` lists
//! the sessions.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Serialize;

use super::http::{Request, Response};
use super::shared::{lock, Shared};
use crate::{output::PprofKind, FlameKind, Report};

/// What a session profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Kind {
    /// CPU samples of the session's seconds.
    Cpu,
    /// Allocations of the session's seconds (Go's `allocs?seconds=N`).
    Allocs,
    /// The same, live blocks sampled by default (Go's `heap?seconds=N`).
    Heap,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        match text {
            "cpu" => Some(Kind::Cpu),
            "allocs" => Some(Kind::Allocs),
            "heap" => Some(Kind::Heap),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Cpu => "cpu",
            Kind::Allocs => "allocs",
            Kind::Heap => "heap",
        }
    }
}

/// How a session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Status {
    Running,
    Done,
    Failed,
}

impl Status {
    fn parse(text: &str) -> Option<Status> {
        match text {
            "running" => Some(Status::Running),
            "done" => Some(Status::Done),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

/// The sampler's cost during a CPU session.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Overhead {
    /// CPU time of the `cpu-sampler` thread.
    pub(super) sampler_cpu_seconds: f64,
    /// CPU time of the whole process over the session.
    pub(super) process_cpu_seconds: f64,
    /// The first over the second (the signal handlers' own time, spent on
    /// the sampled threads, is not in it).
    pub(super) share: Option<f64>,
}

/// One session, as `GET /profiles/{id}` shows it.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Session {
    pub(super) id: String,
    pub(super) kind: Kind,
    pub(super) status: Status,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<String>,
    pub(super) seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) frequency_hz: Option<u32>,
    pub(super) started_at: String,
    pub(super) ended_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) overhead: Option<Overhead>,
    /// The session's files' routes (once done).
    pub(super) links: Links,
    /// When it ended (0 while running): what its age counts from.
    #[serde(skip)]
    ended_unix_ms: u64,
    #[serde(skip)]
    dir: PathBuf,
}

/// Where a session's results are served.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Links {
    #[serde(rename = "self")]
    pub(super) status: String,
    pub(super) pprof: String,
    pub(super) flamegraph: String,
    pub(super) hotspots: String,
}

/// The files of a session, in its directory.
const PPROF_FILE: &str = "profile.pb.gz";
const FLAMEGRAPH_FILE: &str = "flamegraph.svg";
const HOTSPOTS_FILE: &str = "hotspots.json";

/// The sessions, newest last, and where their files go.
#[derive(Debug)]
pub(super) struct Sessions {
    dir: PathBuf,
    list: Vec<Session>,
    next: u64,
}

impl Sessions {
    /// The sessions of an endpoint writing into `dir`. The directories of
    /// sessions an earlier run of the program left there are removed when
    /// they ended more than `max_age` ago, or beyond the newest `max_count`.
    pub(super) fn new(dir: PathBuf, max_count: usize, max_age: Duration) -> Sessions {
        remove(left_behind(&dir, max_count, max_age));
        Sessions {
            dir,
            list: Vec::new(),
            next: 1,
        }
    }

    /// Forgets finished sessions older than `max_age`, then the oldest
    /// finished ones beyond `max_count`; returns their directories, to be
    /// removed once the lock is let go.
    fn expire(&mut self, now_unix_ms: u64, max_age: Duration, max_count: usize) -> Vec<PathBuf> {
        let max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
        let old = |session: &Session| {
            session.status != Status::Running
                && now_unix_ms.saturating_sub(session.ended_unix_ms) > max_age_ms
        };
        let mut removed: Vec<Session> = Vec::new();
        self.list.retain(|session| {
            let keep = !old(session);
            if !keep {
                removed.push(session.clone());
            }
            keep
        });
        while self.list.len() > max_count {
            match self.list.iter().position(|s| s.status != Status::Running) {
                Some(oldest) => removed.push(self.list.remove(oldest)),
                None => break,
            }
        }
        removed.into_iter().map(|session| session.dir).collect()
    }
}

/// `POST /profiles?kind=..&seconds=..[&frequency=..]`.
pub(super) fn start(shared: &Arc<Shared>, request: &Request) -> Response {
    let Some(kind) = request.query("kind").and_then(Kind::parse) else {
        return Response::error(
            400,
            "bad_query",
            "kind must be cpu, allocs or heap: POST /profiles?kind=cpu&seconds=30",
        );
    };
    let seconds = match request.query("seconds").map(str::parse::<u64>) {
        None => 30,
        Some(Ok(seconds)) if (1..=super::MAX_SESSION_SECONDS).contains(&seconds) => seconds,
        Some(_) => {
            let message = format!(
                "seconds must be a whole number from 1 to {}",
                super::MAX_SESSION_SECONDS
            );
            return Response::error(400, "bad_query", &message);
        }
    };
    let frequency = match (kind, request.query("frequency").map(str::parse::<u32>)) {
        (Kind::Cpu, None) => Some(100),
        (Kind::Cpu, Some(Ok(hz))) if (1..=super::routes::CPU_MAX_FREQUENCY).contains(&hz) => {
            Some(hz)
        }
        (Kind::Cpu, Some(_)) => {
            let message = format!(
                "frequency must be a whole number of Hz from 1 to {}",
                super::routes::CPU_MAX_FREQUENCY
            );
            return Response::error(400, "bad_query", &message);
        }
        (_, None) => None,
        (_, Some(_)) => {
            return Response::error(400, "bad_query", "frequency is for kind=cpu only");
        }
    };
    // A CPU profile starts first, outside the lock, so that a refusal
    // (another profile, no support) is this request's answer.
    let cpu = match (kind, frequency) {
        (Kind::Cpu, Some(hz)) => match crate::cpu::start(hz) {
            Ok(profiling) => Some(profiling),
            Err(crate::Error::CpuAlreadyRunning) => {
                return Response::error(
                    429,
                    "rate_limited",
                    "a CPU profile is running (a session's, the program's own, or a /debug/pprof/profile)",
                )
                .with_header("Retry-After", seconds.to_string());
            }
            Err(error) => return Response::error(501, "unsupported", &error.to_string()),
        },
        _ => None,
    };
    let mut sessions = lock(&shared.sessions);
    let now_ms = crate::sys::unix_millis_now();
    // Room for this one among those kept.
    let expired = sessions.expire(
        now_ms,
        shared.settings.session_max_age,
        shared.settings.max_sessions.saturating_sub(1),
    );
    if let Some(running) = sessions
        .list
        .iter()
        .find(|s| s.kind == kind && s.status == Status::Running)
    {
        let message = format!(
            "session {} of kind {} is running; one of each kind runs at a time",
            running.id,
            kind.name()
        );
        let retry = running.seconds;
        drop(sessions);
        // Dropping a CPU profile discards it.
        drop(cpu);
        remove(expired);
        return Response::error(429, "rate_limited", &message)
            .with_header("Retry-After", retry.to_string());
    }
    let id = format!("{}-{}", now_ms, sessions.next);
    sessions.next += 1;
    let dir = sessions.dir.join(format!("profile-{id}"));
    let links = links(&id);
    let session = Session {
        id: id.clone(),
        kind,
        status: Status::Running,
        error: None,
        seconds,
        frequency_hz: frequency,
        started_at: crate::units::timestamp_now(),
        ended_at: None,
        overhead: None,
        links,
        ended_unix_ms: 0,
        dir: dir.clone(),
    };
    let answer =
        Response::json_status(202, &session).with_header("Location", session.links.status.clone());
    sessions.list.push(session);
    drop(sessions);
    remove(expired);
    let weak = Arc::downgrade(shared);
    let thread_id = id.clone();
    let spawned = std::thread::Builder::new()
        .name("profiling-alloc-session".into())
        .spawn(move || run(&weak, &thread_id, kind, seconds, cpu, &dir));
    if let Err(error) = spawned {
        finish_failed(shared, &id, &format!("starting its thread: {error}"));
    }
    answer
}

/// The `profile-*` directories in `dir` to remove: those last written more
/// than `max_age` ago, and the oldest beyond `max_count`.
fn left_behind(dir: &Path, max_count: usize, max_age: Duration) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let now = std::time::SystemTime::now();
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with("profile-"))
                && entry.file_type().is_ok_and(|kind| kind.is_dir())
        })
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .collect();
    found.sort();
    let mut gone = Vec::new();
    let excess = found.len().saturating_sub(max_count);
    for (i, (modified, path)) in found.into_iter().enumerate() {
        let old = now.duration_since(modified).is_ok_and(|age| age > max_age);
        if i < excess || old {
            gone.push(path);
        }
    }
    gone
}

/// Removes expired sessions' directories.
fn remove(dirs: Vec<PathBuf>) {
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn links(id: &str) -> Links {
    Links {
        status: format!("/profiles/{id}"),
        pprof: format!("/profiles/{id}/{PPROF_FILE}"),
        flamegraph: format!("/profiles/{id}/{FLAMEGRAPH_FILE}"),
        hotspots: format!("/profiles/{id}/{HOTSPOTS_FILE}"),
    }
}

/// The session's thread: waits its seconds (or until the endpoint stops),
/// then writes its files and records how it went. A panic in it marks the
/// session failed, so that its kind is not held as running for ever.
fn run(
    shared: &Weak<Shared>,
    id: &str,
    kind: Kind,
    seconds: u64,
    cpu: Option<crate::cpu::CpuProfiling>,
    dir: &Path,
) {
    crate::capture::reading(|| {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            take(shared, kind, seconds, cpu, dir, id)
        }));
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let mut sessions = lock(&strong.sessions);
        if let Some(session) = sessions.list.iter_mut().find(|s| s.id == id) {
            session.ended_at = Some(crate::units::timestamp_now());
            session.ended_unix_ms = crate::sys::unix_millis_now();
            match outcome {
                Ok(Ok((overhead, stopped))) => {
                    session.status = Status::Done;
                    session.overhead = overhead;
                    if stopped {
                        session.error =
                            Some("the endpoint stopped before the session's end".into());
                    }
                }
                Ok(Err(error)) => {
                    session.status = Status::Failed;
                    session.error = Some(error);
                }
                Err(_) => {
                    session.status = Status::Failed;
                    session.error = Some("the session panicked; the service is unaffected".into());
                }
            }
        }
    })
}

/// Takes the session's profile and writes its files: the CPU overhead
/// (for `cpu`) and whether the endpoint stopped first.
fn take(
    shared: &Weak<Shared>,
    kind: Kind,
    seconds: u64,
    cpu: Option<crate::cpu::CpuProfiling>,
    dir: &Path,
    id: &str,
) -> Result<(Option<Overhead>, bool), String> {
    let process_before = super::process::cpu_times();
    let start_report = match (kind, shared.upgrade()) {
        (Kind::Cpu, _) | (_, None) => None,
        (_, Some(strong)) => Some(strong.report()),
    };
    // Waits a second at a time, holding the endpoint only while it sleeps:
    // an endpoint (or an axum router's state) dropped meanwhile goes.
    let mut stopped = false;
    for _ in 0..seconds {
        match shared.upgrade() {
            Some(strong) if !strong.sleep(Duration::from_secs(1)) => {}
            _ => {
                stopped = true;
                break;
            }
        }
    }
    let process_cpu = super::process::cpu_times()
        .zip(process_before)
        .map(|(after, before)| {
            (after.user + after.system).saturating_sub(before.user + before.system)
        });
    let strong = shared.upgrade();
    std::fs::create_dir_all(dir).map_err(|error| format!("creating {}: {error}", dir.display()))?;
    let overhead = match (cpu, start_report) {
        (Some(profiling), _) => {
            let profile = profiling.stop();
            if let Some(strong) = &strong {
                super::bottlenecks::keep(strong, format!("session {id}"), &profile);
            }
            write_cpu(profile, dir, process_cpu)?
        }
        (None, Some(start)) => {
            let end = super::profiles::allocated_since(crate::Report::capture(), &start);
            write_heap(&end, kind, dir)?;
            None
        }
        (None, None) => return Err("the endpoint stopped before the session began".into()),
    };
    Ok((overhead, stopped))
}

fn finish_failed(shared: &Shared, id: &str, error: &str) {
    let mut sessions = lock(&shared.sessions);
    if let Some(session) = sessions.list.iter_mut().find(|s| s.id == id) {
        session.status = Status::Failed;
        session.error = Some(error.to_string());
        session.ended_at = Some(crate::units::timestamp_now());
        session.ended_unix_ms = crate::sys::unix_millis_now();
    }
}

/// A CPU session's files, and the sampler's share of the process's CPU
/// (`process_cpu`: the process's CPU time over the session, read at its
/// stop).
fn write_cpu(
    profile: crate::cpu::CpuProfile,
    dir: &Path,
    process_cpu: Option<Duration>,
) -> Result<Option<Overhead>, String> {
    let pprof = profile.to_pprof().map_err(|e| e.to_string())?;
    write(dir, PPROF_FILE, &pprof)?;
    let mut svg = Vec::new();
    match profile.flamegraph(&mut svg) {
        Ok(()) => write(dir, FLAMEGRAPH_FILE, &svg)?,
        // An idle process: no samples, no graph; the rest stands.
        Err(crate::Error::NoData { .. }) => {}
        Err(error) => return Err(error.to_string()),
    }
    let hotspots = serde_json::to_vec_pretty(&profile.hotspots()).map_err(|e| e.to_string())?;
    write(dir, HOTSPOTS_FILE, &hotspots)?;
    let sampler = profile.sampler_cpu_time;
    Ok(process_cpu.map(|process| Overhead {
        sampler_cpu_seconds: sampler.as_secs_f64(),
        process_cpu_seconds: process.as_secs_f64(),
        share: (!process.is_zero()).then(|| sampler.as_secs_f64() / process.as_secs_f64()),
    }))
}

/// An allocation session's files: the delta as pprof, its flamegraph, and
/// its top callsites as the hotspots.
fn write_heap(report: &Report, kind: Kind, dir: &Path) -> Result<(), String> {
    let pprof_kind = match kind {
        Kind::Heap => PprofKind::Heap,
        _ => PprofKind::Allocs,
    };
    let pprof = report.to_pprof(pprof_kind).map_err(|e| e.to_string())?;
    write(dir, PPROF_FILE, &pprof)?;
    let flame_kind = match kind {
        Kind::Heap => FlameKind::LiveBytes,
        _ => FlameKind::AllocatedBytes,
    };
    let mut svg = Vec::new();
    match report.flamegraph(flame_kind, &mut svg) {
        Ok(()) => write(dir, FLAMEGRAPH_FILE, &svg)?,
        Err(crate::Error::NoData { .. }) => {}
        Err(error) => return Err(error.to_string()),
    }
    let mut top = report.callsites.clone();
    match kind {
        Kind::Heap => top.sort_by(|a, b| b.live_bytes.total_cmp(&a.live_bytes)),
        _ => top.sort_by(|a, b| b.total_bytes.total_cmp(&a.total_bytes)),
    }
    top.truncate(20);
    let hotspots = serde_json::to_vec_pretty(&top).map_err(|e| e.to_string())?;
    write(dir, HOTSPOTS_FILE, &hotspots)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|error| format!("writing {}: {error}", path.display()))
}

/// `GET /profiles?kind=..&status=..`.
pub(super) fn list(shared: &Shared, request: &Request) -> Response {
    let kind = match request.query("kind") {
        None => None,
        Some(text) => match Kind::parse(text) {
            Some(kind) => Some(kind),
            None => return Response::error(400, "bad_query", "kind must be cpu, allocs or heap"),
        },
    };
    let status = match request.query("status") {
        None => None,
        Some(text) => match Status::parse(text) {
            Some(status) => Some(status),
            None => {
                return Response::error(400, "bad_query", "status must be running, done or failed")
            }
        },
    };
    let mut sessions = lock(&shared.sessions);
    let expired = sessions.expire(
        crate::sys::unix_millis_now(),
        shared.settings.session_max_age,
        shared.settings.max_sessions,
    );
    let listed: Vec<Session> = sessions
        .list
        .iter()
        .filter(|s| kind.is_none_or(|kind| s.kind == kind))
        .filter(|s| status.is_none_or(|status| s.status == status))
        .cloned()
        .collect();
    drop(sessions);
    remove(expired);
    Response::json(&listed)
}

/// `GET /profiles/{id}` and `GET /profiles/{id}/{file}`.
pub(super) fn get(shared: &Shared, id: &str, file: Option<&str>) -> Response {
    let found = lock(&shared.sessions)
        .list
        .iter()
        .find(|s| s.id == id)
        .cloned();
    let Some(session) = found else {
        return Response::error(404, "not_found", &format!("no profiling session {id:?}"));
    };
    let Some(file) = file else {
        return Response::json(&session);
    };
    let content_type = match file {
        PPROF_FILE => "application/octet-stream",
        FLAMEGRAPH_FILE => "image/svg+xml",
        HOTSPOTS_FILE => super::http::JSON,
        other => {
            let message =
                format!("no file {other:?}: {PPROF_FILE}, {FLAMEGRAPH_FILE} or {HOTSPOTS_FILE}");
            return Response::error(404, "not_found", &message);
        }
    };
    if session.status != Status::Done {
        let message = format!(
            "session {id} is {:?}: its files come when it is done",
            session.status
        )
        .to_lowercase();
        return Response::error(404, "not_ready", &message);
    }
    match std::fs::read(session.dir.join(file)) {
        Ok(bytes) => Response::new(200, content_type, bytes),
        Err(_) => Response::error(404, "not_found", &format!("session {id} has no {file}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, status: Status, ended_unix_ms: u64, dir: PathBuf) -> Session {
        Session {
            id: id.to_string(),
            kind: Kind::Cpu,
            status,
            error: None,
            seconds: 1,
            frequency_hz: None,
            started_at: String::new(),
            ended_at: None,
            overhead: None,
            links: links(id),
            ended_unix_ms,
            dir,
        }
    }

    #[test]
    fn finished_sessions_expire_by_age_then_count() {
        let root = std::env::temp_dir().join(format!("pa-sessions-{}", std::process::id()));
        let mut sessions = Sessions::new(root.clone(), 20, Duration::from_secs(3600));
        for (id, status, ended) in [
            ("old", Status::Done, 0),
            ("running-old", Status::Running, 0),
            ("a", Status::Done, 5_000),
            ("b", Status::Failed, 6_000),
            ("c", Status::Done, 7_000),
        ] {
            let dir = root.join(id);
            std::fs::create_dir_all(&dir).unwrap();
            sessions.list.push(session(id, status, ended, dir));
        }
        for dir in sessions.expire(10_000, Duration::from_secs(9), 3) {
            std::fs::remove_dir_all(dir).unwrap();
        }
        let ids: Vec<&str> = sessions.list.iter().map(|s| s.id.as_str()).collect();
        // `old` is past 9 s; of the rest, the oldest finished goes beyond 3;
        // a running session is never removed.
        assert_eq!(ids, ["running-old", "b", "c"]);
        assert!(!root.join("old").exists() && !root.join("a").exists());
        assert!(root.join("c").exists());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn directories_an_earlier_run_left_are_kept_within_the_limits() {
        let root = std::env::temp_dir().join(format!("pa-sessions-left-{}", std::process::id()));
        for name in ["profile-1-1", "profile-2-1", "profile-3-1", "other"] {
            std::fs::create_dir_all(root.join(name)).unwrap();
            std::thread::sleep(Duration::from_millis(20)); // distinct times
        }
        let gone = left_behind(&root, 1, Duration::from_secs(3600));
        let names: Vec<String> = gone
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["profile-1-1", "profile-2-1"],
            "the oldest beyond one"
        );
        assert_eq!(left_behind(&root, 10, Duration::ZERO).len(), 3, "all old");
        let _ = Sessions::new(root.clone(), 1, Duration::from_secs(3600));
        assert!(!root.join("profile-1-1").exists() && root.join("profile-3-1").exists());
        assert!(root.join("other").exists(), "not a session's");
        std::fs::remove_dir_all(root).unwrap();
    }
}
