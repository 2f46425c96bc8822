//! The leak detector on a real growing map: two caches, a `HashMap` of
//! 200-byte strings and a `Vec` of 1 KiB buffers, each grow about 1.5 MB
//! per observation (300 KB/s at a 5 s interval) amid 20 MB of churn, under
//! the default sampling (Poisson, 512 KiB). The detector, fed what
//! `callsites()` reports at each observation as the endpoint's observer
//! feeds it, must name both caches' insert callsites within 10
//! observations. 20 trials, each with its sampler seeded.

use std::collections::HashMap;
use std::hint::black_box;

use profiling_alloc::{analysis::LeakDetector, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

/// Grows the map by `entries` values of about 200 bytes.
#[inline(never)]
fn cache_in_map(map: &mut HashMap<u64, String>, entries: u64) {
    let start = map.len() as u64;
    for key in start..start + entries {
        map.insert(key, format!("{key:0>200}"));
    }
}

/// Grows the list by `entries` buffers of 1 KiB.
#[inline(never)]
fn cache_in_vec(list: &mut Vec<Vec<u8>>, entries: usize) {
    for i in 0..entries {
        list.push(vec![i as u8; 1024]);
    }
}

/// Allocates and frees `bytes` in blocks of mixed sizes.
#[inline(never)]
fn churn(bytes: usize, seed: &mut u64) {
    let mut done = 0;
    while done < bytes {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let size = 16 + (*seed % 8192) as usize;
        black_box(vec![0u8; size]);
        done += size;
    }
}

/// One trial: the observation by which both caches were first named, and
/// whether both are named at the 10th.
fn trial(observations: u64, seed: &mut u64, named_at_10: &mut u64) -> (Option<u64>, bool) {
    let mut map = HashMap::new();
    let mut list = Vec::new();
    let mut detector = LeakDetector::default();
    let t0 = 1_700_000_000_000u64;
    let mut first_both = None;
    let mut both_at_10 = false;
    for observation in 1..=observations {
        cache_in_map(&mut map, 5_000);
        cache_in_vec(&mut list, 1_500);
        churn(20 << 20, seed);
        let sites: Vec<_> = profiling_alloc::callsites()
            .into_iter()
            .filter(|site| site.live_blocks > 0.0)
            .collect();
        detector.observe(
            t0 + observation * 5_000,
            profiling_alloc::heap_stats().live_bytes,
            profiling_alloc::callsites::sampling(),
            &sites,
        );
        let report = detector.analyze();
        let named = |name: &str| {
            report
                .suspects
                .iter()
                .any(|s| s.frames.iter().any(|f| f.function.ends_with(name)))
        };
        let both = named("cache_in_map") && named("cache_in_vec");
        let growing = |name: &str| {
            named(name)
                || report
                    .fastest_growing
                    .iter()
                    .any(|s| s.frames.iter().any(|f| f.function.ends_with(name)))
        };
        if observation == 10 && growing("cache_in_map") && growing("cache_in_vec") {
            *named_at_10 += 1;
        }
        if both && first_both.is_none() {
            first_both = Some(observation);
        }
        if observation == 10 {
            both_at_10 = both;
        }
    }
    (first_both, both_at_10)
}

fn main() {
    // Reproducible: each trial's sampler starts from its own seed.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let trials = 20u64;
    let mut by_10 = 0;
    let mut at_10 = 0;
    let mut firsts = Vec::new();
    let mut in_report_at_10 = 0;
    for trial_number in 0..trials {
        profiling_alloc::callsites::seed_sampling(1000 + trial_number);
        let (first, both_at_10) = trial(10, &mut seed, &mut in_report_at_10);
        by_10 += u64::from(first.is_some());
        at_10 += u64::from(both_at_10);
        firsts.push(first.unwrap_or(u64::MAX));
    }
    firsts.sort_unstable();
    let median = firsts[firsts.len() / 2];
    println!(
        "both caches suspects by the 10th observation in {by_10} of {trials} trials \
         (at the 10th: {at_10}; both named at the 10th, as suspects or growing: \
         {in_report_at_10}); median first observation {median}"
    );
    assert_eq!(in_report_at_10, trials, "both caches named at the 10th");
    assert!(
        by_10 >= 16,
        "suspects by the 10th in only {by_10} of {trials}"
    );
    assert!(median <= 8, "median first observation {median}");
}
