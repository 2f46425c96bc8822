//! Profiling sessions: `POST /profiles` answers 202 at once, the session
//! runs on its own thread, `GET /profiles/{id}` tells how it went and
//! serves its files, `GET /profiles` lists them; each error has its status.

mod common;

use std::hint::black_box;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use common::http::{get, gunzip, request, Answer};
use profiling_alloc::server::{Server, ServerHandle};
use profiling_alloc::{ProfilingAllocator, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

/// One test at a time: they profile the whole process (one CPU profile
/// runs at a time), and one test's busy threads would be another's noise.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn endpoint(dir: &str) -> ServerHandle {
    Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .snapshot_dir(
            std::env::temp_dir().join(format!("pa-sessions-{dir}-{}", std::process::id())),
        )
        .start()
        .unwrap()
}

fn post(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "POST", path, &[])
}

/// Allocates for a while on another thread, so that a session sees work.
fn busy_for(duration: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while start.elapsed() < duration {
            let words: Vec<String> = (0..200).map(|i| format!("word{i}")).collect();
            black_box(words.join(" "));
        }
    })
}

/// The session `id` once it has ended (polled every 100 ms, a minute at
/// most).
fn finished(addr: SocketAddr, id: &str) -> serde_json::Value {
    for _ in 0..600 {
        let session = get(addr, &format!("/profiles/{id}")).json();
        if session["status"] != "running" {
            return session;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("session {id} still running after a minute");
}

#[test]
fn an_allocation_session_runs_after_its_request_and_serves_its_files() {
    let _one = one_at_a_time();
    let endpoint = endpoint("allocs");
    let addr = endpoint.addr();
    let work = busy_for(Duration::from_millis(1500));
    let started = post(addr, "/profiles?kind=allocs&seconds=1");
    assert_eq!(started.status, 202, "{}", started.text());
    let session = started.json();
    let id = session["id"].as_str().unwrap().to_string();
    assert_eq!(session["status"], "running");
    assert_eq!(
        started.header("location"),
        Some(format!("/profiles/{id}").as_str())
    );
    work.join().unwrap();
    let session = finished(addr, &id);
    assert_eq!(session["status"], "done", "{session}");
    assert!(session["ended_at"].as_str().unwrap().ends_with('Z'));
    let pprof = get(addr, session["links"]["pprof"].as_str().unwrap());
    assert_eq!(pprof.status, 200);
    assert!(common::http::contains(&gunzip(&pprof.body), "alloc_space"));
    let hotspots = get(addr, session["links"]["hotspots"].as_str().unwrap()).json();
    let functions: Vec<String> = hotspots
        .as_array()
        .unwrap()
        .iter()
        .map(|site| {
            site["frames"][0]["function"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(
        functions.iter().any(|f| f.contains("busy_for")),
        "the work's callsite among the top: {functions:?}"
    );
    let svg = get(addr, session["links"]["flamegraph"].as_str().unwrap());
    assert_eq!(svg.status, 200);
    assert!(svg.text().contains("<svg"));
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn a_cpu_session_reports_the_samplers_overhead() {
    let _one = one_at_a_time();
    let endpoint = endpoint("cpu");
    let addr = endpoint.addr();
    let work = busy_for(Duration::from_millis(1500));
    let started = post(addr, "/profiles?kind=cpu&seconds=1&frequency=200");
    assert_eq!(started.status, 202, "{}", started.text());
    let id = started.json()["id"].as_str().unwrap().to_string();
    work.join().unwrap();
    let session = finished(addr, &id);
    assert_eq!(session["status"], "done", "{session}");
    assert_eq!(session["frequency_hz"], 200);
    let overhead = &session["overhead"];
    let share = overhead["share"].as_f64().unwrap();
    assert!(overhead["process_cpu_seconds"].as_f64().unwrap() > 0.0);
    assert!(
        share > 0.0 && share < 0.5,
        "the sampler's CPU is measured, and a small part: {overhead}"
    );
    let pprof = get(addr, &format!("/profiles/{id}/profile.pb.gz"));
    assert!(common::http::contains(&gunzip(&pprof.body), "cpu"));
    let hotspots = get(addr, &format!("/profiles/{id}/hotspots.json")).json();
    assert!(!hotspots.as_array().unwrap().is_empty());
}

#[test]
fn bad_requests_have_their_status() {
    let _one = one_at_a_time();
    let endpoint = endpoint("errors");
    let addr = endpoint.addr();
    for path in [
        "/profiles?kind=memory",
        "/profiles",
        "/profiles?kind=cpu&seconds=0",
        "/profiles?kind=allocs&seconds=99999",
        "/profiles?kind=allocs&frequency=100",
    ] {
        let answer = post(addr, path);
        assert_eq!(answer.status, 400, "{path}: {}", answer.text());
        assert_eq!(answer.json()["error"], "bad_query");
    }
    assert_eq!(get(addr, "/profiles/no-such-id").status, 404);
    assert_eq!(get(addr, "/profiles?status=sleeping").status, 400);
    // One session of a kind at a time.
    let first = post(addr, "/profiles?kind=heap&seconds=3");
    assert_eq!(first.status, 202);
    let second = post(addr, "/profiles?kind=heap&seconds=1");
    assert_eq!(second.status, 429, "{}", second.text());
    assert!(second.header("retry-after").is_some());
    let id = first.json()["id"].as_str().unwrap().to_string();
    let not_ready = get(addr, &format!("/profiles/{id}/profile.pb.gz"));
    assert_eq!(not_ready.status, 404);
    assert_eq!(not_ready.json()["error"], "not_ready");
    // Another kind may run meanwhile; the list filters by kind and status.
    assert_eq!(post(addr, "/profiles?kind=allocs&seconds=1").status, 202);
    let running = get(addr, "/profiles?kind=heap&status=running").json();
    assert_eq!(running.as_array().unwrap().len(), 1);
    assert_eq!(running[0]["id"], id.as_str());
}

#[test]
fn without_the_token_sessions_are_refused() {
    let _one = one_at_a_time();
    let endpoint = Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .token("a-token-of-sixteen-chars")
        .start()
        .unwrap();
    let answer = post(endpoint.addr(), "/profiles?kind=allocs&seconds=1");
    assert_eq!(answer.status, 401);
    assert_eq!(get(endpoint.addr(), "/profiles").status, 401);
}

#[test]
fn a_session_outlives_its_client_and_old_ones_are_removed() {
    let _one = one_at_a_time();
    let dir = std::env::temp_dir().join(format!("pa-sessions-keep-{}", std::process::id()));
    let endpoint = Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .snapshot_dir(&dir)
        .max_sessions(1)
        .start()
        .unwrap();
    let addr = endpoint.addr();
    // The client sends its request and goes away without reading.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"POST /profiles?kind=allocs&seconds=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    drop(stream);
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = get(addr, "/profiles").json().as_array().unwrap().clone();
        if !listed.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let first = listed[0]["id"].as_str().unwrap().to_string();
    assert_eq!(finished(addr, &first)["status"], "done");
    let first_dir = dir.join(format!("profile-{first}"));
    assert!(first_dir.join("profile.pb.gz").is_file());
    // A new session beyond the count removes the oldest finished one.
    let second = post(addr, "/profiles?kind=allocs&seconds=1").json();
    assert_eq!(get(addr, &format!("/profiles/{first}")).status, 404);
    assert!(!first_dir.exists(), "its files go with it");
    finished(addr, second["id"].as_str().unwrap());
    drop(endpoint);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn finished_sessions_are_removed_by_age() {
    let _one = one_at_a_time();
    let endpoint = Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .snapshot_dir(std::env::temp_dir().join(format!("pa-sessions-age-{}", std::process::id())))
        .session_max_age(Duration::from_millis(1))
        .start()
        .unwrap();
    let addr = endpoint.addr();
    let first = post(addr, "/profiles?kind=allocs&seconds=1").json();
    let first = first["id"].as_str().unwrap();
    finished(addr, first);
    // Older than a millisecond now: gone from the list, and from its route.
    let listed = get(addr, "/profiles").json();
    assert!(listed.as_array().unwrap().is_empty(), "{listed}");
    assert_eq!(get(addr, &format!("/profiles/{first}")).status, 404);
}

/// Computes in a job for a while: a CPU-bound job for `/bottlenecks`.
#[inline(never)]
fn crunch(duration: Duration) -> u64 {
    let _job = profiling_alloc::jobs::enter("crunch");
    let start = std::time::Instant::now();
    let mut x = 1u64;
    while start.elapsed() < duration {
        for i in 0..10_000u64 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    x
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn bottlenecks_read_the_latest_cpu_session_and_cite_their_evidence() {
    let _one = one_at_a_time();
    let endpoint = endpoint("bottlenecks");
    let addr = endpoint.addr();
    let started = post(addr, "/profiles?kind=cpu&seconds=2&frequency=250");
    assert_eq!(started.status, 202);
    let id = started.json()["id"].as_str().unwrap().to_string();
    let work = std::thread::spawn(|| {
        for _ in 0..8 {
            black_box(crunch(Duration::from_millis(250)));
        }
    });
    work.join().unwrap();
    assert_eq!(finished(addr, &id)["status"], "done");
    let answer = get(addr, "/bottlenecks");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let bottlenecks = answer.json();
    assert_eq!(bottlenecks["profile"]["source"], format!("session {id}"));
    let functions = bottlenecks["functions"].as_array().unwrap();
    let crunch = functions
        .iter()
        .find(|f| f["function"].as_str().unwrap().ends_with("crunch"))
        .unwrap_or_else(|| panic!("crunch among {functions:?}"));
    assert!(crunch["file"]
        .as_str()
        .unwrap()
        .ends_with("server_sessions.rs"));
    assert!(crunch["line"].as_u64().unwrap() > 0);
    assert!(crunch["total_share"].as_f64().unwrap() > 0.3, "{crunch}");
    let job = bottlenecks["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|job| job["job"] == "crunch")
        .unwrap()
        .clone();
    assert!(job["profiled_calls"].as_u64().unwrap() > 0, "{job}");
    assert!(job["samples"].as_u64().unwrap() > 0, "{job}");
    let recommendations = bottlenecks["recommendations"].as_array().unwrap();
    let impacts: Vec<f64> = recommendations
        .iter()
        .map(|r| r["impact"].as_f64().unwrap())
        .collect();
    assert!(
        impacts.windows(2).all(|w| w[0] >= w[1]),
        "sorted by impact: {impacts:?}"
    );
    let about_crunch = recommendations
        .iter()
        .find(|r| r["advice"].as_str().unwrap().contains("crunch"))
        .unwrap_or_else(|| panic!("no advice about crunch: {recommendations:?}"));
    assert!(!about_crunch["evidence"].as_array().unwrap().is_empty());
}
