//! `diff --svg`: a differential flamegraph of bytes allocated, from the two
//! reports' folded stacks through inferno's `differential` module, then its
//! flamegraph. Widths are the head's; red frames grew, blue ones shrank,
//! the deeper the colour the more. Stacks the head no longer has take no
//! width (the diff lists them as removed).

use std::path::Path;

use inferno::differential;
use inferno::flamegraph::{self, Options};
use profiling_alloc::{FlameKind, Report};

use crate::error::CliError;

/// Draws the differential flamegraph of `base` → `head` into `path`;
/// `names` are the two files, for the subtitle.
///
/// # Errors
///
/// [`CliError::NothingToDraw`] when the head has no callsites (sampling was
/// off), [`CliError::Draw`] when inferno fails, [`CliError::Write`] when the
/// file cannot be written.
pub fn write_differential(
    base: &Report,
    head: &Report,
    names: (&str, &str),
    path: &Path,
) -> Result<(), CliError> {
    let svg = differential_svg(base, head, names)?;
    std::fs::write(path, svg).map_err(|e| CliError::write(path, e))
}

/// The differential flamegraph as SVG text.
pub fn differential_svg(
    base: &Report,
    head: &Report,
    names: (&str, &str),
) -> Result<Vec<u8>, CliError> {
    let base_lines = base.folded(FlameKind::AllocatedBytes);
    let head_lines = head.folded(FlameKind::AllocatedBytes);
    if head_lines.is_empty() {
        return Err(CliError::NothingToDraw(format!(
            "{} has no callsites to draw (was sampling off?)",
            names.1
        )));
    }
    let (base_text, head_text, divisor) = scaled(&base_lines, &head_lines);
    let mut folded = Vec::new();
    differential::from_readers(
        differential::Options::default(),
        base_text.as_bytes(),
        head_text.as_bytes(),
        &mut folded,
    )
    .map_err(CliError::Draw)?;
    let mut options = Options::default();
    options.title = "Allocated bytes, base → head".to_string();
    options.subtitle = Some(format!(
        "{} → {}: widths are the head's; red grew, blue shrank",
        names.0, names.1
    ));
    options.count_name = "bytes".to_string();
    options.deterministic = true;
    if divisor > 1 {
        options.notes = format!("counts divided by {divisor} to fit");
    }
    let mut svg = Vec::new();
    flamegraph::from_reader(&mut options, folded.as_slice(), &mut svg).map_err(CliError::Draw)?;
    Ok(svg)
}

/// The two profiles as text, their counts divided alike when their sums
/// would overflow inferno's arithmetic (a report read from a file may hold
/// any numbers).
fn scaled(base: &[String], head: &[String]) -> (String, String, u128) {
    let count = |line: &String| -> u128 {
        line.rsplit_once(' ')
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .map_or(0, u128::from)
    };
    let sum = |lines: &[String]| lines.iter().map(count).sum::<u128>();
    let divisor = sum(base)
        .max(sum(head))
        .div_ceil(i64::MAX as u128 / 2)
        .max(1);
    let text = |lines: &[String]| {
        lines
            .iter()
            .filter_map(|line| {
                let (stack, _) = line.rsplit_once(' ')?;
                Some(format!("{stack} {}\n", count(line) / divisor))
            })
            .collect::<String>()
    };
    (text(base), text(head), divisor)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::diff::test_reports::{callsite, report};

    #[test]
    fn grown_stacks_are_red_and_shrunk_ones_blue() {
        let base = report(json!({ "callsites": [
            callsite(&["app::grow", "app::main"], &[], 1000.0, 1.0, 0.0),
            callsite(&["app::shrink", "app::main"], &[], 1000.0, 1.0, 0.0),
        ] }));
        let head = report(json!({ "callsites": [
            callsite(&["app::grow", "app::main"], &[], 3000.0, 1.0, 0.0),
            callsite(&["app::shrink", "app::main"], &[], 500.0, 1.0, 0.0),
        ] }));
        let svg = String::from_utf8(differential_svg(&base, &head, ("b", "h")).unwrap()).unwrap();
        assert!(svg.contains("Allocated bytes, base → head"), "{svg}");
        // inferno's titles: name (count, share; change of the whole).
        assert!(
            svg.contains("app::grow (3,000 bytes, 85.71%; +57.14%)"),
            "{svg}"
        );
        assert!(
            svg.contains("app::shrink (500 bytes, 14.29%; -14.29%)"),
            "{svg}"
        );
    }

    #[test]
    fn a_head_without_callsites_is_an_error_that_says_so() {
        let base = report(json!({ "callsites": [callsite(&["f"], &[], 1.0, 1.0, 0.0)] }));
        let head = report(json!({ "settings": { "sampling": "Off" } }));
        let error = differential_svg(&base, &head, ("b.json", "h.json")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "profiling-alloc: no differential flamegraph: h.json has no callsites to draw (was sampling off?)"
        );
    }

    #[test]
    fn huge_counts_are_scaled_alike() {
        let lines = |n: u64| vec![format!("a;b {n}"), format!("a;c {n}")];
        let (base, head, divisor) = scaled(&lines(u64::MAX), &lines(1));
        assert!(divisor > 1);
        assert!(base.starts_with("a;b "));
        assert_eq!(head, "a;b 0\na;c 0\n");
    }
}
