//! The rules that judge one number: [`Thresholds`], and what they make of a
//! base value, a head value and the noise between them ([`Judgement`]).
//!
//! - Counted numbers (heap totals, a job's allocations, bytes, kept bytes
//!   and peak per call, callsites when every block was sampled) regress when
//!   they grow by more than `--max-increase` (5 % by default).
//! - Sampled estimates (callsites under Poisson sampling) regress when they
//!   grow by more than `--max-increase` *and* by more than
//!   `--noise-sigma` (3) standard deviations of the difference.
//! - A peak reported within a bound (threads allocating at once) regresses
//!   only beyond the two reports' bounds added up.
//! - Durations (p50, p95, p99) are judged only with `--max-time-increase`,
//!   and only when both reports have at least `--min-calls` (100) calls.
//! - `--max-bytes-per-call JOB=SIZE` is an absolute limit on the head.

use serde::Serialize;

use super::Verdict;
use crate::units::{ByteSize, JobLimit, Percent};

/// The default of `--max-increase`, in percent.
pub const DEFAULT_MAX_INCREASE: f64 = 5.0;
/// The default of `--min-calls`: below 100 calls a p99 is the slowest call
/// or nearly so, one outlier; from 100 on, one slow call moves the p99 no
/// further than the next slowest.
pub const DEFAULT_MIN_CALLS: u64 = 100;
/// The default of `--noise-sigma`: a change of 3 standard deviations or less
/// happens by chance about once in 700 comparisons of one number.
pub const DEFAULT_NOISE_SIGMA: f64 = 3.0;

/// What the numbers of a diff are judged against.
#[derive(Clone, Debug, Serialize)]
pub struct Thresholds {
    /// The largest increase of a counted or estimated number that passes
    /// (`--max-increase`).
    pub max_increase: Percent,
    /// The largest increase of a duration percentile that passes
    /// (`--max-time-increase`); `None`: durations are not judged.
    pub max_time_increase: Option<Percent>,
    /// Durations are judged only when both reports have at least this many
    /// calls of the job (`--min-calls`).
    pub min_calls: u64,
    /// Absolute limits on a job's bytes allocated per call in the head
    /// (`--max-bytes-per-call`).
    pub max_bytes_per_call: Vec<JobLimit>,
    /// How many standard deviations of sampling noise a sampled estimate
    /// must grow by to count (`--noise-sigma`).
    pub noise_sigma: f64,
    /// Whether a job's bytes kept per call and the peak of one call are
    /// judged against `max_increase` (`--judge-kept`). Off by default: they
    /// count the frees made on the calling thread only, so a job whose
    /// blocks another thread frees (a spawned task's, a channel's) keeps a
    /// different amount from run to run.
    pub judge_kept: bool,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            max_increase: Percent(DEFAULT_MAX_INCREASE),
            max_time_increase: None,
            min_calls: DEFAULT_MIN_CALLS,
            max_bytes_per_call: Vec::new(),
            noise_sigma: DEFAULT_NOISE_SIGMA,
            judge_kept: false,
        }
    }
}

/// How far a number moves between two runs without a real change.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// Counted: it does not move by chance.
    Exact,
    /// Sampled: `head - base` has this variance (the two reports' variances
    /// added: their samples are independent).
    Sampled {
        /// The variance of `head - base`.
        variance: f64,
    },
    /// Known within a bound: `head - base` may be off by this much either
    /// way (the two bounds added).
    Bound {
        /// The bound of `head - base`.
        bound: f64,
    },
}

/// What the rules make of one number.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// Whether the number moved (see [`Row::changed`](super::Row::changed)).
    pub changed: bool,
    /// How far `head - base` may move without a real change.
    pub noise_margin: f64,
    /// Why, when the numbers alone do not say it.
    pub note: Option<String>,
}

impl Thresholds {
    /// Judges a counted or sampled number against `--max-increase` and its
    /// noise.
    pub fn judge(&self, base: f64, head: f64, noise: Noise) -> Judgement {
        let margin = match noise {
            Noise::Exact => 0.0,
            Noise::Sampled { variance } => self.noise_sigma * variance.max(0.0).sqrt(),
            Noise::Bound { bound } => bound.max(0.0),
        };
        let increase = head - base;
        let verdict = if !grew_over(base, head, self.max_increase.fraction()) {
            Verdict::Ok
        } else if increase > margin {
            Verdict::Regression
        } else {
            Verdict::WithinNoise
        };
        let note = match (verdict, noise) {
            (Verdict::WithinNoise, Noise::Bound { .. }) => Some(format!(
                "within the peaks' bound of {}",
                ByteSize(margin.round() as u64)
            )),
            (Verdict::WithinNoise, _) => {
                Some(format!("within {}σ of sampling noise", self.noise_sigma))
            }
            _ => None,
        };
        Judgement {
            verdict,
            changed: increase.abs() > margin.max(tolerance(base, head)),
            noise_margin: margin,
            note,
        }
    }

