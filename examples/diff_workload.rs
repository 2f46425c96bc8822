//! A deterministic workload with jobs, for trying the regression gate
//! (`profiling-alloc diff`): it writes a report whose counts repeat from
//! run to run, and its `head` variant plants a regression: the `render`
//! job allocates 20 % more bytes per call than in `base`.
//!
//! ```sh
//! cargo run --example diff_workload -- base /tmp/base.json
//! cargo run --example diff_workload -- head /tmp/head.json
//! cargo run -p profiling-alloc-cli -- diff /tmp/base.json /tmp/head.json   # exit 3
//! ```
//!
//! Every block is sampled (`Sampling::Every`), so callsite numbers are
//! exact too; `.ci/run` diffs two `base` runs (exit 0) and `base` against
//! `head` (exit 3).

use std::collections::BTreeMap;

use profiling_alloc::{profile_job, ProfilingAllocator, Report, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

const LINES: usize = 2_000;

/// Which build of the workload runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Base,
    Head,
}

/// Splits a line into owned words.
#[profile_job]
fn tokenize(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_string).collect()
}

/// Joins the words into one line, in a buffer sized up front. The head
/// variant asks for a fifth more room than it needs: 20 % more bytes per
/// call, the same number of allocations.
#[profile_job]
fn render(words: &[String], variant: Variant) -> String {
    let needed: usize = words.iter().map(|w| w.len() + 1).sum();
    let room = match variant {
        Variant::Base => needed,
        Variant::Head => needed + needed / 5,
    };
    let mut line = String::with_capacity(room);
    for word in words {
        line.push_str(word);
        line.push(' ');
    }
    line
}

/// Counts the words of all lines.
#[profile_job]
fn index(lines: &[Vec<String>]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for word in lines.iter().flatten() {
        *counts.entry(word.clone()).or_insert(0) += 1;
    }
    counts
}

/// Line `i` of the input: eight words from a fixed vocabulary, the same on
/// every run.
fn line(i: usize) -> String {
    const WORDS: [&str; 10] = [
        "alloc", "bytes", "callsite", "job", "heap", "peak", "sample", "stack", "frame", "report",
    ];
    (0..8)
        .map(|k| WORDS[(i * 7 + k * 3) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let variant = match args.next().as_deref() {
        Some("base") => Variant::Base,
        Some("head") => Variant::Head,
        _ => return Err("usage: diff_workload base|head REPORT.json".into()),
    };
    let path = args
        .next()
        .ok_or("usage: diff_workload base|head REPORT.json")?;

    let tokenized: Vec<Vec<String>> = (0..LINES).map(|i| tokenize(&line(i))).collect();
    let rendered: Vec<String> = tokenized.iter().map(|w| render(w, variant)).collect();
    let counts = index(&tokenized);

    let report = Report::capture();
    report.write_json(&path)?;
    println!(
        "{} lines, {} distinct words, {} bytes rendered: {path}",
        rendered.len(),
        counts.len(),
        rendered.iter().map(String::len).sum::<usize>()
    );
    Ok(())
}
