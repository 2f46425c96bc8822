//! Where a layer keeps its open spans: a fixed table of calls keyed by span
//! id (no allocation per span), and, per thread, the spans it has entered.

use std::cell::RefCell;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::job::{Interval, SharedCall};

/// Ids kept per bucket: one cache line of keys.
const WAYS: usize = 8;

/// One bucket's keys: span ids, 0 for a free entry.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Bucket([AtomicU64; WAYS]);

/// The open spans a layer records: each span id hashes to one bucket of
/// [`WAYS`] entries; an entry is taken with a compare-and-swap when the
/// span opens and freed when it closes, so no entry is ever searched for
/// beyond its bucket and none is left behind. A span whose bucket is full
/// is not recorded (counted in `full`).
#[derive(Debug)]
pub(super) struct SpanTable {
    buckets: Box<[Bucket]>,
    calls: Box<[SharedCall]>,
    /// Spans not recorded because their bucket was full.
    pub(super) full: AtomicU64,
}

impl SpanTable {
    /// A table for about `spans` open spans at once (rounded up to a power
    /// of two buckets).
    pub(super) fn new(spans: usize) -> SpanTable {
        let buckets = spans.div_ceil(WAYS).next_power_of_two().max(1);
        SpanTable {
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
            calls: (0..buckets * WAYS).map(|_| SharedCall::default()).collect(),
            full: AtomicU64::new(0),
        }
    }

    fn bucket(&self, key: u64) -> (usize, &Bucket) {
        // Fibonacci hashing: ids are often consecutive.
        let hash = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        let index = (hash as usize) & (self.buckets.len() - 1);
        (index, &self.buckets[index])
    }

    /// A free record for the span `key`, now taken; `None` if its bucket is
    /// full.
    pub(super) fn insert(&self, key: u64) -> Option<&SharedCall> {
        let (index, bucket) = self.bucket(key);
        for (way, entry) in bucket.0.iter().enumerate() {
            if entry.load(Relaxed) == 0 && entry.compare_exchange(0, key, AcqRel, Relaxed).is_ok() {
                return self.calls.get(index * WAYS + way);
            }
        }
        self.full.fetch_add(1, Relaxed);
        super::UNRECORDED.fetch_add(1, Relaxed);
        None
    }

    /// The record of the open span `key`, if it is recorded.
    #[inline]
    pub(super) fn get(&self, key: u64) -> Option<&SharedCall> {
        self.call(self.find(key)?)
    }

    /// Where the open span `key` is recorded, if it is.
    #[inline]
    pub(super) fn find(&self, key: u64) -> Option<usize> {
        let (index, bucket) = self.bucket(key);
        let way = bucket
            .0
            .iter()
            .position(|entry| entry.load(Acquire) == key)?;
        Some(index * WAYS + way)
    }

    /// The record at `index` (from [`find`](Self::find)).
    #[inline]
    pub(super) fn call(&self, index: usize) -> Option<&SharedCall> {
        self.calls.get(index)
    }

    /// Closes the span `key` (see [`SharedCall::close`]) and frees its entry.
    pub(super) fn close(&self, key: u64) {
        let (index, bucket) = self.bucket(key);
        let Some(way) = bucket.0.iter().position(|entry| entry.load(Acquire) == key) else {
            return;
        };
        if let Some(call) = self.calls.get(index * WAYS + way) {
            call.close();
        }
        bucket.0[way].store(0, Release);
    }
}

/// Spans one thread may have entered at once and be measured; deeper ones
/// are entered unmeasured.
const MAX_ENTERED: usize = 32;

/// A span entered on this thread.
#[derive(Debug)]
struct Entered {
    /// Which layer (its number, [`next_layer`]).
    layer: usize,
    key: u64,
    /// Where the span is recorded in the layer's table, and which opening
    /// of that record it was.
    index: usize,
    generation: u64,
    /// `None` when the span was already entered on this thread (re-entered:
    /// the outer interval counts it) or was not open.
    interval: Option<Interval>,
}

#[derive(Debug)]
struct EnteredStack {
    len: usize,
    /// Spans entered past [`MAX_ENTERED`] and not left yet: the next exits
    /// are theirs.
    overflow: usize,
    frames: [Option<Entered>; MAX_ENTERED],
}

thread_local! {
    static ENTERED: RefCell<EnteredStack> = const {
        RefCell::new(EnteredStack { len: 0, overflow: 0, frames: [const { None }; MAX_ENTERED] })
    };
}

/// A number of its own for a new layer: frames are told apart by it (an
/// address could be reused by a later layer).
pub(super) fn next_layer() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    NEXT.fetch_add(1, Relaxed)
}

