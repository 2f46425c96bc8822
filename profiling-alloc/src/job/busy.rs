//! Busy time: how long a job runs, as opposed to how long it takes. A sync
//! call is busy from entry to return; an async call only inside its polls.
//! A job's *self* busy time leaves out the busy time of the jobs that ran
//! inside it on the same thread (a nested call, a child future polled from
//! its poll), so that self times add up: a path's self time plus its
//! children's busy time is its own busy time, however many children ran at
//! once. This is what the job-time flamegraph draws.
//!
//! Each thread keeps one number: the busy time of the spans that ended
//! inside its innermost open span. Opening a span saves it and starts from
//! zero; closing one reads what ended inside, and puts the saved number
//! back plus the span's own length, for the enclosing span to subtract.

use std::cell::Cell;

thread_local! {
    // `const`, no destructor: readable at any time, never allocates.
    static NESTED: Cell<u64> = const { Cell::new(0) };
}

/// An open span of busy time on this thread: a sync call, or one poll.
#[derive(Debug)]
pub(crate) struct BusySpan {
    /// What the enclosing span had seen end inside it when this one opened.
    outer: u64,
}

impl BusySpan {
    /// Opens a span on the calling thread.
    #[inline]
    pub(crate) fn open() -> BusySpan {
        let outer = NESTED.try_with(|nested| nested.replace(0)).unwrap_or(0);
        BusySpan { outer }
    }

    /// Closes the span, which lasted `nanos`, on the thread that opened it:
    /// returns its self time (`nanos` less the spans that ended inside it)
    /// and counts `nanos` as nested in the enclosing span. Spans close in
    /// the reverse order of opening (a guard's drop, the end of a poll).
    #[inline]
    pub(crate) fn close(&self, nanos: u64) -> u64 {
        let inside = NESTED
            .try_with(|nested| nested.replace(self.outer.saturating_add(nanos)))
            .unwrap_or(0);
        nanos.saturating_sub(inside)
    }
}

impl BusySpan {
    /// Closes this span, which lasted `nanos`, while `above`, opened after
    /// it on the same thread `above_nanos` ago, stays open (spans closed out
    /// of order). Returns this span's self time: `nanos` less what ended
    /// inside it before `above` opened and less `above`'s time so far. The
    /// enclosing span will see this span's time and the rest of `above`'s
    /// as nested in it.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn close_under(self, nanos: u64, above: &mut BusySpan, above_nanos: u64) -> u64 {
        // `above.outer` is what had ended inside this span when `above`
        // opened.
        let inside = above.outer.saturating_add(above_nanos);
        above.outer = self.outer.saturating_add(nanos).saturating_sub(above_nanos);
        nanos.saturating_sub(inside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_time_leaves_out_nested_spans_and_sums_up() {
        // Run on a thread of its own: the count is the thread's.
        std::thread::spawn(|| {
            let outer = BusySpan::open();
            let first = BusySpan::open();
            let grandchild = BusySpan::open();
            assert_eq!(grandchild.close(10), 10);
            assert_eq!(first.close(40), 30, "less the grandchild's 10");
            let second = BusySpan::open();
            assert_eq!(second.close(25), 25);
            assert_eq!(outer.close(100), 35, "less the children's 40 + 25");
            // A later top-level span starts from nothing.
            let next = BusySpan::open();
            assert_eq!(next.close(7), 7);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn spans_closed_out_of_order_still_add_up() {
        std::thread::spawn(|| {
            let outer = BusySpan::open();
            let first = BusySpan::open();
            let child = BusySpan::open();
            assert_eq!(child.close(5), 5);
            let mut second = BusySpan::open();
            // `first` (40 so far) ends while `second` (10 so far) goes on.
            assert_eq!(first.close_under(40, &mut second, 10), 25, "less 5 and 10");
            // `second` ends after 30 in all.
            assert_eq!(second.close(30), 30);
            // The outer span saw 40 + (30 - 10) = 60 nested.
            assert_eq!(outer.close(100), 40);
        })
        .join()
        .unwrap();
    }
}
