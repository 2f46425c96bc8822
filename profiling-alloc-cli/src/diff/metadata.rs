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

/// What makes `base` and `head` reports of different programs: another
/// executable name, or another crate (when both say). `None` when they are
/// of one program.
pub fn program_differences(base: &Report, head: &Report) -> Option<String> {
    let mut differences = Vec::new();
    if executable(&base.program.name) != executable(&head.program.name) {
        differences.push(format!(
            "executable: base {}, head {}",
            base.program.name, head.program.name
        ));
    }
    if let (Some(b), Some(h)) = (&base.program.crate_name, &head.program.crate_name) {
        if b != h {
            differences.push(format!("crate: base {b}, head {h}"));
        }
    }
    (!differences.is_empty()).then(|| differences.join("; "))
}

/// An executable's name without the hash cargo gives test and bench
/// binaries (`runner-787daa3f0239360b` is `runner`), which changes with
/// every build of other code.
fn executable(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((stem, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            stem
        }
        _ => name,
    }
}

/// The [`Side`] of a report read from `file`.
pub fn side(report: &Report, file: &str) -> Side {
    Side {
        file: file.to_string(),
        program: report.program.name.clone(),
        labels: report
            .program
            .labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect(),
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
    for (what, pick, consequence) in comparable(base, head) {
        differ(what, pick(base), pick(head), consequence);
    }
    for (side, report) in [("base", base), ("head", head)] {
        warnings.extend(alone(side, report));
    }
    warnings
}

/// Reads one fact of how a report was taken, for people.
type Fact = fn(&Report) -> String;

/// The facts two reports must share to compare number for number, with what
/// a difference means. The build's are left out when either report does not
/// say (format version 1).
fn comparable(base: &Report, head: &Report) -> Vec<(&'static str, Fact, &'static str)> {
    const BUILD: &str = "what a program allocates depends on it";
    let mut facts: Vec<(&'static str, Fact, &'static str)> = vec![
        (
            "sampling",
            describe_sampling,
            "callsite numbers are compared, each with its own noise",
        ),
        (
            "profiler version",
            |r| r.program.profiler_version.clone(),
            "what is counted may have changed with it",
        ),
        (
            "program",
            |r| r.program.name.clone(),
            "they are compared only with --allow-different-programs: their numbers say nothing of a change",
        ),
    ];
    let says = |r: &Report| !r.program.build.rustc_version.is_empty();
    if says(base) && says(head) {
        facts.extend([
            (
                "compiler",
                (|r| r.program.build.rustc_version.clone()) as Fact,
                BUILD,
            ),
            ("target", |r| r.program.build.target.clone(), BUILD),
            (
                "build profile",
                |r| {
                    format!(
                        "{} (opt-level {})",
                        r.program.build.profile, r.program.build.opt_level
                    )
                },
                "optimization changes what a program allocates (inlining, growth of collections)",
            ),
            (
                "debug assertions",
                |r| on_off(r.program.build.debug_assertions),
                BUILD,
            ),
        ]);
    }
    facts
}

/// Warnings about one report alone: nothing counted, noise estimated,
/// samples dropped.
fn alone(side: &str, report: &Report) -> Vec<String> {
    let mut warnings = Vec::new();
    if !report.heap.active {
        warnings.push(format!(
            "the {side} report counted nothing (the allocator was not installed): \
             heap and allocation numbers are left out"
        ));
    }
    let sampled = report.scope.is_none()
        && matches!(report.settings.sampling, Sampling::Poisson { .. })
        && !report.callsites.is_empty();
    if report.format_version < 2 && sampled {
        warnings.push(format!(
            "the {side} report (format version {}) carries no callsite variances: \
             its sampling noise is estimated from its size classes",
            report.format_version
        ));
    }
    if report.dropped_samples > 0 {
        warnings.push(format!(
            "the {side} report dropped {} samples (a table was full): its callsite numbers are too low",
            crate::units::grouped(report.dropped_samples)
        ));
    }
    warnings
}

fn on_off(on: bool) -> String {
    if on { "on" } else { "off" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::diff::test_reports::{callsite, report};

    #[test]
    fn another_executable_or_crate_is_another_program() {
        let base = report(json!({}));
        assert_eq!(program_differences(&base, &base), None);
        let mut head = base.clone();
        head.program.name = "other".to_string();
        let differences = program_differences(&base, &head).unwrap();
        assert!(
            differences.starts_with("executable: base "),
            "{differences}"
        );
        assert!(differences.ends_with(", head other"), "{differences}");
        let (mut built, mut rebuilt) = (base.clone(), base.clone());
        built.program.name = "runner-787daa3f0239360b".into();
        rebuilt.program.name = "runner-0123456789abcdef".into();
        assert_eq!(
            program_differences(&built, &rebuilt),
            None,
            "a test binary rebuilt"
        );
        let mut head = base.clone();
        head.program.crate_name = Some("b".into());
        assert_eq!(program_differences(&base, &head), None, "only one says");
        let mut base = base;
        base.program.crate_name = Some("a".into());
        assert_eq!(
            program_differences(&base, &head).as_deref(),
            Some("crate: base a, head b")
        );
    }

    #[test]
    fn the_same_settings_give_no_warning() {
        let r = report(json!({}));
        assert!(warnings(&r, &r).is_empty());
    }

    #[test]
    fn sampling_and_version_differences_are_warned_of() {
        let base = report(json!({}));
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
    fn build_differences_are_warned_of_when_both_reports_say() {
        let build = |profile: &str, opt: &str, assertions: bool| {
            json!({ "program": { "build": {
                "rustc_version": "rustc 1.95.0", "target": "x86_64-unknown-linux-gnu",
                "profile": profile, "opt_level": opt, "debug_assertions": assertions
            } } })
        };
        let base = report(build("release", "3", false));
        let head = report(build("debug", "0", true));
        let warnings = warnings(&base, &head);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0]
            .contains("build profile: base release (opt-level 3), head debug (opt-level 0)"));
        assert!(warnings[1].contains("debug assertions: base off, head on"));
        // A version 1 report says nothing of its build: nothing to compare.
        assert!(super::warnings(&report(json!({})), &head).is_empty());
    }

    #[test]
    fn old_sampled_reports_are_said_to_have_estimated_noise() {
        let old = report(json!({
            "format_version": 1,
            "settings": { "sampling": { "Poisson": { "mean_bytes": 4096 } } },
            "callsites": [callsite(&["f"], &[], 100.0, 1.0, 0.0)]
        }));
        let warnings = warnings(&old, &old);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0]
            .starts_with("the base report (format version 1) carries no callsite variances"));
    }

    #[test]
    fn dropped_samples_and_missing_counts_are_warned_of() {
        let base = report(json!({}));
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
