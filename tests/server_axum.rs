//! `server::router()` in an axum application: the same routes and answers
//! as the endpoint's own server, the token checked, the service's own
//! routes untouched.

mod common;

use std::hint::black_box;
use std::net::SocketAddr;

use common::http::{get, gunzip, request, serve};
use profiling_alloc::server::Server;
use profiling_alloc::{profile_job, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

#[profile_job]
fn work() -> Vec<u8> {
    vec![1; 1000]
}

const TOKEN: &str = "router-token-of-24-chars";

/// `method path` with the token.
fn authed(addr: SocketAddr, method: &str, path: &str) -> common::http::Answer {
    request(
        addr,
        method,
        path,
        &[("Authorization", "Bearer router-token-of-24-chars")],
    )
}

#[test]
fn the_router_serves_the_endpoints_routes_beside_the_services() {
    black_box(work());
    let app = axum::Router::new()
        .route(
            "/hello",
            axum::routing::get(|| async { "hello from the service" }),
        )
        .merge(Server::builder().token(TOKEN).router().unwrap());
    let addr = serve(app, 1);
    assert_eq!(get(addr, "/hello").text(), "hello from the service");
    let metrics = authed(addr, "GET", "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .text()
        .contains("profiling_alloc_job_calls_total{job=\"server_axum::work\"} 1"));
    let heap = authed(addr, "GET", "/debug/pprof/heap");
    assert_eq!(heap.status, 200);
    assert!(common::http::contains(&gunzip(&heap.body), "inuse_space"));
    assert_eq!(
        authed(addr, "GET", "/jobs").json()[0]["name"],
        "server_axum::work"
    );
    assert_eq!(
        authed(addr, "GET", "/debug/pprof/heap?seconds=abc").status,
        400
    );
    assert_eq!(authed(addr, "DELETE", "/metrics").status, 405);
    let taken = authed(addr, "POST", "/snapshot").json();
    let id = taken["id"].as_str().unwrap();
    assert_eq!(authed(addr, "GET", &format!("/snapshot/{id}")).status, 200);
    // A profiling session, and its own routes.
    let started = authed(addr, "POST", "/profiles?kind=allocs&seconds=1");
    assert_eq!(started.status, 202, "{}", started.text());
    let session = started.header("location").unwrap().to_string();
    assert_eq!(authed(addr, "GET", &session).json()["kind"], "allocs");
    let not_yet = authed(addr, "GET", &format!("{session}/profile.pb.gz"));
    assert!(
        matches!(not_yet.status, 200 | 404),
        "routed: {}",
        not_yet.text()
    );
    assert!(!not_yet.body.is_empty());
    // Paths that are not the endpoint's stay the app's: axum's own 404.
    let missing = authed(addr, "GET", "/nope");
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_empty(), "{}", missing.text());
    assert_eq!(get(addr, "/metrics").status, 401);
}

#[test]
fn an_app_with_a_fallback_of_its_own_keeps_it() {
    let app = axum::Router::new()
        .fallback(|| async { "the app's fallback" })
        .merge(Server::builder().token(TOKEN).router().unwrap());
    let addr = serve(app, 1);
    assert_eq!(get(addr, "/elsewhere").text(), "the app's fallback");
    assert_eq!(authed(addr, "GET", "/memory").status, 200);
}

#[test]
fn a_router_needs_a_token_and_good_settings() {
    let Err(error) = Server::builder().router() else {
        panic!("a router without a token was built");
    };
    assert!(error.to_string().contains("need a token"), "{error}");
    assert!(Server::builder().token("").router().is_err());
    let Err(short) = Server::builder().token("router-token").router() else {
        panic!("a 12-character token was taken");
    };
    assert!(
        short.to_string().contains("at least 16 characters"),
        "{short}"
    );
    assert!(Server::builder()
        .token(TOKEN)
        .leak_interval(std::time::Duration::ZERO)
        .router()
        .is_err());
}
