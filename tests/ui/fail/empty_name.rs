use profiling_alloc::profile_job;

#[profile_job(name = "  ")]
fn ingest() {}

fn main() {
    ingest();
}
