//! What `profiling_alloc::tracing::JobLayer` adds to a span, and
//! `profiling_alloc::tower::JobLayer` to a request, each against the same
//! program without it in the same run, beside an empty `#[profile_job]`
//! call; with the profiling allocator installed.
//!
//! - span enter+exit: an open span entered and left, with the registry
//!   alone, then with the registry and the layer;
//! - span lifetime: a span made, entered, left and closed;
//! - request: an axum `Router` called in process (no socket) with a handler
//!   that answers at once, its body read to the end, with and without the
//!   layer.
//!
//! `cargo bench --bench span_overhead --features tracing,tower`
//! (`SPAN_BENCH_PROFILE=span` or `=tower` runs one part with its layer, for
//! `perf record`; `=router`, `=router-layer`, `=spans-registry`, `=spans` and
//! `=job` one round of one part, for `valgrind --tool=callgrind
//! --toggle-collect=span_overhead::requests` (or `::enter_exit`, `::job_call`);
//! `scripts/span-instructions.sh` runs them)

use std::future::Future;
use std::hint::black_box;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use http_body::Body as _;
use profiling_alloc::{profile_job, ProfilingAllocator};
use tower_service::Service as _;
use tracing_subscriber::layer::SubscriberExt;

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

const SPANS: u32 = 1_000_000;
const REQUESTS: u32 = 100_000;

#[profile_job(name = "bench-empty")]
#[inline(never)]
fn profiled(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// ns per enter+exit of one open span.
#[inline(never)]
fn enter_exit() -> f64 {
    let span = tracing::info_span!("bench_span");
    let start = Instant::now();
    for _ in 0..SPANS {
        let entered = span.enter();
        black_box(&entered);
        drop(entered);
    }
    per(start.elapsed(), SPANS)
}

/// ns per span made, entered, left and closed.
#[inline(never)]
fn lifetime() -> f64 {
    let start = Instant::now();
    for _ in 0..SPANS {
        tracing::info_span!("bench_span_life").in_scope(|| black_box(()));
    }
    per(start.elapsed(), SPANS)
}

#[inline(never)]
fn job_call() -> f64 {
    let start = Instant::now();
    let mut acc = 0;
    for i in 0..SPANS {
        acc = profiled(acc ^ u64::from(i));
    }
    black_box(acc);
    per(start.elapsed(), SPANS)
}

fn per(elapsed: Duration, n: u32) -> f64 {
    elapsed.as_nanos() as f64 / f64::from(n)
}

async fn hello() -> &'static str {
    "hello"
}

/// ns per request through `router`, answered and its body read.
#[inline(never)]
fn requests(router: &mut Router) -> f64 {
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    for _ in 0..REQUESTS {
        let request = http::Request::get("/hello")
            .body(axum::body::Body::empty())
            .unwrap();
        let mut future = std::pin::pin!(router.call(request));
        let response = loop {
            if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
                break response.unwrap();
            }
        };
        let mut body = std::pin::pin!(response.into_body());
        while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
            black_box(frame.unwrap());
        }
    }
    per(start.elapsed(), REQUESTS)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let rounds = if std::env::args().any(|a| a == "--bench") {
        11
    } else {
        1
    };
    let registry = tracing::Dispatch::new(tracing_subscriber::registry());
    let layered = tracing::Dispatch::new(
        tracing_subscriber::registry().with(profiling_alloc::tracing::JobLayer::new()),
    );
    // `with_state` turns handlers into services once, as `axum::serve`
    // does; called as a bare `Router<()>`, each request would do it again.
    let mut plain_router: Router = Router::new().route("/hello", get(hello)).with_state(());
    let mut layered_router: Router = Router::new()
        .route("/hello", get(hello))
        .layer(profiling_alloc::tower::JobLayer::new())
        .with_state(());
    if let Some(part) = std::env::var_os("SPAN_BENCH_PROFILE") {
        // For `perf record`: one part, with the layer, for a while.
        // Under callgrind, one round of one part each.
        match part.to_str() {
            Some("router") => {
                black_box(requests(&mut plain_router));
                return;
            }
            Some("spans-registry") => {
                return tracing::dispatcher::with_default(&registry, || {
                    black_box(enter_exit());
                })
            }
            Some("spans") => {
                return tracing::dispatcher::with_default(&layered, || {
                    black_box(enter_exit());
                })
            }
            Some("job") => {
                black_box(job_call());
                return;
            }
            _ => {}
        }
        let rounds = if part == "router-layer" { 1 } else { 20 };
        for _ in 0..rounds {
            if part == "tower" || part == "router-layer" {
                black_box(requests(&mut layered_router));
            } else {
                tracing::dispatcher::with_default(&layered, || black_box(enter_exit()));
            }
        }
        return;
    }
    let mut rows: [Vec<f64>; 7] = Default::default();
    for _ in 0..rounds {
        tracing::dispatcher::with_default(&registry, || {
            rows[0].push(enter_exit());
            rows[2].push(lifetime());
        });
        tracing::dispatcher::with_default(&layered, || {
            rows[1].push(enter_exit());
            rows[3].push(lifetime());
        });
        rows[4].push(job_call());
        rows[5].push(requests(&mut plain_router));
        rows[6].push(requests(&mut layered_router));
    }
    let [registry_enter, layer_enter, registry_life, layer_life, job, plain, layered] =
        rows.map(median);
    println!("span_overhead: median of {rounds} rounds, ProfilingAllocator installed; ns each");
    println!("{:<44} {:>9}", "", "ns");
    println!(
        "{:<44} {:>9.1}",
        "span enter+exit, registry alone", registry_enter
    );
    println!(
        "{:<44} {:>9.1}   (+{:.1})",
        "span enter+exit, registry + JobLayer",
        layer_enter,
        layer_enter - registry_enter
    );
    println!(
        "{:<44} {:>9.1}",
        "span new+enter+exit+close, registry", registry_life
    );
    println!(
        "{:<44} {:>9.1}   (+{:.1})",
        "span new+enter+exit+close, + JobLayer",
        layer_life,
        layer_life - registry_life
    );
    println!(
        "{:<44} {:>9.1}",
        "#[profile_job] fn, empty (whole call)", job
    );
    println!("{:<44} {:>9.1}", "axum request in process, no layer", plain);
    println!(
        "{:<44} {:>9.1}   (+{:.1}, x{:.3})",
        "axum request in process, tower JobLayer",
        layered,
        layered - plain,
        layered / plain
    );
    let spans = profiling_alloc::job_stats()
        .into_iter()
        .find(|job| job.name.ends_with("::bench_span_life"))
        .map_or(0, |job| job.calls);
    println!("recorded {spans} span calls of bench_span_life");
}
