//! The criterion measurements (`--features criterion`): a known routine reads
//! exactly its bytes and blocks per iteration, through the `Measurement`
//! trait and through criterion's own runs.
//!
//! Each measurement counts only the calling thread, so these tests run under
//! the test harness, beside each other and beside a thread that allocates
//! all along: nothing of it may show up.

use std::cell::Cell;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BatchSize, Criterion};
use profiling_alloc::criterion::{AllocatedBytes, Allocations};
use profiling_alloc::ProfilingAllocator;

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

/// `Vec::<u64>::with_capacity(100)` and `String::with_capacity(24)`.
const ROUTINE_BYTES: u64 = 100 * 8 + 24;
const ROUTINE_BLOCKS: u64 = 2;

thread_local! {
    /// Calls of [`routine`] on this thread: how many iterations a
    /// measurement spanned. `const`, so reading it allocates nothing.
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

/// The known routine: two blocks, 824 bytes, freed when the result drops.
fn routine() -> (Vec<u64>, String) {
    CALLS.with(|calls| calls.set(calls.get() + 1));
    let table: Vec<u64> = black_box(Vec::with_capacity(100));
    let name = black_box(String::with_capacity(24));
    (table, name)
}

fn calls() -> u64 {
    CALLS.with(Cell::get)
}

#[test]
fn the_trait_reads_a_known_routine_exactly() {
    for iterations in [1u64, 10, 1000] {
        let bytes_start = AllocatedBytes.start();
        let blocks_start = Allocations.start();
        for _ in 0..iterations {
            black_box(routine());
        }
        let blocks = Allocations.end(blocks_start);
        let bytes = AllocatedBytes.end(bytes_start);
        assert_eq!(bytes, iterations * ROUTINE_BYTES, "{iterations} iterations");
        assert_eq!(
            blocks,
            iterations * ROUTINE_BLOCKS,
            "{iterations} iterations"
        );
        assert_eq!(
            AllocatedBytes.to_f64(&bytes) / iterations as f64,
            ROUTINE_BYTES as f64
        );
        assert_eq!(
            Allocations.to_f64(&blocks) / iterations as f64,
            ROUTINE_BLOCKS as f64
        );
    }
    assert_eq!(AllocatedBytes.zero(), 0);
    assert_eq!(Allocations.zero(), 0);
    assert_eq!(AllocatedBytes.add(&AllocatedBytes.zero(), &824), 824);
    assert_eq!(Allocations.add(&2, &3), 5);

    // Nothing between start and end reads 0.
    let start = AllocatedBytes.start();
    assert_eq!(AllocatedBytes.end(start), 0);
}

#[test]
fn reallocs_and_frees_count_as_in_alloc_delta() {
    let bytes_start = AllocatedBytes.start();
    let blocks_start = Allocations.start();
    let (_, delta) = profiling_alloc::measure(|| {
        let mut v: Vec<u8> = Vec::with_capacity(100);
        v.reserve_exact(400); // realloc to 400 (len 0): one block of 400 bytes more
        drop(black_box(v));
        drop(black_box(vec![0u8; 50])); // alloc_zeroed
    });
    assert_eq!(AllocatedBytes.end(bytes_start), 100 + 400 + 50);
    assert_eq!(Allocations.end(blocks_start), 3);
    assert_eq!(delta.total_bytes, 550);
    assert_eq!(delta.total_blocks, 3);
    assert_eq!(delta.reallocs, 1);
}

#[test]
fn other_threads_are_not_counted() {
    let stop = Arc::new(AtomicBool::new(false));
    let allocated = Arc::new(AtomicU64::new(0));
    let busy = {
        let (stop, allocated) = (Arc::clone(&stop), Arc::clone(&allocated));
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                black_box(vec![0u8; 1000]);
                allocated.fetch_add(1, Relaxed);
            }
        })
    };
    // Measure until the other thread is seen allocating meanwhile (bounded).
    let mut overlapped = 0;
    for _ in 0..10_000 {
        let before = allocated.load(Relaxed);
        let start = AllocatedBytes.start();
        for _ in 0..100 {
            black_box(routine());
        }
        let bytes = AllocatedBytes.end(start);
        assert_eq!(bytes, 100 * ROUTINE_BYTES);
        if allocated.load(Relaxed) > before {
            overlapped += 1;
            if overlapped == 10 {
                break;
            }
        }
    }
    stop.store(true, Relaxed);
    busy.join().unwrap();
    assert_eq!(overlapped, 10, "the other thread never allocated meanwhile");
}

/// A measurement that forwards to `M` and checks, at each `end`, that the
/// value is exactly what the iterations since `start` allocate. The counts
/// are atomics, so checking allocates nothing.
struct Checked<M> {
    inner: M,
    per_iteration: u64,
    counts: Arc<Counts>,
}

