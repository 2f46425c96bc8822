//! Allocations per iteration as [criterion] measurements (feature
//! `criterion`): [`AllocatedBytes`] and [`Allocations`] take the place of
//! criterion's wall time, so `cargo bench` shows bytes or blocks allocated
//! per iteration with criterion's statistics, and `--save-baseline` /
//! `--baseline` catch allocation regressions.
//!
//! ```no_run
//! // benches/allocations.rs, declared with `harness = false`
//! use criterion::{criterion_group, criterion_main, Criterion};
//! use profiling_alloc::criterion::AllocatedBytes;
//!
//! #[global_allocator]
//! static ALLOC: profiling_alloc::ProfilingAllocator =
//!     profiling_alloc::ProfilingAllocator::system();
//!
//! fn tokenize(c: &mut Criterion<AllocatedBytes>) {
//!     c.bench_function("tokenize", |b| {
//!         b.iter(|| "a b c".split(' ').map(String::from).collect::<Vec<_>>())
//!     });
//! }
//!
//! criterion_group! {
//!     name = benches;
//!     config = Criterion::default().with_measurement(AllocatedBytes).noise_threshold(0.0);
//!     targets = tokenize
//! }
//! criterion_main!(benches);
//! ```
//!
//! (`no_run`: running it is a benchmark of several seconds.)
//!
//! # What is counted
//!
//! What the benchmark's own thread allocates between criterion's
//! [`start`](Measurement::start) and [`end`](Measurement::end), that is
//! while the routine runs its iterations, read from that thread's counters
//! (those [`measure`](crate::measure) reads) and in the words of
//! [`HeapStats`](crate::HeapStats):
//!
//! - [`AllocatedBytes`]: `total_bytes`, the bytes of every block allocated
//!   (`Layout::size()`; `alloc_zeroed` included; a `realloc` adds its new
//!   size).
//! - [`Allocations`]: `total_blocks`, the blocks allocated (a `realloc`
//!   counts as one, as in [`AllocDelta`](crate::AllocDelta)).
//!
//! Frees are not subtracted: a routine that allocates and frees 1 KiB per
//! iteration reads 1 KiB per iteration. Counts are exact, so a deterministic
//! routine reads the same value in every sample, and criterion's confidence
//! interval is that value. The setup of `iter_batched` runs outside the
//! measurement and is not counted; dropping its outputs, which criterion
//! does after `end`, frees and allocates nothing that is counted either.
//! Allocations of other threads (a thread pool the routine hands work to,
//! tasks of a multi-threaded runtime) are not counted.
//!
//! # When nothing can be counted
//!
//! Every reading is 0 when [`ProfilingAllocator`](crate::ProfilingAllocator)
//! is not the global allocator, when this crate's `enabled` feature is off,
//! and on a thread that counts into the shared slot instead of its own
//! (more than 1,024 threads holding slots at once, or a thread being torn
//! down), where [`measure`](crate::measure) reports an inactive delta. A
//! table of `0 B` means the benchmark measured nothing. Builds with debug
//! assertions (`cargo test --benches`) panic at the first measurement when
//! the crate is `enabled` but the allocator is not installed; `cargo bench`
//! (release, no debug assertions) reads 0.
//!
//! # Baselines
//!
//! `cargo bench -- --save-baseline before`, a change, then `cargo bench --
//! --baseline before` compares the two. Unchanged code reads identical
//! samples, which criterion reports as `p = NaN` and "No change in
//! performance detected" (there is no variance to test); a changed count
//! reads `p = 0.00` and "Performance has regressed" (more allocated) or
//! "improved", unless the change is under criterion's noise threshold, 1 %
//! by default: counts are exact, so `.noise_threshold(0.0)` in the
//! configuration reports a change of a single byte (the command line's
//! `--noise-threshold` must be above 0). Criterion exits 0 either way.
//!
//! # Units
//!
//! Bytes print in binary units (`B`, `KiB`, `MiB`, `GiB`), blocks as
//! `allocs`. With a [`Throughput`], values are per unit of it: bytes or
//! blocks allocated per byte, bit or element processed (`B/elem`,
//! `KiB/B`, `allocs/KiB`), the divisor growing to `KiB`, `MiB` (or `kB`,
//! `k elem`, ...) when less than a hundredth is allocated per unit; a
//! throughput of 0 leaves values per iteration. Criterion still labels the
//! line `time:`, and its throughput line lists the interval's bounds in
//! reverse order (for time, the upper bound is the lower throughput).
//!
//! [criterion]: https://docs.rs/criterion

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use ::criterion::measurement::{Measurement, ValueFormatter};
use ::criterion::Throughput;

