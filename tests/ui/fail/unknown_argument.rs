use profiling_alloc::profile_job;

#[profile_job(nme = "ingest")]
fn ingest() {}

fn main() {
    ingest();
}
