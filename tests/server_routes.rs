//! Every route of the live endpoint, through a real HTTP client against a
//! server on 127.0.0.1: what each answers, and the errors (404, 405, 400,
//! 401, 429).

mod common;

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use common::http::{contains, get, gunzip, request};
use profiling_alloc::server::{RateLimits, Server, ServerHandle};
use profiling_alloc::{ProfilingAllocator, Report, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

#[profiling_alloc::profile_job]
fn build_orders(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("order-{i}")).collect()
}

/// A server on a free loopback port, with room for every test's requests.
fn server() -> ServerHandle {
    let dir = std::env::temp_dir().join(format!("pa-server-routes-{}", std::process::id()));
    Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .rate_limits(RateLimits {
            reads_per_minute: 10_000,
            analyses_per_minute: 1_000,
            exclusive_per_minute: 1_000,
        })
        .snapshot_dir(dir)
        .start()
        .expect("starting the endpoint")
}

fn ok(addr: SocketAddr, path: &str) -> common::http::Answer {
    let answer = get(addr, path);
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.text());
    answer
}

#[test]
fn metrics_are_prometheus_text_with_jobs_and_heap() {
    black_box(build_orders(100));
    let endpoint = server();
    let answer = ok(endpoint.addr(), "/metrics");
    assert!(answer
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = answer.text();
    for family in [
        "# TYPE profiling_alloc_heap_live_bytes gauge",
        "# TYPE profiling_alloc_allocations_total counter",
        "# TYPE profiling_alloc_allocation_size_bytes histogram",
        "# TYPE profiling_alloc_job_duration_seconds histogram",
        "# TYPE profiling_alloc_leak_suspects gauge",
        "# TYPE profiling_alloc_build_info gauge",
        "profiling_alloc_allocation_size_bytes_bucket{le=\"+Inf\"}",
        "profiling_alloc_job_duration_seconds_bucket{job=\"server_routes::build_orders\",le=\"+Inf\"} ",
    ] {
        assert!(text.contains(family), "no {family:?} in\n{text}");
    }
    let calls = text
        .lines()
        .find(|line| {
            line.starts_with("profiling_alloc_job_calls_total{job=\"server_routes::build_orders\"}")
        })
        .expect("no call counter for build_orders");
    let count: u64 = calls.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1, "{calls}");
    // Every sample line is `name{labels} number`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
}

#[test]
fn heap_and_allocs_profiles_are_gzipped_pprof_with_our_functions() {
    black_box(build_orders(100));
    let endpoint = server();
    for path in ["/debug/pprof/heap", "/debug/pprof/allocs"] {
        let answer = ok(endpoint.addr(), path);
        let profile = gunzip(&answer.body);
        for name in ["alloc_space", "inuse_space", "build_orders"] {
            assert!(contains(&profile, name), "{path} has no {name:?}");
        }
    }
}

#[test]
fn a_delta_profile_holds_what_was_allocated_during_it_only() {
    #[inline(never)]
    fn allocated_before_the_window() -> Vec<u8> {
        vec![1; 100_000]
    }
    #[inline(never)]
    fn allocated_during_the_window() -> Vec<u8> {
        vec![2; 100_000]
    }
    drop(black_box(allocated_before_the_window()));
    let endpoint = server();
    let addr = endpoint.addr();
    let client = std::thread::spawn(move || get(addr, "/debug/pprof/allocs?seconds=2"));
    // Allocates until the answer is in, so some of it falls in the window.
    let mut kept = Vec::new();
    while !client.is_finished() {
        kept.push(black_box(allocated_during_the_window()));
        std::thread::sleep(Duration::from_millis(20));
        kept.truncate(4);
    }
    let answer = client.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let profile = gunzip(&answer.body);
    assert!(contains(&profile, "allocated_during_the_window"));
    assert!(!contains(&profile, "allocated_before_the_window"));
}