use crate::capture::counts::slot::Slot;

/// Bytes allocated per iteration (`total_bytes`) by the benchmark's thread:
/// a criterion [`Measurement`] for `Criterion::default().with_measurement(AllocatedBytes)`.
///
/// See the [module docs](self) for what is counted and when readings are 0.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// use criterion::measurement::Measurement;
/// use profiling_alloc::criterion::AllocatedBytes;
///
/// # fn main() {
/// let start = AllocatedBytes.start();
/// let table: Vec<u64> = Vec::with_capacity(100);
/// let name = String::with_capacity(24);
/// assert_eq!(AllocatedBytes.end(start), 824);
/// # drop((table, name));
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocatedBytes;

/// Blocks allocated per iteration (`total_blocks`, a `realloc` counting as
/// one) by the benchmark's thread: a criterion [`Measurement`] for
/// `Criterion::default().with_measurement(Allocations)`.
///
/// See the [module docs](self) for what is counted and when readings are 0.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
/// use criterion::measurement::Measurement;
/// use profiling_alloc::criterion::Allocations;
///
/// # fn main() {
/// let start = Allocations.start();
/// let mut table: Vec<u64> = Vec::with_capacity(100);
/// table.reserve_exact(200); // a realloc: one more block
/// assert_eq!(Allocations.end(start), 2);
/// # drop(table);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allocations;

/// Where a measurement started: the benchmark thread's counter when
/// criterion called [`Measurement::start`]. Criterion hands it back to
/// [`Measurement::end`], on the same thread; there is nothing else to do
/// with it.
#[derive(Debug)]
pub struct CounterStart {
    /// The thread's slot and the counter's value; `None` when nothing is
    /// counted for this thread (every reading is then 0).
    start: Option<(&'static Slot, u64)>,
}

/// Which of the slot's counters a measurement reads.
fn counter(slot: &Slot, blocks: bool) -> &AtomicU64 {
    if blocks {
        &slot.alloc_blocks
    } else {
        &slot.alloc_bytes
    }
}

/// Reads the calling thread's counter, for [`Measurement::start`].
fn start(blocks: bool) -> CounterStart {
    let slot = crate::heap::counted_slot();
    debug_assert!(
        slot.is_some()
            || !crate::capture::counts::ENABLED
            || crate::capture::counts::counting_started(),
        "profiling-alloc: criterion measurement with ProfilingAllocator not installed: \
         every reading would be 0 (add a #[global_allocator] static to the benchmark)"
    );
    CounterStart {
        // Only the owner thread writes its slot, so a relaxed load reads
        // its latest count.
        start: slot.map(|slot| (slot, counter(slot, blocks).load(Relaxed))),
    }
}

/// What the thread allocated since `start`, for [`Measurement::end`].
fn end(start: CounterStart, blocks: bool) -> u64 {
    start.start.map_or(0, |(slot, at_start)| {
        counter(slot, blocks).load(Relaxed).wrapping_sub(at_start)
    })
}

impl Measurement for AllocatedBytes {
    type Intermediate = CounterStart;
    type Value = u64;

    fn start(&self) -> CounterStart {
        start(false)
    }

