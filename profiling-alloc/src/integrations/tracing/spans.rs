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
    /// Which layer's table (its address).
    table: usize,
    key: u64,
    /// Where the span is recorded in the table.
    index: usize,
    /// `None` when the span was already entered on this thread (re-entered:
    /// the outer interval counts it) or was not open.
    interval: Option<Interval>,
}

#[derive(Debug)]
struct EnteredStack {
    len: usize,
    frames: [Option<Entered>; MAX_ENTERED],
}

thread_local! {
    static ENTERED: RefCell<EnteredStack> = const {
        RefCell::new(EnteredStack { len: 0, frames: [const { None }; MAX_ENTERED] })
    };
}

/// Enters the span `key` of `table`, recorded at `index`, on this thread:
/// `enter` starts its interval, unless the thread is in it already or
/// [`MAX_ENTERED`] spans deep.
#[inline]
pub(super) fn enter(
    table: &SpanTable,
    key: u64,
    index: usize,
    enter: impl FnOnce() -> Option<Interval>,
) {
    let table = table as *const SpanTable as usize;
    let _ = ENTERED.try_with(|stack| {
        let Ok(mut stack) = stack.try_borrow_mut() else {
            return;
        };
        let len = stack.len;
        if len >= MAX_ENTERED {
            return;
        }
        let again = stack.frames[..len]
            .iter()
            .flatten()
            .any(|frame| frame.table == table && frame.key == key);
        // Started last, after the stack's bookkeeping.
        let interval = if again { None } else { enter() };
        stack.frames[len] = Some(Entered {
            table,
            key,
            index,
            interval,
        });
        stack.len = len + 1;
    });
}

/// Leaves the span `key` of `table` on this thread: `end` is given where it
/// is recorded and the interval [`enter`] started, if any, which closes when
/// `end` returns. Spans are left in the reverse order of entering; one left
/// out of order is taken from where it is.
#[inline]
pub(super) fn exit(table: &SpanTable, key: u64, end: impl FnOnce(usize, &Interval)) {
    let table = table as *const SpanTable as usize;
    let is_it = |frame: &Option<Entered>| {
        frame
            .as_ref()
            .is_some_and(|frame| frame.table == table && frame.key == key)
    };
    let _ = ENTERED.try_with(|stack| {
        let Ok(mut stack) = stack.try_borrow_mut() else {
            return;
        };
        let len = stack.len;
        let Some(top) = len.checked_sub(1) else {
            return;
        };
        // PERF: the top frame (nearly always) is ended where it lies.
        let at = if is_it(&stack.frames[top]) {
            top
        } else {
            let Some(at) = stack.frames[..len].iter().rposition(is_it) else {
                return;
            };
            stack.frames[at..len].rotate_left(1);
            top
        };
        if let Some(Entered {
            index,
            interval: Some(interval),
            ..
        }) = &stack.frames[at]
        {
            end(*index, interval);
        }
        stack.frames[at] = None;
        stack.len = top;
    });
}

/// The innermost span of `table` this thread is in.
pub(super) fn innermost(table: &SpanTable) -> Option<u64> {
    let table = table as *const SpanTable as usize;
    ENTERED
        .try_with(|stack| {
            let stack = stack.try_borrow().ok()?;
            stack.frames[..stack.len]
                .iter()
                .rev()
                .flatten()
                .find(|frame| frame.table == table)
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
    fn exits_out_of_order_find_their_frame() {
        let table = SpanTable::new(8);
        enter(&table, 1, 0, || None);
        enter(&table, 2, 1, || None);
        assert_eq!(innermost(&table), Some(2));
        exit(&table, 1, |_, _| panic!("no interval was started"));
        assert_eq!(innermost(&table), Some(2));
        exit(&table, 2, |_, _| panic!("no interval was started"));
        assert_eq!(innermost(&table), None);
    }
}
