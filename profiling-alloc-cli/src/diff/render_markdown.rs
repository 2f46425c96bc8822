//! The diff as a pull-request comment (GitHub-flavoured markdown): a
//! headline with its mark, the thresholds, warnings as a quote, a table per
//! section (before → after, change, a mark: ❌ over the threshold, ⚠️ over it
//! but within sampling noise, ✅ within it), and what appeared and
//! disappeared in a folded list.

use std::fmt::Write as _;

use super::view::{self, Section};
use super::{Diff, Row};

/// The most callsite rows a comment shows (failures first); the rest are
/// counted, and in the text and JSON output.
pub const MAX_CALLSITE_ROWS: usize = 25;
/// The most new or removed entries a comment names per section.
pub const MAX_LISTED: usize = 10;

/// The markdown rendering; `all` shows unchanged rows too.
pub fn render(diff: &Diff, all: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {} profiling-alloc: {}\n",
        view::overall_mark(diff),
        view::headline(diff)
    );
    let _ = writeln!(
        out,
        "{} → {} · {}\n",
        code(&diff.base.labelled_file()),
        code(&diff.head.labelled_file()),
        view::thresholds(diff)
    );
    for warning in &diff.warnings {
        let _ = writeln!(out, "> ⚠️ {}", escape(warning));
    }
    if !diff.warnings.is_empty() {
        out.push('\n');
    }
    for section in view::sections(diff, all) {
        render_section(&mut out, &section, diff);
    }
    let _ = writeln!(
        out,
        "<sub>❌ over the threshold · ⚠️ over it, within sampling noise · ✅ within it · \
         {} rows only (<code>--all</code> for every row)</sub>",
        if all { "all" } else { "changed" }
    );
    out
}

fn render_section(out: &mut String, section: &Section<'_>, diff: &Diff) {
    let nothing =
        section.tables.is_empty() && section.added.is_empty() && section.removed.is_empty();
    if nothing {
        let _ = writeln!(out, "**{}**: no change\n", section.title);
        return;
    }
    let _ = writeln!(out, "### {}\n", section.title);
    if section.title == "Callsites" {
        let _ = writeln!(
            out,
            "Sampling: base {}, head {}.\n",
            diff.base.sampling, diff.head.sampling
        );
    }
    if !section.tables.is_empty() {
        render_table(out, section);
    }
    render_lists(out, section);
}

fn render_table(out: &mut String, section: &Section<'_>) {
    let notes = section
        .tables
        .iter()
        .flat_map(|(_, rows)| rows)
        .any(|row| row.note.is_some());
    let named = !section.noun.is_empty();
    let mut header = String::from("| |");
    let mut rule = String::from("|:-:|");
    if named {
        header.push_str(&format!(" {} |", section.noun));
        rule.push_str("---|");
    }
    header.push_str(" | before → after | change |");
    rule.push_str("---|--:|--:|");
    if notes {
        header.push_str(" note |");
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    let limit = if named && section.noun == "callsite" {
        MAX_CALLSITE_ROWS
    } else {
        usize::MAX
    };
    let mut shown = 0;
    let total: usize = section.tables.iter().map(|(_, rows)| rows.len()).sum();
    for (entry, rows) in &section.tables {
        for (i, row) in rows.iter().enumerate() {
            if shown == limit {
                break;
            }
            let name = (named && i == 0).then(|| code(&entry.name));
            let _ = writeln!(out, "{}", table_row(row, name.as_deref(), named, notes));
            shown += 1;
        }
    }
    out.push('\n');
    if shown < total {
        let _ = writeln!(
            out,
            "{} more rows not shown: run the diff with `--format text` for all of them.\n",
            total - shown
        );
    }
}

fn table_row(row: &Row, name: Option<&str>, named: bool, notes: bool) -> String {
    let mut line = format!("| {} |", row.verdict.mark());
    if named {
        line.push_str(&format!(" {} |", name.unwrap_or("")));
    }
    line.push_str(&format!(
        " {} | {} | {} |",
        row.metric.label(),
        row.before_after(),
        row.change()
    ));
    if notes {
        line.push_str(&format!(
            " {} |",
            row.note.as_deref().map(escape).unwrap_or_default()
        ));
    }
    line
}

/// What appeared and disappeared, folded: a few of each, named.
fn render_lists(out: &mut String, section: &Section<'_>) {
    if section.added.is_empty() && section.removed.is_empty() {
        return;
    }
    let plural = if section.added.len() + section.removed.len() == 1 {
        ""
    } else {
        "s"
    };
    let _ = writeln!(
        out,
        "<details><summary>{} new, {} removed {}{plural}</summary>\n",
        section.added.len(),
        section.removed.len(),
        section.noun
    );
    for (word, entries) in [("new", &section.added), ("removed", &section.removed)] {
        for entry in entries.iter().take(MAX_LISTED) {
            let _ = writeln!(
                out,
                "- {word}: {} ({})",
                code(&entry.name),
                view::describe(entry)
            );
        }
        if entries.len() > MAX_LISTED {
            let _ = writeln!(out, "- and {} more {word}", entries.len() - MAX_LISTED);
        }
    }
    let _ = writeln!(out, "\n</details>\n");
}

/// `text` as inline code that survives a table cell: backticks become
/// quotes, `|` is escaped.
fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'").replace('|', "\\|"))
}

