//! Leak detection: which callsites' live bytes keep growing. The method,
//! its rules and its limits are documented on [`LeakDetector`].

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::trend;
use crate::{Callsite, Frame, Sampling};

/// The default number of snapshots the [`LeakDetector`] keeps: about an hour
/// at one snapshot a minute.
pub const DEFAULT_LEAK_SNAPSHOTS: usize = 64;

/// The false discovery rate of the Benjamini–Hochberg correction.
const FALSE_DISCOVERY_RATE: f64 = 0.01;
/// How many standard deviations of sampling noise the growth must exceed.
const NOISE_SIGMAS: f64 = 3.0;
/// The share of the whole window's slope the last third's slope must keep.
const TAIL_SLOPE_SHARE: f64 = 0.25;
/// The share of the rise the earlier trend predicts that the last third's
/// level must show.
const LEVEL_RISE_SHARE: f64 = 0.5;
/// The fewest snapshots (since sampling was last off) worth testing.
const MIN_SNAPSHOTS: usize = 4;
const MS_PER_HOUR: f64 = 3_600_000.0;
const HOURS_CRITICAL: f64 = 24.0;
const HOURS_HIGH: f64 = 7.0 * 24.0;
const HOURS_MEDIUM: f64 = 30.0 * 24.0;

/// One snapshot's whole-process numbers.
#[derive(Clone, Copy, Debug)]
struct Snapshot {
    at_unix_ms: u64,
    heap_live_bytes: u64,
    sampling: Sampling,
}

/// One callsite's live bytes in each snapshot of the ring, oldest first.
#[derive(Clone, Debug)]
struct Series {
    /// Creation order, to break ties in the report deterministically.
    order: u64,
    /// As many entries as the ring has snapshots.
    live: VecDeque<f64>,
    first_seen_unix_ms: u64,
    last_seen_unix_ms: u64,
    /// Blocks and bytes the callsite had allocated in all, as of the newest
    /// snapshot it was in, and which snapshot that was (its number).
    total_blocks: f64,
    total_bytes: f64,
    totals_of: u64,
}

