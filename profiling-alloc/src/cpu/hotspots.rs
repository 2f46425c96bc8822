//! The hot functions of a CPU profile: the "where does the time go" table.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::CpuProfile;
use crate::units::grouped;

/// One function's share of a [`CpuProfile`], from
/// [`CpuProfile::hotspots`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Hotspot {
    /// The function (an inlined function counts as its own).
    pub function: String,
    /// Samples taken while it was the function running (self time).
    pub self_samples: u64,
    /// Samples taken while it was on the stack (itself and what it called;
    /// a recursive function counted once per sample).
    pub total_samples: u64,
    /// `self_samples` as a share of all samples, 0 to 1.
    pub self_share: f64,
    /// `total_samples` as a share of all samples, 0 to 1.
    pub total_share: f64,
    /// The innermost job most of its samples ran inside, if any.
    pub job: Option<String>,
}

#[derive(Default)]
struct Tally {
    self_samples: u64,
    total_samples: u64,
    jobs: HashMap<String, u64>,
}

impl CpuProfile {
    /// Every function that was sampled, most self time first (then most
    /// total time).
    pub fn hotspots(&self) -> Vec<Hotspot> {
        let mut tallies: HashMap<&str, Tally> = HashMap::new();
        for stack in &self.stacks {
            let mut seen: Vec<&str> = Vec::new();
            for (depth, frame) in stack.frames.iter().enumerate() {
                let function = frame.function.as_str();
                let tally = tallies.entry(function).or_default();
                if depth == 0 {
                    tally.self_samples += stack.samples;
                }
                if seen.contains(&function) {
                    continue;
                }
                seen.push(function);
                tally.total_samples += stack.samples;
                if let Some(job) = stack.job_path.last() {
                    *tally.jobs.entry(job.clone()).or_default() += stack.samples;
                }
            }
        }
        let all = self.samples.max(1) as f64;
        let mut hotspots: Vec<Hotspot> = tallies
            .into_iter()
            .map(|(function, tally)| Hotspot {
                function: function.to_string(),
                self_samples: tally.self_samples,
                total_samples: tally.total_samples,
                self_share: tally.self_samples as f64 / all,
                total_share: tally.total_samples as f64 / all,
                job: tally
                    .jobs
                    .into_iter()
                    .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                    .map(|(job, _)| job),
            })
            .collect();
        hotspots.sort_by(|a, b| {
            b.self_samples
                .cmp(&a.self_samples)
                .then_with(|| b.total_samples.cmp(&a.total_samples))
                .then_with(|| a.function.cmp(&b.function))
        });
        hotspots
    }

    /// A text table of the `rows` hottest functions by self time (self %,
    /// total %, self samples, function, job), under a line that says how the profile was
    /// taken and how much of the CPU time it caught.
    pub fn hotspot_table(&self, rows: usize) -> String {
        let mut out = String::new();
        let capture = self.capture_ratio().map_or_else(String::new, |ratio| {
            format!(", {:.0}% of it sampled", ratio * 100.0)
        });
        let _ = writeln!(
            out,
            "CPU profile: {} samples at {} Hz over {:.2} s ({} timers; {:.2} s of CPU measured{capture})",
            grouped(self.samples),
            self.frequency_hz,
            self.duration.as_secs_f64(),
            self.timers,
            self.cpu_time().as_secs_f64(),
        );
        if self.dropped_samples > 0 {
            let _ = writeln!(
                out,
                "WARNING: {} samples dropped (buffer full)",
                grouped(self.dropped_samples)
            );
        }
        if self.unprofiled_threads > 0 {
            let _ = writeln!(
                out,
                "WARNING: {} threads ran without a timer (RLIMIT_SIGPENDING)",
                self.unprofiled_threads
            );
        }
        let hotspots = self.hotspots();
        if hotspots.is_empty() {
            out.push_str(
                "no samples: nothing used CPU while profiling, or the period was too long\n",
            );
            return out;
        }
        let _ = writeln!(
            out,
            "{:>7} {:>8} {:>9}  {:<60} job",
            "self %", "total %", "samples", "function"
        );
        // Functions with no self time are in the totals of those they call.
        for hotspot in hotspots.iter().filter(|h| h.self_samples > 0).take(rows) {
            let _ = writeln!(
                out,
                "{:>6.1}% {:>7.1}% {:>9}  {:<60} {}",
                hotspot.self_share * 100.0,
                hotspot.total_share * 100.0,
                grouped(hotspot.self_samples),
                shorten(&hotspot.function, 60),
                hotspot.job.as_deref().unwrap_or("-"),
            );
        }
        out
    }
}

/// `text` cut to `width` characters, with an ellipsis in the middle.
fn shorten(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        return text.to_string();
    }
    let head = width / 2 - 1;
    let tail = width - head - 1;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}…{end}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::callsites::Frame;
    use crate::cpu::CpuStack;

    fn stack(functions: &[&str], job: &[&str], samples: u64) -> CpuStack {
        CpuStack {
            frames: functions
                .iter()
                .map(|f| Frame {
                    function: f.to_string(),
                    file: None,
                    line: None,
                    inlined: false,
                })
                .collect(),
            job_path: job.iter().map(|j| j.to_string()).collect(),
            thread: "main".to_string(),
            samples,
            truncated: false,
        }
    }

    #[test]
    fn self_and_total_shares_and_the_job() {
        let mut profile = CpuProfile::empty();
        profile.frequency_hz = 100;
        profile.stacks = vec![
            stack(&["hash", "parse", "main"], &["ingest"], 6),
            stack(&["parse", "main"], &["ingest"], 3),
            // Recursion counts once in the total.
            stack(&["walk", "walk", "main"], &[], 1),
        ];
        profile.samples = 10;
        let hotspots = profile.hotspots();
        let by_name = |name: &str| hotspots.iter().find(|h| h.function == name).unwrap();
        assert_eq!(hotspots[0].function, "hash");
        assert_eq!(
            (by_name("hash").self_samples, by_name("hash").total_samples),
            (6, 6)
        );
        assert_eq!(
            (
                by_name("parse").self_samples,
                by_name("parse").total_samples
            ),
            (3, 9)
        );
        assert_eq!(
            (by_name("main").self_samples, by_name("main").total_samples),
            (0, 10)
        );
        assert_eq!(by_name("walk").total_samples, 1);
        assert!((by_name("parse").total_share - 0.9).abs() < 1e-9);
        assert_eq!(by_name("parse").job.as_deref(), Some("ingest"));
        assert_eq!(by_name("walk").job, None);
        let table = profile.hotspot_table(2);
        assert!(
            table.contains("60.0%") && table.contains("hash") && table.contains("ingest"),
            "{table}"
        );
        assert!(!table.contains("walk"), "two rows only:\n{table}");
    }

    #[test]
    fn long_names_are_shortened_in_the_middle() {
        let long = "a".repeat(50) + &"b".repeat(50);
        let short = shorten(&long, 60);
        assert_eq!(short.chars().count(), 60);
        assert!(short.starts_with("aaa") && short.ends_with("bbb") && short.contains('…'));
        assert_eq!(shorten("short", 60), "short");
    }
}
