//! A real service: an axum app on tokio's multi-thread runtime, with
//! `tracing` spans on its handlers, nested spans, a span entered on two
//! threads at once, `.instrument()` on spawned tasks and
//! `profiling_alloc::tower::JobLayer` in its router, asked over loopback by
//! a real HTTP client. Span and request numbers are checked against
//! `measure` around the same code; CPU samples taken in a span start at its
//! job path.

mod common;

use std::hint::black_box;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::task::{Context, Poll};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use common::http::get as http_get;
use common::job as stats;
use profiling_alloc::{measure, AllocDelta, ProfilingAllocator};
use tracing::{info_span, Instrument};
use tracing_subscriber::layer::SubscriberExt;

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

/// What `measure` saw inside one place of the service: blocks, bytes.
struct Measured {
    blocks: AtomicU64,
    bytes: AtomicU64,
}

impl Measured {
    const fn new() -> Measured {
        Measured {
            blocks: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn add(&self, delta: &AllocDelta) {
        self.blocks.fetch_add(delta.total_blocks, Relaxed);
        self.bytes.fetch_add(delta.total_bytes, Relaxed);
    }

    fn get(&self) -> (u64, u64) {
        (self.blocks.load(Relaxed), self.bytes.load(Relaxed))
    }
}

static ITEM: Measured = Measured::new();
static NESTED_CHILD: Measured = Measured::new();
static TWO_THREADS: Measured = Measured::new();
static SPAWNED: Measured = Measured::new();
static BODY: Measured = Measured::new();

/// Allocates `n` blocks of 64 bytes and returns a string of them.
fn build(n: usize) -> String {
    (0..n).map(|i| black_box(format!("{i:064}"))).collect()
}

#[tracing::instrument]
async fn item(Path(id): Path<u32>) -> String {
    let (body, delta) = measure(|| build(3 + id as usize % 2));
    ITEM.add(&delta);
    body
}

#[tracing::instrument]
async fn nested() -> &'static str {
    let (_, delta) = info_span!("nested_child").in_scope(|| measure(|| build(2).len()));
    NESTED_CHILD.add(&delta);
    "nested"
}

/// The handler's span is entered on this worker (the handler is being
/// polled) and, at the same time, on a thread of its own.
#[tracing::instrument]
async fn two_threads() -> &'static str {
    let span = tracing::Span::current();
    let (there, here) = measure(|| {
        std::thread::scope(|scope| {
            let other = scope.spawn(|| span.in_scope(|| measure(|| build(5).len()).1));
            black_box(build(2));
            other.join().unwrap()
        })
    });
    TWO_THREADS.add(&there);
    TWO_THREADS.add(&here);
    ""
}

#[tracing::instrument]
async fn spawned() -> &'static str {
    let task = async {
        for _ in 0..3 {
            let (_, delta) = measure(|| build(1).len());
            SPAWNED.add(&delta);
            common::yield_once().await;
        }
    };
    tokio::spawn(task.instrument(info_span!("spawned_task")))
        .await
        .unwrap();
    "spawned"
}

async fn fail() -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

#[tracing::instrument]
async fn busy() -> &'static str {
    let start = std::time::Instant::now();
    let mut x = 0u64;
    while start.elapsed() < std::time::Duration::from_millis(300) {
        for i in 0..10_000 {
            x = black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    black_box(x);
    "busy"
}

/// A body of `frames` frames, each made (and its allocation measured) when
/// the server polls for it, after the handler returned.
struct Frames {
    left: usize,
    measured: &'static Measured,
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        let (data, delta) = measure(|| Bytes::from(build(4)));
        self.measured.add(&delta);
        Poll::Ready(Some(Ok(http_body::Frame::data(data))))
    }
}

async fn stream() -> axum::response::Response<Frames> {
    axum::response::Response::new(Frames {
        left: 5,
        measured: &BODY,
    })
}

fn app() -> Router {
    Router::new()
        .route("/items/{id}", get(item))
        .route("/nested", get(nested))
        .route("/two-threads", get(two_threads))
        .route("/spawned", get(spawned))
        .route("/fail", get(fail))
        .route("/busy", get(busy))
        .route("/stream", get(stream))
        .route("/head", get(|| async { "a body HEAD does not send" }))
        .layer(profiling_alloc::tower::JobLayer::new())
}