    fn end(&self, start: CounterStart) -> u64 {
        end(start, false)
    }

    fn add(&self, v1: &u64, v2: &u64) -> u64 {
        v1.wrapping_add(*v2)
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &BytesFormatter
    }
}

impl Measurement for Allocations {
    type Intermediate = CounterStart;
    type Value = u64;

    fn start(&self) -> CounterStart {
        start(true)
    }

    fn end(&self, start: CounterStart) -> u64 {
        end(start, true)
    }

    fn add(&self, v1: &u64, v2: &u64) -> u64 {
        v1.wrapping_add(*v2)
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &BlocksFormatter
    }
}

/// Formats [`AllocatedBytes`] values: `B`, `KiB`, `MiB`, `GiB`.
struct BytesFormatter;

/// Formats [`Allocations`] values: `allocs`.
struct BlocksFormatter;

const KIB: f64 = 1024.0;

/// The binary unit a byte count reads best in, and its size.
fn byte_unit(typical: f64) -> (f64, usize) {
    let mut size = 1.0;
    let mut unit = 0;
    while typical >= size * KIB && unit < 3 {
        size *= KIB;
        unit += 1;
    }
    (size, unit)
}

/// What a throughput counts per iteration: how many, and which of
/// [`Per`]'s units; `None` for 0, which values stay per iteration for.
fn per(throughput: &Throughput) -> Option<(f64, Per)> {
    let (quantity, per) = match *throughput {
        Throughput::Bytes(n) => (n, Per::Byte),
        Throughput::BytesDecimal(n) => (n, Per::ByteDecimal),
        Throughput::Bits(n) => (n, Per::Bit),
        // Criterion reports the two separately; the elements come first.
        Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => {
            (n, Per::Element)
        }
    };
    (quantity > 0).then_some((quantity as f64, per))
}

/// The unit of a throughput, whose larger units divide values when less
/// than one byte or block is allocated per unit.
#[derive(Clone, Copy)]
enum Per {
    Byte,
    ByteDecimal,
    Bit,
    Element,
}

impl Per {
    /// The factor between one unit and the next larger.
    fn step(self) -> f64 {
        match self {
            Per::Byte => KIB,
            Per::ByteDecimal | Per::Bit | Per::Element => 1000.0,
        }
    }

    /// How many steps up the divisor goes so that `ratio` (per one unit)
    /// reads at least 0.01 (criterion prints four decimals), at most 3.
    fn divisor(self, ratio: f64) -> (f64, usize) {
        let mut size = 1.0;
        let mut unit = 0;
        while ratio > 0.0 && ratio * size < 0.01 && unit < 3 {
            size *= self.step();
            unit += 1;
        }
        (size, unit)
    }

    /// Bytes per unit with the bytes scaled: `B/elem`, `KiB/elem`, ...
    fn bytes_per(self, bytes_unit: usize) -> &'static str {
        let table = match self {
            Per::Byte | Per::ByteDecimal => ["B/B", "KiB/B", "MiB/B", "GiB/B"],
            Per::Bit => ["B/bit", "KiB/bit", "MiB/bit", "GiB/bit"],
            Per::Element => ["B/elem", "KiB/elem", "MiB/elem", "GiB/elem"],
        };
        table[bytes_unit.min(3)]
    }

