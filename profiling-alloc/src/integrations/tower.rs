//! HTTP requests as jobs (feature `tower`): [`JobLayer`] is a tower layer
//! for axum and hyper services; each request is a call of the job named by
//! its matched route, reported wherever jobs are
//! ([`job_stats`](crate::job_stats), reports, pprof's `job` label, the
//! endpoint's `/jobs` and `/metrics`).
//!
//! One line in an axum router gives per-route numbers:
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
//! # fn main() {
//! use axum::{routing::get, Router};
//!
//! async fn item() -> String {
//!     "item".repeat(10)
//! }
//!
//! let app: Router = Router::new()
//!     .route("/items/{id}", get(item))
//!     .layer(profiling_alloc::tower::JobLayer::new());
//! # drop(app);
//! # }
//! ```
//!
//! # What a request records
//!
//! - **Its job**: `GET /items/{id}`, the method and axum's
//!   [`MatchedPath`](axum::extract::MatchedPath), the route as written in
//!   the router. Requests that matched no route (axum's fallback, a service
//!   outside a router) share one job, [`UNMATCHED`].
//! - **Its duration**, from the layer's `call` until the response body is
//!   done: its last frame sent, or the body dropped. So the job covers the
//!   handler and what runs after it returns, such as a streamed body's
//!   production.
//! - **Allocations** while the service is called, while its future is
//!   polled and while the body is polled, each counted on the thread that
//!   does it and summed.
//! - **How it ended**: an error for a 5xx status, an error from the
//!   service or an error frame of the body; a panic when the service's
//!   `call`, its future or the body panicked; cancelled when the future was
//!   dropped before the response, or the body part way through (the client
//!   went away), unless it was an error. A body dropped before its first
//!   frame was asked for, as axum drops a HEAD request's, completes the
//!   request.
//!
//! The request is the job path's root, or a child of the job the caller
//! runs in; `tracing` spans and jobs inside the handler nest under it.
//!
//! # Where to put it
//!
//! `Router::layer` wraps each route after routing, where the matched route
//! is known: add it last, so that it covers the other layers too.
//! `Router::route_layer` works as well (then unmatched requests are not
//! seen). Around a whole `Router` as a service (`ServiceBuilder` before
//! `Router`), no route is known yet and every request is [`UNMATCHED`].
//!
//! Names are kept in the table of 1,024 run-time job names (see
//! [`job`](crate::jobs::job)); routes are few. With the crate's `enabled`
//! feature off, the layer only forwards.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::integrations::NameBuf;
use crate::job::{child_of, current_path, named_site, SharedCall};

/// The job of requests that matched no route.
pub const UNMATCHED: &str = "(unmatched route)";

/// A tower layer that makes each request a job named by its route. See the
/// [module documentation](self).
#[derive(Clone, Copy, Debug)]
pub struct JobLayer {
    unmatched: &'static str,
}

impl JobLayer {
    /// The layer: requests are named by their route, or [`UNMATCHED`].
    pub fn new() -> JobLayer {
        JobLayer {
            unmatched: UNMATCHED,
        }
    }

    /// Names the job of requests that matched no route `name` instead of
    /// [`UNMATCHED`]: for a service without axum's router (plain hyper),
    /// every request then is a call of `name`.
    pub fn with_unmatched_name(mut self, name: &'static str) -> JobLayer {
        self.unmatched = name;
        self
    }
}

impl Default for JobLayer {
    fn default() -> Self {
        JobLayer::new()
    }
}

impl<S> tower_layer::Layer<S> for JobLayer {
    type Service = JobService<S>;

    fn layer(&self, inner: S) -> JobService<S> {
        JobService {
            inner,
            unmatched: self.unmatched,
        }
    }
}

/// The service [`JobLayer`] makes: `inner`, with each request recorded.
#[derive(Clone, Debug)]
pub struct JobService<S> {
    inner: S,
    unmatched: &'static str,
}

impl<S, RequestBody, ResponseBody> tower_service::Service<Request<RequestBody>> for JobService<S>
where
    S: tower_service::Service<Request<RequestBody>, Response = Response<ResponseBody>>,
    ResponseBody: Body,
{
    type Response = Response<JobBody<ResponseBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        if !crate::capture::counts::ENABLED {
            return ResponseFuture {
                inner: self.inner.call(request),
                call: None,
            };
        }
        let site = route_site(&request, self.unmatched);
        let (call, interval) = SharedCall::entered(child_of(current_path(), site));
        let inner = {
            // A panic in the inner service's `call` records the request.
            let measured = Measured {
                call: &call,
                interval,
                closes_on_unwind: true,
            };
            let inner = self.inner.call(request);
            measured.end();
            inner
        };
        ResponseFuture {
            inner,
            call: Some(call),
        }
    }
}