/// Finds callsites whose live bytes grow steadily, from periodic snapshots.
///
/// A [`LeakDetector`] is fed snapshots of live bytes per callsite — by a
/// background observer, every 60 s by default — and keeps the last
/// `capacity` of them in a ring ([`DEFAULT_LEAK_SNAPSHOTS`] by default). It
/// never reads the clock: [`LeakDetector::observe`] takes the time, so tests
/// drive it without waiting. [`LeakDetector::analyze`] returns a
/// [`LeakReport`].
///
/// # Method
///
/// Callsites are matched across snapshots by their frames and job path. A
/// callsite missing from a snapshot has 0 live bytes there (all freed, or not
/// allocated yet), and a callsite is forgotten once it has 0 live bytes in
/// every snapshot of the ring, so memory is bounded by the ring.
///
/// A callsite is a *suspect* when all of these hold over the window (the
/// snapshots since the last one taken with [`Sampling::Off`]; at least 4):
///
/// 1. **Monotonic trend.** The one-sided Mann–Kendall test for an increasing
///    trend (S statistic, tie-corrected variance, continuity-corrected normal
///    score), with the **Benjamini–Hochberg** correction across every
///    callsite tested (those with live bytes somewhere in the window), rejects
///    "no trend" at a **false discovery rate of 1 %**. Confidence is
///    1 − the adjusted p-value.
/// 2. **Beyond sampling noise.** The growth of the Theil–Sen fit over the
///    window (slope × duration) exceeds 3 standard deviations of the
///    difference of its two ends. Under Poisson sampling with mean R bytes a
///    live-bytes estimate L has variance at most L·R (a sampled block of size
///    s weighs s/p with p = 1 − e^(−s/R), so its variance s²(1−p)/p ≤ s·R);
///    the bound is taken at the fitted first and last levels, and their sum
///    bounds the variance of the difference (estimates that share sampled
///    blocks are positively correlated, so it is conservative for real
///    leaks). Under [`Sampling::Every`] the variance is 0 and any growth
///    passes.
/// 3. **Not saturated.** The tail of the window (its last third, at least 3
///    snapshots) still grows: (a) its Theil–Sen slope is positive and at
///    least 25 % of the whole window's, and (b) its median level has risen
///    above the end of the head (the Theil–Sen fit of the snapshots before
///    the tail, at the last of them) by at least half of what that fit
///    predicts up to the tail's median time. (a) catches a plateau in clean
///    data; (b), halfway between "still growing as before" and "stopped",
///    catches a plateau whose estimate wanders: a cache that keeps replacing
///    entries at a constant size is re-sampled as it goes, and its estimate
///    drifts by ±√(L·R) over tens of snapshots, enough to fake a rising tail
///    slope. A cache that filled up and stopped, or a callsite that appeared
///    once and stayed, fails this.
///
/// A callsite that grows but fails a rule is not a suspect; while the heap
/// grows (Mann–Kendall at 1% on the heap's live bytes,
/// [`LeakReport::heap_growing`]), the fastest-growing of them are listed
/// with the rule each failed ([`LeakReport::fastest_growing`]), so that a
/// growing heap is never answered with an empty list.
///
/// Growth rates are Theil–Sen slopes (the median of the pairwise slopes,
/// robust to outliers) in bytes per hour; the heap's rate is the Theil–Sen
/// slope of the heap's live bytes over the whole ring.
///
/// **Severity** compares the growth with the heap: **critical** when the
/// callsite would add the whole current heap (the latest heap live bytes, or
/// the callsite's own live bytes if larger) within 24 hours, **high** within
/// 7 days, **medium** within 30 days, **low** beyond.
///
/// # Limits
///
/// * Mann–Kendall assumes independent snapshots. Live-bytes estimates of a
///   steady callsite whose blocks live across several snapshots are
///   positively correlated, which makes the test too eager; the noise and
///   saturation rules, not the p-value, keep such callsites out, so treat
///   confidence as a ranking more than as a probability.
/// * With one callsite, at least 6 snapshots are needed for a p-value under
///   1 % (5 give 0.014), more when many callsites are tested. The default
///   window is 64 snapshots, about an hour at the default interval.
/// * Growth within the sampling noise over the window is not reported, and
///   as the window has a fixed length while the noise grows with the level
///   (√(L·R)), a slow leak in a big callsite can stay hidden: a smaller R or
///   a longer interval helps. In a simulation of 1 kB blocks sampled at the
///   default 512 KiB, a leak from 1 MB was found in ~75 % of hour-long
///   windows at 10 MB/h and ~90 % at 30 MB/h (a sampled leak is a sparse
///   staircase whose last third is sometimes flat), while a 50 MB cache
///   replacing 10 % of its entries a minute was flagged in ~3 % of windows
///   after a 24-minute plateau and under 1 % after 44 minutes.
/// * A plateau is recognized once it covers roughly the last sixth to
///   quarter of the window in clean data, later under noise. A callsite
///   freed in bulk now and then (a sawtooth) is judged on the window's net
///   trend.
/// * Times are taken as given; a time earlier than the previous snapshot's is
///   raised to it. Snapshots at equal times count for the trend test but
///   give no slope.
///
/// Memory is bounded by the ring: at most `capacity` snapshots, and one
/// series of `capacity` numbers per callsite with live bytes somewhere in
/// the ring.
#[derive(Clone, Debug)]
pub struct LeakDetector {
    capacity: usize,
    ring: VecDeque<Snapshot>,
    /// Series by frames, then by job path (two levels so that lookups borrow
    /// the callsite's vectors instead of cloning them).
    series: HashMap<Vec<Frame>, HashMap<Vec<String>, Series>>,
    next_order: u64,
    /// Snapshots observed so far: the number of the newest.
    observed: u64,
}

