//! The JSON and regex workload with every block's stack sampled, writing its
//! report and flamegraph-ready file as heaptrack writes its data file.
use profiling_alloc::{ProfilingAllocator, Report, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

fn main() {
    mixed_workload::json::main();
    let path = std::env::var("REPORT").unwrap_or_else(|_| "json-every.report.json".into());
    if let Err(error) = Report::capture().write_json(&path) {
        eprintln!("{error}");
        std::process::exit(1);
    }
}