/// The job of `request`: `METHOD /route`, or `unmatched`.
fn route_site<B>(request: &Request<B>, unmatched: &str) -> &'static crate::job::JobSite {
    let Some(route) = request.extensions().get::<MatchedPath>() else {
        return named_site(unmatched, "", "", 0);
    };
    let mut name = NameBuf::default();
    let _ = std::fmt::Write::write_fmt(
        &mut name,
        format_args!("{} {}", request.method(), route.as_str()),
    );
    named_site(name.as_str(), "", "", 0)
}

/// One measured interval of a request: ended by [`end`](Self::end), or by
/// its drop while a panic unwinds from it (the request then counts as
/// panicked).
struct Measured<'a> {
    call: &'a SharedCall,
    interval: Option<crate::job::Interval>,
    /// Whether the request is recorded too when unwinding: where nothing
    /// else would record it.
    closes_on_unwind: bool,
}

impl Measured<'_> {
    fn start(call: &SharedCall) -> Measured<'_> {
        Measured {
            call,
            interval: call.enter(),
            closes_on_unwind: false,
        }
    }

    /// Ends the interval; returns when, if it was measured.
    fn end(mut self) -> Option<std::time::Instant> {
        let interval = self.interval.take()?;
        Some(self.call.exit(interval))
    }
}

impl Drop for Measured<'_> {
    fn drop(&mut self) {
        // Only while unwinding: `end` took the interval otherwise. `exit`
        // sees the panic and marks the call.
        if let Some(interval) = self.interval.take() {
            self.call.exit(interval);
            if self.closes_on_unwind {
                self.call.close();
            }
        }
    }
}

pin_project! {
    /// The response future of [`JobService`]: the service's, measured at
    /// each poll; its response's body carries the call on.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // `None` once handed to the body (or when recording is off).
        call: Option<SharedCall>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(call) = this.project().call.take() {
                call.cancel();
                call.close();
            }
        }
    }
}

impl<F, B, E> std::future::Future for ResponseFuture<F>
where
    F: std::future::Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<JobBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let measured = this.call.as_ref().map(Measured::start);
        let poll = this.inner.poll(cx);
        measured.and_then(Measured::end);
        let Poll::Ready(result) = poll else {
            return Poll::Pending;
        };
        let call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                if let Some(call) = &call {
                    if response.status().is_server_error() {
                        call.fail();
                    }
                }
                Ok(response.map(|body| JobBody::new(body, call)))
            }
            Err(error) => {
                if let Some(call) = call {
                    call.fail();
                    call.close();
                }
                Err(error)
            }
        })
    }
}

pin_project! {
    /// A response body that ends its request's job when it is done.
    #[derive(Debug)]
    pub struct JobBody<B> {
        #[pin]
        inner: B,
        call: Option<SharedCall>,
        // Whether the server asked for a frame.
        polled: bool,
    }

    impl<B> PinnedDrop for JobBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(call) = this.call.take() {
                // Dropped part way: the response was not sent whole (the
                // client went away). Dropped before its first frame was
                // asked for, the body was not wanted (a HEAD request, whose
                // body axum drops): the request is complete.
                if *this.polled {
                    call.cancel();
                }
                call.close();
            }
        }
    }
}

impl<B: Body> JobBody<B> {
    fn new(inner: B, call: Option<SharedCall>) -> JobBody<B> {
        // An empty body is done already.
        let call = match call {
            Some(call) if inner.is_end_stream() => {
                call.close();
                None
            }
            call => call,
        };
        JobBody {
            inner,
            call,
            polled: false,
        }
    }
}

impl<B: Body> Body for JobBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        *this.polled = true;
        let measured = this.call.as_ref().map(Measured::start);
        let poll = this.inner.as_mut().poll_frame(cx);
        let end = measured.and_then(Measured::end);
        let done = match &poll {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Err(_))) => {
                if let Some(call) = this.call.as_ref() {
                    call.fail();
                }
                true
            }
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if done {
            if let Some(call) = this.call.take() {
                match end {
                    Some(end) => call.close_at(end),
                    None => call.close(),
                }
            }
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
