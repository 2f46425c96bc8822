//! Helpers shared by the integration tests: raw blocks (allocations with no
//! bookkeeping of their own), a model of the counting rules, and the scripted
//! exactness checks that every inner allocator must pass.
#![allow(dead_code)]

use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, Layout};
use std::hint::black_box;

use profiling_alloc::{measure, AllocDelta};

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
    pub fn as_delta(&self) -> AllocDelta {
        AllocDelta {
            active: true,
            allocations: self.total_blocks,
            frees: self.freed_blocks,
            reallocs: self.reallocs,
            bytes_allocated: self.total_bytes,
            bytes_freed: self.freed_bytes,
            net_bytes: self.live_bytes,
            net_blocks: self.live_blocks,
            peak_bytes: self.peak_bytes as u64,
        }
    }
}

/// Runs the scripted exactness checks on the calling thread and returns how
/// many checks passed. Every check asserts the exact `AllocDelta` that the
/// counting rules give; whatever the inner allocator, the numbers are the same.
pub fn scripted_exactness_checks() -> usize {
    let mut checks = 0;

    // `Vec::with_capacity(1000)` is one block of 1000 bytes.
    let (kept, delta) = measure(|| black_box(Vec::<u8>::with_capacity(1000)));
    let mut model = Model::default();
    model.alloc(1000);
    assert_eq!(delta, model.as_delta(), "Vec::with_capacity(1000)");
    checks += 1;

    // A Box freed inside the closure nets 0; its peak is its size.
    let ((), delta) = measure(|| drop(black_box(Box::new([7u8; 256]))));
    let mut model = Model::default();
    model.alloc(256);
    model.free(256);
    assert_eq!(delta, model.as_delta(), "Box freed inside the closure");
    assert_eq!(delta.net_bytes, 0);
    checks += 1;

    // `vec![0; n]` goes through alloc_zeroed, which counts as an alloc.
    let (zeroed, delta) = measure(|| black_box(vec![0u8; 5000]));
    let mut model = Model::default();
    model.alloc(5000);
    assert_eq!(delta, model.as_delta(), "alloc_zeroed");
    checks += 1;

    // A shrinking realloc: one new block of the new size, one freed block of
    // the old size, live bytes down by the difference, no peak above start.
    let mut shrinking = Vec::<u8>::with_capacity(1000);
    let ((), delta) = measure(|| shrinking.shrink_to(100));
    assert_eq!(shrinking.capacity(), 100);
    let mut model = Model::default();
    model.realloc(1000, 100);
    assert_eq!(delta, model.as_delta(), "shrinking realloc");
    assert_eq!(
        (delta.net_bytes, delta.net_blocks, delta.peak_bytes),
        (-900, 0, 0)
    );
    checks += 1;

    // A growing realloc that moves the block (a neighbour pins it in place,
    // and 1 MiB does not fit where 64 bytes were).
    let mut growing = Block::bytes(64);
    let neighbour = Block::bytes(64);
    let before = growing.addr();
    let ((), delta) = measure(|| growing.resize(1 << 20));
    assert_ne!(
        growing.addr(),
        before,
        "the growing realloc was meant to move"
    );
    let mut model = Model::default();
    model.realloc(64, 1 << 20);
    assert_eq!(delta, model.as_delta(), "growing realloc that moves");
    growing.free();
    neighbour.free();
    checks += 1;

    // `Vec` growth: one allocation, then one realloc per doubling.
    let mut capacities = [0usize; 32];
    let mut seen = 0;
    let (grown, delta) = measure(|| {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..100 {
            v.push(black_box(i));
            if seen == 0 || capacities[seen - 1] != v.capacity() {
                capacities[seen] = v.capacity();
                seen += 1;
            }
        }
        v
    });
    let mut model = Model::default();
    model.alloc(capacities[0] * 8);
    for pair in capacities[..seen].windows(2) {
        model.realloc(pair[0] * 8, pair[1] * 8);
    }
    assert!(seen >= 3, "Vec grew {seen} times");
    assert_eq!(
        delta,
        model.as_delta(),
        "Vec growth, capacities {:?}",
        &capacities[..seen]
    );
    assert_eq!(delta.net_bytes, grown.capacity() as i64 * 8);
    checks += 1;

    // Nested measures: the outer includes the inner, and its peak too.
    let ((kept_inner, inner), outer) = measure(|| {
        let first = Block::bytes(100);
        let inner = measure(|| {
            let big = Block::bytes(1000);
            big.free();
            Block::bytes(10)
        });
        first.free();
        inner
    });
    let mut model = Model::default();
    model.alloc(1000);
    model.free(1000);
    model.alloc(10);
    assert_eq!(inner, model.as_delta(), "inner measure");
    let mut model = Model::default();
    model.alloc(100);
    model.alloc(1000);
    model.free(1000);
    model.alloc(10);
    model.free(100);
    assert_eq!(outer, model.as_delta(), "outer measure");
    assert_eq!(outer.peak_bytes, 1100);
    kept_inner.free();
    checks += 1;

    drop((kept, zeroed, shrinking, grown));
    checks
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
