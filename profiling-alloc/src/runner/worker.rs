//! [`Worker`]: the thread a sync job runs on with
//! [`ProfileRunner::run_on_thread`](super::ProfileRunner::run_on_thread),
//! so that the runner can return at a run's deadline while the job goes on.
//!
//! A Rust thread cannot be stopped from outside. A run still going at its
//! deadline is abandoned: the runner returns, the worker thread goes on
//! until the job returns, then drops the job (and its value) and exits. A
//! job that never returns keeps its thread until the process exits.
//!
//! Runs are handed over through a `Mutex` and a `Condvar`, which allocate
//! nothing, so the handing over does not show in a run's allocations.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::panic_message;
use super::resources::on_thread_cpu;

/// What one run on the worker gave.
pub(super) enum Returned<R> {
    /// The job returned `value`, having used `thread_cpu` of the worker's
    /// CPU clock.
    Value {
        value: R,
        thread_cpu: Option<Duration>,
    },
    /// The job panicked with this message.
    Panicked(String),
}

/// The worker thread, and the place runs are handed over.
pub(super) struct Worker<R> {
    shared: Arc<Shared<R>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared<R> {
    state: Mutex<State<R>>,
    changed: Condvar,
}

struct State<R> {
    /// The thread is in its loop: what starting it allocated is done.
    ready: bool,
    /// A run asked for and not yet begun.
    start: bool,
    /// The last run's outcome, until the runner takes it.
    returned: Option<Returned<R>>,
    /// The runner is gone (done, or abandoned a run): the worker exits.
    stop: bool,
}

impl<R> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<R: Send + 'static> Worker<R> {
    /// Starts the worker thread, which runs `job` once each time
    /// [`run`](Self::run) asks.
    pub(super) fn start<F>(mut job: F) -> std::io::Result<Worker<R>>
    where
        F: FnMut() -> R + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                ready: false,
                start: false,
                returned: None,
                stop: false,
            }),
            changed: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("profiling-alloc-run".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || loop {
                    {
                        let mut state = shared.lock();
                        if !state.ready {
                            state.ready = true;
                            shared.changed.notify_all();
                        }
                        while !state.start && !state.stop {
                            state = shared
                                .changed
                                .wait(state)
                                .unwrap_or_else(PoisonError::into_inner);
                        }
                        if state.stop {
                            return;
                        }
                        state.start = false;
                    }
                    let returned = match catch_unwind(AssertUnwindSafe(|| on_thread_cpu(&mut job)))
                    {
                        Ok((value, thread_cpu)) => Returned::Value { value, thread_cpu },
                        Err(payload) => Returned::Panicked(panic_message(&*payload)),
                    };
                    let panicked = matches!(returned, Returned::Panicked(_));
                    let mut state = shared.lock();
                    if state.stop {
                        // Abandoned: the value is dropped here, on this thread.
                        return;
                    }
                    state.returned = Some(returned);
                    drop(state);
                    shared.changed.notify_all();
                    if panicked {
                        return;
                    }
                }
            })?;
        // Wait until the thread runs, so that what its start allocates is
        // not counted in the first run.
        drop(
            shared
                .changed
                .wait_while(shared.lock(), |state| !state.ready)
                .unwrap_or_else(PoisonError::into_inner),
        );
        Ok(Worker {
            shared,
            thread: Some(thread),
        })
    }

    /// Runs the job once on the worker and waits for it until `deadline`
    /// (for ever with none): `None` when the deadline passed first (the run
    /// is abandoned and the worker told to exit when it returns).
    pub(super) fn run(&mut self, deadline: Option<Instant>) -> Option<Returned<R>> {
        let mut state = self.shared.lock();
        state.start = true;
        self.shared.changed.notify_all();
        loop {
            if let Some(returned) = state.returned.take() {
                return Some(returned);
            }
            let Some(deadline) = deadline else {
                state = self
                    .shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            let now = Instant::now();
            if now >= deadline {
                state.stop = true;
                drop(state);
                // Not joined: the job may never return.
                self.thread.take();
                return None;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl<R> Drop for Worker<R> {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        // After the last run the worker waits for the next: it exits now.
        // (After an abandoned run the thread was let go, not joined.)
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
