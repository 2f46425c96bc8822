//! Sync functions that return a future are profiled as the future they
//! return: `-> impl Future` written with an `async` block, `Box::pin(async ..)`,
//! and methods rewritten by `#[async_trait]`.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use profiling_alloc::{job_stats, profile_job, ProfilingAllocator};

mod common;

use common::{block_on, job as stats};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

#[profile_job(name = "impl-future")]
fn impl_future(size: usize) -> impl Future<Output = (usize, String)> {
    // Built when the function is called, before the job (the future) runs.
    let label = String::from("built before");
    async move {
        common::yield_once().await;
        (vec![0u8; size].len(), label)
    }
}

#[profile_job(name = "boxed-future")]
fn boxed_future(fail: bool) -> Pin<Box<dyn Future<Output = Result<u8, String>> + Send>> {
    Box::pin(async move {
        common::yield_once().await;
        if fail {
            Err("failed".to_string())
        } else {
            Ok(1)
        }
    })
}

#[async_trait]
trait Store {
    async fn load(&self, key: &str) -> Result<Vec<u8>, String>;
}

struct Memory;

#[async_trait]
impl Store for Memory {
    #[profile_job(name = "store-load")]
    async fn load(&self, key: &str) -> Result<Vec<u8>, String> {
        common::yield_once().await;
        if key.is_empty() {
            return Err("empty key".to_string());
        }
        Ok(vec![0u8; 256])
    }
}

#[test]
fn impl_future_is_the_job() {
    let future = impl_future(100);
    // Building the future records nothing; the job runs when it is polled.
    assert!(job_stats()
        .iter()
        .all(|job| job.name != "impl-future" || job.calls == 0));
    assert_eq!(block_on(future), (100, "built before".to_string()));
    let job = stats("impl-future");
    assert_eq!(job.calls, 1);
    let alloc = job.allocations.expect("allocator installed");
    assert_eq!(
        alloc.total_bytes, 100,
        "the buffer, not the label built outside"
    );
}

#[test]
fn boxed_futures_count_errors() {
    assert_eq!(block_on(boxed_future(false)), Ok(1));
    assert!(block_on(boxed_future(true)).is_err());
    let job = stats("boxed-future");
    assert_eq!((job.calls, job.errors), (2, 1));
}

#[test]
fn async_trait_methods() {
    let store = Memory;
    assert_eq!(block_on(store.load("k")).map(|v| v.len()), Ok(256));
    assert!(block_on(store.load("")).is_err());
    let job = stats("store-load");
    assert_eq!((job.calls, job.errors), (2, 1));
    let alloc = job.allocations.expect("allocator installed");
    assert_eq!(alloc.total_bytes_max, 256);
}
