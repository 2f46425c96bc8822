//! Equal blocks packed without gaps under `Sampling::Every`: the worst
//! layout for the live-block table's placement by address (see
//! `capture/sampling/live_blocks.rs`). Makes and frees `n` boxes of one
//! `u64` (32-byte chunks in glibc) three times and prints the last round.
//!
//! Usage: `boxes-every [n=500000]`.
use std::time::Instant;

use profiling_alloc::{ProfilingAllocator, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500_000);
    for round in 0..3 {
        let start = Instant::now();
        let boxes: Vec<Box<u64>> = (0..n).map(Box::new).collect();
        let made = start.elapsed();
        drop(boxes);
        if round == 2 {
            println!(
                "{n} boxes: made in {} ms, made and freed in {} ms",
                made.as_millis(),
                start.elapsed().as_millis()
            );
        }
    }
}
