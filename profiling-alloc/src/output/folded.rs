//! Folded stacks from a report: callsites (root first, rooted at their job
//! path) and job paths (self busy time per path).

use std::collections::BTreeMap;

use super::report::Report;
use super::scope::ReportScope;
use crate::callsites::{Callsite, Frame};
use crate::job::JobPathStats;
use crate::kinds::FlameKind;

/// Frames at and below this one are the runtime starting the thread (or
/// `main`): left out of flamegraphs, so the roots are the program's own.
const THREAD_ENTRY: &str = "__rust_begin_short_backtrace";

impl Report {
    /// The report's stacks in folded form, one `root;…;leaf count` line per
    /// distinct stack, sorted; counts in [`FlameKind::unit`]. Feed them to
    /// any flamegraph tool (`inferno-flamegraph`, `flamegraph.pl`,
    /// speedscope).
    ///
    /// Allocation stacks start at the thread's entry (the runtime's start-up
    /// frames below `__rust_begin_short_backtrace` are left out) and, when a
    /// sample was taken inside a job, at the job path instead: the job names,
    /// outermost first, then the frames inside the innermost job's function.
    /// `;` inside a frame name (as in `[u8; 4]`) is written as `,`.
    ///
    /// Job time lines are job paths with their self busy time
    /// ([`JobPathStats::self_busy`](crate::jobs::JobPathStats::self_busy)), so a
    /// path's total (its line plus its descendants') never exceeds its busy
    /// time, however many of its children ran at once.
    pub fn folded(&self, kind: FlameKind) -> Vec<String> {
        crate::capture::reading(|| lines(self, kind))
    }

    /// Writes [`folded`](Report::folded) to `path`, a line each (the file
    /// speedscope, `inferno-flamegraph` and `flamegraph.pl` read), creating
    /// its directory if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) naming the file or directory that
    /// could not be written.
    pub fn write_folded(
        &self,
        kind: FlameKind,
        path: impl AsRef<std::path::Path>,
    ) -> Result<(), crate::Error> {
        crate::capture::reading(|| super::files::write_lines(path.as_ref(), &lines(self, kind)))
    }
}

pub(super) fn lines(report: &Report, kind: FlameKind) -> Vec<String> {
    stacks(report, kind)
        .into_iter()
        .map(|(stack, count)| format!("{stack} {count}"))
        .collect()
}

/// Each distinct stack (frames joined with `;`) and its count, sorted.
/// Estimates are summed unrounded, then rounded to whole counts (what a
/// folded line holds); stacks that round to 0 are left out. Counts saturate:
/// a report read from a file may hold any numbers.
pub(super) fn stacks(report: &Report, kind: FlameKind) -> BTreeMap<String, u64> {
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut add = |stack: String, count: f64| {
        *sums.entry(stack).or_default() += count;
    };
    match kind {
        FlameKind::JobTime => job_time(&report.job_paths, &mut add),
        // A report holds no CPU samples (see `CpuProfile`).
        FlameKind::Cpu => {}
        _ => {
            for site in &report.callsites {
                let weight = match kind {
                    FlameKind::AllocatedBytes => site.total_bytes,
                    FlameKind::AllocatedBlocks => site.total_blocks,
                    _ => site.live_bytes,
                };
                if weight > 0.0 {
                    add(callsite_stack(site, report.scope.as_ref()), weight);
                }
            }
        }
    }
    sums.into_iter()
        .map(|(stack, sum)| (stack, crate::units::whole(sum)))
        .filter(|&(_, count)| count > 0)
        .collect()
}

/// `job;…;outermost frame;…;innermost frame` for one callsite.
fn callsite_stack(site: &Callsite, scope: Option<&ReportScope>) -> String {
    let frames = rooted_frames(site, scope);
    join(
        site.job_path
            .iter()
            .map(String::as_str)
            .chain(frames.iter().map(|frame| frame.function.as_str())),
    )
}

