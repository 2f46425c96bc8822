//! Helpers shared by the integration tests: raw blocks (allocations with no
//! bookkeeping of their own), a model of the counting rules, the scripted
//! exactness checks that every inner allocator must pass ([`scripted`]), and
//! a runner for test binaries without the test harness ([`quiet`]).
#![allow(dead_code)]

#[cfg(any(feature = "server", feature = "tower"))]
pub mod http;
pub mod peak;
pub mod quiet;
pub mod scripted;

use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, Layout};

use profiling_alloc::AllocDelta;

/// One block from the global allocator, freed explicitly with [`Block::free`].
#[derive(Debug)]
pub struct Block {
    ptr: *mut u8,
    layout: Layout,
}

impl Block {
    /// Allocates `size` bytes aligned to `align` (zeroed if asked).
    pub fn new(size: usize, align: usize, zeroed: bool) -> Block {
        let layout = Layout::from_size_align(size, align).expect("valid layout");
        assert!(size > 0, "blocks must not be empty");
        // SAFETY: `layout` has a non-zero size (asserted above).
        let ptr = unsafe {
            if zeroed {
                alloc_zeroed(layout)
            } else {
                alloc(layout)
            }
        };
        assert!(!ptr.is_null(), "allocation of {size} bytes failed");
        // SAFETY: `ptr` points to at least one writable byte we own.
        unsafe { ptr.write(0x5a) };
        Block { ptr, layout }
    }

    /// Allocates `size` bytes with alignment 1.
    pub fn bytes(size: usize) -> Block {
        Block::new(size, 1, false)
    }

    /// The block's size in bytes.
    pub fn size(&self) -> usize {
        self.layout.size()
    }

    /// The block's address.
    pub fn addr(&self) -> usize {
        self.ptr as usize
    }

    /// Reallocates to `new_size` bytes, keeping the alignment.
    pub fn resize(&mut self, new_size: usize) {
        assert!(new_size > 0);
        // SAFETY: `ptr` was allocated by the global allocator with `layout`,
        // and `new_size` is non-zero and (being small) does not overflow
        // `isize` when rounded up to the alignment.
        let ptr = unsafe { realloc(self.ptr, self.layout, new_size) };
        assert!(!ptr.is_null(), "realloc to {new_size} bytes failed");
        self.ptr = ptr;
        self.layout = Layout::from_size_align(new_size, self.layout.align()).expect("valid layout");
    }

    /// Frees the block.
    pub fn free(self) {
        // SAFETY: `ptr` was allocated by the global allocator with `layout`
        // and is freed once (`self` is consumed).
        unsafe { dealloc(self.ptr, self.layout) }
    }

    /// The block as plain numbers, to send it to another thread.
    pub fn into_raw(self) -> (usize, usize, usize) {
        (self.ptr as usize, self.layout.size(), self.layout.align())
    }

    /// Rebuilds a block from [`Block::into_raw`].
    ///
    /// # Safety
    /// The numbers must come from `into_raw` of a block not yet freed.
    pub unsafe fn from_raw((addr, size, align): (usize, usize, usize)) -> Block {
        Block {
            ptr: addr as *mut u8,
            layout: Layout::from_size_align(size, align).expect("valid layout"),
        }
    }
}

/// What the counting rules (DESIGN rule 6) say a sequence of calls does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub total_blocks: u64,
    pub total_bytes: u64,
    pub freed_blocks: u64,
    pub freed_bytes: u64,
    pub reallocs: u64,
    /// Live counts relative to where the sequence started (may go negative
    /// when it frees blocks allocated before).
    pub live_blocks: i64,
    pub live_bytes: i64,
    /// Highest `live_bytes` (never below the start, 0) and `live_blocks` then.
    pub peak_bytes: i64,
    pub peak_blocks: i64,
}

impl Model {
    pub fn alloc(&mut self, size: usize) {
        self.total_blocks += 1;
        self.total_bytes += size as u64;
        self.live_blocks += 1;
        self.live_bytes += size as i64;
        self.raise_peak();
    }

    pub fn free(&mut self, size: usize) {
        self.freed_blocks += 1;
        self.freed_bytes += size as u64;
        self.live_blocks -= 1;
        self.live_bytes -= size as i64;
    }

    pub fn realloc(&mut self, old: usize, new: usize) {
        self.reallocs += 1;
        self.total_blocks += 1;
        self.total_bytes += new as u64;
        self.freed_blocks += 1;
        self.freed_bytes += old as u64;
        self.live_bytes += new as i64 - old as i64;
        self.raise_peak();
    }

    fn raise_peak(&mut self) {
        // The latest moment wins a tie.
        if self.live_bytes >= self.peak_bytes {
            self.peak_bytes = self.live_bytes;
            self.peak_blocks = self.live_blocks;
        }
    }

    /// The delta `measure` should report for this sequence run from zero.
    pub fn as_delta(&self) -> Counts {
        Counts {
            active: true,
            total_blocks: self.total_blocks,
            total_bytes: self.total_bytes,
            freed_blocks: self.freed_blocks,
            freed_bytes: self.freed_bytes,
            reallocs: self.reallocs,
            live_blocks: self.live_blocks,
            live_bytes: self.live_bytes,
            peak_bytes: self.peak_bytes as u64,
        }
    }
}

/// The numbers of an [`AllocDelta`], to compare with a [`Model`]'s (the
/// library's type is `#[non_exhaustive]`: tests read it, never build it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub active: bool,
    pub total_blocks: u64,
    pub total_bytes: u64,
    pub freed_blocks: u64,
    pub freed_bytes: u64,
    pub reallocs: u64,
    pub live_blocks: i64,
    pub live_bytes: i64,
    pub peak_bytes: u64,
}

impl Counts {
    pub fn of(delta: &AllocDelta) -> Counts {
        Counts {
            active: delta.active,
            total_blocks: delta.total_blocks,
            total_bytes: delta.total_bytes,
            freed_blocks: delta.freed_blocks,
            freed_bytes: delta.freed_bytes,
            reallocs: delta.reallocs,
            live_blocks: delta.live_blocks,
            live_bytes: delta.live_bytes,
            peak_bytes: delta.peak_bytes,
        }
    }
}

/// A small deterministic generator (xorshift64*), so workloads repeat.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The registry's entry for the job `name` (panics with the list if absent).
pub fn job(name: &str) -> profiling_alloc::JobStats {
    let jobs = profiling_alloc::job_stats();
    match jobs.iter().find(|job| job.name == name) {
        Some(job) => job.clone(),
        None => {
            let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
            panic!("no job named {name:?} in {names:?}")
        }
    }
}

/// Returns `Pending` once, waking itself: an `.await` point that allocates
/// nothing (unlike a runtime's own yield, which may grow a queue).
pub struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return std::task::Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// An `.await` point that allocates nothing.
pub fn yield_once() -> YieldOnce {
    YieldOnce(false)
}

/// The calling thread's CPU time (its CPU clock, through libc).
#[cfg(unix)]
pub fn thread_cpu() -> std::time::Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec and the clock id is one
    // every Linux and macOS has.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut now) };
    assert_eq!(status, 0);
    std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Polls `future` to completion on this thread with a no-op waker.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}
