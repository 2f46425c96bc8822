//! The main example: a small data pipeline (parse, transform, aggregate) run
//! under the counting allocator, with its per-record and per-city functions
//! marked as jobs. Prints what each phase allocated, kept and peaked at, the
//! job table (calls, p50/p95/p99, allocations), the program's heap statistics
//! and size histogram, and writes them all to
//! `target/profiling/heap_stats.json`.
//!
//! `cargo run --release --example showcase`

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use profiling_alloc::{
    heap_stats, job_stats, measure, profile_job, reset_peak, size_histogram, AllocDelta, HeapStats,
    JobStats,
};
use serde::Serialize;

#[global_allocator]
static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();

const RECORDS: usize = 200_000;
const CITIES: [&str; 8] = [
    "Lisbon", "Oslo", "Quito", "Hanoi", "Nairobi", "Perth", "Lima", "Tromsø",
];

struct Record {
    id: u64,
    customer: String,
    city: String,
    amount_cents: u64,
}

/// One pipeline phase: its allocation delta and the program's peak while it
/// ran.
#[derive(Serialize)]
struct Phase {
    name: &'static str,
    millis: f64,
    delta: AllocDelta,
    program_peak_bytes: u64,
}

#[derive(Serialize)]
struct Output {
    phases: Vec<Phase>,
    jobs: Vec<JobStats>,
    heap: HeapStats,
    size_histogram: profiling_alloc::SizeHistogram,
}

/// Generates CSV text: `id,customer,city,amount`.
fn generate() -> String {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut text = String::from("id,customer,city,amount\n");
    for id in 0..RECORDS {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let city = CITIES[(state % CITIES.len() as u64) as usize];
        let _ = writeln!(
            text,
            "{id},customer-{},{city},{}",
            state % 5000,
            state % 100_000
        );
    }
    text
}

#[derive(Debug)]
struct BadRecord(String);

/// One CSV line into a record: a job called once per line.
#[profile_job(name = "parse_record")]
fn parse_record(line: &str) -> Result<Record, BadRecord> {
    let mut fields = line.split(',');
    let mut next = || fields.next().ok_or_else(|| BadRecord(line.to_string()));
    let id = next()?.parse().map_err(|_| BadRecord(line.to_string()))?;
    let customer = next()?.to_string();
    let city = next()?.to_string();
    let amount_cents = next()?.parse().map_err(|_| BadRecord(line.to_string()))?;
    Ok(Record {
        id,
        customer,
        city,
        amount_cents,
    })
}

/// Parses every line; lines that are not records (the header) come back
/// apart.
fn parse(text: &str) -> (Vec<Record>, Vec<String>) {
    let mut skipped = Vec::new();
    let records = text
        .lines()
        .filter_map(|line| match parse_record(line) {
            Ok(record) => Some(record),
            Err(BadRecord(line)) => {
                skipped.push(line);
                None
            }
        })
        .collect();
    (records, skipped)
}

fn transform(records: &[Record]) -> HashMap<&str, Vec<u64>> {
    let mut by_city: HashMap<&str, Vec<u64>> = HashMap::new();
    for record in records {
        if record.customer.ends_with('7') && record.id % 2 == 0 {
            continue; // a filter, so the pipeline drops something
        }
        by_city
            .entry(record.city.as_str())
            .or_default()
            .push(record.amount_cents);
    }
    by_city
}

/// One city's orders into a report line: a job called once per city.
#[profile_job(name = "summarize_city")]
fn summarize_city(city: &str, mut amounts: Vec<u64>) -> (u64, String) {
    amounts.sort_unstable();
    let total: u64 = amounts.iter().sum();
    let median = amounts[amounts.len() / 2];
    let line = format!(
        "{city:<8} {:>7} orders, total {:>12.2}, median {:>8.2}",
        amounts.len(),
        total as f64 / 100.0,
        median as f64 / 100.0
    );
    (total, line)
}

fn aggregate(by_city: HashMap<&str, Vec<u64>>) -> Vec<String> {
    let mut lines: Vec<(u64, String)> = by_city
        .into_iter()
        .map(|(city, amounts)| summarize_city(city, amounts))
        .collect();
    lines.sort_by_key(|line| std::cmp::Reverse(line.0));
    lines.into_iter().map(|(_, line)| line).collect()
}

/// Runs one phase under `measure`, with the program peak reset before it.
fn phase<R>(phases: &mut Vec<Phase>, name: &'static str, f: impl FnOnce() -> R) -> R {
    reset_peak();
    let start = Instant::now();
    let (value, delta) = measure(f);
    let millis = start.elapsed().as_secs_f64() * 1000.0;
    let program_peak_bytes = heap_stats().peak_bytes;
    phases.push(Phase {
        name,
        millis,
        delta,
        program_peak_bytes,
    });
    value
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut phases = Vec::new();
    let text = phase(&mut phases, "generate", generate);
    let (records, skipped) = phase(&mut phases, "parse", || parse(&text));
    drop(text);
    let by_city = phase(&mut phases, "transform", || transform(&records));
    let report = phase(&mut phases, "aggregate", || aggregate(by_city));

    println!("Report ({} records, skipped {:?}):", records.len(), skipped);
    for line in &report {
        println!("  {line}");
    }

    println!("\nPhases (this thread's allocations while each ran):");
    println!(
        "  {:<10} {:>8} {:>12} {:>14} {:>14} {:>14}",
        "phase", "ms", "allocations", "bytes alloc'd", "net bytes", "phase peak"
    );
    for p in &phases {
        println!(
            "  {:<10} {:>8.1} {:>12} {:>14} {:>14} {:>14}",
            p.name,
            p.millis,
            p.delta.allocations,
            p.delta.bytes_allocated,
            p.delta.net_bytes,
            p.delta.peak_bytes
        );
    }

    let jobs = job_stats();
    println!("\nJobs:");
    println!(
        "  {:<16} {:>8} {:>7} {:>10} {:>10} {:>10} {:>12} {:>12} {:>10}",
        "job", "calls", "errors", "p50", "p95", "p99", "allocations", "bytes/call", "peak"
    );
    for job in &jobs {
        let alloc = job.allocations.unwrap_or_default();
        println!(
            "  {:<16} {:>8} {:>7} {:>10.1?} {:>10.1?} {:>10.1?} {:>12} {:>12} {:>10}",
            job.name,
            job.calls,
            job.errors,
            job.duration.p50,
            job.duration.p95,
            job.duration.p99,
            alloc.allocations_total,
            alloc.bytes_allocated_total / job.calls.max(1),
            alloc.peak_bytes_max
        );
    }

    let heap = heap_stats();
    println!("\nHeap (whole program):\n{heap}");
    let histogram = size_histogram();
    println!("Allocations by size class:\n{histogram}");

    let dir = profiling_suite::output_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("heap_stats.json");
    let output = Output {
        phases,
        jobs,
        heap,
        size_histogram: histogram,
    };
    std::fs::write(&path, serde_json::to_string_pretty(&output)?)?;
    println!("Wrote {}", path.display());
    Ok(())
}