/// Text safe in a table cell or a quote.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::diff::test_reports::{callsite, job, report};
    use crate::diff::{compare, Thresholds};

    fn diff(base: serde_json::Value, head: serde_json::Value) -> Diff {
        compare(
            &report(base),
            &report(head),
            "base.json",
            "head.json",
            &Thresholds::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_regression_becomes_a_table_with_marks() {
        let d = diff(
            json!({ "jobs": [job("app::parse", 100, 5, 1000, 0, 800), job("app::old", 1, 1, 10, 0, 10)] }),
            json!({ "jobs": [job("app::parse", 100, 5, 1200, 0, 800)] }),
        );
        let md = render(&d, false);
        let expected = "\
## ❌ profiling-alloc: 1 regression

`base.json` → `head.json` · counts: +5% · durations: not judged · sampled numbers: beyond 3σ

**Heap**: no change

### Jobs

| | job | | before → after | change |
|:-:|---|---|--:|--:|
| ❌ | `app::parse` | bytes allocated / call | 1000 B → 1.17 KiB | +20.0% |

<details><summary>0 new, 1 removed job</summary>

- removed: `app::old` (1 call, 10 B allocated / call)

</details>

**Callsites**: no change

<sub>❌ over the threshold · ⚠️ over it, within sampling noise · ✅ within it · changed rows only (<code>--all</code> for every row)</sub>
";
        assert_eq!(md, expected, "\n{md}");
    }

    #[test]
    fn no_regression_is_a_green_headline_and_warnings_are_quoted() {
        let mut head = report(json!({}));
        head.program.profiler_version = "0.2.0".to_string();
        let d = compare(
            &report(json!({})),
            &head,
            "a|b.json",
            "head.json",
            &Thresholds::default(),
        )
        .unwrap();
        let md = render(&d, false);
        assert!(
            md.starts_with("## ✅ profiling-alloc: no regression\n"),
            "{md}"
        );
        assert!(md.contains("`a\\|b.json` → `head.json`"), "{md}");
        assert!(
            md.contains("> ⚠️ the reports differ in profiler version"),
            "{md}"
        );
    }

    #[test]
    fn long_callsite_tables_are_cut_with_failures_kept() {
        let sites = |scale: f64| {
            (0..40)
                .map(|i| {
                    let name = format!("app::f{i}");
                    // Only the smallest one grows past the threshold.
                    let bytes = if i == 39 {
                        1000.0 * (1.0 + scale)
                    } else {
                        100000.0 - i as f64 * 10.0 + scale
                    };
                    callsite(&[name.as_str()], &[], bytes, 10.0, 0.0)
                })
                .collect::<Vec<_>>()
        };
        let d = diff(
            json!({ "callsites": sites(0.0) }),
            json!({ "callsites": sites(1.0) }),
        );
        let md = render(&d, false);
        let rows = md.lines().filter(|l| l.starts_with("| ")).count();
        // Headers of the table, then 25 rows.
        assert_eq!(rows, 1 + MAX_CALLSITE_ROWS, "{md}");
        let first = md.lines().find(|l| l.starts_with("| ❌")).unwrap();
        assert!(first.contains("app::f39"), "{first}");
        assert!(md.contains("15 more rows not shown"), "{md}");
    }
}