/// The service, started once for every test of this file, on a runtime of
/// two workers, with the layer in the process's default subscriber.
fn service() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(profiling_alloc::tracing::JobLayer::new()),
        )
        .unwrap();
        common::http::serve(app(), 2)
    })
}

fn call(path: &str) -> common::http::Answer {
    http_get(service(), path)
}

/// `(blocks, bytes)` of a job.
fn allocated(job: &str) -> (u64, u64) {
    let alloc = stats(job).allocations.unwrap();
    (alloc.total_blocks, alloc.total_bytes)
}

/// The job `job` once it has `calls` calls and its numbers stay put: a
/// request's job ends on the server when its body is done, which may be
/// after the client has read the answer.
fn wait_for_calls(job: &str, calls: u64) -> profiling_alloc::JobStats {
    let find = || {
        profiling_alloc::job_stats()
            .into_iter()
            .find(|found| found.name == job && found.calls >= calls)
    };
    for _ in 0..1000 {
        if let Some(found) = find() {
            std::thread::sleep(std::time::Duration::from_millis(10));
            if find().as_ref() == Some(&found) {
                return found;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stats(job)
}

#[test]
fn spans_on_handlers_count_exactly_what_they_allocate() {
    for id in 0..4 {
        assert_eq!(call(&format!("/items/{id}")).status, 200);
    }
    let span = wait_for_calls("tower_jobs::item", 4);
    assert_eq!(span.calls, 4);
    assert_eq!(allocated("tower_jobs::item"), ITEM.get());

    // The request's job holds the span's and more (axum's extraction, the
    // response), on a path that follows the tree.
    let route = wait_for_calls("GET /items/{id}", 4);
    assert_eq!(route.calls, 4);
    let (route_blocks, route_bytes) = allocated("GET /items/{id}");
    let (span_blocks, span_bytes) = ITEM.get();
    assert!(route_blocks > span_blocks && route_bytes > span_bytes);
    assert_path(&["GET /items/{id}", "tower_jobs::item"]);

    // Where jobs appear: reports, the job-time flamegraph, Prometheus.
    let report = profiling_alloc::Report::capture();
    assert!(report.jobs.iter().any(|job| job.name == "GET /items/{id}"));
    let folded = report.folded(profiling_alloc::FlameKind::JobTime);
    assert!(
        folded
            .iter()
            .any(|line| line.starts_with("GET /items/{id};tower_jobs::item ")),
        "{folded:?}"
    );
    let metrics = profiling_alloc::output::prometheus_metrics();
    assert!(metrics.contains(r#"profiling_alloc_job_calls_total{job="GET /items/{id}"}"#));
    assert!(metrics.contains(r#"profiling_alloc_job_calls_total{job="tower_jobs::item"}"#));
}

#[test]
fn nested_spans_nest_and_count_exactly() {
    call("/nested");
    wait_for_calls("tower_jobs::nested_child", 1);
    assert_eq!(allocated("tower_jobs::nested_child"), NESTED_CHILD.get());
    assert_path(&[
        "GET /nested",
        "tower_jobs::nested",
        "tower_jobs::nested_child",
    ]);
}

#[test]
fn a_span_entered_on_two_threads_at_once_sums_both() {
    call("/two-threads");
    wait_for_calls("tower_jobs::two_threads", 1);
    assert_eq!(allocated("tower_jobs::two_threads"), TWO_THREADS.get());
}

#[test]
fn instrumented_spawned_tasks_are_counted_under_their_handler() {
    call("/spawned");
    wait_for_calls("tower_jobs::spawned_task", 1);
    assert_eq!(allocated("tower_jobs::spawned_task"), SPAWNED.get());
    assert_path(&[
        "GET /spawned",
        "tower_jobs::spawned",
        "tower_jobs::spawned_task",
    ]);
}

#[test]
fn the_request_job_includes_producing_the_body() {
    for _ in 0..2 {
        let answer = call("/stream");
        assert_eq!(answer.body.len(), 5 * 4 * 64);
    }
    let route = wait_for_calls("GET /stream", 2);
    assert_eq!((route.calls, route.cancelled, route.errors), (2, 0, 0));
    let (blocks, bytes) = allocated("GET /stream");
    let (body_blocks, body_bytes) = BODY.get();
    assert!(body_blocks >= 2 * 5 * 4, "at least 4 strings per frame");
    assert!(
        blocks >= body_blocks && bytes >= body_bytes,
        "the route's {blocks} blocks, {bytes} B hold the body's {body_blocks}, {body_bytes} B"
    );
}

#[test]
fn server_errors_and_unmatched_requests() {
    assert_eq!(call("/fail").status, 500);
    assert_eq!(call("/no-such-route").status, 404);
    let fail = wait_for_calls("GET /fail", 1);
    assert_eq!(fail.errors, fail.calls);
    let unmatched = wait_for_calls(profiling_alloc::tower::UNMATCHED, 1);
    assert_eq!(unmatched.errors, 0, "a 404 is not a server error");
}

#[test]
fn a_head_request_completes_though_its_body_is_never_sent() {
    let (status, text) = common::http::raw(
        service(),
        b"HEAD /head HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{text}");
    let head = wait_for_calls("HEAD /head", 1);
    assert_eq!((head.cancelled, head.errors), (0, 0));
}

#[test]
fn cpu_samples_in_a_span_start_at_its_job_path() {
    let profiling = profiling_alloc::cpu::start(250).unwrap();
    call("/busy");
    let profile = profiling.stop();
    let in_span: u64 = profile
        .stacks
        .iter()
        .filter(|stack| stack.job_path == ["GET /busy", "tower_jobs::busy"])
        .map(|stack| stack.samples)
        .sum();
    assert!(
        in_span > 0,
        "no sample under the span: {:?}",
        profile.job_samples()
    );
}

fn assert_path(expected: &[&str]) {
    let paths: Vec<Vec<String>> = profiling_alloc::jobs::job_paths()
        .into_iter()
        .map(|path| path.path)
        .collect();
    assert!(
        paths.iter().any(|path| path == expected),
        "{expected:?} in {paths:?}"
    );
}

/// A service of our own, outside any router: its future allocates, then
/// its body does, frame by frame.
#[derive(Clone)]
struct Handmade;

static HANDMADE: Measured = Measured::new();

impl tower_service::Service<http::Request<()>> for Handmade {
    type Response = http::Response<Frames>;
    type Error = std::convert::Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<()>) -> Self::Future {
        let (future, delta) = measure(|| -> Self::Future {
            Box::pin(async {
                let (_, delta) = measure(|| build(3).len());
                HANDMADE.add(&delta);
                common::yield_once().await;
                Ok(http::Response::new(Frames {
                    left: 3,
                    measured: &HANDMADE,
                }))
            })
        });
        HANDMADE.add(&delta);
        future
    }
}

#[test]
fn a_request_counts_its_service_future_and_body_exactly() {
    use std::future::Future as _;

    use http_body::Body as _;
    use tower_layer::Layer as _;
    use tower_service::Service as _;

    let mut service = profiling_alloc::tower::JobLayer::new()
        .with_unmatched_name("handmade")
        .layer(Handmade);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut frames = 0;
    for _ in 0..2 {
        let mut future = std::pin::pin!(service.call(http::Request::new(())));
        let response = loop {
            if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
                break response.unwrap();
            }
        };
        let mut body = std::pin::pin!(response.into_body());
        while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
            frames += 1;
            drop(frame); // sent: after the body's poll
        }
    }
    assert_eq!(frames, 6);
    let job = stats("handmade");
    assert_eq!((job.calls, job.errors, job.cancelled), (2, 0, 0));
    assert_eq!(allocated("handmade"), HANDMADE.get());
}

/// A service whose future panics when it is polled.
#[derive(Clone)]
struct Panics;

impl tower_service::Service<http::Request<()>> for Panics {
    type Response = http::Response<String>;
    type Error = std::convert::Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<()>) -> Self::Future {
        Box::pin(async { panic!("the handler panicked") })
    }
}

#[test]
fn a_panic_in_the_service_counts_as_one() {
    use std::future::Future as _;

    use tower_layer::Layer as _;
    use tower_service::Service as _;

    let mut service = profiling_alloc::tower::JobLayer::new()
        .with_unmatched_name("panics")
        .layer(Panics);
    let mut future = Box::pin(service.call(http::Request::new(())));
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let _ = future.as_mut().poll(&mut cx);
    }));
    assert!(polled.is_err());
    drop(future); // as the runtime drops a task that panicked
    let job = stats("panics");
    assert_eq!((job.calls, job.panics, job.cancelled), (1, 1, 0));
}
