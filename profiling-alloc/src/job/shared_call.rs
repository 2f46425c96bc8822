//! Calls entered in intervals: a call opened once, entered and exited any
//! number of times on any threads (a `tracing` span, a request whose
//! response body is produced after its handler returned), and closed once.
//!
//! Each entered interval is measured on the thread that runs it, as a poll
//! of an async job is: the job path is the call's while it runs, its busy
//! time is added to the path, and what the thread allocates in it is added
//! to the call. The sums are atomics, so intervals of one call may run on
//! several threads at once; the call's peak is then the highest of what
//! each interval reached above the call's running sum when it ended (exact
//! when the intervals do not overlap).

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicU32, AtomicU64};
use std::sync::OnceLock;
use std::time::Instant;

use super::busy::BusySpan;
use super::path::{self, PathGuard, PathNode};
use super::site::Outcome;
use crate::heap::measure::AllocScope;
use crate::heap::AllocDelta;

/// An error was seen ([`SharedCall::fail`]).
const FAILED: u32 = 1;
/// An interval ended by unwinding.
const PANICKED: u32 = 2;
/// An interval could not be measured: the call's allocations are unknown.
const UNMEASURED: u32 = 4;
/// Dropped before it completed ([`SharedCall::cancel`]).
const CANCELLED: u32 = 8;

/// One call's sums, updated by its intervals.
#[derive(Debug, Default)]
pub(crate) struct SharedCall {
    /// The call's job path; null while the call is not open.
    node: AtomicPtr<PathNode>,
    /// When the call was opened, in nanoseconds since [`epoch_nanos`]'s epoch.
    opened: AtomicU64,
    total_blocks: AtomicU64,
    total_bytes: AtomicU64,
    freed_blocks: AtomicU64,
    freed_bytes: AtomicU64,
    reallocs: AtomicU64,
    live_bytes: AtomicI64,
    peak_bytes: AtomicU64,
    flags: AtomicU32,
    /// Bumped each time the record is opened: an interval started for one
    /// call of a reused record is not added to a later one.
    generation: AtomicU64,
}

/// One entered interval of a call, on the thread that entered it. Holds the
/// thread's job path until [`SharedCall::exit`].
#[derive(Debug)]
pub(crate) struct Interval {
    // Field order is drop order: the path is restored last.
    scope: Option<AllocScope>,
    busy: BusySpan,
    start: Instant,
    was_panicking: bool,
    /// Held: puts the thread's previous path back when the interval drops.
    _path: PathGuard,
}

impl SharedCall {
    /// A call opened now on the job path `node`, and entered on the calling
    /// thread (one clock read for both).
    pub(crate) fn entered(node: &'static PathNode) -> (SharedCall, Option<Interval>) {
        let call = SharedCall::default();
        let now = Instant::now();
        call.open_at(node, now);
        let interval = call.enter_at(now);
        (call, interval)
    }

    /// Opens the call on the job path `node`, from zero: for a record that
    /// is reused, by the one thread that owns it now.
    pub(crate) fn open(&self, node: &'static PathNode) {
        self.open_at(node, Instant::now());
    }

    fn open_at(&self, node: &'static PathNode, now: Instant) {
        for count in [
            &self.total_blocks,
            &self.total_bytes,
            &self.freed_blocks,
            &self.freed_bytes,
            &self.reallocs,
            &self.peak_bytes,
        ] {
            count.store(0, Relaxed);
        }
        self.live_bytes.store(0, Relaxed);
        self.flags.store(0, Relaxed);
        self.generation.fetch_add(1, Relaxed);
        self.opened.store(epoch_nanos(now), Relaxed);
        self.node
            .store(node as *const PathNode as *mut PathNode, Release);
    }

