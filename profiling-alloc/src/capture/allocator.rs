//! [`ProfilingAllocator`]: the `GlobalAlloc` wrapper. Hot path only.
//!
//! The rules every line here keeps (DESIGN.md, "The hot path"):
//!
//! 1. Never panic, never deadlock, never recurse into itself: no `unwrap`, no
//!    indexing that can fail, no lock, no formatting, no allocation.
//! 2. Work when thread-locals are gone (thread start-up and teardown): the
//!    thread then counts into the shared slot; no count is lost.
//! 3. In the default mode, no lock, no syscall and no write to a cache line
//!    another thread writes: a thread counts into its own slot.
//! 4. Totals are exact: `live_bytes == total_bytes - freed_bytes` to the byte.
//! 5. Peak: exact in exact-peak mode, otherwise within a documented bound.
//! 6. Counting conventions of dhat-rs and valgrind's DHAT (see the crate docs).

use std::alloc::{GlobalAlloc, Layout, System};

use super::counts::slot::{LiveChange, Owned, Shared, Slot, Writer};
use super::counts::slot_table::{self, Target};
use super::counts::{peak, ENABLED};
use super::sampling::{self, mode::Sampling};

/// Default peak tolerance in bytes: how far a thread's live bytes may drift
/// before it reports them to the global peak tracker.
pub const DEFAULT_PEAK_TOLERANCE: u64 = 64 * 1024;

/// A global allocator that counts every allocation, then forwards it to an
/// inner allocator (`System` by default).
///
/// Install it once per program:
///
/// ```
/// use profiling_alloc::ProfilingAllocator;
///
/// #[global_allocator]
/// static ALLOC: ProfilingAllocator = ProfilingAllocator::system();
/// # fn main() {
/// # let v: Vec<u8> = Vec::with_capacity(10);
/// # assert!(profiling_alloc::heap_stats().live_bytes >= 10);
/// # }
/// ```
///
/// Wrapping another allocator works the same way, e.g.
/// `ProfilingAllocator::new(mimalloc::MiMalloc)`.
///
/// The counters are global to the process; install one instance as the
/// `#[global_allocator]`.
#[derive(Debug)]
pub struct ProfilingAllocator<A: GlobalAlloc = System> {
    inner: A,
    exact_peak: bool,
    peak_tolerance: u64,
    /// Initial sampling mode, encoded (`Sampling::encode`).
    sampling: u64,
}

impl ProfilingAllocator<System> {
    /// Counts allocations made through the system allocator.
    pub const fn system() -> Self {
        Self::new(System)
    }
}

impl<A: GlobalAlloc> ProfilingAllocator<A> {
    /// Counts allocations made through `inner`.
    pub const fn new(inner: A) -> Self {
        ProfilingAllocator {
            inner,
            exact_peak: false,
            peak_tolerance: DEFAULT_PEAK_TOLERANCE,
            sampling: Sampling::poisson().encode(),
        }
    }

    /// Tracks the peak exactly: [`HeapStats::peak_bytes`](crate::HeapStats::peak_bytes)
    /// is the true high-water mark of live bytes and `peak_blocks` the live
    /// blocks at that moment.
    ///
    /// Costs one atomic update of a shared cache line per allocation and free;
    /// see the README for the measured overhead.
    ///
    /// ```
    /// use profiling_alloc::ProfilingAllocator;
    ///
    /// #[global_allocator]
    /// static ALLOC: ProfilingAllocator = ProfilingAllocator::system().exact_peak();
    /// # fn main() {}
    /// ```
    pub const fn exact_peak(mut self) -> Self {
        self.exact_peak = true;
        self
    }

    /// Sets how many bytes a thread's live count may drift before it is added
    /// to the global peak tracker (default mode; default
    /// [`DEFAULT_PEAK_TOLERANCE`]). While several threads allocate, the
    /// reported peak is within `tolerance * threads` of the true peak; 0
    /// makes every allocation report, at the cost of shared atomics. (With
    /// one thread allocating at a time the peak is exact at any tolerance:
    /// see [`HeapStats::peak_is_exact`](crate::HeapStats::peak_is_exact).)
    pub const fn peak_tolerance(mut self, bytes: u64) -> Self {
        self.peak_tolerance = bytes;
        self
    }