    /// Judges a job's bytes kept per call or a call's peak: exactly, with
    /// `--judge-kept`, else shown only.
    pub fn judge_kept(&self, base: f64, head: f64) -> Judgement {
        if self.judge_kept {
            return self.judge(base, head, Noise::Exact);
        }
        Judgement {
            verdict: Verdict::NotJudged,
            changed: head != base,
            noise_margin: 0.0,
            note: Some("not judged (--judge-kept)".to_string()),
        }
    }

    /// Judges a duration percentile of a job with `base_calls` and
    /// `head_calls` calls against `--max-time-increase`.
    pub fn judge_time(&self, base: f64, head: f64, base_calls: u64, head_calls: u64) -> Judgement {
        let not_judged = |note: Option<String>| Judgement {
            verdict: Verdict::NotJudged,
            changed: false,
            noise_margin: 0.0,
            note,
        };
        let Some(max) = self.max_time_increase else {
            return not_judged(None);
        };
        if base_calls.min(head_calls) < self.min_calls {
            return not_judged(Some(format!(
                "not judged: fewer than {} calls",
                self.min_calls
            )));
        }
        let fraction = max.fraction();
        Judgement {
            verdict: if grew_over(base, head, fraction) {
                Verdict::Regression
            } else {
                Verdict::Ok
            },
            changed: grew_over(base, head, fraction) || grew_over(head, base, fraction),
            noise_margin: 0.0,
            note: None,
        }
    }

    /// The absolute limit on `job`'s bytes per call, if one was given.
    pub fn bytes_per_call_limit(&self, job: &str) -> Option<ByteSize> {
        self.max_bytes_per_call
            .iter()
            .find(|limit| limit.job == job)
            .map(|limit| limit.bytes)
    }
}

impl Judgement {
    /// Adds an absolute limit: a head value over `limit` is a regression,
    /// whatever the base.
    pub fn with_limit(mut self, head: f64, limit: ByteSize) -> Judgement {
        if head > limit.0 as f64 {
            self.verdict = Verdict::Regression;
            self.changed = true;
            self.note = Some(format!("over the limit of {limit} per call"));
        } else if self.note.is_none() {
            self.note = Some(format!("limit {limit} per call"));
        }
        self
    }
}

/// `(head - base) / |base|` in percent; `None` when the base is 0.
pub fn change_percent(base: f64, head: f64) -> Option<f64> {
    (base != 0.0).then(|| (head - base) / base.abs() * 100.0)
}

/// Whether `head` is more than `fraction` above `base` (relative to
/// `|base|`, so that a negative base, bytes a job freed more than it
/// allocated, grows the same way). From a base of 0, any growth is over.
/// Exactly at the threshold passes.
pub fn grew_over(base: f64, head: f64, fraction: f64) -> bool {
    head - base > base.abs() * fraction + tolerance(base, head)
}