/// A callsite's frames as drawn under its job path, root first: from the
/// thread's entry (the runtime's start-up and std glue left out) or, inside
/// a job, from just inside the innermost job's function, which the job's
/// name stands for; the profiler's own frames (a job's guard or future) left
/// out.
pub(super) fn rooted_frames<'a>(site: &'a Callsite, scope: Option<&ReportScope>) -> Vec<&'a Frame> {
    if scope.is_some_and(|scope| site.job_path.last() == Some(&scope.name)) {
        // Sampled in a scope itself, outside any job it called: its frames
        // start inside the scope's closure already (`callsites` cut them).
        let mut frames: Vec<&Frame> = site.frames.iter().rev().collect();
        frames.retain(|frame| !frame.is_profiler());
        return frames;
    }
    rooted(&site.frames, &site.job_path, 0)
}

/// A stack's frames (innermost first) as drawn under its job path, root
/// first, as for [`rooted_frames`]; the innermost `keep_top` frames are kept
/// even when they are the profiler's (a CPU sample inside the profiler is
/// time the program spent there).
pub(crate) fn rooted<'a>(
    stack: &'a [Frame],
    job_path: &[String],
    keep_top: usize,
) -> Vec<&'a Frame> {
    // Stack frames are innermost first; a flamegraph line is root first.
    // The profiler's own frames in the middle of a stack (a job's guard or
    // future) are noise: the job path already says where jobs begin.
    let keep_from = stack.len().saturating_sub(keep_top);
    let mut frames: Vec<&Frame> = stack
        .iter()
        .rev()
        .enumerate()
        .filter(|&(i, frame)| i >= keep_from || !frame.is_profiler())
        .map(|(_, frame)| frame)
        .collect();
    if let Some(entry) = frames
        .iter()
        .rposition(|frame| frame.function.contains(THREAD_ENTRY))
    {
        frames.drain(..=entry);
        // And the std glue between the entry and the program's first frame
        // (`FnOnce::call_once`, the thread builder's closures).
        let glue = frames
            .iter()
            .take_while(|frame| frame.is_std_library())
            .count();
        frames.drain(..glue.min(frames.len().saturating_sub(1)));
    }
    if let Some(job) = job_path.last() {
        // A default name is the function's full path: the innermost frame of
        // that function is the job's (recursion included). A given name may
        // be a short one that also ends other paths: take the outermost.
        let start = frames
            .iter()
            .rposition(|f| without_closures(&f.function) == job.as_str())
            .or_else(|| {
                frames
                    .iter()
                    .position(|f| ends_with_segment(&f.function, job))
            });
        if let Some(start) = start {
            frames.drain(..=start);
        }
    }
    frames
}

/// `function` without trailing `::{{closure}}` segments: an `async fn` or a
/// `Result` job runs its body in a closure of its function.
fn without_closures(function: &str) -> &str {
    let mut name = function;
    while let Some(outer) = name
        .strip_suffix("::{{closure}}")
        .or_else(|| name.strip_suffix("::{closure#0}"))
    {
        name = outer;
    }
    name
}

/// Whether `function` (closures aside) is a path ending in the segment `job`:
/// `app::ingest::parse` for a job named `parse`.
fn ends_with_segment(function: &str, job: &str) -> bool {
    without_closures(function)
        .strip_suffix(job)
        .is_some_and(|rest| rest.ends_with("::"))
}

/// Each job path's self busy time, in µs: its busy time less its children's
/// (see [`JobPathStats`](crate::jobs::JobPathStats)). Drawn so, a path is exactly
/// as wide as its own busy time plus its children's; wall time, which
/// concurrent children would add up past their parent's, is left to the
/// tables.
fn job_time(paths: &[JobPathStats], add: &mut impl FnMut(String, f64)) {
    for node in paths {
        let micros = node.self_busy.as_micros();
        if micros > 0 {
            add(join(node.path.iter().map(String::as_str)), micros as f64);
        }
    }
}

