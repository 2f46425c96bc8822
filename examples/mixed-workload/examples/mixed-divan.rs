//! The mixed workload under divan's `AllocProfiler` (counts and sizes per
//! thread, with their maxima): the comparison `scripts/instructions.sh`
//! counts instructions against. An example, so divan stays a dev-dependency.
#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    mixed_workload::main();
}