    /// Which opening of the record this is (see [`open`](Self::open)).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// The call's job path, if it is open.
    pub(crate) fn node(&self) -> Option<&'static PathNode> {
        // SAFETY: the pointer is null or was stored from a `&'static
        // PathNode`; path nodes are never freed.
        unsafe { self.node.load(Acquire).as_ref() }
    }

    /// Enters the call on the calling thread: its job path becomes the
    /// thread's, and its allocations are counted from here.
    #[inline]
    pub(crate) fn enter(&self) -> Option<Interval> {
        self.enter_at(Instant::now())
    }

    #[inline]
    fn enter_at(&self, start: Instant) -> Option<Interval> {
        let node = self.node()?;
        let path = path::enter(node);
        let busy = BusySpan::open();
        // Opened last, so that the bookkeeping above is not in the numbers.
        let scope = AllocScope::start();
        if scope.is_none() {
            self.flags.fetch_or(UNMEASURED, Relaxed);
        }
        Some(Interval {
            scope,
            busy,
            start,
            was_panicking: std::thread::panicking(),
            _path: path,
        })
    }

    /// Ends an interval [`enter`](Self::enter) began on this thread: adds
    /// its allocations to the call and its busy time to the call's path.
    /// Returns when it ended.
    #[inline]
    pub(crate) fn exit(&self, interval: Interval) -> Instant {
        self.end(&interval)
    }

    /// [`exit`](Self::exit), where the interval is kept: its drop, next,
    /// closes its allocation scope and puts the thread's path back.
    #[inline]
    pub(crate) fn end(&self, interval: &Interval) -> Instant {
        let delta = interval.scope.as_ref().map(AllocScope::delta);
        let end = Instant::now();
        let nanos = nanos_between(interval.start, end);
        if let Some(node) = self.node() {
            node.add_busy(nanos, interval.busy.close(nanos));
        }
        if let Some(delta) = delta {
            self.add(&delta);
        }
        if !interval.was_panicking && std::thread::panicking() {
            self.flags.fetch_or(PANICKED, Relaxed);
        }
        end
    }

    /// Ends `interval` while `above`, an interval of another call entered
    /// after it on this thread, goes on (intervals ended out of order: two
    /// layers, or guards dropped out of order): `above` takes over what
    /// this interval would have put back (the thread's path, its peak mark,
    /// its busy time), so that the thread's state stays as if they had
    /// ended in order.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn end_under(&self, interval: Interval, above: &mut Interval) {
        let Interval {
            scope,
            busy,
            start,
            was_panicking,
            _path: path,
        } = interval;
        let delta = match (scope, above.scope.as_mut()) {
            (Some(scope), Some(above_scope)) => Some(scope.close_under(above_scope)),
            (Some(scope), None) => Some(scope.finish()),
            (None, _) => None,
        };
        let end = Instant::now();
        let nanos = nanos_between(start, end);
        let above_nanos = nanos_between(above.start, end);
        if let Some(node) = self.node() {
            node.add_busy(nanos, busy.close_under(nanos, &mut above.busy, above_nanos));
        }
        if let Some(delta) = delta {
            self.add(&delta);
        }
        if !was_panicking && std::thread::panicking() {
            self.flags.fetch_or(PANICKED, Relaxed);
        }
        path.close_under(&mut above._path);
    }

    /// Makes the call's allocations unknown: one of its intervals could not
    /// be measured.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn unmeasured(&self) {
        self.flags.fetch_or(UNMEASURED, Relaxed);
    }

    /// Counts the call as failed when it closes.
    pub(crate) fn fail(&self) {
        self.flags.fetch_or(FAILED, Relaxed);
    }

    /// Counts the call as cancelled (dropped before it completed) when it
    /// closes.
    pub(crate) fn cancel(&self) {
        self.flags.fetch_or(CANCELLED, Relaxed);
    }

    /// Records the call (one call of its job, its wall time since it was
    /// opened, its summed allocations) and marks the record closed.
    pub(crate) fn close(&self) {
        self.close_at(Instant::now());
    }

    /// [`close`](Self::close), at `end` (an interval's end, read already).
    pub(crate) fn close_at(&self, end: Instant) {
        let node = self.node.swap(std::ptr::null_mut(), AcqRel);
        // SAFETY: as in `node`: null, or a path node, never freed.
        let Some(node) = (unsafe { node.as_ref() }) else {
            return;
        };
        let nanos = epoch_nanos(end).saturating_sub(self.opened.load(Relaxed));
        let flags = self.flags.load(Relaxed);
        // A failure is worth more than the call's being dropped early.
        let outcome = if flags & PANICKED != 0 {
            Outcome::Panicked
        } else if flags & FAILED != 0 {
            Outcome::Failed
        } else if flags & CANCELLED != 0 {
            Outcome::Cancelled
        } else {
            Outcome::Returned
        };
        let alloc = (flags & UNMEASURED == 0).then(|| self.sum());
        path::site_of(node)
            .stats()
            .record(nanos, outcome, alloc.as_ref());
        node.record(nanos);
    }

    fn add(&self, delta: &AllocDelta) {
        for (sum, value) in [
            (&self.total_blocks, delta.total_blocks),
            (&self.total_bytes, delta.total_bytes),
            (&self.freed_blocks, delta.freed_blocks),
            (&self.freed_bytes, delta.freed_bytes),
            (&self.reallocs, delta.reallocs),
        ] {
            // PERF: most intervals of small spans allocate nothing.
            if value != 0 {
                sum.fetch_add(value, Relaxed);
            }
        }
        let before = if delta.live_bytes != 0 {
            self.live_bytes.fetch_add(delta.live_bytes, Relaxed)
        } else {
            self.live_bytes.load(Relaxed)
        };
        let peak = before.saturating_add(delta.peak_bytes as i64).max(0) as u64;
        if peak > self.peak_bytes.load(Relaxed) {
            self.peak_bytes.fetch_max(peak, Relaxed);
        }
    }

    fn sum(&self) -> AllocDelta {
        let total_blocks = self.total_blocks.load(Relaxed);
        let total_bytes = self.total_bytes.load(Relaxed);
        let freed_blocks = self.freed_blocks.load(Relaxed);
        let freed_bytes = self.freed_bytes.load(Relaxed);
        AllocDelta {
            active: true,
            total_blocks,
            total_bytes,
            freed_blocks,
            freed_bytes,
            reallocs: self.reallocs.load(Relaxed),
            live_blocks: total_blocks.wrapping_sub(freed_blocks) as i64,
            live_bytes: self.live_bytes.load(Relaxed),
            peak_bytes: self.peak_bytes.load(Relaxed),
        }
    }
}

fn nanos_between(start: Instant, end: Instant) -> u64 {
    u64::try_from(end.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX)
}

/// `now` in nanoseconds since the first call of this function in the
/// process (0 for earlier instants).
fn epoch_nanos(now: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = EPOCH.get_or_init(|| now);
    u64::try_from(now.saturating_duration_since(*epoch).as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::site::named_site;

    #[test]
    fn a_call_sums_its_intervals_and_records_once_when_closed() {
        let site = named_site("shared-call-unit", "", file!(), line!());
        let node = path::child_of(None, site);
        let (call, interval) = SharedCall::entered(node);
        call.exit(interval.unwrap());
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    let interval = call.enter().unwrap();
                    assert!(std::ptr::eq(path::current().unwrap(), node));
                    call.exit(interval);
                    assert!(path::current().is_none(), "the path is restored");
                });
            }
        });
        call.fail();
        call.close();
        call.close(); // a second close records nothing
        assert!(call.node().is_none());
        let stats = site.stats();
        assert_eq!(stats.calls.load(Relaxed), 1);
        assert_eq!(stats.errors.load(Relaxed), 1);
        assert_eq!(node.calls.load(Relaxed), 1);
    }
}
