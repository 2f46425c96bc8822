//! With the `enabled` feature off (`cargo test -p profiling-alloc
//! --no-default-features`), the profiler is off: the allocator only
//! forwards, every reading says "not active", and jobs run as written.
#![cfg(not(feature = "enabled"))]

use profiling_alloc::{heap_stats, measure, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().exact_peak();

#[test]
fn disabled_allocator_forwards_without_counting() {
    let data: Vec<u64> = (0..10_000).collect();
    assert_eq!(
        data.iter().sum::<u64>(),
        49_995_000,
        "allocations still work"
    );
    let stats = heap_stats();
    assert!(!stats.active);
    assert_eq!(stats.total_blocks, 0);
    let (_, delta) = measure(|| vec![0u8; 100]);
    assert!(!delta.active);
    assert_eq!(delta.total_blocks, 0);
}

#[profiling_alloc::profile_job(name = "disabled-job")]
fn annotated(values: &[u32]) -> Result<u32, String> {
    values
        .iter()
        .copied()
        .max()
        .ok_or_else(|| "empty".to_string())
}

fn names() -> Vec<String> {
    profiling_alloc::job_stats()
        .into_iter()
        .map(|j| j.name)
        .collect()
}

#[test]
fn profile_job_leaves_the_function_as_written() {
    assert_eq!(annotated(&[3, 9, 4]), Ok(9));
    assert!(annotated(&[]).is_err());
    // Nothing was registered by the attribute: the function is the plain one.
    assert!(
        !names().contains(&"disabled-job".to_string()),
        "{:?}",
        names()
    );
}

#[test]
fn the_manual_forms_run_their_code_unrecorded() {
    assert_eq!(profiling_alloc::jobs::job("disabled-manual", || 6 * 7), 42);
    let future = profiling_alloc::jobs::job_async("disabled-async", async { 5 });
    let mut future = std::pin::pin!(future);
    use std::future::Future as _;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert_eq!(
        future.as_mut().poll(&mut cx),
        std::task::Poll::Ready(5),
        "the future runs"
    );
    let names = names();
    assert!(!names.contains(&"disabled-manual".to_string()), "{names:?}");
    assert!(!names.contains(&"disabled-async".to_string()), "{names:?}");
}

#[test]
fn a_guard_records_nothing() {
    {
        let mut guard = profiling_alloc::jobs::enter("disabled-guard");
        guard.set_failed(true);
    }
    assert!(!names().contains(&"disabled-guard".to_string()));
}

#[cfg(feature = "tracing")]
#[test]
fn the_tracing_layer_does_nothing() {
    use tracing_subscriber::layer::SubscriberExt;

    let subscriber = tracing_subscriber::registry().with(profiling_alloc::tracing::JobLayer::new());
    let value = tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("disabled_span").in_scope(|| 6 * 7)
    });
    assert_eq!(value, 42, "the span's code runs");
    assert!(profiling_alloc::job_stats().is_empty(), "{:?}", names());
}

#[cfg(feature = "tower")]
#[test]
fn the_tower_layer_only_forwards() {
    use std::future::Future as _;
    use std::task::{Context, Poll};

    use http_body::Body as _;
    use tower_layer::Layer as _;
    use tower_service::Service as _;

    #[derive(Clone)]
    struct Echo;
    impl tower_service::Service<http::Request<String>> for Echo {
        type Response = http::Response<String>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, request: http::Request<String>) -> Self::Future {
            std::future::ready(Ok(http::Response::new(request.into_body())))
        }
    }

    let mut service = profiling_alloc::tower::JobLayer::new().layer(Echo);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut future = std::pin::pin!(service.call(http::Request::new("hello".to_string())));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
        panic!("the service answers at once");
    };
    let mut body = std::pin::pin!(response.into_body());
    let Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut cx) else {
        panic!("the body has one frame");
    };
    assert_eq!(frame.into_data().unwrap(), "hello");
    assert!(profiling_alloc::job_stats().is_empty(), "{:?}", names());
}
