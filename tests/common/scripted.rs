//! The scripted exactness checks: each asserts the exact `AllocDelta` that
//! the counting rules give for a known sequence of allocations on the
//! calling thread. Whatever the inner allocator, the numbers are the same.

use std::hint::black_box;

use profiling_alloc::measure;

use super::quiet::Check;
use super::{Block, Counts, Model};

/// Every scripted check, named, for [`super::quiet::run`].
pub const CHECKS: [Check; 7] = [
    ("with_capacity_is_one_block", with_capacity_is_one_block),
    (
        "a_block_freed_inside_nets_zero",
        a_block_freed_inside_nets_zero,
    ),
    ("alloc_zeroed_is_an_alloc", alloc_zeroed_is_an_alloc),
    ("shrinking_realloc", shrinking_realloc),
    ("growing_realloc_that_moves", growing_realloc_that_moves),
    (
        "vec_growth_is_one_alloc_then_reallocs",
        vec_growth_is_one_alloc_then_reallocs,
    ),
    (
        "nested_measures_include_the_inner",
        nested_measures_include_the_inner,
    ),
];

/// `Vec::with_capacity(1000)` is one block of 1000 bytes.
fn with_capacity_is_one_block() {
    let (kept, delta) = measure(|| black_box(Vec::<u8>::with_capacity(1000)));
    let mut model = Model::default();
    model.alloc(1000);
    assert_eq!(Counts::of(&delta), model.as_delta());
    drop(kept);
}

/// A Box freed inside the closure nets 0; its peak is its size.
fn a_block_freed_inside_nets_zero() {
    let ((), delta) = measure(|| drop(black_box(Box::new([7u8; 256]))));
    let mut model = Model::default();
    model.alloc(256);
    model.free(256);
    assert_eq!(Counts::of(&delta), model.as_delta());
    assert_eq!((delta.live_bytes, delta.peak_bytes), (0, 256));
}

/// `vec![0; n]` goes through alloc_zeroed, which counts as an alloc.
fn alloc_zeroed_is_an_alloc() {
    let (zeroed, delta) = measure(|| black_box(vec![0u8; 5000]));
    let mut model = Model::default();
    model.alloc(5000);
    assert_eq!(Counts::of(&delta), model.as_delta());
    drop(zeroed);
}

/// A shrinking realloc: one new block of the new size, one freed block of
/// the old size, live bytes down by the difference, no peak above start.
fn shrinking_realloc() {
    let mut shrinking = Vec::<u8>::with_capacity(1000);
    let ((), delta) = measure(|| shrinking.shrink_to(100));
    assert_eq!(shrinking.capacity(), 100);
    let mut model = Model::default();
    model.realloc(1000, 100);
    assert_eq!(Counts::of(&delta), model.as_delta());
    assert_eq!(
        (delta.live_bytes, delta.live_blocks, delta.peak_bytes),
        (-900, 0, 0)
    );
}

/// A growing realloc that moves the block (a neighbour pins it in place,
/// and 1 MiB does not fit where 64 bytes were).
fn growing_realloc_that_moves() {
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
    assert_eq!(Counts::of(&delta), model.as_delta());
    growing.free();
    neighbour.free();
}

/// `Vec` growth: one allocation, then one realloc per doubling.
fn vec_growth_is_one_alloc_then_reallocs() {
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
        Counts::of(&delta),
        model.as_delta(),
        "capacities {:?}",
        &capacities[..seen]
    );
    assert_eq!(delta.live_bytes, grown.capacity() as i64 * 8);
}

/// Nested measures: the outer includes the inner, and its peak too.
fn nested_measures_include_the_inner() {
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
    assert_eq!(Counts::of(&inner), model.as_delta(), "inner measure");
    let mut model = Model::default();
    model.alloc(100);
    model.alloc(1000);
    model.free(1000);
    model.alloc(10);
    model.free(100);
    assert_eq!(Counts::of(&outer), model.as_delta(), "outer measure");
    assert_eq!(outer.peak_bytes, 1100);
    kept_inner.free();
}
