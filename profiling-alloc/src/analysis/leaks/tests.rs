//! Tests of the leak detector: driven by hand-made timestamps, no clock.

use super::*;

const T0: u64 = 1_700_000_000_000;
const MINUTE: u64 = 60_000;
const MB: f64 = 1e6;

fn site(name: &str, job: &[&str], live_bytes: f64) -> Callsite {
    let frame = Frame {
        function: name.to_string(),
        file: Some("src/app.rs".to_string()),
        line: Some(7),
        inlined: false,
    };
    Callsite {
        frames: vec![frame],
        truncated: false,
        job_path: job.iter().map(|j| j.to_string()).collect(),
        samples: 1,
        total_blocks: 1.0,
        total_bytes: live_bytes,
        live_blocks: 1.0,
        live_bytes,
        total_blocks_variance: 0.0,
        total_bytes_variance: 0.0,
        size_classes: Vec::new(),
        lifetimes: Vec::new(),
        reallocated_blocks: 0.0,
    }
}

/// A small deterministic generator (xorshift64).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// About standard normal (Irwin–Hall with 12 terms).
    fn gaussian(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
    /// A Poisson-distributed count of mean `mean` (by inversion; small means).
    fn poisson(&mut self, mean: f64) -> f64 {
        let (u, mut k, mut p) = (self.uniform(), 0.0, (-mean).exp());
        let mut cdf = p;
        while u > cdf && k < 1000.0 {
            k += 1.0;
            p *= mean / k;
            cdf += p;
        }
        k
    }
    /// `level` plus noise of the scale of a Poisson-sampled estimate.
    fn noisy(&mut self, level: f64, mean_bytes: u64) -> f64 {
        (level + (level * mean_bytes as f64).sqrt() * self.gaussian()).max(0.0)
    }
}

/// Feeds `n` snapshots a minute apart; `snapshot(i)` gives the heap's
/// live bytes and the callsites of snapshot `i`.
fn feed(
    detector: &mut LeakDetector,
    n: usize,
    sampling: Sampling,
    mut snapshot: impl FnMut(usize) -> (f64, Vec<Callsite>),
) {
    for i in 0..n {
        let (heap, sites) = snapshot(i);
        detector.observe(T0 + i as u64 * MINUTE, heap as u64, sampling, &sites);
    }
}

fn names(report: &LeakReport) -> Vec<&str> {
    report
        .suspects
        .iter()
        .map(|s| s.frames[0].function.as_str())
        .collect()
}

fn assert_finite(report: &LeakReport) {
    assert!(report.heap_growth_bytes_per_hour.is_finite());
    for s in &report.suspects {
        assert!(s.live_bytes.is_finite() && s.growth_bytes_per_hour.is_finite());
        assert!((0.0..=1.0).contains(&s.confidence));
    }
}

#[test]
fn steady_leak_among_flat_callsites_is_the_only_suspect() {
    let mean_bytes = 4096;
    let sampling = Sampling::Poisson { mean_bytes };
    let mut rng = XorShift::new(7);
    let mut detector = LeakDetector::default();
    let leak_level = |i: usize| MB + 10.0 * MB * (i as f64) / 60.0; // 10 MB/h
    feed(&mut detector, 64, sampling, |i| {
        let mut sites = vec![site("leak", &[], rng.noisy(leak_level(i), mean_bytes))];
        for k in 0..10 {
            let level = 2.0 * MB * (k + 1) as f64;
            sites.push(site(
                &format!("flat{k}"),
                &["job"],
                rng.noisy(level, mean_bytes),
            ));
        }
        (100.0 * MB + leak_level(i), sites)
    });
    let report = detector.analyze();
    assert_finite(&report);
    assert_eq!(names(&report), ["leak"]);
    assert_eq!((report.snapshots, report.callsites_tested), (64, 11));
    assert_eq!(report.window_ms, 63 * MINUTE);
    assert!((report.heap_growth_bytes_per_hour / (10.0 * MB) - 1.0).abs() < 0.01);
    let leak = &report.suspects[0];
    assert!(
        (leak.growth_bytes_per_hour / (10.0 * MB) - 1.0).abs() < 0.03,
        "{leak:?}"
    );
    assert!((leak.live_bytes / leak_level(63) - 1.0).abs() < 0.05);
    assert_eq!(leak.first_seen_unix_ms, T0);
    assert_eq!(leak.last_seen_unix_ms, T0 + 63 * MINUTE);
    assert!(leak.job_path.is_empty());
    assert!(leak.confidence > 0.99);
    // 10 MB/h × 24 h ≥ the ~110 MB heap.
    assert_eq!(leak.severity, Severity::Critical);
    // `site` counts one block of all its bytes: the newest snapshot's.
    assert_eq!(leak.allocations, 1.0);
    assert!((leak.average_size_bytes / leak.live_bytes - 1.0).abs() < 1e-9);
}