/// What [`LeakDetector::analyze`] found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LeakReport {
    /// Snapshots in the ring.
    pub snapshots: usize,
    /// Time from the oldest snapshot in the ring to the newest, in ms.
    pub window_ms: u64,
    /// The heap's live bytes in the newest snapshot.
    pub heap_live_bytes: u64,
    /// The Theil–Sen slope of the heap's live bytes over the ring, in bytes
    /// per hour (negative when it shrinks).
    pub heap_growth_bytes_per_hour: f64,
    /// The suspects, fastest growing first.
    pub suspects: Vec<LeakSuspect>,
    /// How many callsites were tested (those with live bytes somewhere in the
    /// window; 0 when it has fewer than 4 snapshots): the size of the family
    /// the correction is over.
    pub callsites_tested: usize,
    /// Whether the heap's live bytes grow over the ring: the one-sided
    /// Mann–Kendall test at 1%, and a positive slope.
    #[serde(default)]
    pub heap_growing: bool,
    /// When the heap grows: the callsites whose live bytes grew fastest
    /// (Theil–Sen) without passing every rule, at most 5, each with the rule
    /// it failed, so that growth is named even before it is beyond doubt.
    /// Empty when the heap does not grow.
    #[serde(default)]
    pub fastest_growing: Vec<GrowingCallsite>,
}

/// A callsite whose live bytes grew, though it is not a suspect: in
/// [`LeakReport::fastest_growing`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GrowingCallsite {
    /// The callsite's frames, innermost first.
    pub frames: Vec<Frame>,
    /// Its job path, outermost first.
    pub job_path: Vec<String>,
    /// Its live bytes in the newest snapshot.
    pub live_bytes: f64,
    /// The Theil–Sen slope of its live bytes, in bytes per hour.
    pub growth_bytes_per_hour: f64,
    /// Why it is not a suspect: `trend` (no significant upward trend yet),
    /// `noise` (its growth is within the sampling noise), or `saturation`
    /// (its growth has stopped at the end of the window).
    pub not_a_suspect_because: String,
}

/// A callsite whose live bytes grow steadily.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LeakSuspect {
    /// The callsite's frames, innermost first.
    pub frames: Vec<Frame>,
    /// The callsite's job path, outermost first; empty outside jobs.
    pub job_path: Vec<String>,
    /// Its live bytes in the newest snapshot (an estimate under Poisson
    /// sampling).
    pub live_bytes: f64,
    /// Blocks it had allocated in all by its newest snapshot (an estimate
    /// under Poisson sampling; 0 in reports written before it existed).
    #[serde(default)]
    pub allocations: f64,
    /// Their average size in bytes (0 when none was counted).
    #[serde(default)]
    pub average_size_bytes: f64,
    /// The Theil–Sen slope of its live bytes, in bytes per hour.
    pub growth_bytes_per_hour: f64,
    /// The first snapshot with live bytes since the detector last had no
    /// live bytes for it in the whole ring (may predate the window).
    pub first_seen_unix_ms: u64,
    /// The last snapshot in which it had live bytes.
    pub last_seen_unix_ms: u64,
    /// 1 − the Benjamini–Hochberg adjusted Mann–Kendall p-value.
    pub confidence: f64,
    /// How fast it grows relative to the heap.
    pub severity: Severity,
}

/// How fast a suspect grows relative to the heap's live bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// It would take more than 30 days to add the heap's size.
    Low,
    /// It would add the heap's size within 30 days.
    Medium,
    /// It would add the heap's size within 7 days.
    High,
    /// It would add the heap's size within 24 hours.
    Critical,
}