    /// Chooses which allocations have their stacks sampled from the start
    /// (see the [`callsites`](mod@crate::callsites) module); the mode can be changed at run
    /// time with [`set_sampling`](crate::set_sampling). Default:
    /// [`Sampling::poisson()`](crate::Sampling::poisson), one sample per
    /// 512 KiB allocated on average, as jemalloc's and Go's heap profiles;
    /// [`Sampling::Off`](crate::Sampling::Off) to only count.
    ///
    /// ```
    /// use profiling_alloc::{ProfilingAllocator, Sampling};
    ///
    /// #[global_allocator]
    /// static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::poisson());
    /// # fn main() {}
    /// ```
    pub const fn sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling.encode();
        self
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }

    /// Counts one allocator event in the calling thread's slot, or in the
    /// shared slot when the thread has none (rule 2), and updates the peak.
    ///
    /// PERF: the common path is the thread's own slot, read from one
    /// thread-local; everything else (the process's first call, a thread's
    /// first call, the shared slot, the profiler's own allocations) is out of
    /// line in [`record_elsewhere`](Self::record_elsewhere).
    #[inline(always)]
    fn record(&self, event: Event) {
        if !ENABLED {
            return;
        }
        match slot_table::own_slot() {
            // SAFETY: `own_slot` is the thread's own.
            Some(slot) => unsafe { self.record_in(slot, event) },
            None => {
                let (kind, a, b, c) = event.parts();
                self.record_elsewhere(kind, a, b, c);
            }
        }
    }

    /// Rule 3: the thread's own slot, plain loads and stores.
    ///
    /// # Safety
    ///
    /// `slot` is the calling thread's own.
    #[inline(always)]
    unsafe fn record_in(&self, slot: &Slot, event: Event) {
        let change = event.apply::<Owned>(slot);
        match event.new_block() {
            Some((addr, size)) => {
                // SAFETY: the caller's contract.
                let _ = unsafe {
                    self.new_block_counted(slot, change, event.raises(), addr as *mut u8, size)
                };
            }
            // SAFETY: the caller's contract.
            None => unsafe { self.peak_after(slot, change, false) },
        }
    }

    /// The end of the common path for a new block (an allocation, or a
    /// realloc's new block) already counted in the thread's own slot: the
    /// peak's part and the sampling decision. Returns `block`.
    ///
    /// PERF: every call here is the last thing the allocator's entry does
    /// (the peak's moves go out of line with the sampling after them), so
    /// that the entry keeps no register across a call but what it needs
    /// around `inner`'s.
    ///
    /// # Safety
    ///
    /// `slot` is the calling thread's own.
    #[inline(always)]
    unsafe fn new_block_counted(
        &self,
        slot: &Slot,
        change: LiveChange,
        raises: bool,
        block: *mut u8,
        size: usize,
    ) -> *mut u8 {
        // SAFETY: the caller's contract.
        if unsafe { self.peak_moves(slot, change, raises) } {
            // SAFETY: the caller's contract.
            return unsafe { self.new_block_moving_peak(slot, change, raises, block, size) };
        }
        // SAFETY: the caller's contract.
        unsafe { Self::sample_new_block(slot, block, size) }
    }

    /// [`new_block_counted`](Self::new_block_counted) when the peak has
    /// work to do: does it, then samples.
    ///
    /// # Safety
    ///
    /// `slot` is the calling thread's own.
    #[cold]
    #[inline(never)]
    unsafe fn new_block_moving_peak(
        &self,
        slot: &Slot,
        change: LiveChange,
        raises: bool,
        block: *mut u8,
        size: usize,
    ) -> *mut u8 {
        // SAFETY: the caller's contract.
        unsafe {
            self.peak_moved(slot, change, raises);
            Self::sample_new_block(slot, block, size)
        }
    }

    /// Samples a new block made by the owner of `slot` if the mode and its
    /// countdown say so. Returns `block`.
    ///
    /// # Safety
    ///
    /// `slot` is the calling thread's own.
    #[inline(always)]
    unsafe fn sample_new_block(slot: &Slot, block: *mut u8, size: usize) -> *mut u8 {
        #[cfg(feature = "callsites")]
        // SAFETY: the caller's contract.
        return unsafe { sampling::on_new_block(slot, block, size) };
        #[cfg(not(feature = "callsites"))]
        {
            let _ = (slot, size);
            block
        }
    }

    /// The peak's part of an event counted in the thread's own slot.
    ///
    /// # Safety
    ///
    /// `slot` is the calling thread's own.
    #[inline(always)]
    unsafe fn peak_after(&self, slot: &Slot, change: LiveChange, raises: bool) {
        // SAFETY: the caller's contract.
        if unsafe { self.peak_moves(slot, change, raises) } {
            // SAFETY: the caller's contract.
            unsafe { self.peak_moved(slot, change, raises) };
        }
    }

    /// The common part of [`peak_after`](Self::peak_after): whether the
    /// peak has work to do (always under exact peaks; otherwise
    /// `peak::rise` or `peak::fall` says).
    ///
    /// # Safety
    ///
    /// `slot` is the calling thread's own.
    #[inline(always)]
    unsafe fn peak_moves(&self, slot: &Slot, change: LiveChange, raises: bool) -> bool {
        self.exact_peak
            || if raises {
                // SAFETY: the caller's contract.
                unsafe { peak::rise(slot, change) }
            } else {
                // A fall: `-change.bytes` is its size.
                // SAFETY: the caller's contract.
                unsafe { peak::fall(slot, (change.bytes as u64).wrapping_neg()) }
            }
    }

    /// The rest of [`peak_after`](Self::peak_after) once
    /// [`peak_moves`](Self::peak_moves) said so.
    ///
    /// # Safety
    ///
    /// `slot` is the calling thread's own.
    #[inline(always)]
    unsafe fn peak_moved(&self, slot: &Slot, change: LiveChange, raises: bool) {
        if self.exact_peak {
            Self::peak_exact(slot, change);
        } else if raises {
            // SAFETY: the caller's contract.
            unsafe { peak::rise_moved(slot, change) };
        } else {
            // SAFETY: the caller's contract.
            unsafe { peak::fall_moved(slot) };
        }
    }

    /// The peak's part of an event under exact peaks.
    #[inline(always)]
    fn peak_exact(slot: &Slot, change: LiveChange) {
        if change.bytes > 0 {
            slot.raise_max_net();
        }
        peak::apply_exact(change);
    }

    /// A free off the common path: a block that may have been sampled, or a
    /// thread without its own slot. Counts it as `record` does, then frees.
    ///
    /// # Safety
    ///
    /// `GlobalAlloc::dealloc`'s contract for `ptr` and `layout`.
    #[cold]
    #[inline(never)]
    unsafe fn dealloc_elsewhere(&self, ptr: *mut u8, layout: Layout) {
        // A sampled block leaves its callsite's live counts before its address
        // can be handed out again.
        #[cfg(feature = "callsites")]
        sampling::on_free(ptr as usize);
        self.record(Event::Dealloc {
            size: layout.size(),
        });
        // SAFETY: the caller's contract (`dealloc`'s).
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    /// A free counted in the thread's own slot whose net left the flush
    /// window (or under exact peaks): the peak's part, then the free.
    ///
    /// # Safety
    ///
    /// `GlobalAlloc::dealloc`'s contract for `ptr` and `layout`; `slot` is
    /// the calling thread's own.
    #[cold]
    #[inline(never)]
    unsafe fn dealloc_counted(
        &self,
        ptr: *mut u8,
        layout: Layout,
        slot: &Slot,
        change: LiveChange,
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            self.peak_moved(slot, change, false);
            self.inner.dealloc(ptr, layout)
        }
    }

    /// A realloc off the common path: of a block that may have been
    /// sampled, or by a thread without its own slot. A sampled old block
    /// leaves its callsite before its address can be reused, and comes back
    /// if the realloc fails.
    ///
    /// # Safety
    ///
    /// `GlobalAlloc::realloc`'s contract for `ptr`, `layout` and `new_size`.
    #[cold]
    #[inline(never)]
    unsafe fn realloc_elsewhere(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        #[cfg(feature = "callsites")]
        let tracked = sampling::before_realloc(ptr as usize);
        // SAFETY: the caller's contract (`realloc`'s), passed on unchanged.
        let new_ptr = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new_ptr.is_null() {
            #[cfg(feature = "callsites")]
            if let Some(tracked) = tracked {
                sampling::on_reallocated(tracked);
            }
            self.record(Event::Realloc {
                new_addr: new_ptr as usize,
                old_size: layout.size(),
                new_size,
            });
        } else {
            // On failure the old block is untouched and nothing is counted.
            #[cfg(feature = "callsites")]
            if let Some(tracked) = tracked {
                sampling::on_realloc_failed(tracked);
            }
        }
        new_ptr
    }

    /// Counts the block `inner` returned for `layout`, if it returned one,
    /// and returns it.
    #[inline(always)]
    fn allocated(&self, block: *mut u8, layout: Layout) -> *mut u8 {
        if !ENABLED || block.is_null() {
            return block;
        }
        let size = layout.size();
        let Some(slot) = slot_table::own_slot() else {
            return self.allocated_elsewhere(block, size);
        };
        let change = slot.record_alloc::<Owned>(size);
        // SAFETY: `own_slot` is the thread's own.
        unsafe { self.new_block_counted(slot, change, true, block, size) }
    }

    /// [`allocated`](Self::allocated) by a thread without its own slot.
    #[cold]
    #[inline(never)]
    fn allocated_elsewhere(&self, block: *mut u8, size: usize) -> *mut u8 {
        self.record(Event::Alloc {
            addr: block as usize,
            size,
        });
        block
    }

    /// A call from a thread without a slot of its own yet (its first, which
    /// claims one; the process's first also publishes the configuration), or
    /// counted in the shared slot, or the profiler's own.
    ///
    /// Takes the event in its parts: four words in registers, so the common
    /// path does not build the event in memory for it.
    #[cold]
    #[inline(never)]
    fn record_elsewhere(&self, kind: u8, a: usize, b: usize, c: usize) {
        let event = Event::from_parts(kind, a, b, c);
        if !super::counts::counting_started() {
            self.install();
        }
        match slot_table::target() {
            // SAFETY: `Own` is the thread's own slot.
            Target::Own(slot) => unsafe { self.record_in(slot, event) },
            Target::Untracked => {}
            Target::Shared => {
                // Rule 2: no slot (TLS gone, or every slot taken).
                let change = event.apply::<Shared>(&slot_table::SHARED);
                if self.exact_peak {
                    peak::apply_exact(change);
                } else {
                    peak::flush(change);
                }
            }
        }
    }

    /// The allocator's first call: publishes its configuration (peak mode,
    /// sampling mode) for readers, then marks the allocator installed.
    #[cold]
    #[inline(never)]
    fn install(&self) {
        peak::publish_mode(self.exact_peak, self.peak_tolerance);
        sampling::publish_configured(self.sampling);
        super::counts::mark_installed();
    }
}

