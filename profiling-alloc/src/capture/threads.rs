//! News of a thread's first allocation, for the one reader that waits on it:
//! the CPU sampler, which gives a thread started while profiling its timer at
//! once instead of at its next tick (up to 100 ms later).
//!
//! The allocator calls [`ThreadStarts::started`] when a thread claims its
//! counting slot. While nobody watches, that is one relaxed load. While the
//! sampler watches: no lock and no allocation, an atomic swap and, unless a
//! wake is already pending, `Condvar::notify_one` (an atomic add and a futex
//! wake), once per thread. A wake that comes between the sampler's check of
//! the flag and its wait is late, not lost: the flag is seen at its next
//! tick.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Condvar;

/// Whether a thread started since the watcher last looked, and how to wake
/// it.
#[derive(Debug)]
pub(crate) struct ThreadStarts {
    watched: AtomicBool,
    pending: AtomicBool,
    wake: Condvar,
}

/// The process's one [`ThreadStarts`].
pub(crate) static THREAD_STARTS: ThreadStarts = ThreadStarts {
    watched: AtomicBool::new(false),
    pending: AtomicBool::new(false),
    wake: Condvar::new(),
};

impl ThreadStarts {
    /// A thread made its first counted allocation (from the allocator).
    #[inline]
    pub(crate) fn started(&self) {
        if self.watched.load(Relaxed) && !self.pending.swap(true, Release) {
            self.wake.notify_one();
        }
    }

    /// Starts or stops watching; either way, older news is forgotten.
    #[cfg_attr(not(feature = "cpu"), allow(dead_code))]
    pub(crate) fn watch(&self, on: bool) {
        self.pending.store(false, Relaxed);
        self.watched.store(on, Release);
    }

    /// Whether a thread started since the last [`take`](Self::take).
    #[cfg_attr(not(feature = "cpu"), allow(dead_code))]
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Acquire)
    }

    /// Whether a thread started since the last call, clearing the news.
    #[cfg_attr(not(feature = "cpu"), allow(dead_code))]
    pub(crate) fn take(&self) -> bool {
        self.pending.swap(false, Acquire)
    }

    /// What the watcher waits on; also notified to stop it.
    #[cfg_attr(not(feature = "cpu"), allow(dead_code))]
    pub(crate) fn condvar(&self) -> &Condvar {
        &self.wake
    }
}
