//! Async job scopes: [`JobFuture`] wraps a job's future and attributes
//! allocations per poll, so that a task moving between threads is counted
//! right: each poll counts on the thread that runs it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;

use super::busy::BusySpan;
use super::path::{self, PathNode};
use super::site::{dynamic_site, JobSite, Outcome, SiteStats};
use crate::heap::measure::AllocScope;
use crate::heap::AllocDelta;

/// A call in progress: from its first poll.
#[derive(Debug)]
struct Running {
    stats: &'static SiteStats,
    node: &'static PathNode,
    start: Instant,
    /// Sum of the polls' deltas; `None` once a poll could not be measured.
    alloc: Option<AllocDelta>,
}

pin_project! {
    /// A call of an async job. Created by `#[profile_job]` on an `async fn`
    /// and by [`job_async`](crate::jobs::job_async).
    ///
    /// The duration runs from the first poll to completion; the busy time
    /// is the time inside the polls. Allocations are
    /// counted during each poll, on the thread running it, and summed; the
    /// job's peak is the highest its running live bytes reached inside any
    /// poll. Dropped after its first poll but before completing, the call is
    /// recorded as cancelled (or as a panic, when dropped by unwinding).
    #[doc(hidden)]
    #[must_use = "futures do nothing unless polled"]
    pub struct JobFuture<F, C> {
        #[pin]
        inner: F,
        // `None` for an unrecorded future, and once the call is recorded.
        site: Option<&'static JobSite>,
        running: Option<Running>,
        // Tells whether the output is an error (`#[profile_job]` passes one
        // that recognises `Result::Err`).
        classify: C,
    }

    impl<F, C> PinnedDrop for JobFuture<F, C> {
        fn drop(this: Pin<&mut Self>) {
            // A panic inside this future's own poll was recorded by that poll;
            // a call still running when dropped was cancelled (possibly by a
            // panic elsewhere, which is not this job's).
            if let Some(running) = this.project().running.take() {
                finish(running, Outcome::Cancelled, Instant::now());
            }
        }
    }
}

impl<F: Future, C: Fn(&F::Output) -> bool> JobFuture<F, C> {
    /// Wraps `inner` as a call of the job at `site`; `classify` says whether
    /// an output is an error. Nothing is recorded until the first poll.
    pub fn new(site: &'static JobSite, inner: F, classify: C) -> Self {
        JobFuture {
            inner,
            site: Some(site),
            running: None,
            classify,
        }
    }

    fn unrecorded(inner: F, classify: C) -> Self {
        JobFuture {
            inner,
            site: None,
            running: None,
            classify,
        }
    }
}

impl<F: Future, C: Fn(&F::Output) -> bool> Future for JobFuture<F, C> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(site) = *this.site else {
            return this.inner.poll(cx);
        };
        // PERF: the first poll starts when the call does, and the last one
        // ends when it does: one clock read each, not two.
        let (running, first_poll) = match this.running.take() {
            Some(running) => (running, None),
            None => {
                let running = Running::start(site);
                let start = running.start;
                (running, Some(start))
            }
        };
        let node = running.node;
        // Records the call as panicked if the poll unwinds.
        let mut polling = Polling(Some(running));
        let (poll, poll_end) = {
            let _path = path::enter(node);
            let scope = AllocScope::start();
            // Records the poll's busy time when stopped, or when dropped
            // while the poll unwinds.
            let busy = PollTimer::start(node, first_poll);
            let poll = this.inner.poll(cx);
            let poll_end = busy.stop();
            polling.add(scope.map(AllocScope::finish));
            (poll, poll_end)
        };
        let Some(running) = polling.0.take() else {
            return poll;
        };
        match poll {
            Poll::Ready(output) => {
                let outcome = if (this.classify)(&output) {
                    Outcome::Failed
                } else {
                    Outcome::Returned
                };
                finish(running, outcome, poll_end);
                // Polled again after completion, it only forwards.
                *this.site = None;
                Poll::Ready(output)
            }
            Poll::Pending => {
                *this.running = Some(running);
                Poll::Pending
            }
        }
    }
}

impl Running {
    fn start(site: &'static JobSite) -> Running {
        Running {
            stats: site.stats(),
            node: path::child_of(path::current(), site),
            start: Instant::now(),
            alloc: Some(AllocDelta::zero()),
        }
    }
}

/// Times one poll: [`stop`](PollTimer::stop) at the poll's end, or its drop
/// while unwinding from it, adds the poll's busy time (and self busy time)
/// to the path.
struct PollTimer {
    node: &'static PathNode,
    busy: BusySpan,
    start: Instant,
    stopped: bool,
}

impl PollTimer {
    /// Starts timing now, or at `start` (the call's start, for its first
    /// poll).
    fn start(node: &'static PathNode, start: Option<Instant>) -> PollTimer {
        let busy = BusySpan::open();
        PollTimer {
            node,
            busy,
            start: start.unwrap_or_else(Instant::now),
            stopped: false,
        }
    }

    /// Records the poll, and returns when it ended.
    fn stop(mut self) -> Instant {
        let end = Instant::now();
        self.record(end);
        self.stopped = true;
        end
    }

    fn record(&mut self, end: Instant) {
        let nanos =
            u64::try_from(end.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX);
        self.node.add_busy(nanos, self.busy.close(nanos));
    }
}

impl Drop for PollTimer {
    fn drop(&mut self) {
        if !self.stopped {
            self.record(Instant::now());
        }
    }
}

/// A call being polled. If the poll unwinds, its drop records the call as
/// panicked (the panicking poll's own allocations are not added).
struct Polling(Option<Running>);

impl Polling {
    /// Adds one poll's allocations; `None` (not measurable) makes the call's
    /// allocations unknown.
    fn add(&mut self, delta: Option<AllocDelta>) {
        if let Some(running) = &mut self.0 {
            running.alloc = match (running.alloc, delta) {
                (Some(sum), Some(delta)) => Some(sum.then(&delta)),
                _ => None,
            };
        }
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        if let Some(running) = self.0.take() {
            finish(running, Outcome::Panicked, Instant::now());
        }
    }
}

fn finish(running: Running, outcome: Outcome, end: Instant) {
    let nanos =
        u64::try_from(end.saturating_duration_since(running.start).as_nanos()).unwrap_or(u64::MAX);
    running.stats.record(nanos, outcome, running.alloc.as_ref());
    running.node.record(nanos);
}

/// Wraps `future` as a call of the job `name`: the manual async form of
/// [`#[profile_job]`](crate::profile_job) (see [`job`](crate::jobs::job)).
///
/// Allocations are counted per poll, on whichever thread polls, from the
/// first poll to completion; the future can be awaited on any runtime.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// # fn main() {
/// # let block_on = |f| futures_lite_block_on(f);
/// let fut = profiling_alloc::jobs::job_async("fetch", async { vec![0u8; 100].len() });
/// assert_eq!(block_on(fut), 100);
/// # }
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::task::{Context, Poll, Waker};
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = Context::from_waker(Waker::noop());
/// #     loop { if let Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// ```
///
/// With the `enabled` feature off, the future runs unrecorded.
#[track_caller]
pub fn job_async<F: Future>(name: &str, future: F) -> impl Future<Output = F::Output> {
    let never: fn(&F::Output) -> bool = |_| false;
    if crate::capture::counts::ENABLED {
        JobFuture::new(
            dynamic_site(name, std::panic::Location::caller()),
            future,
            never,
        )
    } else {
        JobFuture::unrecorded(future, never)
    }
}
