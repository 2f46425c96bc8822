//! The endpoint's routes as an axum `Router` (feature `axum`), for a
//! service that already serves HTTP with axum: the same routes, checks,
//! rate limits and answers as the endpoint's own server, with each request
//! answered on tokio's blocking pool with sampling suspended.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response as AxumResponse;

use super::builder::ServerBuilder;
use super::http::{split_target, Response};
use super::routes;
use super::shared::{spawn_detached_leak_observer, Shared};
use crate::Error;

/// The endpoint's routes as an axum `Router`, with the token from
/// `$PROFILING_ALLOC_TOKEN` when set and every other setting at its
/// default: `ServerBuilder::from_env()?.router()`. Merge it into your
/// application's router at its root (`app.merge(router()?)`): the index
/// page links to the routes by their absolute paths.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "my service" }))
///     .merge(profiling_alloc::server::router()?);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// // The peer address lets the routes answer loopback clients without a token.
/// let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
/// axum::serve(listener, app).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// As [`ServerBuilder::router`].
pub fn router() -> Result<axum::Router, Error> {
    ServerBuilder::from_env()?.router()
}

impl ServerBuilder {
    /// The endpoint's routes as an axum `Router` with these settings (the
    /// address, workers, queue and timeouts are the service's own then, and
    /// unused), and a leak observer thread that ends once the router is
    /// dropped. The service binds the address, so without a token the
    /// router checks each request's peer instead: it answers loopback
    /// clients only, and needs the app served with
    /// `into_make_service_with_connect_info::<SocketAddr>()` to know them
    /// (otherwise every request is refused, 403, saying so). The routes run
    /// with sampling suspended; the reading of the request by the service's
    /// own HTTP stack, on its runtime, is the service's and is sampled as
    /// such. The routes
    /// include `/` (the index page): merge the router where no route of
    /// yours has the same path.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] as for [`start`](Self::start) (an empty
    /// token, a zero interval, warning above critical limits); the
    /// operating system's error, as [`Error::Bind`] with the builder's
    /// address, if the observer thread cannot be started.
    pub fn router(self) -> Result<axum::Router, Error> {
        self.check_settings()?;
        let addr = self.addr;
        let shared = Arc::new(Shared::new(self));
        spawn_detached_leak_observer(Arc::downgrade(&shared))
            .map_err(|source| Error::Bind { addr, source })?;
        Ok(axum::Router::new().fallback(move |request: Request| {
            let shared = Arc::clone(&shared);
            async move { answer(shared, request).await }
        }))
    }
}

/// Answers `request` on the blocking pool (a delta profile waits there
/// for its seconds, not on a runtime worker).
async fn answer(shared: Arc<Shared>, request: Request) -> AxumResponse {
    let head_only = request.method() == axum::http::Method::HEAD;
    if let Err(refusal) = loopback_or_token(&shared, &request) {
        return into_axum(refusal, head_only);
    }
    let Some(ours) = convert(&request) else {
        return into_axum(
            Response::error(
                400,
                "malformed_request",
                "the request target is not a valid path",
            ),
            head_only,
        );
    };
    let answered = tokio::task::spawn_blocking(move || {
        let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
        let (response, delta) = crate::measure(|| routes::respond(&shared, &ours));
        shared.count_own(delta.total_bytes, delta.total_blocks);
        response
    })
    .await;
    let response = answered.unwrap_or_else(|_| {
        Response::error(
            500,
            "internal",
            "the route panicked; the service is unaffected",
        )
    });
    into_axum(response, head_only)
}

/// Without a token, only loopback clients are answered: the service chose
/// the address, so the router checks the peer of each request instead
/// (axum's `ConnectInfo`, present when the service is served with
/// `into_make_service_with_connect_info::<SocketAddr>()`).
fn loopback_or_token(shared: &Shared, request: &Request) -> Result<(), Response> {
    if shared.token.is_some() {
        return Ok(());
    }
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    match peer {
        Some(peer) if peer.ip().is_loopback() => Ok(()),
        Some(peer) => Err(Response::error(
            403,
            "forbidden",
            &format!("without a token the profiling routes answer loopback clients only, not {peer}; set a token"),
        )),
        None => Err(Response::error(
            403,
            "forbidden",
            "without a token the profiling routes answer loopback clients only, and this request's peer is unknown: serve the app with into_make_service_with_connect_info::<SocketAddr>(), or set a token",
        )),
    }
}

/// axum's request as the endpoint's.
fn convert(request: &Request) -> Option<super::http::Request> {
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let (path, query) = split_target(target).ok()?;
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((name.as_str().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect();
    Some(super::http::Request {
        method: request.method().as_str().to_string(),
        path,
        query,
        headers,
    })
}

/// The endpoint's response as axum's.
fn into_axum(response: Response, head_only: bool) -> AxumResponse {
    let body = if head_only {
        Body::empty()
    } else {
        Body::from(response.body)
    };
    let mut builder = axum::http::Response::builder()
        .status(response.status)
        .header("content-type", response.content_type)
        .header("cache-control", "no-store");
    for (name, value) in &response.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(body).unwrap_or_else(|_| {
        let mut fallback = AxumResponse::new(Body::from("internal error"));
        *fallback.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}