    /// Bytes per a larger unit: `B/KiB`, `B/k elem`, ...
    fn bytes_per_larger(self, divisor_unit: usize) -> &'static str {
        let table = match self {
            Per::Byte => ["B/B", "B/KiB", "B/MiB", "B/GiB"],
            Per::ByteDecimal => ["B/B", "B/kB", "B/MB", "B/GB"],
            Per::Bit => ["B/bit", "B/kbit", "B/Mbit", "B/Gbit"],
            Per::Element => ["B/elem", "B/k elem", "B/M elem", "B/G elem"],
        };
        table[divisor_unit.min(3)]
    }

    /// Blocks per unit: `allocs/elem`, `allocs/KiB`, ...
    fn blocks_per(self, divisor_unit: usize) -> &'static str {
        let table = match self {
            Per::Byte => ["allocs/B", "allocs/KiB", "allocs/MiB", "allocs/GiB"],
            Per::ByteDecimal => ["allocs/B", "allocs/kB", "allocs/MB", "allocs/GB"],
            Per::Bit => ["allocs/bit", "allocs/kbit", "allocs/Mbit", "allocs/Gbit"],
            Per::Element => [
                "allocs/elem",
                "allocs/k elem",
                "allocs/M elem",
                "allocs/G elem",
            ],
        };
        table[divisor_unit.min(3)]
    }
}

impl ValueFormatter for BytesFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (size, unit) = byte_unit(typical);
        for value in values.iter_mut() {
            *value /= size;
        }
        ["B", "KiB", "MiB", "GiB"][unit]
    }

    fn scale_throughputs(
        &self,
        typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let Some((quantity, per)) = per(throughput) else {
            return self.scale_values(typical, values);
        };
        let ratio = typical / quantity;
        let (factor, unit) = if ratio >= 1.0 {
            let (size, unit) = byte_unit(ratio);
            (1.0 / size, per.bytes_per(unit))
        } else {
            let (size, unit) = per.divisor(ratio);
            (size, per.bytes_per_larger(unit))
        };
        for value in values.iter_mut() {
            *value = *value / quantity * factor;
        }
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "B"
    }
}

