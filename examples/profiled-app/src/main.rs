//! A word-index builder, allocation-heavy on purpose (many small strings, maps
//! and vectors), built with or without the profiler:
//!
//! ```text
//! cargo run --release -p profiled-app                       # System allocator, no jobs
//! cargo run --release -p profiled-app --features profiling  # counted, jobs recorded
//! ```
//!
//! It prints how long the work took, so the two builds can be compared end to
//! end (`scripts/bench-whole-program.sh`), and, when profiling, the heap
//! statistics and each job's calls, durations and allocations.
//!
//! The whole pattern: the `profiling` feature in Cargo.toml (an optional
//! dependency), the `#[cfg(feature = "profiling")]` allocator below, and
//! `#[cfg_attr(feature = "profiling", profiling_alloc::profile_job)]` on each
//! job. Without the feature, `profiling-alloc` is not even compiled: the
//! attribute is never expanded, and nothing names the crate.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

#[cfg(feature = "profiling")]
#[global_allocator]
static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();

const WORDS: [&str; 16] = [
    "alloc", "block", "heap", "peak", "live", "bytes", "thread", "slot", "free", "grow", "shrink",
    "count", "trace", "stack", "frame", "job",
];

/// Word → ids of the documents that contain it.
type Index = BTreeMap<String, Vec<usize>>;

/// A xorshift generator: the same text on every run and in both builds.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Builds `documents` documents of generated text and indexes them; returns
/// the index and the sum of each document's distinct words.
#[cfg_attr(feature = "profiling", profiling_alloc::profile_job)]
fn build_index(documents: usize, seed: u64) -> (Index, usize) {
    let mut random = XorShift(seed | 1);
    let mut index = Index::new();
    let mut distinct = 0;
    for doc in 0..documents {
        let text = generate_document(&mut random);
        distinct += index_document(doc, &text, &mut index);
    }
    (index, distinct)
}

/// One document: 20 to 219 words, each one of [`WORDS`] and a number.
#[cfg_attr(feature = "profiling", profiling_alloc::profile_job)]
fn generate_document(random: &mut XorShift) -> Vec<String> {
    let length = 20 + (random.next() % 200) as usize;
    (0..length)
        .map(|_| {
            format!(
                "{}{}",
                WORDS[(random.next() % 16) as usize],
                random.next() % 50
            )
        })
        .collect()
}

/// Counts the document's words and adds it to the index under each of them;
/// returns how many distinct words it has.
#[cfg_attr(feature = "profiling", profiling_alloc::profile_job)]
fn index_document(doc: usize, text: &[String], index: &mut Index) -> usize {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in text {
        *counts.entry(word).or_default() += 1;
    }
    let distinct = counts.len();
    for word in counts.into_keys() {
        index.entry(word.to_owned()).or_default().push(doc);
    }
    distinct
}

fn main() {
    let documents = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let start = Instant::now();
    let (index, distinct) = build_index(documents, 0x9e37_79b9_7f4a_7c15);
    let postings: usize = index.values().map(Vec::len).sum();
    let elapsed = start.elapsed();
    println!(
        "indexed {documents} documents: {} words, {postings} postings, {distinct} distinct per-document words",
        index.len()
    );
    println!("elapsed_ms {:.3}", elapsed.as_secs_f64() * 1000.0);

    #[cfg(feature = "profiling")]
    print_profile();
}

/// The heap totals, then one line per job.
#[cfg(feature = "profiling")]
fn print_profile() {
    println!("{}", profiling_alloc::heap_stats());
    for job in profiling_alloc::job_stats() {
        let d = &job.duration;
        print!(
            "job {}: {} calls, p50 {:?}, p99 {:?}, max {:?}",
            job.name, job.calls, d.p50, d.p99, d.max
        );
        match job.allocations {
            Some(a) if a.measured_calls > 0 => println!(
                ", {} allocations and {} bytes per call, peak {} bytes",
                a.total_blocks / a.measured_calls,
                a.total_bytes / a.measured_calls,
                a.peak_bytes_max
            ),
            _ => println!(),
        }
    }
}
