//! Trend statistics for the leak detector: the Mann–Kendall test, the
//! Theil–Sen slope, the Benjamini–Hochberg adjustment and the normal tail.
//!
//! All functions are total: they take any slices (mismatched lengths are cut
//! to the shorter, non-finite values are the caller's business but never make
//! these functions panic) and return finite numbers for finite input.

use std::cmp::Ordering;

/// The outcome of a one-sided Mann–Kendall test for an increasing trend.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct MannKendall {
    /// S: the number of increasing pairs minus the number of decreasing ones.
    pub(super) s: i64,
    /// The variance of S under "no trend", corrected for ties.
    pub(super) variance: f64,
    /// The continuity-corrected normal score, `(S − sign S) / √variance`.
    pub(super) z: f64,
    /// The one-sided p-value for an increasing trend, `P(Z ≥ z)`; 1 when the
    /// variance is 0 (fewer than two distinct values).
    pub(super) p_increasing: f64,
}

/// The Mann–Kendall test of `values`, taken in order (equally spaced or not:
/// only the order matters).
pub(super) fn mann_kendall(values: &[f64]) -> MannKendall {
    let mut s: i64 = 0;
    for (i, a) in values.iter().enumerate() {
        for b in values.iter().skip(i + 1) {
            match b.partial_cmp(a) {
                Some(Ordering::Greater) => s += 1,
                Some(Ordering::Less) => s -= 1,
                _ => {}
            }
        }
    }
    let n = values.len() as f64;
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let ties: f64 = sorted
        .chunk_by(|a, b| a == b)
        .map(|run| {
            let t = run.len() as f64;
            t * (t - 1.0) * (2.0 * t + 5.0)
        })
        .sum();
    let variance = ((n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0).max(0.0);
    if variance <= 0.0 {
        return MannKendall {
            s,
            variance: 0.0,
            z: 0.0,
            p_increasing: 1.0,
        };
    }
    let corrected = match s.cmp(&0) {
        Ordering::Greater => (s - 1) as f64,
        Ordering::Less => (s + 1) as f64,
        Ordering::Equal => 0.0,
    };
    let z = corrected / variance.sqrt();
    MannKendall {
        s,
        variance,
        z,
        p_increasing: normal_upper_tail(z),
    }
}

/// The Theil–Sen slope: the median of `(v_j − v_i) / (t_j − t_i)` over all
/// pairs with distinct times. 0 when no two times differ.
pub(super) fn theil_sen_slope(times: &[f64], values: &[f64]) -> f64 {
    let points: Vec<(f64, f64)> = times.iter().copied().zip(values.iter().copied()).collect();
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, &(ti, vi)) in points.iter().enumerate() {
        for &(tj, vj) in points.iter().skip(i + 1) {
            let slope = (vj - vi) / (tj - ti);
            if tj != ti && slope.is_finite() {
                slopes.push(slope);
            }
        }
    }
    median(&mut slopes).unwrap_or(0.0)
}

/// The intercept that goes with a Theil–Sen `slope`: the median of
/// `v_i − slope · t_i`. 0 for no points.
pub(super) fn theil_sen_intercept(times: &[f64], values: &[f64], slope: f64) -> f64 {
    let mut residuals: Vec<f64> = times
        .iter()
        .zip(values)
        .map(|(t, v)| v - slope * t)
        .filter(|r| r.is_finite())
        .collect();
    median(&mut residuals).unwrap_or(0.0)
}

/// The median of `values` (reordering them), or `None` when empty.
pub(super) fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (below, upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = below
        .iter()
        .copied()
        .max_by(f64::total_cmp)
        .unwrap_or(upper);
    Some(lower / 2.0 + upper / 2.0)
}

/// Benjamini–Hochberg adjusted p-values, in the order of `p_values`: the
/// hypotheses whose adjusted p-value is at most `q` are exactly those the
/// step-up procedure rejects at false discovery rate `q`. A p-value that is
/// NaN or outside [0, 1] is taken as 1.
pub(super) fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut ranked: Vec<(f64, usize)> = p_values
        .iter()
        .map(|&p| if (0.0..=1.0).contains(&p) { p } else { 1.0 })
        .zip(0..)
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut adjusted = vec![1.0; m];
    let mut running = 1.0_f64;
    for (rank, &(p, index)) in ranked.iter().enumerate().rev() {
        running = running.min(p * m as f64 / (rank + 1) as f64);
        if let Some(slot) = adjusted.get_mut(index) {
            *slot = running.clamp(0.0, 1.0);
        }
    }
    adjusted
}

/// `P(Z ≥ z)` for a standard normal Z. NaN gives 1 (no evidence).
pub(super) fn normal_upper_tail(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    (0.5 * erfc(z / std::f64::consts::SQRT_2)).clamp(0.0, 1.0)
}