impl Severity {
    /// The severity of growing `growth_bytes_per_hour` on a heap of
    /// `heap_bytes` (taken as at least 1 byte).
    fn of(growth_bytes_per_hour: f64, heap_bytes: f64) -> Severity {
        let (growth, heap) = (finite(growth_bytes_per_hour), finite(heap_bytes).max(1.0));
        if growth * HOURS_CRITICAL >= heap {
            Severity::Critical
        } else if growth * HOURS_HIGH >= heap {
            Severity::High
        } else if growth * HOURS_MEDIUM >= heap {
            Severity::Medium
        } else {
            Severity::Low
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

impl Default for LeakDetector {
    fn default() -> LeakDetector {
        LeakDetector::new(DEFAULT_LEAK_SNAPSHOTS)
    }
}

/// A callsite's series, and its live bytes over the analysis window.
struct Candidate<'a> {
    frames: &'a [Frame],
    job_path: &'a [String],
    series: &'a Series,
    values: Vec<f64>,
}

impl LeakDetector {
    /// A detector keeping the last `capacity` snapshots (at least 3; at least
    /// 4 are needed before anything is reported).
    pub fn new(capacity: usize) -> LeakDetector {
        let capacity = capacity.max(3);
        LeakDetector {
            capacity,
            ring: VecDeque::with_capacity(capacity),
            series: HashMap::new(),
            next_order: 0,
            observed: 0,
        }
    }

    /// Records a snapshot taken at `at_unix_ms`: the heap's live bytes, the
    /// sampling the estimates were made under, and every callsite's live
    /// bytes. Callsites are ignored under [`Sampling::Off`]; repeated
    /// callsites (same frames and job path) are added up. The oldest snapshot
    /// is dropped once the ring is full.
    pub fn observe(
        &mut self,
        at_unix_ms: u64,
        heap_live_bytes: u64,
        sampling: Sampling,
        callsites: &[Callsite],
    ) {
        let at_unix_ms = self
            .ring
            .back()
            .map_or(at_unix_ms, |last| at_unix_ms.max(last.at_unix_ms));
        if self.ring.len() >= self.capacity {
            self.ring.pop_front();
            for series in self.series.values_mut().flat_map(HashMap::values_mut) {
                series.live.pop_front();
            }
        }
        self.ring.push_back(Snapshot {
            at_unix_ms,
            heap_live_bytes,
            sampling,
        });
        self.observed += 1;
        for series in self.series.values_mut().flat_map(HashMap::values_mut) {
            series.live.push_back(0.0);
        }
        if sampling != Sampling::Off {
            for callsite in callsites {
                self.record(at_unix_ms, callsite);
            }
        }
        for by_job in self.series.values_mut() {
            by_job.retain(|_, series| series.live.iter().any(|&bytes| bytes > 0.0));
        }
        self.series.retain(|_, by_job| !by_job.is_empty());
    }

    /// Adds `callsite`'s live bytes to the newest snapshot of its series.
    fn record(&mut self, at_unix_ms: u64, callsite: &Callsite) {
        let bytes = callsite.live_bytes;
        if !(bytes.is_finite() && bytes > 0.0) {
            return;
        }
        let slots = self.ring.len();
        if !self.series.contains_key(callsite.frames.as_slice()) {
            self.series.insert(callsite.frames.clone(), HashMap::new());
        }
        let Some(by_job) = self.series.get_mut(callsite.frames.as_slice()) else {
            return;
        };
        if let Some(series) = by_job.get_mut(callsite.job_path.as_slice()) {
            if let Some(newest) = series.live.back_mut() {
                *newest += bytes;
            }
            if series.totals_of == self.observed {
                // The same callsite again in this snapshot: added up.
                series.total_blocks += callsite.total_blocks;
                series.total_bytes += callsite.total_bytes;
            } else {
                series.total_blocks = callsite.total_blocks;
                series.total_bytes = callsite.total_bytes;
                series.totals_of = self.observed;
            }
            series.last_seen_unix_ms = at_unix_ms;
            return;
        }
        let mut live: VecDeque<f64> = std::iter::repeat_n(0.0, slots).collect();
        if let Some(newest) = live.back_mut() {
            *newest = bytes;
        }
        let series = Series {
            order: self.next_order,
            live,
            first_seen_unix_ms: at_unix_ms,
            last_seen_unix_ms: at_unix_ms,
            total_blocks: callsite.total_blocks,
            total_bytes: callsite.total_bytes,
            totals_of: self.observed,
        };
        self.next_order += 1;
        by_job.insert(callsite.job_path.clone(), series);
    }

    /// How many snapshots the ring holds.
    pub fn snapshots(&self) -> usize {
        self.ring.len()
    }

    /// Tests every callsite and the heap over the ring, by the rules of
    /// [`LeakDetector`]. Never fails: with fewer than 4 usable
    /// snapshots there are simply no suspects, and every number is finite.
    pub fn analyze(&self) -> LeakReport {
        let oldest = self.ring.front().map_or(0, |s| s.at_unix_ms);
        let newest = self.ring.back().map_or(0, |s| s.at_unix_ms);
        let times: Vec<f64> = self
            .ring
            .iter()
            .map(|s| s.at_unix_ms.saturating_sub(oldest) as f64)
            .collect();
        let heap: Vec<f64> = self.ring.iter().map(|s| s.heap_live_bytes as f64).collect();
        let heap_live_bytes = self.ring.back().map_or(0, |s| s.heap_live_bytes);
        let mut report = LeakReport {
            snapshots: self.ring.len(),
            window_ms: newest.saturating_sub(oldest),
            heap_live_bytes,
            heap_growth_bytes_per_hour: finite(trend::theil_sen_slope(&times, &heap) * MS_PER_HOUR),
            suspects: Vec::new(),
            callsites_tested: 0,
            heap_growing: false,
            fastest_growing: Vec::new(),
        };
        // The callsite window: the snapshots since sampling was last off.
        let start = self
            .ring
            .iter()
            .rposition(|s| s.sampling == Sampling::Off)
            .map_or(0, |i| i + 1);
        if self.ring.len().saturating_sub(start) < MIN_SNAPSHOTS {
            return report;
        }
        let candidates: Vec<Candidate<'_>> = self
            .series
            .iter()
            .flat_map(|(frames, by_job)| by_job.iter().map(move |(job, s)| (frames, job, s)))
            .map(|(frames, job_path, series)| Candidate {
                frames,
                job_path,
                series,
                values: series.live.iter().skip(start).copied().collect(),
            })
            .filter(|c| c.values.iter().any(|&bytes| bytes > 0.0))
            .collect();
        report.callsites_tested = candidates.len();
        let p_values: Vec<f64> = candidates
            .iter()
            .map(|c| trend::mann_kendall(&c.values).p_increasing)
            .collect();
        let adjusted = trend::benjamini_hochberg(&p_values);
        let times = times.get(start..).unwrap_or_default();
        let samplings: Vec<Sampling> = self.ring.iter().skip(start).map(|s| s.sampling).collect();
        let mut ranked: Vec<(u64, LeakSuspect)> = Vec::new();
        let mut growing: Vec<GrowingCallsite> = Vec::new();
        for (candidate, p) in candidates.iter().zip(adjusted) {
            let verdict = if p <= FALSE_DISCOVERY_RATE {
                assess(candidate, p, times, &samplings, heap_live_bytes)
            } else {
                Err(Rejected::Trend)
            };
            match verdict {
                Ok(suspect) => ranked.push((candidate.series.order, suspect)),
                Err(reason) => {
                    let slope = trend::theil_sen_slope(times, &candidate.values);
                    if slope.is_finite() && slope > 0.0 {
                        growing.push(GrowingCallsite {
                            frames: candidate.frames.to_vec(),
                            job_path: candidate.job_path.to_vec(),
                            live_bytes: candidate.values.last().copied().unwrap_or(0.0),
                            growth_bytes_per_hour: finite(slope * MS_PER_HOUR),
                            not_a_suspect_because: reason.name().to_string(),
                        });
                    }
                }
            }
        }
        report.heap_growing = report.heap_growth_bytes_per_hour > 0.0
            && trend::mann_kendall(&heap).p_increasing <= FALSE_DISCOVERY_RATE;
        if report.heap_growing {
            growing.sort_by(|a, b| b.growth_bytes_per_hour.total_cmp(&a.growth_bytes_per_hour));
            growing.truncate(FASTEST_GROWING);
            report.fastest_growing = growing;
        }
        ranked.sort_by(|(a_order, a), (b_order, b)| {
            b.growth_bytes_per_hour
                .total_cmp(&a.growth_bytes_per_hour)
                .then(a_order.cmp(b_order))
        });
        report.suspects = ranked.into_iter().map(|(_, suspect)| suspect).collect();
        report
    }
}

/// Applies the noise and saturation rules to a callsite whose trend is
/// significant (adjusted p-value `adjusted_p`), making it a suspect if it
/// passes. `times` (ms since the oldest snapshot) and `samplings` cover the
/// window, like `candidate.values`.
fn assess(
    candidate: &Candidate<'_>,
    adjusted_p: f64,
    times: &[f64],
    samplings: &[Sampling],
    heap_live_bytes: u64,
) -> Result<LeakSuspect, Rejected> {
    let values = &candidate.values;
    let slope = trend::theil_sen_slope(times, values);
    if !(slope.is_finite() && slope > 0.0) {
        return Err(Rejected::Trend);
    }
    let (Some(&first_t), Some(&last_t), Some(&first_sampling), Some(&last_sampling)) = (
        times.first(),
        times.last(),
        samplings.first(),
        samplings.last(),
    ) else {
        return Err(Rejected::Trend);
    };
    let intercept = trend::theil_sen_intercept(times, values, slope);
    let first_level = (intercept + slope * first_t).max(0.0);
    let last_level = (intercept + slope * last_t).max(0.0);
    let noise =
        variance_bound(first_level, first_sampling) + variance_bound(last_level, last_sampling);
    let growth = slope * (last_t - first_t);
    let threshold = NOISE_SIGMAS * noise.sqrt();
    if !threshold.is_finite() || growth <= threshold {
        return Err(Rejected::Noise);
    }
    if !still_growing(times, values, slope) {
        return Err(Rejected::Saturation);
    }
    let live_bytes = values.last().copied().unwrap_or(0.0);
    let growth_bytes_per_hour = finite(slope * MS_PER_HOUR);
    Ok(LeakSuspect {
        frames: candidate.frames.to_vec(),
        job_path: candidate.job_path.to_vec(),
        live_bytes,
        allocations: finite(candidate.series.total_blocks),
        average_size_bytes: if candidate.series.total_blocks > 0.0 {
            finite(candidate.series.total_bytes / candidate.series.total_blocks)
        } else {
            0.0
        },
        growth_bytes_per_hour,
        first_seen_unix_ms: candidate.series.first_seen_unix_ms,
        last_seen_unix_ms: candidate.series.last_seen_unix_ms,
        confidence: finite(1.0 - adjusted_p).clamp(0.0, 1.0),
        severity: Severity::of(
            growth_bytes_per_hour,
            (heap_live_bytes as f64).max(live_bytes),
        ),
    })
}

/// Which rule a callsite failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rejected {
    Trend,
    Noise,
    Saturation,
}

impl Rejected {
    fn name(self) -> &'static str {
        match self {
            Rejected::Trend => "trend",
            Rejected::Noise => "noise",
            Rejected::Saturation => "saturation",
        }
    }
}

