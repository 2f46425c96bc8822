//! Sharing without contention, and the one lock the profiler takes on a path
//! reachable from the allocator.
//!
//! - [`SpinLock`]: a lock that never allocates. dhat-rs moved to one after
//!   `parking_lot` deadlocked inside its allocator: a lock reachable from
//!   `alloc` must not allocate through the profiler while held. It is held
//!   only for lookups and inserts into preallocated tables, by a thread that
//!   is untracked (`reentrancy::Untracked`), so an allocation made while
//!   holding it cannot come back to it.
//! - [`Padded`]: a value alone on its pair of cache lines.
//! - [`thread_number`]: a number per thread, to spread threads over copies
//!   of a shared structure.

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicUsize};

/// A value behind a spin lock.
#[derive(Debug)]
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked` (see `lock`): the lock
// hands the value to one thread at a time, which is sound when the value may
// be sent between threads. (Shared access through a guard is governed by the
// guard's own bounds, below.)
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// An unlocked lock around `value`.
    pub(crate) const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock if it is free, without waiting.
    #[cfg_attr(not(feature = "callsites"), allow(dead_code))]
    pub(crate) fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        // The guard is made only once the lock is ours: a guard dropped
        // unused would unlock someone else's lock.
        if self
            .locked
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_ok()
        {
            Some(SpinGuard::new(self))
        } else {
            None
        }
    }

    /// Spins until the lock is free, then holds it until the guard drops.
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        let mut spins = 0u32;
        loop {
            if self
                .locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_ok()
            {
                return SpinGuard::new(self);
            }
            while self.locked.load(Relaxed) {
                // Held for long (a table growing, modules being listed): give
                // the holder the core rather than burn it. Only ever on the
                // sampled path, never on the allocator's common path.
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(64) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// Access to the locked value; unlocks on drop.
///
/// `Send` and `Sync` as `&mut T` is: a guard may be sent when `T: Send`
/// (unlocking from another thread is fine for a spin lock), and shared only
/// when `T: Sync`, since a shared guard hands out `&T` on every thread that
/// holds it.
#[derive(Debug)]
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    _access: PhantomData<&'a mut T>,
}

impl<'a, T> SpinGuard<'a, T> {
    fn new(lock: &'a SpinLock<T>) -> Self {
        SpinGuard {
            lock,
            _access: PhantomData,
        }
    }
}

impl<T> std::ops::Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while it holds the lock, so no other
        // guard, on any thread, has a reference to the value; references
        // handed out here live no longer than the guard.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> std::ops::DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access
        // through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Release);
    }
}

/// A value alone on its pair of cache lines.
///
/// NOTE: for globals the allocator reads on every call (flags written once)
/// and globals it writes (peak tracking): without padding the linker may put
/// a read-mostly flag next to a written counter, and every read would miss.
/// 128 bytes, not 64, because x86 prefetches cache lines in adjacent pairs.
#[repr(align(128))]
#[derive(Debug)]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Numbers threads in the order they first ask: see [`thread_number`].
static NEXT_THREAD_NUMBER: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // The calling thread's number (`usize::MAX`: not asked yet). `const`, no
    // destructor: readable from the allocator.
    static THREAD_NUMBER: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// A number for the calling thread, given in turn at its first call: threads
/// started one after another (a pool's) get consecutive numbers, so
/// `thread_number() % n` spreads them over `n` copies of a shared structure
/// (callsite counter stripes, unwinder caches). 0 once the thread's locals
/// are gone.
#[cfg_attr(not(feature = "callsites"), allow(dead_code))]
pub(crate) fn thread_number() -> usize {
    THREAD_NUMBER
        .try_with(|number| {
            if number.get() == usize::MAX {
                number.set(NEXT_THREAD_NUMBER.fetch_add(1, Relaxed) % (usize::MAX / 2));
            }
            number.get()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_lock_fails_while_held_and_leaves_the_lock_held() {
        let lock = SpinLock::new(1);
        let held = lock.lock();
        assert!(lock.try_lock().is_none());
        assert!(
            lock.try_lock().is_none(),
            "a failed try_lock must not unlock"
        );
        drop(held);
        let mut guard = lock.try_lock().expect("free again");
        *guard += 1;
        drop(guard);
        assert_eq!(*lock.lock(), 2);
    }

    /// Implemented twice for every type that is `Sync`, once otherwise: the
    /// method can only be named without ambiguity for a type that is not
    /// `Sync` (the trick of `static_assertions::assert_not_impl_any`).
    trait NotSyncCheck<Marker> {
        fn not_sync() -> bool {
            true
        }
    }
    impl<T: ?Sized> NotSyncCheck<()> for T {}
    struct IfSync;
    impl<T: ?Sized + Sync> NotSyncCheck<IfSync> for T {}

    #[test]
    fn a_guard_is_shared_only_when_the_value_is_sync() {
        // `Cell` is `Send` but not `Sync`: a shared guard would hand out
        // `&Cell` on two threads. This line compiles only if the guard is not
        // `Sync` (with a `Sync` guard the call would be ambiguous).
        assert!(<SpinGuard<'static, Cell<u8>> as NotSyncCheck<_>>::not_sync());
        fn shared<T: Sync>(_: &T) {}
        let lock = SpinLock::new(Cell::new(0u8));
        shared(&lock); // the lock itself is shared
        let plain = SpinLock::new(0u8);
        shared(&plain.lock()); // and a guard of a `Sync` value
        assert_eq!(*plain.lock(), 0);
    }
}