#[test]
fn cache_that_plateaus_is_not_a_suspect() {
    let cache = |i: usize| 50.0 * MB * (i.min(32) as f64) / 32.0;
    // Appears at snapshot 30 and then stays (a long-lived allocation).
    let step = |i: usize| if i >= 30 { 5.0 * MB } else { 0.0 };
    for (seed, sampling) in [
        (0, Sampling::Every),
        (1, Sampling::Poisson { mean_bytes: 65536 }),
    ] {
        let mut rng = XorShift::new(seed);
        let mut detector = LeakDetector::default();
        feed(&mut detector, 64, sampling, |i| {
            let mut noisy = |level: f64| match sampling {
                Sampling::Poisson { mean_bytes } => rng.noisy(level, mean_bytes),
                _ => level,
            };
            let sites = vec![
                site("cache", &[], noisy(cache(i))),
                site("step", &[], noisy(step(i))),
            ];
            (100.0 * MB + cache(i) + step(i), sites)
        });
        let report = detector.analyze();
        assert_finite(&report);
        assert_eq!(report.callsites_tested, 2);
        assert!(
            report.suspects.is_empty(),
            "{sampling:?}: {:?}",
            names(&report)
        );
        // The trend test alone would flag the cache: saturation rules it out.
        let values: Vec<f64> = (0..64).map(cache).collect();
        assert!(trend::mann_kendall(&values).p_increasing < 1e-9);
    }
}

#[test]
fn wandering_plateau_is_not_a_suspect() {
    // Fills to 50 MB, then its estimate dips and drifts up 6 MB: a
    // plateau re-sampled as entries are replaced, not a leak.
    let level = |i: usize| match i {
        0..40 => 50.0 * MB * i as f64 / 40.0,
        40..42 => 50.0 * MB,
        _ => 45.0 * MB + 6.0 * MB * (i - 42) as f64 / 21.0,
    };
    let mut detector = LeakDetector::default();
    feed(&mut detector, 64, Sampling::Every, |i| {
        (100.0 * MB, vec![site("cache", &[], level(i))])
    });
    assert!(detector.analyze().suspects.is_empty());
    // The tail-slope rule alone is fooled; the level rule is not.
    let times: Vec<f64> = (0..64).map(|i| (i as u64 * MINUTE) as f64).collect();
    let values: Vec<f64> = (0..64).map(level).collect();
    let slope = trend::theil_sen_slope(&times, &values);
    let tail_slope = trend::theil_sen_slope(&times[42..], &values[42..]);
    assert!(
        tail_slope >= TAIL_SLOPE_SHARE * slope,
        "{tail_slope} vs {slope}"
    );
    assert!(!still_growing(&times, &values, slope));
    // The same series still growing at the end is a leak.
    let values: Vec<f64> = (0..64).map(|i| 50.0 * MB * i as f64 / 40.0).collect();
    assert!(still_growing(
        &times,
        &values,
        trend::theil_sen_slope(&times, &values)
    ));
}

/// A simulated callsite of 1 kB blocks, each sampled at 512 KiB: its
/// live blocks, and how many of them were sampled.
struct SampledSite {
    blocks: f64,
    sampled: f64,
}