/// One allocator call that succeeded.
#[derive(Clone, Copy)]
// Addresses are read only by sampling (feature `callsites`).
#[cfg_attr(not(feature = "callsites"), allow(dead_code))]
enum Event {
    Alloc {
        addr: usize,
        size: usize,
    },
    Dealloc {
        size: usize,
    },
    Realloc {
        new_addr: usize,
        old_size: usize,
        new_size: usize,
    },
}

impl Event {
    /// The event as a kind and three words (see [`Event::from_parts`]).
    #[inline(always)]
    fn parts(self) -> (u8, usize, usize, usize) {
        match self {
            Event::Alloc { addr, size } => (0, addr, size, 0),
            Event::Dealloc { size } => (1, 0, size, 0),
            Event::Realloc {
                new_addr,
                old_size,
                new_size,
            } => (2, new_addr, old_size, new_size),
        }
    }

    /// The event [`Event::parts`] took apart.
    #[inline(always)]
    fn from_parts(kind: u8, a: usize, b: usize, c: usize) -> Event {
        match kind {
            0 => Event::Alloc { addr: a, size: b },
            1 => Event::Dealloc { size: b },
            _ => Event::Realloc {
                new_addr: a,
                old_size: b,
                new_size: c,
            },
        }
    }

    /// The block this event created, if any: what sampling looks at.
    #[inline(always)]
    fn new_block(self) -> Option<(usize, usize)> {
        match self {
            Event::Alloc { addr, size } => Some((addr, size)),
            Event::Realloc {
                new_addr, new_size, ..
            } => Some((new_addr, new_size)),
            Event::Dealloc { .. } => None,
        }
    }

