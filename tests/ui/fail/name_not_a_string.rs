use profiling_alloc::profile_job;

#[profile_job(name = 5)]
fn ingest() {}

fn main() {
    ingest();
}
