//! The text summary of a [`Report`]: heap totals, the top jobs and the top
//! callsites, in aligned columns for a terminal.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use super::report::Report;
use crate::callsites::Callsite;
use crate::callsites::Sampling;
use crate::job::JobStats;
use crate::units::{bytes, duration, grouped, whole};

/// Rows shown per table.
const TOP: usize = 10;
/// Job names and callsite locations longer than this are cut at the front.
const NAME_WIDTH: usize = 36;

impl fmt::Display for Report {
    /// The text summary:
    ///
    /// ```text
    /// profiling-alloc report: showcase (pid 4242), sampling every allocation (exact)
    ///
    /// Heap
    ///   Total:     1,256 bytes in 6 blocks (2 reallocs)
    ///   ...
    ///
    /// Jobs (by total time)
    ///   job            calls  failed     p50     p95     p99     max  allocs/call  bytes/call  peak/call
    ///   parse_record   1,000       0  1.2 µs  2.0 µs  3.1 µs  9.8 µs            3       128 B      128 B
    ///
    /// Callsites (by bytes allocated; 14 samples, 0 dropped)
    ///        bytes      blocks  live bytes  sizes                where
    ///      1.2 KiB          12         0 B  64 B–127 B           app::parse (src/parse.rs:12) [parse_record]
    ///        256 B           2       256 B  128 B–255 B          app::intern (src/intern.rs:7) [parse_record] (2 stacks)
    /// ```
    ///
    /// Callsites whose first frame and job read alike (one line reached
    /// through different stacks) are one row, marked with their number of
    /// stacks. When samples were dropped, a warning under the first line
    /// says so, what it means, and how to raise the limits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::capture::reading(|| {
            let counted = if let Some(scope) = &self.scope {
                format!(
                    "the closure `{}`, every block of it sampled (callsites exact)",
                    scope.name
                )
            } else if self.heap.active {
                format!("sampling {}", describe_sampling(self.settings.sampling))
            } else {
                "the allocator is not installed, so nothing was counted or sampled \
             (make ProfilingAllocator the #[global_allocator])"
                    .to_string()
            };
            writeln!(
                f,
                "profiling-alloc report: {} (pid {}), {counted}",
                self.program.name, self.program.pid,
            )?;
            if self.scope.is_none() && self.heap.active && !self.settings.sampling_origin.is_empty()
            {
                writeln!(f, "  sampling chosen by {}", self.settings.sampling_origin)?;
            }
            if self.dropped_samples > 0 {
                write_dropped(f, self.dropped_samples)?;
            }
            if let Some(scope) = &self.scope {
                writeln!(f, "\nThe closure (its thread, exact)")?;
                writeln!(f, "  {}", scope.allocations)?;
                writeln!(f, "\nHeap (the whole program)")?;
            } else {
                writeln!(f, "\nHeap")?;
            }
            for line in self.heap.to_string().lines() {
                writeln!(f, "  {line}")?;
            }
            if let Some(rss) = self.program.max_rss_bytes {
                writeln!(f, "  Max RSS:   {} (process, from getrusage)", bytes(rss))?;
            }
            write_jobs(f, &self.jobs)?;
            write_callsites(f, self)?;
            write_findings(f, &self.findings)?;
            Ok(())
        })
    }
}

/// The findings, one line each (nothing when there are none).
fn write_findings(
    f: &mut fmt::Formatter<'_>,
    findings: &[crate::analysis::Finding],
) -> fmt::Result {
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(f, "\nFindings")?;
    for finding in findings {
        writeln!(f, "  - {}", finding.message)?;
    }
    Ok(())
}

/// The warning that samples were dropped: what it means, how to avoid it.
fn write_dropped(f: &mut fmt::Formatter<'_>, dropped: u64) -> fmt::Result {
    writeln!(
        f,
        "\nWARNING: {} samples DROPPED: the profiler's tables were full.",
        grouped(dropped)
    )?;
    writeln!(
        f,
        "  Callsite numbers undercount, and blocks it could not track are missing \
         from live bytes\n  (so \"nothing live\" proves little); heap totals and jobs \
         are exact. Raise the limits with\n  \
         profiling_alloc::callsites::set_sampling_limits(max_stacks, max_tracked_blocks), \
         before the first sample."
    )
}

