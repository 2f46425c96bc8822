//! Callsites of two reports matched by their stacks: the job path and the
//! function names of the frames. File names and lines are left out of the
//! match, so that an edit elsewhere in a file (or a checkout in another
//! directory) does not turn every callsite into one removed and one new;
//! callsites whose stacks differ only in lines are added up, estimates and
//! variances alike.

use std::collections::HashMap;

use profiling_alloc::{Callsite, Report};

use super::compare::row;
use super::noise;
use super::threshold::{Noise, Thresholds};
use super::{Entry, Metric, Presence};

/// What a stack is matched by: its job path and its functions, innermost
/// first.
type Key<'a> = (Vec<&'a str>, Vec<&'a str>);

/// Reads one number of a [`Site`].
type Pick = fn(&Site<'_>) -> f64;

/// The callsites of one report with one stack, added up.
#[derive(Clone, Debug, Default)]
struct Site<'a> {
    /// The callsite with the most bytes, whose frames name the entry.
    largest: Option<&'a Callsite>,
    total_bytes: f64,
    total_blocks: f64,
    live_bytes: f64,
    total_bytes_variance: f64,
    total_blocks_variance: f64,
    live_bytes_variance: f64,
}

/// Callsites matched by stack, the largest first (by the bytes of the larger
/// side).
pub(super) fn compare(base: &Report, head: &Report, t: &Thresholds) -> Vec<Entry> {
    let (base_sites, head_sites) = (group(base), group(head));
    let mut keys: Vec<&Key<'_>> = head_sites.keys().collect();
    keys.extend(
        base_sites
            .keys()
            .filter(|key| !head_sites.contains_key(*key)),
    );
    let size = |key: &Key<'_>| {
        let bytes =
            |sites: &HashMap<Key<'_>, Site<'_>>| sites.get(key).map_or(0.0, |s| s.total_bytes);
        bytes(&base_sites).max(bytes(&head_sites))
    };
    keys.sort_by(|a, b| size(b).total_cmp(&size(a)).then_with(|| a.cmp(b)));
    let mut entries: Vec<Entry> = keys
        .iter()
        .map(|key| entry(base_sites.get(*key), head_sites.get(*key), t))
        .collect();
    disambiguate(&mut entries, &keys);
    entries
}

/// One report's callsites by stack.
fn group(report: &Report) -> HashMap<Key<'_>, Site<'_>> {
    let mut sites: HashMap<Key<'_>, Site<'_>> = HashMap::new();
    for callsite in &report.callsites {
        let key = (
            callsite.job_path.iter().map(String::as_str).collect(),
            callsite
                .frames
                .iter()
                .map(|f| f.function.as_str())
                .collect(),
        );
        let site = sites.entry(key).or_default();
        if site
            .largest
            .is_none_or(|l| callsite.total_bytes > l.total_bytes)
        {
            site.largest = Some(callsite);
        }
        site.total_bytes += callsite.total_bytes;
        site.total_blocks += callsite.total_blocks;
        site.live_bytes += callsite.live_bytes;
        site.total_bytes_variance += noise::total_bytes_variance(report, callsite);
        site.total_blocks_variance += noise::total_blocks_variance(report, callsite);
        site.live_bytes_variance += noise::live_bytes_variance(report, callsite);
    }
    sites
}

fn entry(base: Option<&Site<'_>>, head: Option<&Site<'_>>, t: &Thresholds) -> Entry {
    let presence = match (base, head) {
        (Some(_), Some(_)) => Presence::Both,
        (None, _) => Presence::Added,
        (_, None) => Presence::Removed,
    };
    let largest = head.or(base).and_then(|site| site.largest);
    let value = |site: Option<&Site<'_>>, pick: Pick| site.map(pick);
    let variance = |pick: Pick| {
        let sum = base.map_or(0.0, pick) + head.map_or(0.0, pick);
        if sum > 0.0 {
            Noise::Sampled { variance: sum }
        } else {
            Noise::Exact
        }
    };
    let metrics: [(Metric, Pick, Pick); 3] = [
        (
            Metric::CallsiteBytes,
            |s| s.total_bytes,
            |s| s.total_bytes_variance,
        ),
        (
            Metric::CallsiteBlocks,
            |s| s.total_blocks,
            |s| s.total_blocks_variance,
        ),
        (
            Metric::LiveBytes,
            |s| s.live_bytes,
            |s| s.live_bytes_variance,
        ),
    ];
    let rows = metrics
        .into_iter()
        .map(|(metric, pick, pick_variance)| {
            let noise = variance(pick_variance);
            row(metric, value(base, pick), value(head, pick), |b, h| {
                t.judge(b, h, noise)
            })
        })
        .collect();
    Entry {
        name: largest.map_or_else(|| "(no frames)".to_string(), name),
        presence,
        rows,
    }
}

