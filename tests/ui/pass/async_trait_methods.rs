// `#[profile_job]` on methods that `#[async_trait]` rewrote into
// `Box::pin(async move ..)`, compiled under `deny(warnings)` and run.
#![deny(warnings)]

mod common;

use async_trait::async_trait;
use profiling_alloc::profile_job;

#[async_trait]
trait Source {
    async fn fetch(&self, key: &str) -> usize;
    async fn fetch_checked(&self, key: &str) -> Result<usize, String>;
    async fn clear(&mut self);
}

struct Memory {
    entries: Vec<String>,
}

#[async_trait]
impl Source for Memory {
    #[profile_job]
    async fn fetch(&self, key: &str) -> usize { self.entries.iter().filter(|e| *e == key).count() }

    #[profile_job(name = "fetch-checked")]
    async fn fetch_checked(&self, key: &str) -> Result<usize, String> {
        if key.is_empty() {
            return Err("empty key".to_string());
        }
        let found = self.fetch(key).await;
        Ok(found)
    }

    #[profile_job]
    async fn clear(&mut self) { self.entries.clear() }
}

fn main() {
    let mut memory = Memory { entries: vec!["a".to_string(), "b".to_string(), "a".to_string()] };
    common::block_on(async {
        assert_eq!(memory.fetch("a").await, 2);
        assert_eq!(memory.fetch_checked("b").await, Ok(1));
        assert!(memory.fetch_checked("").await.is_err());
        memory.clear().await;
        assert_eq!(memory.fetch("a").await, 0);
    });

    common::assert_jobs(&[("fetch", 3), ("fetch-checked", 2), ("clear", 1)]);
    let jobs = profiling_alloc::job_stats();
    let checked = jobs.iter().find(|job| job.name == "fetch-checked").unwrap();
    assert_eq!(checked.errors, 1);
}
