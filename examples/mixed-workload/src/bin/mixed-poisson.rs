//! The mixed workload with `ProfilingAllocator` and Poisson sampling at
//! 512 KiB (jemalloc's and Go's default rate).
use profiling_alloc::{ProfilingAllocator, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::poisson());

fn main() {
    mixed_workload::main();
}