#[test]
fn report_json_reads_back_as_a_report() {
    black_box(build_orders(10));
    let endpoint = server();
    let answer = ok(endpoint.addr(), "/report.json");
    let report = Report::from_json(&answer.text()).expect("a report");
    assert!(report
        .jobs
        .iter()
        .any(|job| job.name == "server_routes::build_orders"));
    assert!(report.heap.total_blocks > 0);
}

#[test]
fn flamegraphs_are_svg_and_an_empty_one_says_why() {
    black_box(build_orders(10));
    let endpoint = server();
    for kind in ["allocated", "blocks", "live", "jobs"] {
        let answer = ok(endpoint.addr(), &format!("/flamegraph/{kind}.svg"));
        assert_eq!(answer.header("content-type"), Some("image/svg+xml"));
        assert!(answer.text().contains("<svg"), "{kind}");
    }
}

#[test]
fn jobs_memory_cpu_allocations_and_leaks_answer_json() {
    black_box(build_orders(10));
    let endpoint = server();
    let addr = endpoint.addr();
    let jobs = ok(addr, "/jobs").json();
    assert!(jobs
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["name"] == "server_routes::build_orders"));
    let memory = ok(addr, "/memory").json();
    assert_eq!(memory["status"], "normal");
    assert!(memory["rss_bytes"].as_u64().unwrap() > 0);
    assert!(memory["heap_live_bytes"].as_u64().unwrap() > 0);
    let cpu = ok(addr, "/cpu").json();
    assert!(cpu["cores"].as_u64().unwrap() >= 1);
    assert!(cpu["threads"].as_u64().unwrap() >= 1);
    assert!(cpu["share_of_one_core"].as_f64().unwrap() >= 0.0);
    let allocations = ok(addr, "/allocations").json();
    assert!(!allocations["top_by_bytes"].as_array().unwrap().is_empty());
    assert_eq!(allocations["estimated"], false);
    let leaks = ok(addr, "/leaks").json();
    assert!(leaks["snapshots"].as_u64().unwrap() >= 1);
    for view in [&memory, &cpu, &allocations, &leaks] {
        let timestamp = view["timestamp"].as_str().unwrap();
        assert!(
            timestamp.len() == 24 && timestamp.ends_with('Z'),
            "{timestamp}"
        );
    }
    assert!(leaks["suspects"].as_array().unwrap().is_empty());
}

