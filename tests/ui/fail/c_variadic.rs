use profiling_alloc::profile_job;

#[profile_job]
unsafe extern "C-unwind" fn log_values(count: i32, _args: ...) -> i32 {
    count
}

fn main() {}
