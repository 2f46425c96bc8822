use profiling_alloc::profile_job;

#[profile_job(name = "a", name = "b")]
fn ingest() {}

fn main() {
    ingest();
}
