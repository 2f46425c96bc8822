// Attributes on the function are kept: `#[must_use]` still warns.
#![deny(unused_must_use)]

use profiling_alloc::profile_job;

#[profile_job]
#[must_use = "the total is the point"]
fn total(values: &[u32]) -> u32 {
    values.iter().sum()
}

fn main() {
    total(&[1, 2]);
}
