use profiling_alloc::profile_job;

#[profile_job(crate = profiling_alloc, crate = profiling_alloc)]
fn ingest() {}

fn main() {
    ingest();
}
