//! The criterion measurements without `ProfilingAllocator` installed: every
//! reading would be 0, which builds with debug assertions refuse at the first
//! measurement, and release builds return.

use std::panic;

use criterion::measurement::Measurement;
use profiling_alloc::criterion::{AllocatedBytes, Allocations};

#[test]
fn readings_are_zero_or_refused() {
    let _warm_up = vec![0u8; 1000];
    if cfg!(debug_assertions) {
        for result in [
            panic::catch_unwind(|| AllocatedBytes.end(AllocatedBytes.start())),
            panic::catch_unwind(|| Allocations.end(Allocations.start())),
        ] {
            let payload = result.expect_err("a measurement without the allocator");
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or_default();
            assert!(
                message.starts_with("profiling-alloc: criterion measurement")
                    && message.contains("not installed"),
                "{message}"
            );
        }
    } else {
        let start = AllocatedBytes.start();
        let bytes = vec![0u8; 1000];
        assert_eq!(AllocatedBytes.end(start), 0);
        let start = Allocations.start();
        let more = vec![0u8; 1000];
        assert_eq!(Allocations.end(start), 0);
        drop((bytes, more));
    }
}
