//! The diff for a terminal or a CI log: aligned columns, a word for each
//! verdict.
//!
//! ```text
//! profiling-alloc diff: base.json -> head.json: 1 regression
//!   thresholds: counts: +5% · durations: not judged · sampled numbers: beyond 3σ
//!
//! Jobs (2 in both)
//!   app::parse
//!     REGRESSION  bytes allocated / call  1000 B → 1.17 KiB    +20.0%
//!                 calls                   100 → 200           +100.0%
//!   new: app::render (3 calls, 4.88 KiB allocated / call)
//! ```

use std::fmt::Write as _;

use super::view::{self, Section};
use super::Diff;

/// The text rendering; `all` shows unchanged rows too.
pub fn render(diff: &Diff, all: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "profiling-alloc diff: {} -> {}: {}",
        diff.base.file,
        diff.head.file,
        view::headline(diff)
    );
    for (word, side) in [("base", &diff.base), ("head", &diff.head)] {
        let labels = if side.labels.is_empty() {
            String::new()
        } else {
            format!(" ({})", side.labels.join(", "))
        };
        let _ = writeln!(
            out,
            "  {word}: {}{labels}, sampling {}",
            side.program, side.sampling
        );
    }
    let _ = writeln!(out, "  thresholds: {}", view::thresholds(diff));
    for warning in &diff.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    for section in view::sections(diff, all) {
        out.push('\n');
        render_section(&mut out, &section);
    }
    out
}

fn render_section(out: &mut String, section: &Section<'_>) {
    let in_both = if section.noun.is_empty() {
        String::new()
    } else {
        format!(" ({} in both)", section.matched)
    };
    if section.tables.is_empty() && section.added.is_empty() && section.removed.is_empty() {
        let _ = writeln!(out, "{}{in_both}: no change", section.title);
        return;
    }
    let _ = writeln!(out, "{}{in_both}", section.title);
    let rows = section.tables.iter().flat_map(|(_, rows)| rows);
    let label_width = rows
        .clone()
        .map(|r| r.metric.label().chars().count())
        .max()
        .unwrap_or(0);
    let value_width = rows
        .map(|r| r.before_after().chars().count())
        .max()
        .unwrap_or(0);
    for (entry, rows) in &section.tables {
        // The heap is one entry: its rows need no name above them.
        let indent = if section.noun.is_empty() {
            "  "
        } else {
            let _ = writeln!(out, "  {}", entry.name);
            "    "
        };
        for row in rows {
            let mut line = format!(
                "{indent}{:<10}  {:<label_width$}  {:<value_width$}  {:>8}",
                row.verdict.word(),
                row.metric.label(),
                row.before_after(),
                row.change(),
            );
            if let Some(note) = &row.note {
                let _ = write!(line, "  {note}");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    for (word, entries) in [("new", &section.added), ("removed", &section.removed)] {
        for entry in entries.iter() {
            let _ = writeln!(out, "  {word}: {} ({})", entry.name, view::describe(entry));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::diff::test_reports::{callsite, job, report};
    use crate::diff::{compare, Thresholds};

    #[test]
    fn a_regression_reads_in_columns_with_new_and_removed_entries() {
        let base = report(json!({
            "jobs": [job("app::parse", 100, 5, 1000, 0, 800), job("app::old", 1, 1, 10, 0, 10)],
            "callsites": [callsite(&["app::parse"], &["app::parse"], 100000.0, 500.0, 0.0)]
        }));
        let head = report(json!({
            "jobs": [job("app::parse", 200, 5, 1200, 0, 800), job("app::render", 3, 2, 5000, 0, 10)],
            "callsites": [callsite(&["app::parse"], &["app::parse"], 240000.0, 1000.0, 0.0)]
        }));
        let diff = compare(
            &base,
            &head,
            "base.json",
            "head.json",
            &Thresholds::default(),
        )
        .unwrap();
        let text = render(&diff, false);
        let expected = "\
profiling-alloc diff: base.json -> head.json: 3 regressions
  base: workload, sampling every block (exact)
  head: workload, sampling every block (exact)
  thresholds: counts: +5% · durations: not judged · sampled numbers: beyond 3σ

Heap: no change

Jobs (1 in both)
  app::parse
                calls                   100 → 200           +100.0%
    REGRESSION  bytes allocated / call  1000 B → 1.17 KiB    +20.0%
  new: app::render (3 calls, 4.88 KiB allocated / call)
  removed: app::old (1 call, 10 B allocated / call)

Callsites (1 in both)
  app::parse (main.rs:10)
    REGRESSION  bytes allocated   97.7 KiB → 234 KiB   +140.0%
    REGRESSION  blocks allocated  500 → 1,000          +100.0%
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn all_shows_the_unchanged_rows() {
        let r = report(json!({ "jobs": [job("j", 1, 1, 10, 0, 10)] }));
        let diff = compare(&r, &r, "a", "b", &Thresholds::default()).unwrap();
        assert!(render(&diff, false).contains("Jobs (1 in both): no change"));
        let all = render(&diff, true);
        assert!(all.contains("ok          bytes allocated / call"), "{all}");
        assert!(all.contains("p99"), "{all}");
    }
}
