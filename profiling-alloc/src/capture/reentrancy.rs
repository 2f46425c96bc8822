//! What the allocator does with allocations the profiler makes itself: the
//! two guards, both per thread, both restored on drop (also when unwinding).
//!
//! - [`Untracked`]: neither counted nor sampled. For the profiler's own
//!   memory (its tables, registries, symbol caches): it does not show in the
//!   user's numbers, and the sampled path cannot re-enter itself (a sample
//!   taken while holding a table's lock would wait for that lock forever).
//!   Only memory that is never freed, or freed while untracked too, may be
//!   allocated under it: a block counted on one side only would unbalance
//!   the live counts.
//! - [`SamplingSuspended`]: counted as usual, never sampled. For the
//!   profiler's readers (building callsites, a report, a flamegraph): what
//!   they allocate is the caller's memory, but not one of the program's
//!   callsites, and it must not show up in the next report.
//!
//! `Untracked` is a state of the thread's slot index (see
//! `counts::slot_table`), so the allocator learns it from the one
//! thread-local it reads anyway; `SamplingSuspended` is checked only on the
//! sampled path.

use std::cell::Cell;
use std::marker::PhantomData;

use crate::capture::counts::slot_table;

/// While alive, the calling thread's allocations are neither counted nor
/// sampled.
#[derive(Debug)]
pub(crate) struct Untracked {
    saved: usize,
    // Must be dropped on the thread that made it: it restores that thread's
    // slot index.
    _not_send: PhantomData<*const ()>,
}

impl Untracked {
    /// Stops counting the calling thread's allocations until dropped.
    pub(crate) fn enter() -> Untracked {
        Untracked {
            saved: slot_table::enter_untracked(),
            _not_send: PhantomData,
        }
    }

    /// Whether the calling thread is untracked now (inside the profiler).
    #[cfg_attr(not(feature = "callsites"), allow(dead_code))]
    pub(crate) fn active() -> bool {
        slot_table::is_untracked()
    }
}

impl Drop for Untracked {
    fn drop(&mut self) {
        slot_table::restore_index(self.saved);
    }
}

thread_local! {
    // Nesting depth of `SamplingSuspended` scopes on this thread. `const`,
    // no destructor: readable from the allocator.
    static SUSPENDED: Cell<u32> = const { Cell::new(0) };
}

/// While alive, the calling thread's allocations are counted but never
/// sampled. Scopes nest.
#[derive(Debug)]
pub(in crate::capture) struct SamplingSuspended {
    _not_send: PhantomData<*const ()>,
}

impl SamplingSuspended {
    /// Suspends sampling on the calling thread until dropped.
    pub(crate) fn enter() -> Self {
        let _ = SUSPENDED.try_with(|depth| depth.set(depth.get().saturating_add(1)));
        SamplingSuspended {
            _not_send: PhantomData,
        }
    }

    /// Whether sampling is suspended on the calling thread.
    #[cfg_attr(not(feature = "callsites"), allow(dead_code))]
    pub(crate) fn active() -> bool {
        SUSPENDED.try_with(|depth| depth.get() > 0).unwrap_or(false)
    }
}

impl Drop for SamplingSuspended {
    fn drop(&mut self) {
        let _ = SUSPENDED.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_nest_and_restore_on_drop() {
        assert!(!Untracked::active());
        {
            let _outer = Untracked::enter();
            assert!(Untracked::active());
            {
                let _inner = Untracked::enter();
                assert!(Untracked::active());
            }
            assert!(Untracked::active(), "the outer guard still holds");
        }
        assert!(!Untracked::active());

        let outer = SamplingSuspended::enter();
        let inner = SamplingSuspended::enter();
        drop(inner);
        assert!(SamplingSuspended::active());
        drop(outer);
        assert!(!SamplingSuspended::active());
    }

    #[test]
    fn a_panic_restores_the_guards() {
        let caught = std::panic::catch_unwind(|| {
            let _untracked = Untracked::enter();
            let _suspended = SamplingSuspended::enter();
            panic!("unwinding through the guards");
        });
        assert!(caught.is_err());
        assert!(!Untracked::active());
        assert!(!SamplingSuspended::active());
    }
}