#[test]
fn memory_limits_set_the_status() {
    let endpoint = Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .memory_limits(1, 2)
        .oom_snapshots(0) // no snapshot files from this test
        .start()
        .unwrap();
    let memory = ok(endpoint.addr(), "/memory").json();
    assert_eq!(memory["status"], "critical");
    let warning = memory["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("critical level") && warning.contains("ServerBuilder::memory_limits"),
        "{warning}"
    );
    assert_eq!(memory["limits"]["source"], "code");
    assert_eq!(memory["limits"]["critical_bytes"], 2);
    assert!(memory["timestamp"].as_str().unwrap().ends_with('Z'));
    #[cfg(target_os = "linux")]
    assert!(memory["unexplained_resident_bytes"].as_u64().unwrap() > 0);
    let metrics = ok(endpoint.addr(), "/metrics").text();
    assert!(
        metrics.contains("profiling_alloc_memory_critical_bytes{source=\"code\"} 2"),
        "{metrics}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn passing_the_warning_level_writes_a_snapshot_on_its_own() {
    let dir = std::env::temp_dir().join(format!("pa-oom-{}", std::process::id()));
    let endpoint = Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .memory_limits(1, u64::MAX) // passed at once
        .snapshot_dir(&dir)
        .start()
        .unwrap();
    let mut snapshots = Vec::new();
    for _ in 0..300 {
        let memory = ok(endpoint.addr(), "/memory").json();
        snapshots = memory["early_warning_snapshots"]
            .as_array()
            .unwrap()
            .clone();
        if !snapshots.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        snapshots.len(),
        1,
        "one, the resident size not having risen 10%"
    );
    let snapshot = &snapshots[0];
    assert!(snapshot["rss_bytes"].as_u64().unwrap() > 1);
    let path = std::path::PathBuf::from(snapshot["path"].as_str().unwrap());
    let pprof = std::path::PathBuf::from(snapshot["pprof_path"].as_str().unwrap());
    assert!(path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("oom-"));
    let report = profiling_alloc::Report::read_json(&path).unwrap();
    assert!(report.heap.active);
    assert!(std::fs::metadata(&pprof).unwrap().len() > 0);
    drop(endpoint);
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn metrics_carry_the_standard_process_names() {
    let endpoint = server();
    let metrics = ok(endpoint.addr(), "/metrics").text();
    let value = |name: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(metrics.contains("# TYPE process_cpu_seconds_total counter"));
    assert!(value("process_resident_memory_bytes") > 0.0);
    assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
    assert!(value("process_cpu_seconds_total") > 0.0);
    assert!(value("process_open_fds") >= 3.0);
    assert!(value("process_max_fds") >= value("process_open_fds"));
    assert!(
        value("process_threads") >= 2.0,
        "this test and the endpoint's threads"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value("process_start_time_seconds");
    assert!(
        started <= now && started > now - 3600.0,
        "{started} against {now}"
    );
    assert!(value("profiling_alloc_resident_unexplained_bytes") > 0.0);
}

#[test]
fn the_index_page_shows_numbers_and_links() {
    black_box(build_orders(10));
    let endpoint = server();
    let answer = ok(endpoint.addr(), "/");
    assert_eq!(
        answer.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = answer.text();
    for part in [
        "<h2>Heap</h2>",
        "<h2>Jobs</h2>",
        "build_orders",
        "href=\"/metrics\"",
        "href=\"/debug/pprof/heap\"",
    ] {
        assert!(page.contains(part), "no {part:?} in the page");
    }
}

#[test]
fn a_snapshot_is_written_and_downloaded() {
    let endpoint = server();
    let addr = endpoint.addr();
    let taken = request(addr, "POST", "/snapshot", &[]);
    assert_eq!(taken.status, 200, "{}", taken.text());
    let snapshot = taken.json();
    let id = snapshot["id"].as_str().unwrap();
    assert!(std::path::Path::new(snapshot["path"].as_str().unwrap()).is_file());
    assert!(snapshot["size_bytes"].as_u64().unwrap() > 0);
    let json = ok(addr, &format!("/snapshot/{id}"));
    assert!(Report::from_json(&json.text()).is_ok());
    let pprof = ok(addr, &format!("/snapshot/{id}?format=pprof"));
    assert!(contains(&gunzip(&pprof.body), "inuse_space"));
    assert_eq!(get(addr, "/snapshot/nope").status, 404);
    assert_eq!(get(addr, &format!("/snapshot/{id}?format=xml")).status, 400);
}

#[test]
fn unknown_paths_wrong_methods_and_bad_queries_are_named() {
    let endpoint = server();
    let addr = endpoint.addr();
    let missing = get(addr, "/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "not_found");
    let wrong = request(addr, "DELETE", "/metrics", &[]);
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET, HEAD"));
    assert_eq!(get(addr, "/snapshot").status, 405);
    for query in ["seconds=abc", "seconds=100000", "seconds=0", "seconds=-1"] {
        let bad = get(addr, &format!("/debug/pprof/heap?{query}"));
        assert_eq!(bad.status, 400, "{query}");
        let message = bad.json()["message"].as_str().unwrap().to_string();
        assert!(message.contains("seconds"), "{message}");
    }
    assert_eq!(get(addr, "/metrics?seconds=5").status, 400);
}

#[test]
fn with_a_token_every_route_but_the_index_needs_it() {
    let endpoint = Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .token("s3cret-token")
        .start()
        .unwrap();
    let addr = endpoint.addr();
    let refused = get(addr, "/metrics");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    let wrong = request(addr, "GET", "/metrics", &[("Authorization", "Bearer nope")]);
    assert_eq!(wrong.status, 401);
    let bearer = request(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer s3cret-token")],
    );
    assert_eq!(bearer.status, 200);
    let key = request(addr, "GET", "/jobs", &[("X-API-Key", "s3cret-token")]);
    assert_eq!(key.status, 200);
    // The index opens without the token, but shows no numbers.
    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("This endpoint has a token"));
    assert!(!page.text().contains("<h2>Heap</h2>"));
}

#[test]
fn over_the_rate_limit_is_429_with_retry_after() {
    let endpoint = Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .rate_limits(RateLimits {
            reads_per_minute: 3,
            analyses_per_minute: 1,
            exclusive_per_minute: 1,
        })
        .start()
        .unwrap();
    let addr = endpoint.addr();
    for _ in 0..3 {
        assert_eq!(get(addr, "/jobs").status, 200);
    }
    let limited = get(addr, "/jobs");
    assert_eq!(limited.status, 429);
    // 3 a minute: a token every 20 s, less the time the three reads took
    // (the bucket refills all along).
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=20).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    assert_eq!(get(addr, "/leaks").status, 200);
    assert_eq!(get(addr, "/leaks").status, 429);
    // Without a token the page shows the numbers, so it is a read too.
    assert_eq!(get(addr, "/").status, 429);
}

#[test]
fn delta_profiles_and_snapshots_run_one_at_a_time() {
    let endpoint = server();
    let addr = endpoint.addr();
    // A 5-second delta profile, and snapshots asked for meanwhile. The first
    // snapshot may win the race (then the profile is the one refused): try
    // again until the profile ran and a snapshot was refused during it.
    for attempt in 0..6 {
        let long = std::thread::spawn(move || get(addr, "/debug/pprof/heap?seconds=5"));
        // Give the profile a head start, longer at each attempt.
        std::thread::sleep(Duration::from_millis(25 << attempt));
        let mut busy = None;
        while !long.is_finished() {
            let answer = request(addr, "POST", "/snapshot", &[]);
            if answer.status == 429 {
                busy = Some(answer);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let long = long.join().unwrap();
        if long.status == 429 {
            assert!(long.json()["message"]
                .as_str()
                .unwrap()
                .contains("one runs at a time"));
            continue;
        }
        assert_eq!(long.status, 200, "{}", long.text());
        let busy = busy.expect("a snapshot was taken while the delta profile ran");
        assert!(busy.json()["message"]
            .as_str()
            .unwrap()
            .contains("one runs at a time"));
        assert!(busy.header("retry-after").is_some());
        return;
    }
    panic!("the delta profile never ran");
}

#[test]
fn the_endpoints_own_work_never_shows_among_the_callsites() {
    black_box(build_orders(10));
    let endpoint = server();
    for path in [
        "/report.json",
        "/metrics",
        "/",
        "/allocations",
        "/debug/pprof/heap",
    ] {
        ok(endpoint.addr(), path);
    }
    let metrics = ok(endpoint.addr(), "/metrics").text();
    let own = metrics
        .lines()
        .find(|l| l.starts_with("profiling_alloc_endpoint_allocated_bytes_total "))
        .unwrap();
    let own: u64 = own.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(own > 0, "the endpoint's allocations are reported apart");
    for site in profiling_alloc::callsites() {
        for frame in &site.frames {
            assert!(
                !frame.function.contains("profiling_alloc::server"),
                "the endpoint's frame {} was sampled",
                frame.function
            );
        }
    }
}

#[test]
fn shutdown_stops_listening() {
    let endpoint = server();
    let addr = endpoint.addr();
    assert_eq!(get(addr, "/jobs").status, 200);
    endpoint.shutdown();
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[profiling_alloc::profile_job]
fn spin_for_cpu(rounds: u64) -> u64 {
    let mut x = black_box(7u64);
    for i in 0..rounds {
        x = x.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(i);
    }
    black_box(x)
}

#[test]
fn cpu_profiles_and_flamegraphs_sample_the_next_seconds() {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    use std::sync::Arc;

    let endpoint = server();
    let addr = endpoint.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                spin_for_cpu(20_000);
            }
        })
    };
    let answer = ok(addr, "/debug/pprof/profile?seconds=1&frequency=250");
    assert_eq!(
        answer.header("content-type"),
        Some("application/octet-stream")
    );
    let profile = gunzip(&answer.body);
    for name in [
        "samples",
        "cpu",
        "nanoseconds",
        "spin_for_cpu",
        "thread",
        "job",
    ] {
        assert!(contains(&profile, name), "the CPU profile has no {name:?}");
    }
    // Jobs gained on-CPU time, and /metrics says so.
    let metrics = ok(addr, "/metrics").text();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with(
                "profiling_alloc_job_cpu_seconds_total{job=\"server_routes::spin_for_cpu\"}",
            )
        })
        .unwrap_or_else(|| panic!("no on-CPU counter in\n{metrics}"));
    let seconds: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(seconds > 0.2, "{line}");
    let svg = ok(addr, "/flamegraph/cpu.svg?seconds=1").text();
    assert!(
        svg.starts_with("<?xml") && svg.contains("spin_for_cpu"),
        "{svg:.300}"
    );
    // One at a time: a second profile while the first runs is refused.
    // Either may be the one admitted (a busy machine can hold the first
    // request back longer than the head start), never both.
    let first = std::thread::spawn(move || get(addr, "/debug/pprof/profile?seconds=3"));
    std::thread::sleep(Duration::from_millis(500));
    let second = get(addr, "/flamegraph/cpu.svg?seconds=1");
    let first = first.join().unwrap();
    let (admitted, refused) = if first.status == 200 {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(admitted.status, 200, "{}", admitted.text());
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(refused.header("retry-after").is_some());
    // Bad queries are named.
    for query in [
        "frequency=5000",
        "frequency=0",
        "frequency=fast",
        "seconds=0",
        "seconds=301",
    ] {
        let answer = get(addr, &format!("/debug/pprof/profile?{query}"));
        assert_eq!(answer.status, 400, "{query}: {}", answer.text());
        let name = query.split('=').next().unwrap();
        assert!(answer.text().contains(name), "{}", answer.text());
    }
    stop.store(true, Relaxed);
    busy.join().unwrap();
}

#[profiling_alloc::profile_job]
fn lookup(i: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(300));
    black_box(i)
}

/// A job slower than its QoS baseline promised is a finding of the report
/// the endpoint serves.
#[test]
fn a_job_over_its_baseline_is_a_finding() {
    use profiling_alloc::sizing::Baseline;
    for i in 0..120 {
        lookup(i);
    }
    let name = profiling_alloc::job_stats()
        .into_iter()
        .find(|job| job.name.ends_with("lookup"))
        .unwrap()
        .name;
    // It promised 100 µs at p95; every call sleeps 300 µs.
    let mut promise = Baseline::from_job_stats(&profiling_alloc::job_stats())
        .jobs
        .into_iter()
        .find(|job| job.name == name)
        .unwrap();
    promise.duration.p95 = Duration::from_micros(100);
    let baseline = Baseline::new(vec![promise]);
    let endpoint = Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .job_baseline(baseline)
        .start()
        .unwrap();
    let report = ok(endpoint.addr(), "/report.json").json();
    let findings = report["findings"].as_array().unwrap();
    let over: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["kind"] == "over_baseline")
        .collect();
    assert_eq!(over.len(), 1, "{findings:?}");
    assert_eq!(over[0]["job"], name.as_str());
    assert!(over[0]["message"]
        .as_str()
        .unwrap()
        .contains("over its baseline's 100.0 µs"));
}
