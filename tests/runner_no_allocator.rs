//! Without the profiling allocator, a job profile has no heap numbers and
//! takes the job's memory need from the growth of the resident set, where
//! the kernel gives it per run (Linux).

use std::hint::black_box;

use profiling_alloc::{runner::ResourceLimits, runner::Violation, ProfileRunner};

#[test]
fn the_need_falls_back_to_resident_growth() {
    let profile = ProfileRunner::new("no allocator")
        .sample_size(3)
        .run(|| {
            // 8 MiB touched page by page: resident while the run lasts.
            let mut buffer = black_box(vec![0u8; 8 << 20]);
            for page in buffer.chunks_mut(4096) {
                page[0] = 1;
            }
            black_box(&buffer);
        })
        .unwrap();
    assert_eq!(profile.heap, None, "nothing counted without the allocator");
    assert!(profile.to_string().contains("not counted"), "{profile}");
    if cfg!(target_os = "linux") {
        let need = profile.memory_need.expect("resident growth per run");
        assert_eq!(need.heap_peak_bytes, None);
        // The first run at least made the 8 MiB resident.
        assert!(need.bytes >= 7 << 20, "{need:?}");
        let limits = ResourceLimits::new("1 KiB", None, Some(1024));
        let exceeded = profile.fits(&limits).unwrap_err();
        assert!(matches!(
            exceeded.violations.as_slice(),
            [Violation::Memory { .. }]
        ));
    }
}
