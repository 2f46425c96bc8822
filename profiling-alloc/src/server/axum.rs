//! The endpoint's routes as an axum `Router` (feature `axum`), for a
//! service that already serves HTTP with axum: the same routes, checks,
//! rate limits and answers as the endpoint's own server, with each request
//! answered on tokio's blocking pool with sampling suspended.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response as AxumResponse;

use super::builder::ServerBuilder;
use super::http::{split_target, Response};
use super::routes;
use super::shared::{spawn_leak_observer, Shared};
use crate::Error;

/// The endpoint's routes as an axum `Router`, with the token from
/// `$PROFILING_ALLOC_TOKEN` (required) and every other setting at its
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
    /// dropped. A token is required: the service chose its address and may
    /// sit behind a proxy on the same host, so the router cannot tell who
    /// reaches it. Only the endpoint's paths are routed (`/` among them:
    /// merge where no route of yours has the same path); the app's other
    /// paths and its fallback stay its own. The routes run with sampling
    /// suspended; the reading of the request by the service's own HTTP
    /// stack, on its runtime, is the service's and is sampled as such.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] without a token, and as for
    /// [`start`](Self::start) (an empty token, a zero interval, warning
    /// above critical limits); the operating system's error, as
    /// [`Error::Bind`] with the builder's address, if the observer thread
    /// cannot be started.
    pub fn router(self) -> Result<axum::Router, Error> {
        self.check_settings()?;
        // Whoever reaches the app reaches these routes: the token must be
        // one that holds off loopback.
        if let Some(token) = self.token.as_deref() {
            super::builder::strong_token(token, "the token of an axum app's profiling routes")?;
        }
        if self.token.is_none() {
            return Err(Error::InvalidSetting {
                setting: "token",
                value: String::new(),
                reason: "the profiling routes of an axum app need a token: the app chose its address and may sit behind a proxy, so loopback peers prove nothing (set PROFILING_ALLOC_TOKEN or .token(..))".into(),
            });
        }
        let addr = self.addr;
        let shared = Arc::new(Shared::new(self));
        spawn_leak_observer(Arc::downgrade(&shared))
            .map(drop)
            .map_err(|source| Error::Bind { addr, source })?;
        super::oom_watch::spawn(Arc::downgrade(&shared))
            .map(drop)
            .map_err(|source| Error::Bind { addr, source })?;
        let handler = move |request: Request| {
            let shared = Arc::clone(&shared);
            async move { answer(shared, request).await }
        };
        // The endpoint's paths only: the rest of the app's paths (and its
        // fallback) stay its own.
        let mut router = axum::Router::new();
        for path in routes::PATHS {
            router = router.route(path, axum::routing::any(handler.clone()));
        }
        Ok(router
            .route("/snapshot/{id}", axum::routing::any(handler.clone()))
            .route("/profiles/{id}", axum::routing::any(handler.clone()))
            .route("/profiles/{id}/{file}", axum::routing::any(handler)))
    }
}

/// Answers `request` on the blocking pool (a delta profile waits there
/// for its seconds, not on a runtime worker).
async fn answer(shared: Arc<Shared>, request: Request) -> AxumResponse {
    let head_only = request.method() == axum::http::Method::HEAD;
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
        crate::capture::reading(|| {
            let (response, delta) = crate::measure(|| routes::respond(&shared, &ours));
            shared.count_own(delta.total_bytes, delta.total_blocks);
            response
        })
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
    let length = response.body.len();
    let body = if head_only {
        Body::empty()
    } else {
        Body::from(response.body)
    };
    let mut builder = axum::http::Response::builder()
        .status(response.status)
        .header("content-type", response.content_type)
        .header("content-length", length)
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
