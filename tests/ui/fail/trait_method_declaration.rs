// A trait method without a body has nothing to record: the error says to
// annotate the method of each impl instead.
use profiling_alloc::profile_job;

trait Store {
    #[profile_job]
    fn load(&self, key: &str) -> Option<String>;

    #[profile_job(name = "store-open")]
    fn open() -> Self;
}

struct Memory;

impl Store for Memory {
    fn load(&self, _key: &str) -> Option<String> {
        None
    }

    fn open() -> Self {
        Memory
    }
}

fn main() {
    assert!(Memory::open().load("key").is_none());
}
