// A body that does not parse is left as written: rustc reports its syntax
// error once, where it is, and nothing about the attribute.
use profiling_alloc::profile_job;

#[profile_job]
fn count(values: &[u32]) -> usize {
    let total = ;
    values.len()
}

trait Store {
    #[profile_job]
    fn load(&self) -> u32 {
        1 +
    }
}

fn main() {
    assert_eq!(count(&[1]), 1);
}