impl SampledSite {
    const BLOCK: f64 = 1000.0;
    const MEAN_BYTES: u64 = 512 * 1024;
    /// One snapshot: `churn` of the blocks are replaced and the callsite
    /// grows or shrinks to `target` blocks. Returns the estimate.
    fn step(&mut self, rng: &mut XorShift, target: f64, churn: f64) -> f64 {
        let p = 1.0 - (-Self::BLOCK / Self::MEAN_BYTES as f64).exp();
        let freed = (self.blocks * churn + (self.blocks - target).max(0.0)).min(self.blocks);
        if self.blocks > 0.0 {
            self.sampled -= rng
                .poisson(freed * self.sampled / self.blocks)
                .min(self.sampled);
        }
        self.blocks -= freed;
        let added = (target - self.blocks).max(0.0);
        self.sampled += rng.poisson(added * p);
        self.blocks += added;
        self.sampled * Self::BLOCK / p
    }
}

#[test]
fn sampled_leak_is_found_and_churning_caches_mostly_are_not() {
    let sampling = Sampling::Poisson {
        mean_bytes: SampledSite::MEAN_BYTES,
    };
    let mut found = [0; 3];
    for seed in 0..200 {
        let mut rng = XorShift::new(seed);
        let mut sites: Vec<SampledSite> = (0..3)
            .map(|_| SampledSite {
                blocks: 0.0,
                sampled: 0.0,
            })
            .collect();
        let mut detector = LeakDetector::default();
        feed(&mut detector, 64, sampling, |i| {
            // A 30 MB/h leak from 1 MB; 50 MB caches full after 40 and 20 minutes.
            let targets = [
                1000.0 + 500.0 * i as f64,
                50e3 * (i.min(40) as f64) / 40.0,
                50e3 * (i.min(20) as f64) / 20.0,
            ];
            let churn = [0.0, 0.1, 0.1];
            let live: Vec<Callsite> = (0..3)
                .map(|k| {
                    site(
                        &k.to_string(),
                        &[],
                        sites[k].step(&mut rng, targets[k], churn[k]),
                    )
                })
                .collect();
            (100.0 * MB, live)
        });
        for suspect in detector.analyze().suspects {
            found[suspect.frames[0].function.parse::<usize>().unwrap()] += 1;
        }
    }
    assert!(found[0] >= 170, "leak found in {} of 200", found[0]);
    assert!(
        found[1] <= 12,
        "24-minute plateau flagged in {} of 200",
        found[1]
    );
    assert!(
        found[2] <= 4,
        "44-minute plateau flagged in {} of 200",
        found[2]
    );
}

#[test]
fn flat_noise_gives_at_most_one_percent_false_positives() {
    let mean_bytes = 512 * 1024;
    let sampling = Sampling::Poisson { mean_bytes };
    let (mut tested, mut flagged, mut raw_significant) = (0, 0, 0);
    for seed in 0..200 {
        let mut rng = XorShift::new(seed);
        // Levels from 50 kB (mostly zeros and ties) to 50 MB.
        let levels: Vec<f64> = (0..20)
            .map(|k| 50e3 * 10f64.powf(k as f64 * 3.0 / 19.0))
            .collect();
        let mut series = vec![Vec::new(); 20];
        let mut detector = LeakDetector::default();
        feed(&mut detector, 64, sampling, |_| {
            let sites: Vec<Callsite> = levels
                .iter()
                .enumerate()
                .map(|(k, &level)| site(&format!("flat{k}"), &[], rng.noisy(level, mean_bytes)))
                .collect();
            for (k, s) in sites.iter().enumerate() {
                series[k].push(s.live_bytes);
            }
            (levels.iter().sum::<f64>(), sites)
        });
        let report = detector.analyze();
        assert_finite(&report);
        tested += report.callsites_tested;
        flagged += report.suspects.len();
        raw_significant += series
            .iter()
            .filter(|s| trend::mann_kendall(s).p_increasing < 0.05)
            .count();
    }
    assert!(tested >= 3900, "tested {tested}");
    assert!(
        flagged * 100 <= tested,
        "{flagged} false positives in {tested} tests"
    );
    // The noise is real noise: uncorrected, ~4 % come out at p < 0.05.
    assert!(
        raw_significant * 100 >= tested * 2,
        "{raw_significant} of {tested}"
    );
}