    /// Whether the event raises the live bytes: known where the event is
    /// made, but for a realloc.
    #[inline(always)]
    fn raises(self) -> bool {
        match self {
            Event::Alloc { .. } => true,
            Event::Dealloc { .. } => false,
            Event::Realloc {
                old_size, new_size, ..
            } => new_size > old_size,
        }
    }

    #[inline(always)]
    fn apply<W: Writer>(self, slot: &Slot) -> LiveChange {
        match self {
            Event::Alloc { size, .. } => slot.record_alloc::<W>(size),
            Event::Dealloc { size } => slot.record_dealloc::<W>(size),
            Event::Realloc {
                old_size, new_size, ..
            } => slot.record_realloc::<W>(old_size, new_size),
        }
    }
}

// SAFETY: every method forwards to `A` with exactly the arguments it was given
// (the realloc's layout and new size unchanged), returns what `A` returned, and
// counts before or after without touching the memory. Counting never unwinds
// (the sampled path is held to no panic, and aborts rather than unwind if a
// dependency panicked anyway: `sampling::record`), and never allocates
// except once per thread, when std registers the slot releaser's destructor
// (that allocation is counted normally, not recursively; see
// `counts::slot_table`). So `A`'s guarantees are the caller's guarantees.
unsafe impl<A: GlobalAlloc> GlobalAlloc for ProfilingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for
        // `layout` (non-zero size); it is passed through unchanged.
        let ptr = unsafe { self.inner.alloc(layout) };
        self.allocated(ptr, layout)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`: the caller's layout, passed through unchanged.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        // Rule 6: a zeroed allocation counts as an allocation.
        self.allocated(ptr, layout)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // The common free (by a thread with its own slot, of a block the
        // sampling filter rules out, leaving its net inside the flush window)
        // is counted here and ends in `inner`'s free. Every other goes out of
        // line and frees there, so that the common one calls nothing it must
        // come back from, and saves no registers.
        if ENABLED {
            let Some(slot) = slot_table::own_slot() else {
                // SAFETY: this call's own contract, passed on.
                return unsafe { self.dealloc_elsewhere(ptr, layout) };
            };
            #[cfg(feature = "callsites")]
            if sampling::slot_may_free_sampled(slot, ptr as usize) {
                // SAFETY: as above.
                return unsafe { self.dealloc_elsewhere(ptr, layout) };
            }
            let change = slot.record_dealloc::<Owned>(layout.size());
            // SAFETY: `own_slot` is the thread's own.
            if self.exact_peak || unsafe { peak::fall(slot, layout.size() as u64) } {
                // SAFETY: as above.
                return unsafe { self.dealloc_counted(ptr, layout, slot, change) };
            }
        }
        // SAFETY: the caller guarantees `ptr` was allocated by this allocator
        // (hence by `inner`, which made every block we handed out) with
        // `layout`.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The common realloc: by a thread with its own slot, of a block the
        // sampling filter rules out. Every other goes out of line.
        if ENABLED {
            let Some(slot) = slot_table::own_slot() else {
                // SAFETY: this call's own contract, passed on.
                return unsafe { self.realloc_elsewhere(ptr, layout, new_size) };
            };
            #[cfg(feature = "callsites")]
            if sampling::slot_may_free_sampled(slot, ptr as usize) {
                // SAFETY: as above.
                return unsafe { self.realloc_elsewhere(ptr, layout, new_size) };
            }
            // SAFETY: the caller guarantees `ptr` came from this allocator
            // (so from `inner`) with `layout`, and that `new_size` is valid
            // for `layout.align()`; all are passed through unchanged.
            let new_ptr = unsafe { self.inner.realloc(ptr, layout, new_size) };
            if new_ptr.is_null() {
                // On failure the old block is untouched and nothing is
                // counted.
                return new_ptr;
            }
            // The thread's slot is still its own: `inner` does not touch
            // the profiler's thread-locals.
            let change = slot.record_realloc::<Owned>(layout.size(), new_size);
            // SAFETY: `own_slot` is the thread's own.
            return unsafe {
                self.new_block_counted(slot, change, new_size > layout.size(), new_ptr, new_size)
            };
        }
        // SAFETY: as above.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}
