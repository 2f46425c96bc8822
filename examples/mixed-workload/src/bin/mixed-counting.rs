//! The mixed workload with `ProfilingAllocator` counting, sampling off.
use profiling_alloc::{ProfilingAllocator, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Off);

fn main() {
    mixed_workload::main();
}
