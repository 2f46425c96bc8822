//! `server::router()` in an axum application: the same routes and answers
//! as the endpoint's own server, the token checked, the service's own
//! routes untouched.

mod common;

use std::hint::black_box;
use std::net::SocketAddr;

use common::http::{get, gunzip, request};
use profiling_alloc::server::Server;
use profiling_alloc::{profile_job, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

#[profile_job]
fn work() -> Vec<u8> {
    vec![1; 1000]
}

/// Serves `app` on a free loopback port from a runtime of its own thread,
/// telling handlers each request's peer (`ConnectInfo`) when `peers`.
fn serve_with(app: axum::Router, peers: bool) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            if peers {
                let app = app.into_make_service_with_connect_info::<SocketAddr>();
                axum::serve(listener, app).await.unwrap();
            } else {
                axum::serve(listener, app).await.unwrap();
            }
        });
    });
    addr
}

fn serve(app: axum::Router) -> SocketAddr {
    serve_with(app, true)
}

#[test]
fn the_router_serves_the_endpoints_routes_beside_the_services() {
    black_box(work());
    let app = axum::Router::new()
        .route(
            "/hello",
            axum::routing::get(|| async { "hello from the service" }),
        )
        .merge(Server::builder().router().unwrap());
    let addr = serve(app);
    assert_eq!(get(addr, "/hello").text(), "hello from the service");
    let metrics = get(addr, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .text()
        .contains("profiling_alloc_job_calls_total{job=\"server_axum::work\"} 1"));
    let heap = get(addr, "/debug/pprof/heap");
    assert_eq!(heap.status, 200);
    assert!(common::http::contains(&gunzip(&heap.body), "inuse_space"));
    assert_eq!(get(addr, "/jobs").json()[0]["name"], "server_axum::work");
    let missing = get(addr, "/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "not_found");
    assert_eq!(get(addr, "/debug/pprof/heap?seconds=abc").status, 400);
    assert_eq!(request(addr, "DELETE", "/metrics", &[]).status, 405);
}

#[test]
fn the_routers_token_is_checked() {
    let app = Server::builder().token("router-token").router().unwrap();
    let addr = serve(app);
    assert_eq!(get(addr, "/metrics").status, 401);
    let with = request(addr, "GET", "/metrics", &[("X-API-Key", "router-token")]);
    assert_eq!(with.status, 200);
    assert!(get(addr, "/").text().contains("This endpoint has a token"));
}

#[test]
fn without_a_token_and_without_the_peer_every_request_is_refused() {
    let addr = serve_with(Server::builder().router().unwrap(), false);
    let refused = get(addr, "/metrics");
    assert_eq!(refused.status, 403);
    let message = refused.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("into_make_service_with_connect_info"),
        "{message}"
    );
    // With a token, the peer does not matter.
    let addr = serve_with(Server::builder().token("t0ken").router().unwrap(), false);
    assert_eq!(
        request(addr, "GET", "/jobs", &[("X-API-Key", "t0ken")]).status,
        200
    );
}

#[test]
fn bad_settings_are_refused() {
    assert!(Server::builder().token("").router().is_err());
    assert!(Server::builder()
        .leak_interval(std::time::Duration::ZERO)
        .router()
        .is_err());
}
