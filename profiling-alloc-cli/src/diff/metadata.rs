//! What the two reports say about how they were taken, and warnings where
//! that differs in ways a comparison depends on. A warning never fails the
//! gate: it says why numbers may differ without a change in the code.

use profiling_alloc::{Report, Sampling};

use super::Side;

/// How a report's callsites were counted, for people.
pub fn describe_sampling(report: &Report) -> String {
    if let Some(scope) = &report.scope {
        return format!("the closure `{}`, every block sampled (exact)", scope.name);
    }
    match report.settings.sampling {
        Sampling::Every => "every block (exact)".to_string(),
        Sampling::Poisson { mean_bytes } => format!(
            "Poisson, one sample per {} (estimates)",
            crate::units::bytes(mean_bytes as f64)
        ),
        Sampling::Off => "off (no callsites)".to_string(),
    }
}

/// The [`Side`] of a report read from `file`.
pub fn side(report: &Report, file: &str) -> Side {
    Side {
        file: file.to_string(),
        program: report.program.name.clone(),
        sampling: describe_sampling(report),
    }
}

/// Warnings about differences between the reports that the comparison
/// depends on, and about either report alone (nothing counted, dropped
/// samples).
pub fn warnings(base: &Report, head: &Report) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut differ = |what: &str, b: String, h: String, consequence: &str| {
        if b != h {
            warnings.push(format!(
                "the reports differ in {what}: base {b}, head {h}; {consequence}"
            ));
        }
    };
    differ(
        "sampling",
        describe_sampling(base),
        describe_sampling(head),
        "callsite numbers are compared, each with its own noise",
    );
    differ(
        "profiler version",
        base.program.profiler_version.clone(),
        head.program.profiler_version.clone(),
        "what is counted may have changed with it",
    );
    differ(
        "program",
        base.program.name.clone(),
        head.program.name.clone(),
        "are they runs of the same workload?",
    );
    for (side, report) in [("base", base), ("head", head)] {
        if !report.heap.active {
            warnings.push(format!(
                "the {side} report counted nothing (the allocator was not installed): \
                 heap and allocation numbers are left out"
            ));
        }
        if report.dropped_samples > 0 {
            warnings.push(format!(
                "the {side} report dropped {} samples (a table was full): its callsite numbers are too low",
                crate::units::grouped(report.dropped_samples)
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::test_reports::report;

    #[test]
    fn the_same_settings_give_no_warning() {
        let r = report(serde_json::json!({}));
        assert!(warnings(&r, &r).is_empty());
    }

    #[test]
    fn sampling_and_version_differences_are_warned_of() {
        let base = report(serde_json::json!({}));
        let mut head = base.clone();
        head.settings.sampling = Sampling::Poisson { mean_bytes: 32768 };
        head.program.profiler_version = "0.2.0".to_string();
        let warnings = warnings(&base, &head);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains(
            "sampling: base every block (exact), head Poisson, one sample per 32.0 KiB (estimates)"
        ));
        assert!(warnings[1].contains("profiler version: base 0.1.0, head 0.2.0"));
    }

    #[test]
    fn dropped_samples_and_missing_counts_are_warned_of() {
        let base = report(serde_json::json!({}));
        let mut head = base.clone();
        head.dropped_samples = 1234;
        head.heap.active = false;
        let warnings = warnings(&base, &head);
        assert!(warnings.iter().any(|w| w.contains("dropped 1,234 samples")));
        assert!(warnings
            .iter()
            .any(|w| w.contains("head report counted nothing")));
    }
}