/// Enters the span `key` of layer `layer`, recorded at `index` as `call`,
/// on this thread: starts its interval, unless the thread is in it already
/// or [`MAX_ENTERED`] spans deep (then the call's allocations are unknown).
#[inline]
pub(super) fn enter(layer: usize, key: u64, index: usize, call: &SharedCall) {
    let _ = ENTERED.try_with(|stack| {
        let Ok(mut stack) = stack.try_borrow_mut() else {
            return;
        };
        let len = stack.len;
        let Some(slot) = stack.frames.get_mut(len) else {
            stack.overflow += 1;
            call.unmeasured();
            return;
        };
        *slot = Some(Entered {
            layer,
            key,
            index,
            generation: call.generation(),
            interval: None,
        });
        stack.len = len + 1;
        let again = stack.frames[..len]
            .iter()
            .flatten()
            .any(|frame| frame.layer == layer && frame.key == key);
        if !again {
            // Started last, after the stack's bookkeeping.
            if let Some(Some(frame)) = stack.frames.get_mut(len) {
                frame.interval = call.enter();
            }
        }
    });
}

/// Leaves the span `key` of layer `layer`, whose records are in `table`, on
/// this thread: ends the interval [`enter`] started, if any. Spans are left
/// in the reverse order of entering; one left out of order (two layers
/// leave a span in the order they entered it) ends under the span entered
/// after it, which takes over what it would have put back.
#[inline]
pub(super) fn exit(layer: usize, key: u64, table: &SpanTable) {
    let is_it = |frame: &Option<Entered>| {
        frame
            .as_ref()
            .is_some_and(|frame| frame.layer == layer && frame.key == key)
    };
    let _ = ENTERED.try_with(|stack| {
        let Ok(mut stack) = stack.try_borrow_mut() else {
            return;
        };
        if stack.overflow > 0 {
            stack.overflow -= 1;
            return;
        }
        let len = stack.len;
        let Some(top) = len.checked_sub(1) else {
            return;
        };
        // The record, if it is still the one this frame entered.
        let record_of = |frame: &Entered| {
            table
                .call(frame.index)
                .filter(|call| call.generation() == frame.generation)
        };
        // PERF: the top frame (nearly always) is ended where it lies.
        if is_it(&stack.frames[top]) {
            if let Some(frame) = &stack.frames[top] {
                if let (Some(interval), Some(call)) = (&frame.interval, record_of(frame)) {
                    call.end(interval);
                }
            }
            stack.frames[top] = None;
            stack.len = top;
            return;
        }
        let Some(at) = stack.frames[..len].iter().rposition(is_it) else {
            return;
        };
        let (below, above) = stack.frames[..len].split_at_mut(at + 1);
        if let Some(frame) = below[at].take() {
            let call = record_of(&frame);
            if let Some(interval) = frame.interval {
                let above = above
                    .iter_mut()
                    .flatten()
                    .find_map(|frame| frame.interval.as_mut());
                match (above, call) {
                    (Some(above), Some(call)) => call.end_under(interval, above),
                    // A record reused since: the thread's state is handed
                    // over all the same, the counts go nowhere.
                    (Some(above), None) => SharedCall::default().end_under(interval, above),
                    (None, Some(call)) => {
                        call.exit(interval);
                    }
                    (None, None) => drop(interval),
                }
            }
        }
        stack.frames[at..len].rotate_left(1);
        stack.len = top;
    });
}

/// The innermost span of layer `layer` this thread is in.
pub(super) fn innermost(layer: usize) -> Option<u64> {
    ENTERED
        .try_with(|stack| {
            let stack = stack.try_borrow().ok()?;
            stack.frames[..stack.len]
                .iter()
                .rev()
                .flatten()
                .find(|frame| frame.layer == layer)
                .map(|frame| frame.key)
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_taken_found_and_freed_per_bucket() {
        let table = SpanTable::new(8); // one bucket
        let keys: Vec<u64> = (1..=8).collect();
        for &key in &keys {
            assert!(table.insert(key).is_some());
        }
        assert!(table.insert(9).is_none(), "the bucket is full");
        assert_eq!(table.full.load(Relaxed), 1);
        assert!(table.get(3).is_some());
        assert!(table.get(9).is_none());
        table.close(3);
        assert!(table.get(3).is_none());
        assert!(table.insert(9).is_some(), "a freed entry is taken again");
        assert!(table.get(9).is_some());
    }

    #[test]
    fn exits_out_of_order_keep_the_thread_state() {
        use crate::job::{child_of, current_path, named_site};

        std::thread::spawn(|| {
            let table = SpanTable::new(16);
            let layer = next_layer();
            let node = |name| child_of(None, named_site(name, "", "", 0));
            let (a, b) = (node("out-of-order-a"), node("out-of-order-b"));
            let open = |key, node| {
                let call = table.insert(key).unwrap();
                call.open(node);
                enter(layer, key, table.find(key).unwrap(), call);
            };
            open(1, a);
            assert!(std::ptr::eq(current_path().unwrap(), a));
            open(2, b);
            assert!(std::ptr::eq(current_path().unwrap(), b));
            assert_eq!(innermost(layer), Some(2));
            // `a` is left first: `b` goes on, and is the thread's path.
            exit(layer, 1, &table);
            assert!(std::ptr::eq(current_path().unwrap(), b));
            assert_eq!(innermost(layer), Some(2));
            exit(layer, 2, &table);
            assert!(current_path().is_none(), "the path from before `a`");
            assert_eq!(innermost(layer), None);
        })
        .join()
        .unwrap();
    }
}
