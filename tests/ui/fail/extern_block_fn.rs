// A function of an `extern` block is a declaration: there is no body to
// record.
use profiling_alloc::profile_job;

extern "C" {
    #[profile_job]
    fn abs(value: i32) -> i32;

    #[profile_job]
    pub fn labs(value: i64) -> i64;
}

unsafe extern "C" {
    #[profile_job]
    pub safe fn llabs(value: i64) -> i64;
}

fn main() {
    // SAFETY: `abs` and `labs` are C's, defined for every value but the least.
    let sum = unsafe { abs(-1) as i64 + labs(-2) };
    assert_eq!(sum + llabs(-3), 6);
}
