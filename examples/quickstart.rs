//! The README's quick start: install the allocator, print heap statistics.
//!
//! `cargo run --example quickstart`

#[global_allocator]
static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();

fn main() {
    let data: Vec<u64> = (0..1000).collect();
    println!("{}", profiling_alloc::heap_stats());

    let (sum, delta) = profiling_alloc::measure(|| {
        let words: Vec<String> = data.iter().map(|n| n.to_string()).collect();
        words.iter().map(String::len).sum::<usize>()
    });
    println!("digits: {sum}");
    println!("{delta}");
}