/// What a [`Checked`] measurement saw, read after criterion is done.
#[derive(Default)]
struct Counts {
    measurements: AtomicU64,
    iterations: AtomicU64,
    total: AtomicU64,
    wrong: AtomicU64,
}

impl<M> Checked<M> {
    fn new(inner: M, per_iteration: u64) -> (Self, Arc<Counts>) {
        let counts = Arc::new(Counts::default());
        let checked = Checked {
            inner,
            per_iteration,
            counts: Arc::clone(&counts),
        };
        (checked, counts)
    }
}

impl<M: Measurement<Value = u64>> Measurement for Checked<M> {
    type Intermediate = (u64, M::Intermediate);
    type Value = u64;

    fn start(&self) -> Self::Intermediate {
        (calls(), self.inner.start())
    }

    fn end(&self, (calls_at_start, start): Self::Intermediate) -> u64 {
        let value = self.inner.end(start);
        let iterations = calls() - calls_at_start;
        let counts = &self.counts;
        counts.measurements.fetch_add(1, Relaxed);
        counts.iterations.fetch_add(iterations, Relaxed);
        counts.total.fetch_add(value, Relaxed);
        if value != iterations * self.per_iteration {
            counts.wrong.fetch_add(1, Relaxed);
        }
        value
    }

    fn add(&self, v1: &u64, v2: &u64) -> u64 {
        self.inner.add(v1, v2)
    }

    fn zero(&self) -> u64 {
        self.inner.zero()
    }

    fn to_f64(&self, value: &u64) -> f64 {
        self.inner.to_f64(value)
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.inner.formatter()
    }
}

/// A short criterion run (10 samples, tens of milliseconds) writing into its
/// own directory. No timing is asserted.
fn criterion<M: Measurement>(measurement: M, name: &str) -> (Criterion<M>, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("criterion-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    let c = Criterion::default()
        .output_directory(&dir)
        .without_plots()
        .with_output_color(false)
        .sample_size(10)
        .nresamples(2000)
        .warm_up_time(Duration::from_millis(20))
        .measurement_time(Duration::from_millis(50))
        .with_measurement(measurement);
    (c, dir)
}

/// The point estimates criterion saved for a benchmark: (mean, median).
fn estimates(dir: &std::path::Path, id: &str) -> (f64, f64) {
    let path = dir.join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let point = |stat: &str| json[stat]["point_estimate"].as_f64().unwrap();
    (point("mean"), point("median"))
}

fn assert_all_exact(counts: &Counts, per_iteration: u64) {
    let measurements = counts.measurements.load(Relaxed);
    let iterations = counts.iterations.load(Relaxed);
    // Warm-up and 10 samples at least.
    assert!(measurements >= 11, "{measurements} measurements");
    assert_eq!(counts.wrong.load(Relaxed), 0, "inexact measurements");
    assert_eq!(counts.total.load(Relaxed), iterations * per_iteration);
}

#[test]
fn criterion_sees_the_bytes_of_each_iteration() {
    let (checked, counts) = Checked::new(AllocatedBytes, ROUTINE_BYTES);
    let (mut c, dir) = criterion(checked, "bytes");
    c.bench_function("known_bytes", |b| b.iter(routine));
    drop(c);
    assert_all_exact(&counts, ROUTINE_BYTES);
    assert_eq!(
        estimates(&dir, "known_bytes"),
        (ROUTINE_BYTES as f64, ROUTINE_BYTES as f64)
    );
}

#[test]
fn criterion_sees_the_blocks_of_each_iteration() {
    let (checked, counts) = Checked::new(Allocations, ROUTINE_BLOCKS);
    let (mut c, dir) = criterion(checked, "blocks");
    c.bench_function("known_blocks", |b| b.iter(routine));
    drop(c);
    assert_all_exact(&counts, ROUTINE_BLOCKS);
    assert_eq!(
        estimates(&dir, "known_blocks"),
        (ROUTINE_BLOCKS as f64, ROUTINE_BLOCKS as f64)
    );
}

#[test]
fn batched_setup_is_not_counted() {
    // The setup allocates 4 KiB; the routine only the 824 bytes.
    let (checked, counts) = Checked::new(AllocatedBytes, ROUTINE_BYTES);
    let (mut c, dir) = criterion(checked, "batched");
    c.bench_function("batched", |b| {
        b.iter_batched(
            || vec![0u8; 4096],
            |input| (input, routine()),
            BatchSize::SmallInput,
        )
    });
    drop(c);
    assert_all_exact(&counts, ROUTINE_BYTES);
    assert_eq!(estimates(&dir, "batched").0, ROUTINE_BYTES as f64);
}