#[test]
fn growth_below_poisson_noise_is_flagged_only_under_every() {
    // +100 kB over the hour on 1 MB; one estimate's noise is √(1 MB × 1 MiB) ≈ 1 MB.
    let level = |i: usize| MB + 0.1 * MB * (i as f64) / 63.0;
    let (every, poisson) = (
        Sampling::Every,
        Sampling::Poisson {
            mean_bytes: 1 << 20,
        },
    );
    for (sampling, expected) in [(poisson, 0), (every, 1)] {
        let mut detector = LeakDetector::default();
        feed(&mut detector, 64, sampling, |i| {
            (10.0 * MB, vec![site("slow", &[], level(i))])
        });
        let report = detector.analyze();
        assert_eq!(report.callsites_tested, 1);
        assert_eq!(report.suspects.len(), expected, "{sampling:?}");
    }
    let mut detector = LeakDetector::default();
    feed(&mut detector, 64, every, |i| {
        (10.0 * MB, vec![site("slow", &[], level(i))])
    });
    let slow = &detector.analyze().suspects[0];
    assert!((slow.growth_bytes_per_hour / (0.1 * MB * 60.0 / 63.0) - 1.0).abs() < 1e-9);
    // 95 kB/h takes over 4 days to add the 10 MB heap.
    assert_eq!(slow.severity, Severity::High);
}

#[test]
fn fewer_than_four_snapshots_give_no_suspects() {
    let empty = LeakDetector::default().analyze();
    assert_eq!(
        (empty.snapshots, empty.window_ms, empty.heap_live_bytes),
        (0, 0, 0)
    );
    assert_eq!(empty.heap_growth_bytes_per_hour, 0.0);
    let grow = |i: usize| {
        (
            MB * (i + 1) as f64,
            vec![site("leak", &[], MB * (i + 1) as f64)],
        )
    };
    let mut detector = LeakDetector::default();
    feed(&mut detector, 3, Sampling::Every, grow);
    let report = detector.analyze();
    assert_finite(&report);
    assert_eq!((report.snapshots, report.callsites_tested), (3, 0));
    assert!(report.suspects.is_empty());
    // The same growth over 8 snapshots is found.
    let mut detector = LeakDetector::default();
    feed(&mut detector, 8, Sampling::Every, grow);
    assert_eq!(names(&detector.analyze()), ["leak"]);
}

#[test]
fn ring_and_series_stay_bounded() {
    let mut detector = LeakDetector::new(64);
    feed(&mut detector, 200, Sampling::Every, |i| {
        let sites = vec![
            site("leak", &[], MB * (i + 1) as f64),
            site(&format!("once{i}"), &[], MB),
        ];
        (MB * (i + 2) as f64, sites)
    });
    assert_eq!(detector.snapshots(), 64);
    let series: Vec<&Series> = detector.series.values().flat_map(HashMap::values).collect();
    // The leak and the 64 one-off callsites still in the ring.
    assert_eq!(series.len(), 65);
    assert!(series.iter().all(|s| s.live.len() == 64));
    let report = detector.analyze();
    assert_eq!(report.window_ms, 63 * MINUTE);
    assert_eq!(report.callsites_tested, 65);
    assert_eq!(names(&report), ["leak"]);
    assert_eq!(report.suspects[0].first_seen_unix_ms, T0);
    let mut tiny = LeakDetector::new(0);
    feed(&mut tiny, 10, Sampling::Every, |i| {
        (0.0, vec![site("x", &[], i as f64)])
    });
    assert_eq!(tiny.snapshots(), 3);
    assert_eq!(LeakDetector::default().capacity, DEFAULT_LEAK_SNAPSHOTS);
}

