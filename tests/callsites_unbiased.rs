//! Poisson estimates stay unbiased where rounding would bias them: a
//! callsite of one large block (512 KiB at the default rate of one sample
//! per 512 KiB) is sampled with probability `p = 1 - 1/e` and then stands
//! for `1/p` = 1.58 blocks. Rounded to 2 per callsite, the blocks read 1.26
//! on average (+26 %); kept unrounded, they read 1.
//!
//! The variance each estimate comes with is checked the same way.
//!
//! Without the test harness (`harness = false`): its threads would draw
//! from the sampler too.

mod common;

use std::hint::black_box;

use profiling_alloc::{callsites, callsites::seed_sampling, ProfilingAllocator, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

const BLOCK: usize = 512 * 1024;
const TRIALS: u64 = 4000;

#[inline(never)]
fn one_large_block() -> Vec<u8> {
    black_box(Vec::with_capacity(BLOCK))
}

fn one_large_block_reads_one_block_on_average() {
    assert_eq!(profiling_alloc::callsites::sampling(), Sampling::poisson());
    for seed in 0..TRIALS {
        // A fresh distance to the next sample for each trial: independent.
        seed_sampling(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef);
        drop(one_large_block());
    }
    let sites = callsites();
    let site = sites
        .iter()
        .find(|site| {
            site.frames
                .first()
                .is_some_and(|f| f.function.ends_with("one_large_block"))
        })
        .expect("some trial was sampled");
    let p = -(-(BLOCK as f64) / Sampling::DEFAULT_MEAN_BYTES as f64).exp_m1();
    // One trial's estimate is 1/p with probability p, else 0: variance
    // (1 - p)/p, so the mean of TRIALS has this standard deviation.
    let sd = ((1.0 - p) / p / TRIALS as f64).sqrt();
    let blocks = site.total_blocks / TRIALS as f64;
    assert!(
        (blocks - 1.0).abs() < 5.0 * sd,
        "mean blocks per trial {blocks:.4} (sd {sd:.4}), {} samples",
        site.samples
    );
    let bytes = site.total_bytes / TRIALS as f64;
    assert!(
        (bytes / BLOCK as f64 - 1.0).abs() < 5.0 * sd,
        "mean bytes per trial {bytes:.0}"
    );
    // A single sample's estimate is fractional, not rounded.
    assert_ne!(site.total_blocks.fract(), 0.0);
    // The variance the estimator reports is the total's real variance,
    // TRIALS · (1 - p) / p blocks² (and BLOCK² times that in bytes²): the
    // number a comparison of two runs judges noise by. Its own spread is
    // that of the sample count, about 1.2 % here.
    let variance = TRIALS as f64 * (1.0 - p) / p;
    let ratio = site.total_blocks_variance / variance;
    assert!(
        (ratio - 1.0).abs() < 0.1,
        "reported variance {:.1}, expected {variance:.1}",
        site.total_blocks_variance
    );
    let bytes_ratio = site.total_bytes_variance / (variance * (BLOCK as f64).powi(2));
    assert!(
        (bytes_ratio - ratio).abs() < 1e-9,
        "bytes² = blocks² · size²"
    );
}

fn main() {
    common::quiet::run(
        file!(),
        &[(
            "one_large_block_reads_one_block_on_average",
            one_large_block_reads_one_block_on_average,
        )],
    );
}
