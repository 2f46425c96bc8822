//! A bounded log-linear histogram of durations (nanoseconds), in the style of
//! HdrHistogram: 64 linear sub-buckets per power of two, so any quantile read
//! from it is within 1/128 (< 0.8%) of a recorded value, whatever the number of
//! calls. Buckets are atomics: recording takes no lock.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// log2 of the sub-buckets per power of two.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Values below this are their own bucket (exact).
const LINEAR: u64 = 2 * SUB;
/// Highest power of two with its own buckets: durations below 2^43 ns (about
/// 2.4 hours) are within the error bound; longer ones share the last bucket
/// (quantiles there read low; the maximum is kept exactly).
const MAX_EXPONENT: u32 = 42;
/// Number of buckets.
pub(crate) const BUCKETS: usize =
    LINEAR as usize + (MAX_EXPONENT - SUB_BITS) as usize * SUB as usize;

/// The bucket of `nanos`.
#[inline]
pub(crate) fn bucket_of(nanos: u64) -> usize {
    if nanos < LINEAR {
        return nanos as usize;
    }
    let exponent = (63 - nanos.leading_zeros()).min(MAX_EXPONENT);
    let shift = exponent - SUB_BITS;
    // Top SUB_BITS + 1 bits of the value: in [SUB, 2 * SUB) unless clamped.
    let sub = ((nanos >> shift) - SUB).min(SUB - 1);
    (LINEAR + u64::from(exponent - SUB_BITS - 1) * SUB + sub) as usize
}

/// The range of values in `bucket`: `(lowest, width)`.
pub(crate) fn bucket_range(bucket: usize) -> (u64, u64) {
    let bucket = bucket as u64;
    if bucket < LINEAR {
        return (bucket, 1);
    }
    let index = bucket - LINEAR;
    let exponent = index / SUB + u64::from(SUB_BITS) + 1;
    let shift = exponent - u64::from(SUB_BITS);
    ((SUB + index % SUB) << shift, 1 << shift)
}

/// Duration counts per bucket, recorded with relaxed atomic adds.
#[derive(Debug)]
pub(crate) struct DurationHistogram {
    buckets: Box<[AtomicU64]>,
}

impl DurationHistogram {
    /// An empty histogram (allocates its buckets: about 19 KiB).
    pub(crate) fn new() -> Self {
        DurationHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records one duration.
    #[inline]
    pub(crate) fn record(&self, nanos: u64) {
        if let Some(bucket) = self.buckets.get(bucket_of(nanos)) {
            bucket.fetch_add(1, Relaxed);
        }
    }

    /// Adds this histogram's counts into `into` (a reader's copy).
    pub(crate) fn add_to(&self, into: &mut Counts) {
        for (sum, bucket) in into.0.iter_mut().zip(self.buckets.iter()) {
            *sum += bucket.load(Relaxed);
        }
    }

    /// Sets every bucket to zero.
    pub(crate) fn clear(&self) {
        for bucket in self.buckets.iter() {
            bucket.store(0, Relaxed);
        }
    }
}

/// A reader's copy of bucket counts, possibly merged from several histograms.
#[derive(Clone, Debug)]
pub(crate) struct Counts(Vec<u64>);

impl Counts {
    /// All zero.
    pub(crate) fn new() -> Self {
        Counts(vec![0; BUCKETS])
    }

    /// Values recorded.
    pub(crate) fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Values recorded whose bucket's midpoint is at most `nanos`.
    pub(crate) fn at_most(&self, nanos: u64) -> u64 {
        self.0
            .iter()
            .enumerate()
            .filter(|&(bucket, _)| {
                let (low, width) = bucket_range(bucket);
                low + width / 2 <= nanos
            })
            .map(|(_, &n)| n)
            .sum()
    }

    /// The value at quantile `q` (0..=1): the midpoint of the bucket holding
    /// the `ceil(q * count)`-th smallest value, capped at `max`. `None` when
    /// empty.
    pub(crate) fn quantile(&self, q: f64, max: u64) -> Option<Duration> {
        let count: u64 = self.0.iter().sum();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (bucket, &n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (low, width) = bucket_range(bucket);
                let mid = low + width / 2;
                return Some(Duration::from_nanos(mid.min(max)));
            }
        }
        Some(Duration::from_nanos(max))
    }
}