#[test]
fn callsite_that_disappears_and_reappears() {
    // Gone for snapshots 20–25 (freed), then back on the same trend.
    let level = |i: usize| {
        if (20..26).contains(&i) {
            0.0
        } else {
            MB * (i + 1) as f64
        }
    };
    let mut detector = LeakDetector::default();
    feed(&mut detector, 64, Sampling::Every, |i| {
        let mut sites = vec![site("flat", &[], MB)];
        if level(i) > 0.0 {
            sites.push(site("leak", &["a", "b"], level(i)));
        }
        (100.0 * MB, sites)
    });
    let report = detector.analyze();
    assert_eq!(names(&report), ["leak"]);
    let leak = &report.suspects[0];
    assert_eq!(leak.job_path, ["a", "b"]);
    assert_eq!(leak.first_seen_unix_ms, T0);
    assert_eq!(leak.last_seen_unix_ms, T0 + 63 * MINUTE);
    assert_eq!(leak.live_bytes, 64.0 * MB);
    // Gone for longer than the ring: forgotten, then seen anew.
    let mut detector = LeakDetector::new(8);
    let present = |i: usize| !(3..15).contains(&i);
    feed(&mut detector, 13, Sampling::Every, |i| {
        (
            0.0,
            present(i).then(|| site("x", &[], MB)).into_iter().collect(),
        )
    });
    assert!(detector.series.is_empty());
    assert_eq!(detector.analyze().callsites_tested, 0);
    feed(&mut detector, 17, Sampling::Every, |i| {
        (
            0.0,
            present(i).then(|| site("x", &[], MB)).into_iter().collect(),
        )
    });
    let series: Vec<&Series> = detector.series.values().flat_map(HashMap::values).collect();
    assert_eq!(series.len(), 1);
    let x = series[0];
    assert_eq!(
        (x.first_seen_unix_ms, x.last_seen_unix_ms),
        (T0 + 15 * MINUTE, T0 + 16 * MINUTE)
    );
}

#[test]
fn severity_thresholds() {
    let heap = 24.0 * MB;
    assert_eq!(Severity::of(MB, heap), Severity::Critical); // exactly 24 h
    assert_eq!(Severity::of(MB * 0.999, heap), Severity::High);
    assert_eq!(Severity::of(heap / HOURS_HIGH, heap), Severity::High); // exactly 7 days
    assert_eq!(
        Severity::of(heap / HOURS_HIGH * 0.999, heap),
        Severity::Medium
    );
    assert_eq!(Severity::of(heap / HOURS_MEDIUM, heap), Severity::Medium); // exactly 30 days
    assert_eq!(
        Severity::of(heap / HOURS_MEDIUM * 0.999, heap),
        Severity::Low
    );
    assert_eq!(Severity::of(0.0, heap), Severity::Low);
    assert_eq!(Severity::of(f64::NAN, heap), Severity::Low);
    assert_eq!(Severity::of(1.0, 0.0), Severity::Critical); // the heap counts as 1 byte
    assert!(Severity::Low < Severity::Medium && Severity::High < Severity::Critical);
    let shown: Vec<String> = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ]
    .map(|s| s.to_string())
    .into();
    assert_eq!(shown, ["low", "medium", "high", "critical"]);
}

#[test]
fn suspects_are_sorted_by_growth_and_keyed_by_job() {
    let mut detector = LeakDetector::default();
    feed(&mut detector, 30, Sampling::Every, |i| {
        let t = i as f64 / 60.0;
        let sites = vec![
            site("grow", &["slow"], MB + MB * t),
            site("grow", &["fast"], MB + 5.0 * MB * t),
            site("grow", &[], 2.0 * MB + 3.0 * MB * t),
        ];
        (1000.0 * MB, sites)
    });
    let report = detector.analyze();
    let order: Vec<&[String]> = report
        .suspects
        .iter()
        .map(|s| s.job_path.as_slice())
        .collect();
    assert_eq!(
        order,
        [&["fast".to_string()][..], &[], &["slow".to_string()]]
    );
    let rates: Vec<f64> = report
        .suspects
        .iter()
        .map(|s| s.growth_bytes_per_hour)
        .collect();
    assert!(rates
        .iter()
        .zip([5.0, 3.0, 1.0])
        .all(|(r, w)| (r / (w * MB) - 1.0).abs() < 1e-9));
    // 1000 MB heap: 5 MB/h fills it in 200 h (medium), 1 MB/h in 1000 h (low).
    assert_eq!(report.suspects[0].severity, Severity::Medium);
    assert_eq!(report.suspects[2].severity, Severity::Low);
}

