//! What the text and markdown renderings show of a [`Diff`]: per section,
//! the entries with the rows to show, and the entries that appeared or
//! disappeared; the headline and the thresholds in words.

use super::{Diff, Entry, Metric, Presence, Row, Verdict};

/// One section (heap, jobs, callsites) as it is shown.
#[derive(Debug)]
pub struct Section<'a> {
    /// `"Heap"`, `"Jobs"`, `"Callsites"`.
    pub title: &'static str,
    /// What the section's entries are called in a table header.
    pub noun: &'static str,
    /// Entries with rows to show, and those rows. Entries only one report
    /// has are here too when one of their rows fails the gate (a new job
    /// over its absolute limit).
    pub tables: Vec<(&'a Entry, Vec<&'a Row>)>,
    /// Entries only the head has, not in `tables`.
    pub added: Vec<&'a Entry>,
    /// Entries only the base has.
    pub removed: Vec<&'a Entry>,
    /// How many entries both reports have.
    pub matched: usize,
}

/// The sections of `diff`: all rows with `all`, otherwise those that
/// changed, failed, or are within noise.
pub fn sections(diff: &Diff, all: bool) -> Vec<Section<'_>> {
    vec![
        section("Heap", "", &diff.heap, all),
        section("Jobs", "job", &diff.jobs, all),
        section("Callsites", "callsite", &diff.callsites, all),
    ]
}

fn section<'a>(
    title: &'static str,
    noun: &'static str,
    entries: &'a [Entry],
    all: bool,
) -> Section<'a> {
    let mut tables = Vec::new();
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    for entry in entries {
        let fails = entry.verdict() == Verdict::Regression;
        match entry.presence {
            Presence::Added if !fails => added.push(entry),
            // A removed entry fails only against a QoS baseline (a promised
            // job the report lacks): it is shown with its reason.
            Presence::Removed if !fails => removed.push(entry),
            _ => {
                let rows: Vec<&Row> = entry.rows.iter().filter(|row| row.shown(all)).collect();
                if !rows.is_empty() {
                    tables.push((entry, rows));
                }
            }
        }
    }
    // Failures first, so that a table cut short keeps them.
    tables.sort_by_key(|(entry, _)| match entry.verdict() {
        Verdict::Regression => 0,
        Verdict::WithinNoise => 1,
        _ => 2,
    });
    Section {
        title,
        noun,
        tables,
        added,
        removed,
        matched: entries
            .iter()
            .filter(|e| e.presence == Presence::Both)
            .count(),
    }
}

/// An entry only one report has, in a few words: `3 calls, 4.88 KiB
/// allocated / call` for a job, `200 B allocated` for a callsite.
pub fn describe(entry: &Entry) -> String {
    let raw = |metric: Metric| {
        let row = entry.rows.iter().find(|row| row.metric == metric)?;
        row.head.or(row.base)
    };
    let value = |metric: Metric| raw(metric).map(|v| metric.format(v));
    let calls = raw(Metric::Calls).map(|calls| {
        let unit = if calls == 1.0 { "call" } else { "calls" };
        format!("{} {unit}", Metric::Calls.format(calls))
    });
    let parts: Vec<String> = [
        calls,
        value(Metric::BytesPerCall).map(|bytes| format!("{bytes} allocated / call")),
        value(Metric::CallsiteBytes).map(|bytes| format!("{bytes} allocated")),
    ]
    .into_iter()
    .flatten()
    .collect();
    parts.join(", ")
}

/// The verdict of the whole diff in a few words: `2 regressions`, `no
/// regression (1 number within sampling noise)`, `no regression`.
pub fn headline(diff: &Diff) -> String {
    let (regressions, noise) = (diff.regressions(), diff.within_noise());
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let noise_part = if noise > 0 {
        format!(
            " ({} over the threshold but within sampling noise)",
            plural(noise, "number", "numbers")
        )
    } else {
        String::new()
    };
    match regressions {
        0 => format!("no regression{noise_part}"),
        n => format!("{}{noise_part}", plural(n, "regression", "regressions")),
    }
}

/// The mark of the whole diff.
pub fn overall_mark(diff: &Diff) -> &'static str {
    if diff.regressions() > 0 {
        Verdict::Regression.mark()
    } else if diff.within_noise() > 0 {
        Verdict::WithinNoise.mark()
    } else {
        Verdict::Ok.mark()
    }
}

/// The thresholds in words: `counts: +5% · durations: not judged · sampled
/// numbers: beyond 3σ`.
pub fn thresholds(diff: &Diff) -> String {
    let t = &diff.thresholds;
    let mut parts = vec![format!("counts: +{}", t.max_increase)];
    parts.push(match t.max_time_increase {
        Some(max) => format!("durations: +{max} (jobs with {}+ calls)", t.min_calls),
        None => "durations: not judged".to_string(),
    });
    parts.push(format!("sampled numbers: beyond {}σ", t.noise_sigma));
    for limit in &t.max_bytes_per_call {
        parts.push(format!("{}: at most {} / call", limit.job, limit.bytes));
    }
    parts.join(" · ")
}
