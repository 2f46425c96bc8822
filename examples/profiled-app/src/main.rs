//! A word-index builder, allocation-heavy on purpose (many small strings, maps
//! and vectors), built with or without the profiling allocator:
//!
//! ```text
//! cargo run --release -p profiled-app                       # System allocator
//! cargo run --release -p profiled-app --features profiling  # counted
//! ```
//!
//! It prints how long the work took, so the two builds can be compared end to
//! end (`scripts/bench-whole-program.sh`), and, when profiling, the heap
//! statistics.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

// The whole pattern: these three lines, and the feature in Cargo.toml.
#[cfg(feature = "profiling")]
#[global_allocator]
static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();

const WORDS: [&str; 16] = [
    "alloc", "block", "heap", "peak", "live", "bytes", "thread", "slot", "free", "grow", "shrink",
    "count", "trace", "stack", "frame", "job",
];

/// Builds `documents` documents of generated text and indexes them: word →
/// document ids, plus per-document word counts.
fn build_index(documents: usize, seed: u64) -> (BTreeMap<String, Vec<usize>>, usize) {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut index: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut distinct = 0;
    for doc in 0..documents {
        let length = 20 + (next() % 200) as usize;
        let text: Vec<String> = (0..length)
            .map(|_| format!("{}{}", WORDS[(next() % 16) as usize], next() % 50))
            .collect();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for word in &text {
            *counts.entry(word).or_default() += 1;
        }
        distinct += counts.len();
        for word in counts.into_keys() {
            index.entry(word.to_owned()).or_default().push(doc);
        }
    }
    (index, distinct)
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
    println!("{}", profiling_alloc::heap_stats());
}