/// The most callsites listed, while the heap grows, that are not suspects.
const FASTEST_GROWING: usize = 5;

/// The saturation rule: whether the window, whose Theil–Sen slope is
/// `slope`, still grows at its end. The tail (the last third, at least 3
/// snapshots) must have a positive Theil–Sen slope of at least
/// [`TAIL_SLOPE_SHARE`] of `slope`, and its median level must rise above the
/// level that the Theil–Sen fit of the head (everything before the tail)
/// gives at the head's end by at least [`LEVEL_RISE_SHARE`] of the rise that
/// fit predicts up to the tail's median time.
fn still_growing(times: &[f64], values: &[f64], slope: f64) -> bool {
    let n = values.len().min(times.len());
    let split = n - n.div_ceil(3).max(3).min(n);
    let (Some((head_times, tail_times)), Some((head_values, tail_values))) = (
        times.get(..n).map(|t| t.split_at(split)),
        values.get(..n).map(|v| v.split_at(split)),
    ) else {
        return false;
    };
    let tail_slope = trend::theil_sen_slope(tail_times, tail_values);
    if !(tail_slope > 0.0 && tail_slope >= TAIL_SLOPE_SHARE * slope) {
        return false;
    }
    let head_slope = trend::theil_sen_slope(head_times, head_values);
    let head_intercept = trend::theil_sen_intercept(head_times, head_values, head_slope);
    let (Some(&head_end), Some(tail_time), Some(tail_level)) = (
        head_times.last(),
        trend::median(&mut tail_times.to_vec()),
        trend::median(&mut tail_values.to_vec()),
    ) else {
        return false;
    };
    let head_level = head_intercept + head_slope * head_end;
    let predicted_rise = head_slope.max(0.0) * (tail_time - head_end);
    tail_level - head_level >= LEVEL_RISE_SHARE * predicted_rise
}

/// An upper bound on the variance of a live-bytes estimate of `level` bytes
/// made under `sampling`.
fn variance_bound(level: f64, sampling: Sampling) -> f64 {
    match sampling {
        Sampling::Poisson { mean_bytes } => level * mean_bytes as f64,
        Sampling::Every | Sampling::Off => 0.0,
    }
}

/// `x`, or 0 when it is NaN or infinite.
fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests;