impl ValueFormatter for BlocksFormatter {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "allocs"
    }

    fn scale_throughputs(
        &self,
        typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let Some((quantity, per)) = per(throughput) else {
            return self.scale_values(typical, values);
        };
        let (size, unit) = per.divisor(typical / quantity);
        for value in values.iter_mut() {
            *value = *value / quantity * size;
        }
        per.blocks_per(unit)
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "allocs"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaled(f: &dyn ValueFormatter, typical: f64) -> (f64, &'static str) {
        let mut values = [typical];
        let unit = f.scale_values(typical, &mut values);
        (values[0], unit)
    }

    fn per_unit(f: &dyn ValueFormatter, typical: f64, t: Throughput) -> (f64, &'static str) {
        let mut values = [typical];
        let unit = f.scale_throughputs(typical, &t, &mut values);
        (values[0], unit)
    }

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(scaled(&BytesFormatter, 0.0), (0.0, "B"));
        assert_eq!(scaled(&BytesFormatter, 824.0), (824.0, "B"));
        assert_eq!(scaled(&BytesFormatter, 1023.0), (1023.0, "B"));
        assert_eq!(scaled(&BytesFormatter, 1024.0), (1.0, "KiB"));
        assert_eq!(scaled(&BytesFormatter, 1536.0 * 1024.0), (1.5, "MiB"));
        assert_eq!(
            scaled(&BytesFormatter, 3.0 * 1024f64.powi(4)),
            (3072.0, "GiB")
        );
        assert_eq!(
            BytesFormatter.format_value(1536.0),
            format!("{:>6} KiB", "1.5000")
        );
    }

    #[test]
    fn values_scale_by_the_typical_value() {
        let mut values = [512.0, 2048.0, 4096.0];
        assert_eq!(BytesFormatter.scale_values(2048.0, &mut values), "KiB");
        assert_eq!(values, [0.5, 2.0, 4.0]);
    }

    #[test]
    fn blocks_read_as_allocs() {
        assert_eq!(scaled(&BlocksFormatter, 2.0), (2.0, "allocs"));
        assert_eq!(scaled(&BlocksFormatter, 1e6), (1e6, "allocs"));
        assert_eq!(BlocksFormatter.format_value(3.0), "3.0000 allocs");
        assert_eq!(BlocksFormatter.scale_for_machines(&mut [1.0]), "allocs");
        assert_eq!(BytesFormatter.scale_for_machines(&mut [1.0]), "B");
    }

    #[test]
    fn bytes_per_unit_of_throughput() {
        let f = &BytesFormatter;
        assert_eq!(
            per_unit(f, 800.0, Throughput::Elements(100)),
            (8.0, "B/elem")
        );
        assert_eq!(
            per_unit(f, 4096.0, Throughput::Elements(2)),
            (2.0, "KiB/elem")
        );
        assert_eq!(per_unit(f, 2048.0, Throughput::Bytes(1024)), (2.0, "B/B"));
        // Less than a hundredth of a byte per byte: per KiB instead.
        assert_eq!(per_unit(f, 512.0, Throughput::Bytes(1024)), (0.5, "B/B"));
        assert_eq!(
            per_unit(f, 16.0, Throughput::Bytes(1024)),
            (1.0 / 64.0, "B/B")
        );
        assert_eq!(per_unit(f, 64.0, Throughput::Bytes(65536)), (1.0, "B/KiB"));
        assert_eq!(
            per_unit(f, 64.0, Throughput::BytesDecimal(64_000)),
            (1.0, "B/kB")
        );
        assert_eq!(per_unit(f, 8.0, Throughput::Bits(16)), (0.5, "B/bit"));
        assert_eq!(per_unit(f, 8.0, Throughput::Bits(1600)), (5.0, "B/kbit"));
        assert_eq!(
            per_unit(
                f,
                300.0,
                Throughput::ElementsAndBytes {
                    elements: 3,
                    bytes: 99
                }
            ),
            (100.0, "B/elem")
        );
        // Nothing allocated, and a throughput of 0: no division by 0.
        assert_eq!(per_unit(f, 0.0, Throughput::Bytes(100)), (0.0, "B/B"));
        assert_eq!(per_unit(f, 2048.0, Throughput::Bytes(0)), (2.0, "KiB"));
    }

    #[test]
    fn blocks_per_unit_of_throughput() {
        let f = &BlocksFormatter;
        assert_eq!(
            per_unit(f, 300.0, Throughput::Elements(100)),
            (3.0, "allocs/elem")
        );
        // One block per 64 KiB of input, and per MiB.
        assert_eq!(
            per_unit(f, 1.0, Throughput::Bytes(64 * 1024)),
            (1.0 / 64.0, "allocs/KiB")
        );
        assert_eq!(
            per_unit(f, 1.0, Throughput::Bytes(1024 * 1024)),
            (1.0, "allocs/MiB")
        );
        assert_eq!(
            per_unit(f, 1.0, Throughput::Elements(100)),
            (0.01, "allocs/elem")
        );
        assert_eq!(
            per_unit(f, 1.0, Throughput::Elements(200)),
            (5.0, "allocs/k elem")
        );
        assert_eq!(
            per_unit(f, 0.0, Throughput::Elements(10)),
            (0.0, "allocs/elem")
        );
        assert_eq!(per_unit(f, 5.0, Throughput::Elements(0)), (5.0, "allocs"));
        assert_eq!(
            f.format_throughput(&Throughput::Elements(4), 2.0),
            format!("{:>6} allocs/elem", "0.5000")
        );
    }

    #[test]
    fn values_stay_finite() {
        for t in [
            Throughput::Bytes(1),
            Throughput::Bytes(u64::MAX),
            Throughput::Bits(0),
            Throughput::Elements(7),
        ] {
            for typical in [0.0, 1e-9, 1.0, 1e18] {
                let mut values = [0.0, typical, 2.0 * typical];
                BytesFormatter.scale_throughputs(typical, &t, &mut values);
                assert!(values.iter().all(|v| v.is_finite()), "{t:?} {typical}");
                let mut values = [0.0, typical, 2.0 * typical];
                BlocksFormatter.scale_throughputs(typical, &t, &mut values);
                assert!(values.iter().all(|v| v.is_finite()), "{t:?} {typical}");
            }
        }
    }
}
