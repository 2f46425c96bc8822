//! Without the profiling allocator, a job profile takes its peak memory from
//! the process's max RSS and says so, and allocation counts are `None`.

use std::hint::black_box;

use profiling_alloc::{MemorySource, ProfileRunner, ResourceLimits, Violation};

#[test]
fn peak_memory_falls_back_to_max_rss() {
    let profile = ProfileRunner::new("no allocator")
        .sample_size(3)
        .run(|| drop(black_box(vec![0u8; 1 << 20])))
        .unwrap();
    assert_eq!(profile.total_blocks_per_run, None);
    assert_eq!(profile.total_bytes_per_run, None);
    let peak = profile.peak_memory.expect("getrusage on this platform");
    assert_eq!(peak.source, MemorySource::ProcessMaxRss);
    assert_eq!(Some(peak.bytes), profile.max_rss_bytes);
    assert!(profile.to_string().contains("max RSS"), "{profile}");

    // A memory limit below the process's RSS is reported against that RSS.
    let limits = ResourceLimits::new("1 KiB", None, Some(1024));
    let exceeded = profile.fits(&limits).unwrap_err();
    assert!(matches!(
        exceeded.violations.as_slice(),
        [Violation::Memory {
            source: MemorySource::ProcessMaxRss,
            ..
        }]
    ));
}