/// A summary of durations: of a job's calls ([`JobStats::duration`]) or of
/// a job profile's runs ([`JobProfile::duration`]). In JSON each is integer
/// nanoseconds, the unit in the key (`p99_ns`).
///
/// `total`, `mean`, `min` and `max` are exact. The percentiles of a job's
/// calls come from a log-linear histogram and are within 1% of a recorded
/// duration, whatever the number of calls; those of a job profile are
/// nearest-rank over the runs themselves (with 10 runs, p95 and p99 are the
/// slowest run).
///
/// [`JobStats::duration`]: crate::JobStats::duration
/// [`JobProfile::duration`]: crate::JobProfile::duration
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DurationStats {
    /// Sum of all durations.
    #[serde(rename = "total_ns", with = "crate::units::nanos")]
    pub total: Duration,
    /// `total` divided by their number.
    #[serde(rename = "mean_ns", with = "crate::units::nanos")]
    pub mean: Duration,
    /// Shortest.
    #[serde(rename = "min_ns", with = "crate::units::nanos")]
    pub min: Duration,
    /// Median.
    #[serde(rename = "p50_ns", with = "crate::units::nanos")]
    pub p50: Duration,
    /// 95th percentile.
    #[serde(rename = "p95_ns", with = "crate::units::nanos")]
    pub p95: Duration,
    /// 99th percentile.
    #[serde(rename = "p99_ns", with = "crate::units::nanos")]
    pub p99: Duration,
    /// Longest.
    #[serde(rename = "max_ns", with = "crate::units::nanos")]
    pub max: Duration,
}

impl DurationStats {
    /// Total, mean, min, nearest-rank percentiles and max of `durations`
    /// (sorted here); all zero when there are none.
    pub(crate) fn of_runs(durations: &mut [Duration]) -> DurationStats {
        if durations.is_empty() {
            return DurationStats::default();
        }
        durations.sort_unstable();
        let n = durations.len();
        let rank = |q: f64| durations[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        let total_nanos = durations.iter().fold(0u128, |sum, d| sum + d.as_nanos());
        let nanos = |n: u128| Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX));
        DurationStats {
            total: nanos(total_nanos),
            mean: nanos(total_nanos / n as u128),
            min: durations[0],
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: durations[n - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_contiguously() {
        let mut expected_low = 0;
        for bucket in 0..BUCKETS {
            let (low, width) = bucket_range(bucket);
            assert_eq!(low, expected_low, "bucket {bucket}");
            assert_eq!(bucket_of(low), bucket);
            assert_eq!(bucket_of(low + width - 1), bucket);
            expected_low = low + width;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn midpoints_are_within_one_percent() {
        // Every value maps to a bucket whose midpoint is within 1/128 of it.
        let mut value = 1u64;
        while value < 1 << 42 {
            for v in [value, value + value / 3, value * 2 - 1] {
                let (low, width) = bucket_range(bucket_of(v));
                let mid = (low + width / 2) as f64;
                let error = (mid - v as f64).abs() / v as f64;
                assert!(error <= 1.0 / 128.0 + 1e-12, "{v}: error {error}");
            }
            value = value * 3 / 2 + 1;
        }
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let h = DurationHistogram::new();
        // 1..=10_000 microseconds, once each.
        for us in 1..=10_000u64 {
            h.record(us * 1000);
        }
        let mut counts = Counts::new();
        h.add_to(&mut counts);
        let max = 10_000_000;
        for (q, truth) in [(0.5, 5_000_000.0), (0.95, 9_500_000.0), (0.99, 9_900_000.0)] {
            let got = counts.quantile(q, max).expect("non-empty").as_nanos() as f64;
            assert!((got - truth).abs() / truth < 0.01, "q{q}: {got} vs {truth}");
        }
        assert_eq!(counts.quantile(1.0, max), Some(Duration::from_nanos(max)));
        assert_eq!(Counts::new().quantile(0.5, 0), None);
        h.clear();
        let mut counts = Counts::new();
        h.add_to(&mut counts);
        assert_eq!(counts.quantile(0.5, 0), None);
    }

    #[test]
    fn run_percentiles_are_nearest_rank() {
        let mut runs: Vec<Duration> = (1..=10).rev().map(Duration::from_millis).collect();
        let d = DurationStats::of_runs(&mut runs);
        assert_eq!(d.min, Duration::from_millis(1));
        assert_eq!(d.p50, Duration::from_millis(5));
        assert_eq!(d.p95, Duration::from_millis(10));
        assert_eq!(d.p99, Duration::from_millis(10));
        assert_eq!(d.max, Duration::from_millis(10));
        assert_eq!(d.mean, Duration::from_micros(5500));
        assert_eq!(d.total, Duration::from_millis(55));

        let mut one = vec![Duration::from_millis(7)];
        let d = DurationStats::of_runs(&mut one);
        assert_eq!((d.min, d.p50, d.p99), (one[0], one[0], one[0]));
        assert_eq!(DurationStats::of_runs(&mut []), DurationStats::default());
    }

    #[test]
    fn summaries_are_nanoseconds_in_json() {
        let mut runs = vec![Duration::from_micros(3), Duration::from_micros(5)];
        let json = serde_json::to_string(&DurationStats::of_runs(&mut runs)).unwrap();
        assert!(json.contains(r#""p50_ns":3000"#), "{json}");
        assert!(json.contains(r#""total_ns":8000"#), "{json}");
    }
}