/// Frame labels joined with `;`, with what would break a folded line
/// replaced: `;` in a label becomes `,`, line breaks become spaces, an empty
/// stack is `[unknown]`, and a space before a number at the very end (a job
/// named `step 2`) becomes a no-break space, or the number would be read as
/// a second count.
pub(crate) fn join<'a>(labels: impl Iterator<Item = &'a str>) -> String {
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
    if out.is_empty() {
        return "[unknown]".to_string();
    }
    if let Some((head, tail)) = out.rsplit_once(' ') {
        if tail.parse::<f64>().is_ok() {
            out = format!("{head}\u{a0}{tail}");
        }
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
            inlined: false,
        }
    }

    fn site(frames: &[&str], job_path: &[&str], bytes: u64) -> Callsite {
        Callsite {
            // Innermost first, as `callsites()` gives them.
            frames: frames.iter().rev().map(|f| frame(f)).collect(),
            truncated: false,
            job_path: job_path.iter().map(|s| s.to_string()).collect(),
            samples: 1,
            total_blocks: 1.0,
            total_bytes: bytes as f64,
            live_blocks: 0.0,
            live_bytes: 0.0,
            total_blocks_variance: 0.0,
            total_bytes_variance: 0.0,
            size_classes: vec![(bytes, 1.0)],
            lifetimes: Vec::new(),
            reallocated_blocks: 0.0,
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
        assert_eq!(callsite_stack(&outside, None), "app::main;app::load");

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
        // The job's function and the closure running its body are the job's
        // root frame.
        assert_eq!(
            callsite_stack(&inside, None),
            "pipeline;app::parse_record;<[u8, 4] as app::Decode>::decode"
        );
    }

    #[test]
    fn a_job_finds_its_function() {
        assert_eq!(
            without_closures("app::fetch::{{closure}}::{{closure}}"),
            "app::fetch"
        );
        assert!(ends_with_segment("app::ingest::parse", "parse"));
        assert!(ends_with_segment(
            "app::ingest::fetch::{{closure}}",
            "fetch"
        ));
        assert!(!ends_with_segment("app::reparse", "parse"));

        // A named async job: its body is a closure of its function, and the
        // runtime's frames below it are left out.
        let async_site = site(
            &[
                "tokio::runtime::task::harness::poll",
                "app::ingest::fetch::{{closure}}",
                "app::decode",
            ],
            &["fetch"],
            10,
        );
        assert_eq!(callsite_stack(&async_site, None), "fetch;app::decode");
        // A recursive job by its full name: cut at the innermost call.
        let recursive = site(
            &["app::walk", "app::walk", "app::leaf"],
            &["app::walk", "app::walk"],
            10,
        );
        assert_eq!(
            callsite_stack(&recursive, None),
            "app::walk;app::walk;app::leaf"
        );
    }

    #[test]
    fn job_time_draws_self_busy_time() {
        let path = |names: &[&str], busy_us: u64, self_us: u64, wall_us: u64| JobPathStats {
            path: names.iter().map(|s| s.to_string()).collect(),
            calls: 1,
            total: std::time::Duration::from_micros(wall_us),
            busy: std::time::Duration::from_micros(busy_us),
            self_busy: std::time::Duration::from_micros(self_us),
        };
        // Two children that ran at once: their wall times (90 µs each) add
        // up past their parent's (100 µs); their busy times do not.
        let paths = [
            path(&["gather"], 100, 20, 100),
            path(&["gather", "fetch"], 50, 50, 90),
            path(&["gather", "parse"], 30, 30, 90),
            path(&["idle"], 0, 0, 5),
        ];
        let mut lines = Vec::new();
        job_time(&paths, &mut |stack, count| {
            lines.push(format!("{stack} {count}"))
        });
        assert_eq!(lines, ["gather 20", "gather;fetch 50", "gather;parse 30"]);
    }

    #[test]
    fn labels_cannot_break_the_line_format() {
        assert_eq!(join(["step 2"].into_iter()), "step\u{a0}2");
        assert_eq!(join(["a;b", "x\ny"].into_iter()), "a,b;x y");
        assert_eq!(join(std::iter::empty()), "[unknown]");
        assert_eq!(
            join(["<[u8; 4] as Read>::read"].into_iter()),
            "<[u8, 4] as Read>::read"
        );
    }
}
