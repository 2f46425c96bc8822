// Type errors in the body point at the user's code, not at the expansion.
use profiling_alloc::profile_job;

#[profile_job]
fn count() -> u32 {
    "not a number"
}

#[profile_job]
fn parse() -> Result<u32, String> {
    Ok("not a number")
}

#[profile_job]
async fn fetch() -> usize {
    "not a number"
}

fn main() {
    let _ = (count(), parse(), fetch());
}