fn describe_sampling(sampling: Sampling) -> String {
    match sampling {
        Sampling::Off => "off (no callsites recorded)".to_string(),
        Sampling::Every => "every allocation (exact)".to_string(),
        Sampling::Poisson { mean_bytes } => format!(
            "Poisson, one sample per {} allocated on average (callsites are estimates)",
            bytes(mean_bytes)
        ),
    }
}

fn write_jobs(f: &mut fmt::Formatter<'_>, jobs: &[JobStats]) -> fmt::Result {
    if jobs.is_empty() {
        return writeln!(f, "\nJobs: none recorded");
    }
    let mut jobs: Vec<&JobStats> = jobs.iter().collect();
    jobs.sort_by_key(|job| std::cmp::Reverse(job.duration.total));
    let shown = jobs.len().min(TOP);
    writeln!(f, "\nJobs ({}by total time)", of(shown, jobs.len()))?;
    let names: Vec<String> = jobs[..shown].iter().map(|j| cut_front(&j.name)).collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    // With a CPU profile run: the share of the wall time of the calls made
    // while profiling that was spent on a CPU (the rest waited: I/O, locks,
    // sleeps, the scheduler).
    let cpu_profiled = jobs.iter().any(|job| job.cpu.is_some());
    let on_cpu_header = if cpu_profiled { "  on-CPU" } else { "" };
    writeln!(
        f,
        "  {:<width$}  {:>9}  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}  {:>11}  {:>10}  {:>10}{on_cpu_header}",
        "job",
        "calls",
        "failed",
        "p50",
        "p95",
        "p99",
        "max",
        "allocs/call",
        "bytes/call",
        "peak/call"
    )?;
    for (job, name) in jobs[..shown].iter().zip(&names) {
        let d = &job.duration;
        let (allocs, per_call_bytes, peak) = match &job.allocations {
            Some(a) if a.measured_calls > 0 => (
                grouped(a.total_blocks / a.measured_calls),
                bytes(a.total_bytes / a.measured_calls),
                bytes(a.peak_bytes_max),
            ),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        // Against the wall time of the calls made while profiling.
        let on_cpu = match job.cpu.and_then(|cpu| cpu.on_cpu_share()) {
            _ if !cpu_profiled => String::new(),
            Some(share) => format!("  {:>5.0}%", 100.0 * share),
            None => format!("  {:>6}", "-"),
        };
        writeln!(
            f,
            "  {name:<width$}  {:>9}  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}  {allocs:>11}  {per_call_bytes:>10}  {peak:>10}{on_cpu}",
            grouped(job.calls),
            grouped(job.errors.saturating_add(job.panics)),
            duration(d.p50),
            duration(d.p95),
            duration(d.p99),
            duration(d.max),
        )?;
    }
    Ok(())
}

fn write_callsites(f: &mut fmt::Formatter<'_>, report: &Report) -> fmt::Result {
    let sites = &report.callsites;
    if sites.is_empty() {
        let why = if !report.heap.active {
            "the allocator is not installed"
        } else if !report.settings.callsites_available {
            "this build has no `callsites` feature"
        } else if report.settings.sampling == Sampling::Off {
            "sampling is off; turn it on with `set_sampling`"
        } else {
            "nothing sampled yet"
        };
        return writeln!(f, "\nCallsites: none ({why})");
    }
    let samples = sites
        .iter()
        .fold(0u64, |sum, s| sum.saturating_add(s.samples));
    let rows = rows(sites);
    let shown = rows.len().min(TOP);
    writeln!(
        f,
        "\nCallsites ({}by bytes allocated; {} samples, {} dropped)",
        of(shown, rows.len()),
        grouped(samples),
        grouped(report.dropped_samples)
    )?;
    writeln!(
        f,
        "  {:>10}  {:>10}  {:>10}  {:<19}  where",
        "bytes", "blocks", "live bytes", "sizes"
    )?;
    for row in &rows[..shown] {
        let stacks = if row.stacks > 1 {
            format!(" ({} stacks)", grouped(row.stacks as u64))
        } else {
            String::new()
        };
        writeln!(
            f,
            "  {:>10}  {:>10}  {:>10}  {:<19}  {}{stacks}",
            bytes(whole(row.total_bytes)),
            grouped(whole(row.total_blocks)),
            bytes(whole(row.live_bytes)),
            size_range(row.smallest_class, row.largest_class),
            row.location,
        )?;
    }
    Ok(())
}

/// One row of the callsites table: the callsites whose first frame and job
/// read the same (one function and line reached through different stacks),
/// summed, so that no two rows look alike. Their stacks stay apart in the
/// report and in flamegraphs.
#[derive(Debug)]
struct Row {
    location: String,
    stacks: usize,
    total_bytes: f64,
    total_blocks: f64,
    live_bytes: f64,
    /// Smallest and largest size class seen (their smallest sizes).
    smallest_class: Option<u64>,
    largest_class: Option<u64>,
}

/// The table's rows, most bytes first (sums saturate: a report read from a
/// file may hold any numbers).
fn rows(sites: &[Callsite]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for site in sites {
        let location = location(site);
        let row = match index.get(&location) {
            Some(&i) => &mut rows[i],
            None => {
                index.insert(location.clone(), rows.len());
                rows.push(Row {
                    location,
                    stacks: 0,
                    total_bytes: 0.0,
                    total_blocks: 0.0,
                    live_bytes: 0.0,
                    smallest_class: None,
                    largest_class: None,
                });
                let last = rows.len() - 1;
                &mut rows[last]
            }
        };
        row.stacks += 1;
        row.total_bytes += site.total_bytes;
        row.total_blocks += site.total_blocks;
        row.live_bytes += site.live_bytes;
        for &(min, _) in &site.size_classes {
            row.smallest_class = Some(row.smallest_class.map_or(min, |m| m.min(min)));
            row.largest_class = Some(row.largest_class.map_or(min, |m| m.max(min)));
        }
    }
    // Stable: rows of equal bytes keep the callsites' order.
    rows.sort_by(|a, b| b.total_bytes.total_cmp(&a.total_bytes));
    rows
}

/// `"3 of 12 jobs, "` when the table is cut, nothing when it is whole.
fn of(shown: usize, all: usize) -> String {
    if shown < all {
        format!("top {shown} of {all}, ")
    } else {
        String::new()
    }
}

/// The sizes allocated, from the smallest size of the smallest class to the
/// largest size of the largest: `16 B–2.0 KiB`. Sizes start at 1 byte (an
/// allocation is never empty; a report written when class 0 was keyed 0
/// still prints from 1 B).
fn size_range(smallest_class: Option<u64>, largest_class: Option<u64>) -> String {
    match (smallest_class, largest_class) {
        (Some(min), Some(max)) => {
            let top = max.max(1).checked_mul(2).map_or(u64::MAX, |end| end - 1);
            format!("{}–{}", bytes(min.max(1)), bytes(top))
        }
        _ => "-".to_string(),
    }
}

/// The first frame of a callsite, with its file shortened to the last two
/// path components, and the job it ran in.
fn location(site: &Callsite) -> String {
    let mut out = match site.frames.first() {
        Some(frame) => {
            let mut s = cut_front(&frame.function);
            if let Some(file) = &frame.file {
                let parts: Vec<&str> = file.rsplit(['/', '\\']).take(2).collect();
                let short: Vec<&str> = parts.into_iter().rev().collect();
                let _ = write!(s, " ({}", short.join("/"));
                if let Some(line) = frame.line {
                    let _ = write!(s, ":{line}");
                }
                s.push(')');
            }
            s
        }
        None => "???".to_string(),
    };
    if let Some(job) = site.job_path.last() {
        let _ = write!(out, " [{}]", cut_front(job));
    }
    out
}

/// Keeps the end of a long name (where a function's own name is), marking
/// the cut with `…`.
fn cut_front(name: &str) -> String {
    let count = name.chars().count();
    if count <= NAME_WIDTH {
        name.to_string()
    } else {
        let tail: String = name.chars().skip(count - (NAME_WIDTH - 1)).collect();
        format!("…{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_keep_their_end() {
        let name = "my_crate::a_long_module_name::another_module::parse_record";
        let cut = cut_front(name);
        assert_eq!(cut.chars().count(), NAME_WIDTH);
        assert!(cut.starts_with('…') && cut.ends_with("::parse_record"));
        assert_eq!(cut_front("short"), "short");
    }

    fn site(frames: &[(&str, u32)], job: &str, bytes: u64, classes: &[u64]) -> Callsite {
        Callsite {
            frames: frames
                .iter()
                .map(|&(function, line)| crate::callsites::Frame {
                    function: function.to_string(),
                    file: Some("/src/app/src/lib.rs".to_string()),
                    line: Some(line),
                    inlined: false,
                })
                .collect(),
            truncated: false,
            job_path: vec![job.to_string()],
            samples: 1,
            total_blocks: 1.0,
            total_bytes: bytes as f64,
            live_blocks: 0.0,
            live_bytes: (bytes / 2) as f64,
            total_blocks_variance: 0.0,
            total_bytes_variance: 0.0,
            size_classes: classes.iter().map(|&min| (min, 1.0)).collect(),
            lifetimes: Vec::new(),
            reallocated_blocks: 0.0,
        }
    }

    #[test]
    fn size_ranges_start_at_the_smallest_real_size() {
        assert_eq!(size_range(Some(16), Some(1024)), "16 B–2.0 KiB");
        // Class 0 holds 1-byte blocks (allocations are never empty), keyed
        // 1 now and 0 in older reports: either way the range starts at 1 B.
        assert_eq!(size_range(Some(1), Some(64)), "1 B–127 B");
        assert_eq!(size_range(Some(0), Some(64)), "1 B–127 B");
        assert_eq!(size_range(Some(0), Some(0)), "1 B–1 B");
        assert_eq!(
            size_range(Some(1 << 63), Some(1 << 63)),
            format!("{}–{}", bytes(1 << 63), bytes(u64::MAX))
        );
        assert_eq!(size_range(None, None), "-");
    }

    #[test]
    fn callsites_that_read_alike_are_one_row() {
        // `helper` at one line, reached from two callers: two callsites
        // whose "where" would print the same.
        let sites = [
            site(
                &[("app::helper", 10), ("app::load", 20)],
                "ingest",
                1000,
                &[512],
            ),
            site(
                &[("app::helper", 10), ("app::save", 30)],
                "ingest",
                300,
                &[16],
            ),
            site(
                &[("app::helper", 10), ("app::load", 20)],
                "export",
                200,
                &[64],
            ),
            site(
                &[("app::helper", 11), ("app::load", 20)],
                "ingest",
                100,
                &[8],
            ),
        ];
        let rows = rows(&sites);
        let locations: Vec<&str> = rows.iter().map(|r| r.location.as_str()).collect();
        assert_eq!(
            locations,
            [
                "app::helper (src/lib.rs:10) [ingest]",
                "app::helper (src/lib.rs:10) [export]",
                "app::helper (src/lib.rs:11) [ingest]",
            ]
        );
        let merged = &rows[0];
        assert_eq!(merged.stacks, 2);
        assert_eq!(
            (merged.total_bytes, merged.total_blocks, merged.live_bytes),
            (1300.0, 2.0, 650.0)
        );
        assert_eq!(
            size_range(merged.smallest_class, merged.largest_class),
            "16 B–1023 B"
        );
        assert!(rows[1..].iter().all(|row| row.stacks == 1));
    }

    /// A report of this process (no allocator installed in unit tests),
    /// with the fields under test set by hand.
    fn report(active: bool, sampling: Sampling, dropped: u64, sites: Vec<Callsite>) -> Report {
        let mut report = Report::capture();
        report.heap.active = active;
        report.settings.sampling = sampling;
        report.settings.callsites_available = true;
        report.dropped_samples = dropped;
        report.callsites = sites;
        report
    }

    #[test]
    fn without_the_allocator_the_summary_says_nothing_was_counted() {
        let text = report(false, Sampling::Every, 0, Vec::new()).to_string();
        let first = text.lines().next().unwrap();
        assert!(first.contains("the allocator is not installed"), "{first}");
        assert!(!first.contains("sampling every allocation"), "{first}");
        assert!(
            text.contains("Callsites: none (the allocator is not installed)"),
            "{text}"
        );
        let text = report(true, Sampling::Every, 0, Vec::new()).to_string();
        assert!(text
            .lines()
            .next()
            .unwrap()
            .contains("sampling every allocation (exact)"));
    }

    #[test]
    fn dropped_samples_are_a_warning_at_the_top() {
        let sites = vec![site(&[("app::helper", 10)], "ingest", 1000, &[512])];
        let text = report(true, Sampling::Every, 92_000, sites.clone()).to_string();
        let warning = text
            .lines()
            .position(|line| line.starts_with("WARNING: 92,000 samples DROPPED"))
            .unwrap_or_else(|| panic!("{text}"));
        let heap = text.lines().position(|line| line == "Heap").unwrap();
        assert!(warning < heap, "before the numbers it qualifies: {text}");
        assert!(text.contains("set_sampling_limits(max_stacks, max_tracked_blocks)"));
        assert!(text.contains("92,000 dropped"), "{text}");
        let clean = report(true, Sampling::Every, 0, sites).to_string();
        assert!(!clean.contains("WARNING"), "{clean}");
    }
}
