//! The text summary of a [`Report`]: heap totals, the top jobs and the top
//! callsites, in aligned columns for a terminal.

use std::fmt::{self, Write as _};

use super::report::Report;
use crate::callsites::Callsite;
use crate::callsites::Sampling;
use crate::job::JobStats;
use crate::units::{bytes, duration, grouped};

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
    /// Callsites (by bytes allocated; 12 samples, 0 dropped)
    ///      bytes  blocks   live bytes  sizes          where
    ///    1.2 KiB      12        0 B    64 B–127 B     app::parse (src/parse.rs:12) [parse_record]
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
        writeln!(
            f,
            "profiling-alloc report: {} (pid {}), sampling {}",
            self.program.name,
            self.program.pid,
            describe_sampling(self.settings.sampling)
        )?;
        writeln!(f, "\nHeap")?;
        for line in self.heap.to_string().lines() {
            writeln!(f, "  {line}")?;
        }
        if let Some(rss) = self.program.max_rss_bytes {
            writeln!(f, "  Max RSS:   {} (process, from getrusage)", bytes(rss))?;
        }
        write_jobs(f, &self.jobs)?;
        write_callsites(f, self)?;
        Ok(())
    }
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
    writeln!(
        f,
        "  {:<width$}  {:>9}  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}  {:>11}  {:>10}  {:>10}",
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
        writeln!(
            f,
            "  {name:<width$}  {:>9}  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}  {allocs:>11}  {per_call_bytes:>10}  {peak:>10}",
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
        let why = if !report.settings.callsites_available {
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
    let shown = sites.len().min(TOP);
    writeln!(
        f,
        "\nCallsites ({}by bytes allocated; {} samples, {} dropped)",
        of(shown, sites.len()),
        grouped(samples),
        grouped(report.dropped_samples)
    )?;
    writeln!(
        f,
        "  {:>10}  {:>10}  {:>10}  {:<19}  where",
        "bytes", "blocks", "live bytes", "sizes"
    )?;
    for site in &sites[..shown] {
        writeln!(
            f,
            "  {:>10}  {:>10}  {:>10}  {:<19}  {}",
            bytes(site.total_bytes),
            grouped(site.total_blocks),
            bytes(site.live_bytes),
            size_range(site),
            location(site)
        )?;
    }
    Ok(())
}

/// `"3 of 12 jobs, "` when the table is cut, nothing when it is whole.
fn of(shown: usize, all: usize) -> String {
    if shown < all {
        format!("top {shown} of {all}, ")
    } else {
        String::new()
    }
}

/// The sizes a callsite allocated, from its smallest to its largest size
/// class: `16 B–2.0 KiB`.
fn size_range(site: &Callsite) -> String {
    let min = site.size_classes.iter().map(|&(min, _)| min).min();
    let max = site.size_classes.iter().map(|&(min, _)| min).max();
    match (min, max) {
        (Some(min), Some(max)) => {
            let top = max.saturating_mul(2).saturating_sub(1).max(1);
            format!("{}–{}", bytes(min), bytes(top))
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

    #[test]
    fn size_ranges_span_the_classes() {
        let site = Callsite {
            frames: Vec::new(),
            truncated: false,
            job_path: Vec::new(),
            samples: 2,
            total_blocks: 2,
            total_bytes: 1040,
            live_blocks: 0,
            live_bytes: 0,
            size_classes: vec![(16, 1), (1024, 1)],
        };
        assert_eq!(size_range(&site), "16 B–2.0 KiB");
    }
}
