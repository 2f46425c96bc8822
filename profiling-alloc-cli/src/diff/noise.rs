//! How far a callsite's numbers move by chance: the variances of its
//! sampled estimates.
//!
//! Under Poisson sampling a callsite's `total_blocks` and `total_bytes` are
//! Horvitz–Thompson estimates, and the report carries the variance the
//! estimator gives for each. Live bytes have no variance of their own in
//! the report: the live blocks are a part of the sampled ones, so their
//! variance is taken as the total's scaled by `live_bytes / total_bytes`
//! (exact when live blocks are sampled like the rest, an approximation
//! otherwise). Reports that sampled every block, and reports of one closure
//! (`Report::capture_of`, which samples every block of it), are exact:
//! variance 0.

use profiling_alloc::{Callsite, Report, Sampling};

/// Whether a report's callsite numbers are exact counts rather than
/// estimates.
pub fn callsites_exact(report: &Report) -> bool {
    report.scope.is_some() || !matches!(report.settings.sampling, Sampling::Poisson { .. })
}

/// The variance of `site.total_bytes` in `report`.
pub fn total_bytes_variance(report: &Report, site: &Callsite) -> f64 {
    if callsites_exact(report) {
        return 0.0;
    }
    carried(report, site).1
}

/// The variance of `site.total_blocks` in `report`.
pub fn total_blocks_variance(report: &Report, site: &Callsite) -> f64 {
    if callsites_exact(report) {
        return 0.0;
    }
    carried(report, site).0
}

/// The variance of `site.live_bytes` in `report`: the total's, scaled by
/// the live part (an approximation, see the module docs).
pub fn live_bytes_variance(report: &Report, site: &Callsite) -> f64 {
    if site.total_bytes <= 0.0 {
        return 0.0;
    }
    let live_part = (site.live_bytes / site.total_bytes).clamp(0.0, 1.0);
    total_bytes_variance(report, site) * live_part
}

/// The variances of a sampled callsite's block and byte estimates, as the
/// report carries them (format version 2 on). Reports of format version 1
/// carry none: for them, the Horvitz–Thompson variance from the size
/// classes: a class of `N` blocks of at least `s` bytes, each sampled with
/// probability `p = 1 - exp(-s/R)`, gives `N·(1-p)/p` for blocks and
/// `N·s²·(1-p)/p` for bytes (the smallest size of a class makes it an upper
/// bound).
fn carried(report: &Report, site: &Callsite) -> (f64, f64) {
    if report.format_version >= 2 {
        return (site.total_blocks_variance, site.total_bytes_variance);
    }
    let Sampling::Poisson { mean_bytes } = report.settings.sampling else {
        return (0.0, 0.0);
    };
    let rate = mean_bytes.max(1) as f64;
    site.size_classes
        .iter()
        .fold((0.0, 0.0), |(blocks, bytes), &(min_size, count)| {
            let size = min_size.max(1) as f64;
            let p = -(-size / rate).exp_m1();
            let per_block = (1.0 - p) / p;
            (
                blocks + count * per_block,
                bytes + count * size * size * per_block,
            )
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::diff::test_reports::{callsite, report, sampled};

    fn poisson(version: u64) -> Report {
        let site = sampled(callsite(&["f"], &[], 64_000.0, 1000.0, 16_000.0), 524288);
        report(json!({
            "format_version": version,
            "settings": { "sampling": { "Poisson": { "mean_bytes": 524288 } } },
            "callsites": [site]
        }))
    }

    #[test]
    fn variances_come_from_the_report_or_from_old_reports_size_classes() {
        for version in [1, 2] {
            let r = poisson(version);
            let site = &r.callsites[0];
            let p = -(-64.0f64 / 524288.0).exp_m1();
            let blocks = 1000.0 * (1.0 - p) / p;
            assert!((total_blocks_variance(&r, site) / blocks - 1.0).abs() < 1e-9);
            let bytes = blocks * 64.0 * 64.0;
            assert!((total_bytes_variance(&r, site) / bytes - 1.0).abs() < 1e-9);
            // A quarter of the bytes are live: a quarter of the variance.
            assert!((live_bytes_variance(&r, site) / (bytes / 4.0) - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn exact_reports_have_no_noise() {
        let mut r = poisson(2);
        r.settings.sampling = Sampling::Every;
        assert_eq!(total_bytes_variance(&r, &r.callsites[0]), 0.0);
        let mut r = poisson(2);
        r.scope = report(json!({ "scope": { "name": "t", "allocations": {
            "active": true, "total_blocks": 1, "total_bytes": 1, "freed_blocks": 0,
            "freed_bytes": 0, "reallocs": 0, "live_blocks": 1, "live_bytes": 1, "peak_bytes": 1
        } } }))
        .scope;
        assert!(callsites_exact(&r));
        assert_eq!(live_bytes_variance(&r, &r.callsites[0]), 0.0);
    }
}
