use profiling_alloc::profile_job;

#[profile_job]
const fn answer() -> u32 {
    42
}

fn main() {
    assert_eq!(answer(), 42);
}