#[test]
fn equal_or_backward_times_stay_finite() {
    let mut detector = LeakDetector::default();
    for i in 0..20 {
        let sites = [site("leak", &[], MB * (i + 1) as f64)];
        detector.observe(T0, MB as u64 * (i + 1), Sampling::Every, &sites);
    }
    let report = detector.analyze();
    assert_finite(&report);
    assert_eq!(
        (report.window_ms, report.heap_growth_bytes_per_hour),
        (0, 0.0)
    );
    assert!(report.suspects.is_empty());
    assert_eq!(report.callsites_tested, 1);
    // A time before the previous one is raised to it.
    let mut detector = LeakDetector::default();
    for at in [T0, T0 + 2 * MINUTE, T0 + MINUTE] {
        detector.observe(at, 0, Sampling::Every, &[]);
    }
    assert_eq!(detector.analyze().window_ms, 2 * MINUTE);
    // Non-finite or negative estimates count as nothing.
    detector.observe(
        T0 + 3 * MINUTE,
        0,
        Sampling::Every,
        &[site("bad", &[], f64::NAN), site("neg", &[], -1.0)],
    );
    assert!(detector.series.is_empty());
}

#[test]
fn sampling_off_restarts_the_window() {
    let grow = |i: usize| (10.0 * MB, vec![site("leak", &[], MB * (i + 1) as f64)]);
    let mut detector = LeakDetector::default();
    feed(&mut detector, 20, Sampling::Every, grow);
    assert_eq!(names(&detector.analyze()), ["leak"]);
    // Callsites given under Off are ignored, and nothing is reported.
    detector.observe(
        T0 + 20 * MINUTE,
        0,
        Sampling::Off,
        &[site("leak", &[], 1e12)],
    );
    let report = detector.analyze();
    assert_eq!((report.callsites_tested, report.suspects.len()), (0, 0));
    // Back on: tested again once the new window is long enough.
    for i in 21..24 {
        detector.observe(T0 + i as u64 * MINUTE, 0, Sampling::Every, &grow(i).1);
    }
    assert_eq!(detector.analyze().callsites_tested, 0);
    for i in 24..30 {
        detector.observe(T0 + i as u64 * MINUTE, 0, Sampling::Every, &grow(i).1);
    }
    let report = detector.analyze();
    assert_eq!(report.callsites_tested, 1);
    assert_eq!(names(&report), ["leak"]);
    assert_eq!(report.suspects[0].first_seen_unix_ms, T0);
}

#[test]
fn growth_within_the_noise_is_still_reported_as_the_heaps() {
    // 300 kB over 10 snapshots at 512 KiB sampling: too little to tell from
    // the noise, though the heap grows steadily.
    let mut detector = LeakDetector::default();
    let sampling = Sampling::Poisson {
        mean_bytes: 512 * 1024,
    };
    feed(&mut detector, 10, sampling, |i| {
        let slow = 1.0 * MB + 30_000.0 * i as f64;
        (
            50.0 * MB + slow,
            vec![site("slow", &["job"], slow), site("flat", &[], 5.0 * MB)],
        )
    });
    let report = detector.analyze();
    assert!(report.suspects.is_empty());
    assert!(report.heap_growing);
    assert_eq!(
        report.fastest_growing.len(),
        1,
        "{:?}",
        report.fastest_growing
    );
    let slow = &report.fastest_growing[0];
    assert_eq!(slow.frames[0].function, "slow");
    assert_eq!(slow.not_a_suspect_because, "noise");
    assert!((slow.growth_bytes_per_hour / (30_000.0 * 60.0) - 1.0).abs() < 0.01);

    // With a suspect, the list stays empty.
    let mut detector = LeakDetector::default();
    feed(&mut detector, 10, Sampling::Every, |i| {
        (50.0 * MB, vec![site("leak", &[], MB + MB * i as f64)])
    });
    let report = detector.analyze();
    assert_eq!(names(&report), ["leak"]);
    assert!(report.fastest_growing.is_empty());
}
