//! Folded stacks from a report: callsites (root first, rooted at their job
//! path) and job paths (self time per path).

use std::collections::BTreeMap;

use super::FlameKind;
use crate::callsite_data::{Callsite, Frame};
use crate::report::Report;

/// Frames at and below this one are the runtime starting the thread (or
/// `main`): left out of flamegraphs, so the roots are the program's own.
const THREAD_ENTRY: &str = "__rust_begin_short_backtrace";

pub(super) fn lines(report: &Report, kind: FlameKind) -> Vec<String> {
    let mut stacks: BTreeMap<String, u64> = BTreeMap::new();
    match kind {
        FlameKind::JobTime => job_time(report, &mut stacks),
        _ => {
            for site in &report.callsites {
                let weight = match kind {
                    FlameKind::AllocatedBytes => site.bytes,
                    FlameKind::AllocatedBlocks => site.blocks,
                    _ => site.live_bytes,
                };
                if weight > 0 {
                    *stacks.entry(callsite_stack(site)).or_default() += weight;
                }
            }
        }
    }
    stacks
        .into_iter()
        .map(|(stack, count)| format!("{stack} {count}"))
        .collect()
}

/// `job;…;outermost frame;…;innermost frame` for one callsite.
fn callsite_stack(site: &Callsite) -> String {
    // Callsite frames are innermost first; a flamegraph line is root first.
    // The profiler's own frames in the middle of a stack (a job's guard or
    // future) are noise: the job path already says where jobs begin.
    let mut frames: Vec<&Frame> = site
        .frames
        .iter()
        .rev()
        .filter(|frame| !is_profiler(&frame.function))
        .collect();
    if let Some(entry) = frames
        .iter()
        .rposition(|frame| frame.function.ends_with(THREAD_ENTRY))
    {
        frames.drain(..=entry);
        // And the std glue between the entry and the program's first frame
        // (`FnOnce::call_once`, the thread builder's closures).
        let glue = frames
            .iter()
            .take_while(|frame| is_std_path(&frame.function))
            .count();
        frames.drain(..glue.min(frames.len().saturating_sub(1)));
    }
    if let Some(job) = site.job_path.last() {
        if let Some(start) = frames
            .iter()
            .position(|f| is_job_function(&f.function, job))
        {
            frames.drain(..=start);
        }
    }
    let labels = site
        .job_path
        .iter()
        .map(String::as_str)
        .chain(frames.iter().map(|frame| frame.function.as_str()));
    join(labels)
}

fn is_std_path(function: &str) -> bool {
    [
        "std::", "core::", "alloc::", "<std::", "<core::", "<alloc::",
    ]
    .iter()
    .any(|prefix| function.starts_with(prefix))
}

fn is_profiler(function: &str) -> bool {
    function.starts_with("profiling_alloc::") || function.starts_with("<profiling_alloc::")
}

/// Whether `function` is the function of the job named `job`: the job's
/// default name is the function's path, and a given name is usually the
/// function's own name. An `async fn` or a `Result` job runs its body in a
/// closure of that function.
fn is_job_function(function: &str, job: &str) -> bool {
    function == job
        || function
            .strip_prefix(job)
            .is_some_and(|rest| rest.starts_with("::{{closure}}"))
        || function
            .strip_suffix(job)
            .is_some_and(|rest| rest.ends_with("::"))
}

/// Each job path's own time (its total minus its children's), in µs.
fn job_time(report: &Report, stacks: &mut BTreeMap<String, u64>) {
    for node in &report.job_paths {
        let children: u128 = report
            .job_paths
            .iter()
            .filter(|child| {
                child.path.len() == node.path.len() + 1 && child.path.starts_with(&node.path)
            })
            .map(|child| child.total.as_nanos())
            .sum();
        let own_micros = node.total.as_nanos().saturating_sub(children) / 1_000;
        if own_micros > 0 {
            let count = u64::try_from(own_micros).unwrap_or(u64::MAX);
            *stacks
                .entry(join(node.path.iter().map(String::as_str)))
                .or_default() += count;
        }
    }
}

/// Frame labels joined with `;`, with the characters that would break a
/// folded line (`;`, line breaks) replaced.
fn join<'a>(labels: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for label in labels {
        if !out.is_empty() {
            out.push(';');
        }
        let label = if label.is_empty() { "???" } else { label };
        out.extend(label.chars().map(|c| match c {
            ';' => ',',
            '\n' | '\r' => ' ',
            c => c,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str) -> Frame {
        Frame {
            function: function.to_string(),
            file: None,
            line: None,
        }
    }

    fn site(frames: &[&str], job_path: &[&str], bytes: u64) -> Callsite {
        Callsite {
            // Innermost first, as `callsites()` gives them.
            frames: frames.iter().rev().map(|f| frame(f)).collect(),
            truncated: false,
            job_path: job_path.iter().map(|s| s.to_string()).collect(),
            samples: 1,
            blocks: 1,
            bytes,
            live_blocks: 0,
            live_bytes: 0,
            size_classes: vec![(bytes, 1)],
        }
    }

    #[test]
    fn stacks_start_after_the_runtime_and_inside_the_job() {
        let outside = site(
            &[
                "_start",
                "std::rt::lang_start_internal",
                "std::sys::backtrace::__rust_begin_short_backtrace",
                "core::ops::function::FnOnce::call_once",
                "app::main",
                "app::load",
            ],
            &[],
            10,
        );
        assert_eq!(callsite_stack(&outside), "app::main;app::load");

        let inside = site(
            &[
                "std::sys::backtrace::__rust_begin_short_backtrace",
                "app::main",
                "app::parse_record",
                "profiling_alloc::job::outcome::call_once",
                "app::parse_record::{{closure}}",
                "<[u8; 4] as app::Decode>::decode",
            ],
            &["pipeline", "app::parse_record"],
            10,
        );
        assert_eq!(
            callsite_stack(&inside),
            "pipeline;app::parse_record;app::parse_record::{{closure}};<[u8, 4] as app::Decode>::decode"
        );
    }

    #[test]
    fn a_job_named_after_its_function_finds_it() {
        assert!(is_job_function("app::ingest::parse", "parse"));
        assert!(is_job_function("app::ingest::parse", "app::ingest::parse"));
        assert!(is_job_function("app::fetch::{{closure}}", "app::fetch"));
        assert!(!is_job_function("app::reparse", "parse"));
        assert!(!is_job_function("app::parser", "app::parse"));
    }
}