/// A callsite for people: its innermost frame with the file's name and the
/// line, and the innermost job it ran in unless that is the frame's own
/// function: `app::parse (main.rs:12) [app::load]`.
fn name(site: &Callsite) -> String {
    let mut name = match site.frames.first() {
        Some(frame) => {
            let file = frame
                .file
                .as_deref()
                .map(|file| file.rsplit(['/', '\\']).next().unwrap_or(file));
            match (file, frame.line) {
                (Some(file), Some(line)) => format!("{} ({file}:{line})", frame.function),
                (Some(file), None) => format!("{} ({file})", frame.function),
                _ => frame.function.clone(),
            }
        }
        None => "(no frames)".to_string(),
    };
    // The job, unless the frame is the job's own function.
    match (site.job_path.last(), site.frames.first()) {
        (Some(job), Some(frame)) if *job == frame.function => {}
        (Some(job), _) => name.push_str(&format!(" [{job}]")),
        (None, _) => {}
    }
    name
}

/// Entries that read alike (one line reached through different stacks, or
/// in different job paths) get what tells them apart: the first caller in
/// which their stacks differ (`… via app::main`), else their job path.
fn disambiguate(entries: &mut [Entry], keys: &[&Key<'_>]) {
    let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
    for (i, entry) in entries.iter_mut().enumerate() {
        let twins: Vec<usize> = (0..names.len())
            .filter(|&j| j != i && names[j] == names[i])
            .collect();
        if twins.is_empty() {
            continue;
        }
        let (job_path, frames) = keys[i];
        // The first frame in which this stack differs from every twin's.
        let caller = (1..frames.len()).find(|&depth| {
            twins
                .iter()
                .all(|&j| keys[j].1.get(depth) != Some(&frames[depth]))
        });
        match caller {
            Some(depth) => entry.name.push_str(&format!(" via {}", frames[depth])),
            None => entry
                .name
                .push_str(&format!(" in {}", job_path.join(" > "))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::diff::test_reports::{callsite, report, sampled};
    use crate::diff::Verdict;

    fn rows(entry: &Entry) -> Vec<(Metric, Verdict)> {
        entry.rows.iter().map(|r| (r.metric, r.verdict)).collect()
    }

    #[test]
    fn callsites_match_by_functions_and_job_path_not_by_lines() {
        let base = report(json!({ "callsites": [
            callsite(&["app::parse", "app::main"], &["load"], 1000.0, 10.0, 0.0),
            callsite(&["app::parse", "app::main"], &[], 500.0, 5.0, 0.0),
        ] }));
        let mut head = base.clone();
        for site in &mut head.callsites {
            for frame in &mut site.frames {
                frame.line = frame.line.map(|line| line + 7);
                frame.file = Some("/elsewhere/src/main.rs".to_string());
            }
        }
        let entries = compare(&base, &head, &Thresholds::default());
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|e| e.presence == Presence::Both));
        assert!(entries.iter().flat_map(|e| &e.rows).all(|r| !r.changed));
        assert_eq!(entries[0].name, "app::parse (main.rs:17) [load]");
        assert_eq!(entries[1].name, "app::parse (main.rs:17)");
    }

    #[test]
    fn stacks_that_differ_only_in_lines_are_added_up() {
        let mut one = callsite(&["app::parse", "app::main"], &[], 1000.0, 10.0, 100.0);
        let mut other = one.clone();
        one["frames"][0]["line"] = json!(40);
        other["frames"][0]["line"] = json!(41);
        let base = report(json!({ "callsites": [one, other] }));
        let head = report(json!({ "callsites": [
            callsite(&["app::parse", "app::main"], &[], 2000.0, 20.0, 200.0)
        ] }));
        let entries = compare(&base, &head, &Thresholds::default());
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].rows[0].base, Some(2000.0));
        assert!(entries[0].rows.iter().all(|r| !r.changed));
    }

    #[test]
    fn new_and_removed_callsites() {
        let base = report(json!({ "callsites": [
            callsite(&["app::old"], &[], 100.0, 1.0, 0.0),
            callsite(&["app::both"], &[], 300.0, 3.0, 0.0),
        ] }));
        let head = report(json!({ "callsites": [
            callsite(&["app::both"], &[], 300.0, 3.0, 0.0),
            callsite(&["app::new"], &[], 200.0, 2.0, 0.0),
        ] }));
        let entries = compare(&base, &head, &Thresholds::default());
        let presence: Vec<(&str, Presence)> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.presence))
            .collect();
        assert_eq!(
            presence,
            [
                ("app::both (main.rs:10)", Presence::Both),
                ("app::new (main.rs:10)", Presence::Added),
                ("app::old (main.rs:10)", Presence::Removed),
            ]
        );
        assert_eq!(entries[1].rows[0].base, None);
        assert_eq!(entries[1].verdict(), Verdict::NotJudged);
    }

    #[test]
    fn exact_callsites_regress_past_the_threshold() {
        let base = report(json!({ "callsites": [callsite(&["f"], &[], 1000.0, 10.0, 100.0)] }));
        let head = report(json!({ "callsites": [callsite(&["f"], &[], 1200.0, 10.0, 105.0)] }));
        let entries = compare(&base, &head, &Thresholds::default());
        assert_eq!(
            rows(&entries[0]),
            [
                (Metric::CallsiteBytes, Verdict::Regression),
                (Metric::CallsiteBlocks, Verdict::Ok),
                (Metric::LiveBytes, Verdict::Ok),
            ]
        );
    }

    #[test]
    fn sampled_callsites_regress_only_beyond_their_noise() {
        const RATE: u64 = 512 * 1024;
        let poisson = json!({ "Poisson": { "mean_bytes": RATE } });
        let one = |bytes: f64, blocks: f64, live: f64| {
            report(json!({
                "settings": { "sampling": poisson },
                "callsites": [sampled(callsite(&["f"], &[], bytes, blocks, live), RATE)]
            }))
        };
        // 1,000 blocks of 64 bytes, from about 0.1 samples: +20% is noise.
        let small = compare(
            &one(64_000.0, 1000.0, 0.0),
            &one(76_800.0, 1200.0, 0.0),
            &Thresholds::default(),
        );
        let bytes = &small[0].rows[0];
        assert_eq!(bytes.verdict, Verdict::WithinNoise);
        assert!(bytes.noise_margin > 12_800.0, "{}", bytes.noise_margin);
        assert!(!bytes.changed);
        // Ten million of them (about 1,200 samples): +20% is real.
        let large = compare(
            &one(640e6, 1e7, 320e6),
            &one(768e6, 1.2e7, 384e6),
            &Thresholds::default(),
        );
        assert_eq!(
            rows(&large[0]),
            [
                (Metric::CallsiteBytes, Verdict::Regression),
                (Metric::CallsiteBlocks, Verdict::Regression),
                (Metric::LiveBytes, Verdict::Regression),
            ]
        );
        // Live bytes carry the total's variance scaled by their share.
        let live = &large[0].rows[2];
        let total = &large[0].rows[0];
        let ratio = live.noise_margin / total.noise_margin;
        assert!((ratio - 0.5f64.sqrt()).abs() < 1e-6, "{ratio}");
    }

    #[test]
    fn a_scoped_report_is_exact_whatever_the_mode() {
        let scoped = |bytes: f64| {
            report(json!({
                "settings": { "sampling": { "Poisson": { "mean_bytes": 524288 } } },
                "scope": { "name": "t", "allocations": {
                    "active": true, "total_blocks": 1, "total_bytes": 1, "freed_blocks": 0,
                    "freed_bytes": 0, "reallocs": 0, "live_blocks": 1, "live_bytes": 1, "peak_bytes": 1
                } },
                "callsites": [callsite(&["f"], &["t"], bytes, 1000.0, 0.0)]
            }))
        };
        let entries = compare(&scoped(64_000.0), &scoped(76_800.0), &Thresholds::default());
        assert_eq!(entries[0].rows[0].verdict, Verdict::Regression);
        assert_eq!(entries[0].rows[0].noise_margin, 0.0);
    }

    #[test]
    fn callsites_that_read_alike_are_told_apart() {
        let base = report(json!({ "callsites": [
            callsite(&["app::alloc", "app::load"], &[], 100.0, 1.0, 0.0),
            callsite(&["app::alloc", "app::save"], &[], 200.0, 1.0, 0.0),
            callsite(&["app::alloc", "app::save"], &["a", "job"], 50.0, 1.0, 0.0),
            callsite(&["app::alloc", "app::save"], &["b", "job"], 40.0, 1.0, 0.0),
        ] }));
        let names: Vec<String> = compare(&base, &base, &Thresholds::default())
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(
            names,
            [
                "app::alloc (main.rs:10) via app::save",
                "app::alloc (main.rs:10) via app::load",
                "app::alloc (main.rs:10) [job] in a > job",
                "app::alloc (main.rs:10) [job] in b > job",
            ]
        );
    }
}
