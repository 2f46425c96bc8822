//! `tracing` spans as jobs (feature `tracing`): add [`JobLayer`] to a
//! `tracing-subscriber` registry, and every span it selects is a call of a
//! job, reported wherever jobs are: [`job_stats`](crate::job_stats),
//! [`job_paths`](crate::jobs::job_paths), reports, flamegraphs, pprof's `job`
//! label, and the endpoint's `/jobs` and `/metrics`.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
//! # fn main() {
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry().with(profiling_alloc::tracing::JobLayer::new());
//! tracing::subscriber::with_default(subscriber, || {
//!     for id in 0..3 {
//!         let span = tracing::info_span!("load", id);
//!         let _entered = span.enter();
//!         let rows: Vec<u64> = (0..100).collect();
//!         assert_eq!(rows.len(), 100);
//!     }
//! });
//! let stats = profiling_alloc::job_stats();
//! // Named `target::name`; the target of a span is its module path by default.
//! let load = stats.iter().find(|job| job.name.ends_with("::load")).unwrap();
//! assert_eq!(load.calls, 3);
//! assert_eq!(load.allocations.unwrap().total_blocks, 3); // one Vec per span
//! # }
//! ```
//!
//! # What a span records
//!
//! - **A call** when it closes (its last handle dropped), under the job
//!   `target::name` (`my_app::handlers::get_item` for
//!   `#[instrument] fn get_item` in `my_app::handlers`), or under the value
//!   of a field when [`JobLayer::name_from_field`] names one.
//! - **Wall time**, from creation to close, as the call's duration.
//! - **Busy time**, the sum of its entered intervals, on its job path (what
//!   [`job_paths`](crate::jobs::job_paths) and the job-time flamegraph show).
//! - **Allocations**, counted during each entered interval on the thread
//!   that entered it and summed over every thread that did. A future under
//!   `.instrument(span)` is entered at each poll, so a task that moves
//!   between tokio's workers is counted exactly, and time spent waiting is
//!   not charged with other tasks' allocations. What the span allocates
//!   outside its intervals (its fields, formatted by another layer) belongs
//!   to whatever runs then.
//! - **An error** when the span was given an `error` field (any value but
//!   the boolean `false`; at creation or by `span.record`), or when an
//!   ERROR-level event was emitted inside it: in the innermost span this
//!   layer records that the thread is in, or in the event's explicit parent
//!   if this layer records it. **A panic** when an interval ended by
//!   unwinding.
//!
//! A span that was never entered records a call with no allocations.
//!
//! # Job paths follow the span tree
//!
//! A span's job path is its parent span's path plus its own name: the
//! nearest ancestor that the layer records, whichever thread entered it.
//! While a span is entered, its path is the thread's, so jobs and spans
//! started inside it nest under it, and allocation and CPU samples taken
//! then start at it, as they do inside a
//! [`#[profile_job]`](crate::profile_job) function. A span created inside
//! a job of another kind (an annotated function, a request of
//! [`tower::JobLayer`](crate::tower::JobLayer)) nests under that job.
//!
//! # Which spans
//!
//! All of them by default. The builder narrows it: by target, name, level,
//! field, or a function of the metadata; criteria of different kinds must
//! all hold, and several of one kind select any of them. The choice is made
//! once per callsite. The layer never disables a span for other layers; to
//! record fewer spans with a filter the subscriber already uses, give the
//! layer a per-layer filter (`JobLayer::new().with_filter(EnvFilter::new(..))`):
//! spans filtered out record nothing, and a recorded span's parent is then
//! its nearest ancestor that passed.
//!
//! # Beside other layers
//!
//! Add it last (`registry().with(filter).with(fmt).with(JobLayer::new())`).
//! A subscriber enters a span layer by layer from the registry out, and
//! leaves it the same way, so an interval runs from this layer's enter to
//! its exit: what layers added before it do when a span is left (the fmt
//! layer's span events, when it is told to print them) falls inside the
//! interval and counts as the span's, and what they do when a span is
//! entered does not. What any layer does when a span is made or closed is
//! never the span's.
//!
//! # Cost and bounds
//!
//! Entering and leaving a recorded span takes no lock and allocates nothing:
//! two clock reads, the thread's allocation counters, and a lookup in a
//! table of open spans (see BENCHMARKS.md for the measured cost). The
//! layer allocates its tables once, on its first span, as the profiler's
//! own memory: room for 4,096 open spans by default
//! ([`JobLayer::max_open_spans`]), in buckets of eight chosen by the span's
//! id, and a decision per callsite. A span whose bucket is full when it is
//! made is not recorded, which can happen before the table is full;
//! [`unrecorded_spans`] counts them. A thread measures at most 32 nested
//! recorded spans; the calls of deeper ones have no allocation numbers.
//! Job names share the table of 1,024 run-time names with
//! [`job`](crate::jobs::job): a name field whose values are unbounded (an id in
//! `otel.name`) fills it, and later names are counted together.
//!
//! Spans left in another order than they were entered (two `JobLayer`s in
//! one subscriber leave each span in the order they entered it) are ended
//! in that order, the thread's job path and peak kept right. An `Entered`
//! guard held across an `.await` is misuse for `tracing` itself; here it
//! leaves the thread in the span until the guard drops, and its counts go
//! to the span only while the span's record is the same.
//!
//! With the crate's `enabled` feature off, the layer does nothing.

