//! Poisson sampling: per-callsite estimates within a bound derived from the
//! sampling variance for a fixed seed, and unbiased over many seeds.
//!
//! The estimator: a block of `s` bytes is sampled with probability
//! `p(s) = 1 - exp(-s/R)`, independently of other blocks (the byte-based
//! Poisson process is memoryless), and a sample counts `s / p(s)` bytes. For
//! `N` blocks of size `s` the estimate's expectation is `N s` and its variance
//! `N s^2 (1 - p) / p` (a sum of `N` independent scaled Bernoulli variables),
//! so its standard deviation is `sigma = s sqrt(N (1 - p) / p)`.

mod common;

use common::Block;
use profiling_alloc::{
    callsites, callsites::seed_sampling, set_sampling, Callsite, ProfilingAllocator, Sampling,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

const RATE: u64 = 16 * 1024;

/// (function, block size, blocks per run)
const SHAPE: [(&str, usize, usize); 3] = [
    ("many_small", 64, 20_000),
    ("fewer_large", 16 * 1024, 200),
    ("few_huge", 4 << 20, 4),
];

#[inline(never)]
fn many_small() {
    for _ in 0..SHAPE[0].2 {
        Block::bytes(SHAPE[0].1).free();
    }
}

#[inline(never)]
fn fewer_large() {
    for _ in 0..SHAPE[1].2 {
        Block::bytes(SHAPE[1].1).free();
    }
}

#[inline(never)]
fn few_huge() {
    for _ in 0..SHAPE[2].2 {
        Block::bytes(SHAPE[2].1).free();
    }
}

fn sigma(size: usize, blocks: usize) -> f64 {
    let p = 1.0 - (-(size as f64) / RATE as f64).exp();
    size as f64 * (blocks as f64 * (1.0 - p) / p).sqrt()
}

/// Estimated bytes per workload function so far (cumulative).
fn estimates() -> [f64; 3] {
    let sites = callsites();
    let bytes_in = |function: &str| -> f64 {
        sites
            .iter()
            .filter(|site: &&Callsite| site.frames.iter().any(|f| f.function.ends_with(function)))
            .map(|site| site.total_bytes)
            .sum()
    };
    [
        bytes_in(SHAPE[0].0),
        bytes_in(SHAPE[1].0),
        bytes_in(SHAPE[2].0),
    ]
}

fn run_workload() {
    many_small();
    fewer_large();
    few_huge();
}

/// Runs the workload once with the sampler seeded by `seed` (if given) and
/// returns each callsite's estimated bytes. Seeded after the first reading:
/// what that reading allocates depends on the callsites found so far, which
/// other threads' samples can add to, so the draws come from the seed and
/// the workload alone.
fn one_run(seed: Option<u64>) -> [f64; 3] {
    let before = estimates();
    if let Some(seed) = seed {
        seed_sampling(seed);
    }
    run_workload();
    let after = estimates();
    [
        after[0] - before[0],
        after[1] - before[1],
        after[2] - before[2],
    ]
}

/// Asserts each estimate is within 4 standard deviations of the truth.
fn assert_within_4_sigma(estimates: [f64; 3], when: &str) {
    for (i, (function, size, blocks)) in SHAPE.iter().enumerate() {
        let truth = (size * blocks) as f64;
        let bound = 4.0 * sigma(*size, *blocks) + 1.0;
        assert!(
            (estimates[i] - truth).abs() <= bound,
            "{function} ({when}): estimated {} bytes, true {truth}, bound {bound}",
            estimates[i]
        );
    }
}

#[test]
fn main() {
    set_sampling(Sampling::Poisson { mean_bytes: RATE });

    // One seed: each estimate within 4 standard deviations of the truth.
    let seeded = one_run(Some(7));
    assert_within_4_sigma(seeded, "seed 7");
    // The same seed samples the same blocks: reseeding restarts the
    // distance the thread counts down in its slot.
    for (again, first) in one_run(Some(7)).iter().zip(seeded) {
        assert!(
            (again - first).abs() <= 1e-9 * first.abs() + 1e-6,
            "{again} vs {first}"
        );
    }

    // Many seeds: the mean estimate is within 3 standard errors of the truth
    // (standard error = sigma / sqrt(runs)): no bias.
    const RUNS: usize = 100;
    let mut sums = [0.0f64; 3];
    for seed in 0..RUNS as u64 {
        for (sum, estimate) in sums.iter_mut().zip(one_run(Some(1000 + seed))) {
            *sum += estimate;
        }
    }
    for (i, (function, size, blocks)) in SHAPE.iter().enumerate() {
        let truth = (size * blocks) as f64;
        let mean = sums[i] / RUNS as f64;
        let standard_error = sigma(*size, *blocks) / (RUNS as f64).sqrt();
        assert!(
            (mean - truth).abs() <= 3.0 * standard_error + 1.0,
            "{function}: mean estimate {mean}, true {truth}, standard error {standard_error}"
        );
    }

    // Seeded while sampling was off, then switched on: the distance drawn
    // then (at another rate) is not kept; estimates are as good as ever.
    set_sampling(Sampling::Off);
    seed_sampling(99);
    set_sampling(Sampling::Poisson { mean_bytes: RATE });
    assert_within_4_sigma(one_run(None), "after switching sampling on");

    // The huge blocks are always sampled: their estimate is exact.
    assert!(sigma(SHAPE[2].1, SHAPE[2].2) < 1.0);
    set_sampling(Sampling::Off);
}