/// What floating-point division may have added to an exact ratio
/// (bytes per call): differences this small are not changes.
fn tolerance(base: f64, head: f64) -> f64 {
    1e-9 * base.abs().max(head.abs()).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds(max_increase: f64) -> Thresholds {
        Thresholds {
            max_increase: Percent::new(max_increase).unwrap(),
            ..Thresholds::default()
        }
    }

    #[test]
    fn kept_bytes_are_judged_only_when_asked() {
        let shown = thresholds(5.0).judge_kept(-176.0, 592.0);
        assert_eq!(shown.verdict, Verdict::NotJudged);
        assert!(shown.changed);
        let judged = Thresholds {
            judge_kept: true,
            ..thresholds(5.0)
        };
        assert_eq!(judged.judge_kept(100.0, 120.0).verdict, Verdict::Regression);
        assert_eq!(judged.judge_kept(100.0, 104.0).verdict, Verdict::Ok);
    }

    #[test]
    fn exactly_at_the_threshold_passes_and_just_over_fails() {
        let t = thresholds(5.0);
        assert_eq!(t.judge(100.0, 105.0, Noise::Exact).verdict, Verdict::Ok);
        assert_eq!(
            t.judge(100.0, 105.001, Noise::Exact).verdict,
            Verdict::Regression
        );
        // Per-call ratios that are exactly 5% apart, with rounding in them.
        let (base, head) = (1000.0 / 3.0, 1050.0 / 3.0);
        assert_eq!(t.judge(base, head, Noise::Exact).verdict, Verdict::Ok);
        assert_eq!(t.judge(100.0, 90.0, Noise::Exact).verdict, Verdict::Ok);
    }

    #[test]
    fn zero_threshold_fails_any_growth_of_an_exact_count() {
        let t = thresholds(0.0);
        assert_eq!(t.judge(100.0, 100.0, Noise::Exact).verdict, Verdict::Ok);
        assert_eq!(
            t.judge(100.0, 101.0, Noise::Exact).verdict,
            Verdict::Regression
        );
    }

    #[test]
    fn growth_from_zero_is_over_any_threshold() {
        let t = thresholds(50.0);
        let judged = t.judge(0.0, 1.0, Noise::Exact);
        assert_eq!(judged.verdict, Verdict::Regression);
        assert!(judged.changed);
        assert_eq!(change_percent(0.0, 1.0), None);
        assert_eq!(t.judge(0.0, 0.0, Noise::Exact).verdict, Verdict::Ok);
    }

    #[test]
    fn negative_bases_grow_relative_to_their_size() {
        // A job that freed 100 bytes a call more than it allocated, then 50.
        let t = thresholds(5.0);
        assert_eq!(
            t.judge(-100.0, -50.0, Noise::Exact).verdict,
            Verdict::Regression
        );
        assert_eq!(change_percent(-100.0, -50.0), Some(50.0));
        assert_eq!(t.judge(-100.0, -96.0, Noise::Exact).verdict, Verdict::Ok);
    }

    #[test]
    fn sampled_numbers_must_also_grow_beyond_their_noise() {
        let t = thresholds(5.0);
        // +20%, and sd of the difference 10: 3 sd = 30 > 20.
        let noisy = t.judge(100.0, 120.0, Noise::Sampled { variance: 100.0 });
        assert_eq!(noisy.verdict, Verdict::WithinNoise);
        assert!(!noisy.changed);
        assert_eq!(noisy.noise_margin, 30.0);
        assert!(noisy.note.unwrap().contains("3σ"));
        // The same growth with sd 5: 3 sd = 15 < 20.
        let real = t.judge(100.0, 120.0, Noise::Sampled { variance: 25.0 });
        assert_eq!(real.verdict, Verdict::Regression);
        assert!(real.changed);
        // Beyond the noise but within the threshold: fine.
        let small = t.judge(1000.0, 1040.0, Noise::Sampled { variance: 1.0 });
        assert_eq!(small.verdict, Verdict::Ok);
        assert!(small.changed);
    }

    #[test]
    fn the_noise_sigma_sets_the_margin() {
        let mut t = thresholds(5.0);
        t.noise_sigma = 1.0;
        let judged = t.judge(100.0, 120.0, Noise::Sampled { variance: 100.0 });
        assert_eq!(judged.verdict, Verdict::Regression);
        // Exactly at the margin is not beyond it.
        t.noise_sigma = 2.0;
        let judged = t.judge(100.0, 120.0, Noise::Sampled { variance: 100.0 });
        assert_eq!(judged.verdict, Verdict::WithinNoise);
    }

    #[test]
    fn a_bounded_peak_regresses_only_beyond_the_bounds() {
        let t = thresholds(5.0);
        let within = t.judge(1000.0, 1100.0, Noise::Bound { bound: 200.0 });
        assert_eq!(within.verdict, Verdict::WithinNoise);
        assert!(within.note.unwrap().contains("bound of 200 B"));
        let beyond = t.judge(1000.0, 1300.0, Noise::Bound { bound: 200.0 });
        assert_eq!(beyond.verdict, Verdict::Regression);
    }

    #[test]
    fn durations_are_judged_only_when_asked_and_with_enough_calls() {
        let mut t = thresholds(5.0);
        let off = t.judge_time(100.0, 200.0, 1000, 1000);
        assert_eq!(off.verdict, Verdict::NotJudged);
        assert!(!off.changed);
        t.max_time_increase = Percent::new(10.0);
        assert_eq!(
            t.judge_time(100.0, 111.0, 1000, 1000).verdict,
            Verdict::Regression
        );
        assert_eq!(t.judge_time(100.0, 110.0, 100, 100).verdict, Verdict::Ok);
        let few = t.judge_time(100.0, 200.0, 99, 1000);
        assert_eq!(few.verdict, Verdict::NotJudged);
        assert!(few.note.unwrap().contains("fewer than 100 calls"));
        // Faster beyond the threshold is a change, not a regression.
        let faster = t.judge_time(100.0, 50.0, 1000, 1000);
        assert_eq!((faster.verdict, faster.changed), (Verdict::Ok, true));
        let same = t.judge_time(100.0, 105.0, 1000, 1000);
        assert!(!same.changed);
    }

    #[test]
    fn an_absolute_limit_fails_the_head_whatever_the_base() {
        let t = thresholds(5.0);
        let judged = t
            .judge(2000.0, 2000.0, Noise::Exact)
            .with_limit(2000.0, ByteSize(1024));
        assert_eq!(judged.verdict, Verdict::Regression);
        assert_eq!(
            judged.note.as_deref(),
            Some("over the limit of 1.00 KiB per call")
        );
        let judged = t
            .judge(1000.0, 1024.0, Noise::Exact)
            .with_limit(1024.0, ByteSize(1024));
        assert_eq!(judged.verdict, Verdict::Ok);
    }
}
