//! Bytes and blocks allocated per iteration, with criterion's statistics and
//! baselines: `profiling_alloc::criterion::{AllocatedBytes, Allocations}` in
//! place of wall time.
//!
//! ```sh
//! cargo bench --features criterion --bench criterion_allocations
//! cargo bench --features criterion --bench criterion_allocations -- --save-baseline before
//! # ... change the code ...
//! cargo bench --features criterion --bench criterion_allocations -- --baseline before
//! ```
//!
//! Counts are exact, so every sample of a routine reads the same value, and
//! with the noise threshold at 0 any change is reported as "regressed" or
//! "improved" (an unchanged routine shows `p = NaN`: identical samples have
//! no variance). Only the benchmark's own thread is counted.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::Measurement;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use profiling_alloc::criterion::{AllocatedBytes, Allocations};
use profiling_alloc::ProfilingAllocator;

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

const LINE: &str = "the quick brown fox jumps over the lazy dog while the cat watches the fox";

/// Each word in a `String` of its own, in a vector grown as it goes.
fn owned_words(line: &str) -> Vec<String> {
    line.split(' ').map(String::from).collect()
}

/// Words borrowed from the line: the vector is the only allocation (grown
/// by reallocs).
fn borrowed_words(line: &str) -> Vec<&str> {
    line.split(' ').collect()
}

/// The same, with the vector sized first: one allocation.
fn borrowed_words_sized(line: &str) -> Vec<&str> {
    let mut words = Vec::with_capacity(line.split(' ').count());
    words.extend(line.split(' '));
    words
}

/// How often each word occurs: a hash map grown as it goes.
fn word_counts(line: &str) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for word in line.split(' ') {
        *counts.entry(word).or_insert(0) += 1;
    }
    counts
}

/// The same routines under any measurement, in a group named after it.
fn words<M: Measurement>(c: &mut Criterion<M>, measurement: &str) {
    let mut group = c.benchmark_group(measurement);
    group.throughput(Throughput::Elements(LINE.split(' ').count() as u64));
    group.bench_function("owned words", |b| b.iter(|| owned_words(black_box(LINE))));
    group.bench_function("borrowed words", |b| {
        b.iter(|| borrowed_words(black_box(LINE)))
    });
    group.bench_function("borrowed words, sized", |b| {
        b.iter(|| borrowed_words_sized(black_box(LINE)))
    });
    group.bench_function("word counts", |b| b.iter(|| word_counts(black_box(LINE))));
    group.finish();
}

fn allocated_bytes(c: &mut Criterion<AllocatedBytes>) {
    words(c, "allocated bytes");
}

fn allocations(c: &mut Criterion<Allocations>) {
    words(c, "allocations");
}

/// Criterion's settings for exact counts: they do not vary from sample to
/// sample, so a second of measuring is plenty, and any change against a
/// baseline is a real one (criterion's default noise threshold would call
/// changes under 1 % noise).
fn config<M: Measurement>(measurement: M) -> Criterion<M> {
    Criterion::default()
        .with_measurement(measurement)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .noise_threshold(0.0)
}

criterion_group! {
    name = bytes;
    config = config(AllocatedBytes);
    targets = allocated_bytes
}
criterion_group! {
    name = blocks;
    config = config(Allocations);
    targets = allocations
}
criterion_main!(bytes, blocks);
