use profiling_alloc::profile_job;

#[profile_job]
extern "C" fn callback(x: i32) -> i32 {
    x + 1
}

fn main() {
    assert_eq!(callback(1), 2);
}