mod select;
mod spans;

use std::fmt;
use std::sync::OnceLock;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use self::select::{CallsiteCache, FieldReader, Selection};
use self::spans::SpanTable;
use crate::capture::reentrancy::Untracked;
use crate::job::{child_of, current_path, named_site, PathNode};

/// Spans not recorded since the process started, by every [`JobLayer`],
/// because their bucket of the layer's table of open spans was full (see
/// [`JobLayer::max_open_spans`]).
pub fn unrecorded_spans() -> u64 {
    UNRECORDED.load(Relaxed)
}

static UNRECORDED: AtomicU64 = AtomicU64::new(0);

/// A `tracing-subscriber` layer that records spans as jobs. See the
/// [module documentation](self).
///
/// ```
/// use profiling_alloc::tracing::JobLayer;
/// use tracing::Level;
///
/// // Spans of `my_app` at INFO or above; jobs named by `http.route` when a
/// // span has it.
/// let layer = JobLayer::new()
///     .with_target("my_app")
///     .with_max_level(Level::INFO)
///     .name_from_field("http.route");
/// # drop(layer);
/// ```
pub struct JobLayer {
    selection: Selection,
    max_open_spans: usize,
    /// Allocated on the first span, untracked (the profiler's memory).
    state: OnceLock<State>,
}

struct State {
    /// This layer's number, which tells its frames apart on a thread.
    id: usize,
    spans: SpanTable,
    callsites: CallsiteCache,
}

impl JobLayer {
    /// Room for open spans by default.
    pub const DEFAULT_MAX_OPEN_SPANS: usize = 4096;

    /// The most room for open spans a layer takes (96 MiB of table).
    pub const MAX_OPEN_SPANS: usize = 1 << 20;

    /// A layer that records every span.
    pub fn new() -> JobLayer {
        JobLayer {
            selection: Selection::default(),
            max_open_spans: Self::DEFAULT_MAX_OPEN_SPANS,
            state: OnceLock::new(),
        }
    }

    /// Records spans whose target is `target` or inside it (`my_app`
    /// selects `my_app` and `my_app::db`, not `my_application`).
    pub fn with_target(mut self, target: impl Into<String>) -> JobLayer {
        self.selection.targets.push(target.into());
        self
    }

    /// Records spans named `name` exactly (a function's name, for
    /// `#[instrument]`).
    pub fn with_span_name(mut self, name: impl Into<String>) -> JobLayer {
        self.selection.names.push(name.into());
        self
    }

    /// Records spans at `level` or less verbose: `Level::INFO` keeps INFO,
    /// WARN and ERROR spans.
    pub fn with_max_level(mut self, level: Level) -> JobLayer {
        self.selection.max_level = Some(level);
        self
    }

    /// Records spans that declare the field `field` (`http.route`,
    /// `otel.name`), given a value or not.
    pub fn with_field(mut self, field: impl Into<String>) -> JobLayer {
        self.selection.fields.push(field.into());
        self
    }