/// The complementary error function, to about 1e-13 relative error: the
/// everywhere-positive power series of erf below 2.5, the Laplace continued
/// fraction of erfc from 2.5 on, and `erfc(−x) = 2 − erfc(x)`.
pub(super) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    let scale = (-x * x).exp();
    if x < 2.5 {
        // erf x = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1))
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= 2.0 * x * x / f64::from(2 * n + 1);
            sum += term;
            if term <= sum * 1e-17 {
                break;
            }
        }
        return 1.0 - std::f64::consts::FRAC_2_SQRT_PI * scale * sum;
    }
    // erfc x = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))
    let mut tail = x;
    for k in (1..=64).rev() {
        tail = x + f64::from(k) / 2.0 / tail;
    }
    scale / (std::f64::consts::PI.sqrt() * tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn erfc_matches_reference_values() {
        let reference = [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_265),
            (2.9, 4.109_787_809_945_886e-5),
            (3.1, 1.164_865_736_719_958_9e-5),
            (5.0, 1.537_459_794_428_035e-12),
            (10.0, 2.088_487_583_762_545e-45),
        ];
        for (x, want) in reference {
            assert!(
                close(erfc(x), want, 1e-12),
                "erfc({x}) = {} want {want}",
                erfc(x)
            );
            assert!(close(erfc(-x), 2.0 - want, 1e-12));
        }
        assert!(close(
            normal_upper_tail(1.644_853_626_951_472_2),
            0.05,
            1e-12
        ));
        assert_eq!(normal_upper_tail(f64::NAN), 1.0);
        assert_eq!(normal_upper_tail(60.0), 0.0);
    }

    #[test]
    fn mann_kendall_matches_hand_computation() {
        // 1,2,3,4: S = 6, Var = 4·3·13/18, Z = 5/√Var.
        let mk = mann_kendall(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(mk.s, 6);
        assert!(close(mk.variance, 156.0 / 18.0, 1e-12));
        assert!(close(mk.z, 5.0 / (156.0_f64 / 18.0).sqrt(), 1e-12));
        assert!(close(mk.p_increasing, 0.044_714_679_514_496_79, 1e-9));
        // 1,2,2,3: S = 5, one tie of 2 removes 2·1·9 from 156, Z = 4/√(138/18).
        let mk = mann_kendall(&[1.0, 2.0, 2.0, 3.0]);
        assert_eq!(mk.s, 5);
        assert!(close(mk.variance, 138.0 / 18.0, 1e-12));
        assert!(close(mk.p_increasing, 0.074_280_887_445_934_35, 1e-9));
        // Decreasing: S = −6, p > 0.5; constant: no variance, p = 1.
        let mk = mann_kendall(&[4.0, 3.0, 2.0, 1.0]);
        assert_eq!(mk.s, -6);
        assert!(mk.p_increasing > 0.95);
        let mk = mann_kendall(&[7.0; 10]);
        assert_eq!((mk.s, mk.variance, mk.p_increasing), (0, 0.0, 1.0));
        assert_eq!(mann_kendall(&[]).p_increasing, 1.0);
    }

    #[test]
    fn theil_sen_matches_hand_computation() {
        // Slopes 1, 5, 9: median 5.
        assert_eq!(theil_sen_slope(&[0.0, 1.0, 2.0], &[0.0, 1.0, 10.0]), 5.0);
        // Six pairs of slope 1 and four through the outlier: median 1.
        let times = [0.0, 1.0, 2.0, 3.0, 4.0];
        let values = [0.0, 1.0, 2.0, 3.0, 100.0];
        let slope = theil_sen_slope(&times, &values);
        assert_eq!(slope, 1.0);
        assert_eq!(theil_sen_intercept(&times, &values, slope), 0.0);
        // Irregular spacing: 10 per unit of time whatever the gaps.
        assert_eq!(
            theil_sen_slope(&[0.0, 1.0, 5.0, 6.0], &[3.0, 13.0, 53.0, 63.0]),
            10.0
        );
        // Equal times give no pairs: slope 0, never NaN.
        assert_eq!(theil_sen_slope(&[5.0; 4], &[1.0, 2.0, 3.0, 4.0]), 0.0);
        assert_eq!(theil_sen_slope(&[], &[]), 0.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn benjamini_hochberg_matches_hand_computation() {
        // Sorted 0.005, 0.01, 0.03, 0.04 → ×4/rank: 0.02, 0.02, 0.04, 0.04.
        let adjusted = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.02, 0.04, 0.04, 0.02];
        for (a, w) in adjusted.iter().zip(want) {
            assert!(close(*a, w, 1e-12), "{adjusted:?}");
        }
        // Monotone step-up: 0.04 at rank 2 of 2 pulls rank 1 down to 0.04.
        assert_eq!(benjamini_hochberg(&[0.03, 0.04]), vec![0.04, 0.04]);
        assert_eq!(benjamini_hochberg(&[f64::NAN, 2.0]), vec![1.0, 1.0]);
        assert!(benjamini_hochberg(&[]).is_empty());
    }
}
