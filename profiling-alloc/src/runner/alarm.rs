//! [`Alarm`]: the deadline of an async run. A future that waits (on a
//! timer, a socket, a channel) is only polled again when it is woken, so a
//! limit checked at each poll would let a job that sleeps 3 s run 3 s past
//! a 500 ms limit. The alarm is a thread that wakes the runner's task at the
//! deadline; the runner then sees the time is up and drops the job's future.
//!
//! The thread is started once per `run_async`, before the first run, and
//! stopped when the runner's future ends or is dropped. It allocates
//! nothing while runs go on (a std `Mutex` and `Condvar` do not allocate;
//! the waker is cloned only when the task's waker changes).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::Instant;

/// A thread that wakes a task at a deadline.
#[derive(Debug)]
pub(super) struct Alarm {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    deadline: Option<Instant>,
    waker: Option<Waker>,
    stop: bool,
    /// The thread is in its loop: what starting it allocated is done.
    ready: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Alarm {
    /// Starts the alarm's thread; `None` when it cannot be started (the
    /// runner then checks the deadline only when the job's future is woken).
    pub(super) fn start() -> Option<Alarm> {
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("profiling-alloc-deadline".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || ring(&shared)
            })
            .ok()?;
        // Wait until the thread runs, so that what its start allocates is
        // not counted in the first run.
        drop(
            shared
                .changed
                .wait_while(shared.lock(), |state| !state.ready)
                .unwrap_or_else(PoisonError::into_inner),
        );
        Some(Alarm {
            shared,
            thread: Some(thread),
        })
    }

    /// Wakes `waker` at `deadline` (replacing what was set before).
    pub(super) fn set(&self, deadline: Instant, waker: &Waker) {
        let mut state = self.shared.lock();
        let same = state.waker.as_ref().is_some_and(|w| w.will_wake(waker));
        if !same {
            state.waker = Some(waker.clone());
        }
        let moved = state.deadline != Some(deadline);
        state.deadline = Some(deadline);
        drop(state);
        if moved || !same {
            self.shared.changed.notify_all();
        }
    }

    /// Wakes nothing until set again. The waker is kept (until the alarm is
    /// dropped), so that the next run's first wait does not clone it again
    /// inside that run.
    pub(super) fn clear(&self) {
        self.shared.lock().deadline = None;
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Dropped outside the lock: a waker's drop may run executor code.
        let waker = self.shared.lock().waker.take();
        drop(waker);
    }
}

/// The alarm thread: sleeps until the deadline (or a change), then wakes the
/// task once.
fn ring(shared: &Shared) {
    let mut state = shared.lock();
    state.ready = true;
    shared.changed.notify_all();
    loop {
        if state.stop {
            return;
        }
        state = match state.deadline {
            None => shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    state.deadline = None;
                    let waker = state.waker.take();
                    drop(state);
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                    shared.lock()
                } else {
                    shared
                        .changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakes_once_at_the_deadline_and_not_after_a_clear() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let alarm = Alarm::start().expect("a thread");
        alarm.set(Instant::now() + Duration::from_millis(20), &waker);
        let give_up = Instant::now() + Duration::from_secs(30);
        while count.0.load(Ordering::SeqCst) == 0 && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken at the deadline");

        // Cleared before its deadline: no wake.
        alarm.set(Instant::now() + Duration::from_millis(20), &waker);
        alarm.clear();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&count), 3, "kept for the next run");
        drop(alarm); // joins the thread
        assert_eq!(Arc::strong_count(&count), 2, "the alarm let its waker go");
    }
}