    /// Records spans for which `select` returns `true`, given their
    /// callsite's metadata (asked once per callsite).
    pub fn with_selector(
        mut self,
        select: impl Fn(&Metadata<'_>) -> bool + Send + Sync + 'static,
    ) -> JobLayer {
        self.selection.predicate = Some(Box::new(select));
        self
    }

    /// Names a span's job by the value of its field `field` (such as
    /// `http.route` or `otel.name`) when it has one at creation; others keep
    /// `target::name`. A string value is taken as it is, any other as its
    /// `Debug` form, cut at 200 bytes.
    pub fn name_from_field(mut self, field: impl Into<String>) -> JobLayer {
        self.selection.name_field = Some(field.into());
        self
    }

    /// Room for this many open spans (default 4,096; at least 8, at most
    /// [`MAX_OPEN_SPANS`](Self::MAX_OPEN_SPANS)), rounded up to a power of
    /// two. Each takes 96 bytes, allocated on the layer's first span. Spans
    /// are kept in buckets of eight by id, so a bucket can be full before
    /// the table is: give twice the open spans you expect at the most.
    pub fn max_open_spans(mut self, spans: usize) -> JobLayer {
        self.max_open_spans = spans.clamp(8, Self::MAX_OPEN_SPANS);
        self
    }

    fn state(&self) -> Option<&State> {
        if !crate::capture::counts::ENABLED {
            return None;
        }
        Some(self.state.get_or_init(|| {
            let _untracked = Untracked::enter();
            State {
                id: spans::next_layer(),
                spans: SpanTable::new(self.max_open_spans),
                callsites: CallsiteCache::new(),
            }
        }))
    }

    /// The job path a new span starts on: its nearest recorded ancestor's,
    /// or the thread's current one if that is inside it (a job called in
    /// the parent span); with no recorded ancestor, the thread's current
    /// path for a span whose parent is the current span, none for a root.
    fn parent_path<S>(
        &self,
        state: &State,
        attrs: &Attributes<'_>,
        id: &Id,
        ctx: &Context<'_, S>,
    ) -> Option<&'static PathNode>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let current = current_path();
        let parent = if attrs.is_root() {
            None
        } else if let Some(parent) = attrs.parent() {
            Some(parent.clone())
        } else {
            ctx.current_span().id().cloned()
        };
        // PERF: the parent is most often recorded itself; the registry's
        // tree is walked (as this layer's filter sees it) only when it is
        // not.
        let ancestor = parent.and_then(|parent| match state.spans.get(parent.into_u64()) {
            Some(call) => call.node(),
            None => ctx
                .span(id)?
                .scope()
                .skip(1)
                .find_map(|ancestor| state.spans.get(ancestor.id().into_u64())?.node()),
        });
        match ancestor {
            Some(node) => Some(
                current
                    .filter(|current| attrs.is_contextual() && current.is_within(node))
                    .unwrap_or(node),
            ),
            None if attrs.is_contextual() => current,
            None => None,
        }
    }
}

impl Default for JobLayer {
    fn default() -> Self {
        JobLayer::new()
    }
}

impl fmt::Debug for JobLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobLayer")
            .field("selection", &self.selection)
            .field("max_open_spans", &self.max_open_spans)
            .field(
                "spans_not_recorded",
                &self.state.get().map(|state| state.spans.full.load(Relaxed)),
            )
            .finish()
    }
}

impl Drop for JobLayer {
    fn drop(&mut self) {
        // Allocated untracked, so freed untracked.
        let _untracked = Untracked::enter();
        drop(self.state.take());
    }
}

impl<S> tracing_subscriber::Layer<S> for JobLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(state) = self.state() else {
            return;
        };
        let meta = attrs.metadata();
        let Some(decision) = state.callsites.decision(meta, &self.selection) else {
            return;
        };
        let mut fields = FieldReader::new(self.selection.name_field.as_deref());
        if decision.has_name_field || decision.has_error_field {
            attrs.record(&mut fields);
        }
        let site = match &fields.name {
            Some(name) if !name.as_str().is_empty() => named_site(
                name.as_str(),
                meta.module_path().unwrap_or(""),
                meta.file().unwrap_or(""),
                meta.line().unwrap_or(0),
            ),
            _ => decision.site,
        };
        let node = child_of(self.parent_path(state, attrs, id, &ctx), site);
        if let Some(call) = state.spans.insert(id.into_u64()) {
            call.open(node);
            if fields.error {
                call.fail();
            }
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let Some(state) = self.state() else {
            return;
        };
        let Some(call) = state.spans.get(id.into_u64()) else {
            return;
        };
        let mut fields = FieldReader::new(None);
        values.record(&mut fields);
        if fields.error {
            call.fail();
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(state) = self.state() else {
            return;
        };
        let key = match event.parent() {
            Some(parent) => Some(parent.into_u64()),
            None if event.is_contextual() => spans::innermost(state.id),
            None => None,
        };
        if let Some(call) = key.and_then(|key| state.spans.get(key)) {
            call.fail();
        }
    }

    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        let Some(state) = self.state() else {
            return;
        };
        let key = id.into_u64();
        let Some(index) = state.spans.find(key) else {
            return;
        };
        if let Some(call) = state.spans.call(index) {
            spans::enter(state.id, key, index, call);
        }
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let Some(state) = self.state() else {
            return;
        };
        spans::exit(state.id, id.into_u64(), &state.spans);
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        if let Some(state) = self.state() {
            state.spans.close(id.into_u64());
        }
    }
}
