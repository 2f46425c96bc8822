//! A report of a process that never sampled (sampling turned off): jobs and heap numbers, no
//! callsites, and an allocation flamegraph that says why it cannot be drawn.

use std::hint::black_box;

use profiling_alloc::{profile_job, Error, FlameKind, ProfilingAllocator, Report, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Off);

#[profile_job(name = "load_rows")]
fn load_rows(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|_| black_box(vec![7u8; 200])).collect()
}

#[test]
fn without_sampling_a_report_says_why_it_has_no_callsites() {
    let rows = load_rows(5);
    let report = Report::capture();
    assert!(report.heap.active);
    assert_eq!(report.settings.sampling, Sampling::Off);
    assert!(report.callsites.is_empty());
    assert!(report.heap.live_bytes >= 1000);
    let job = report.jobs.iter().find(|j| j.name == "load_rows").unwrap();
    assert_eq!(job.calls, 1);
    assert!(report.to_string().contains("sampling is off"));
    match report.flamegraph(FlameKind::AllocatedBytes, Vec::new()) {
        Err(Error::NoData { kind, reason }) => {
            assert_eq!(kind, FlameKind::AllocatedBytes);
            assert!(reason.contains("sampling is off"), "{reason}");
        }
        other => panic!("expected NoData, got {other:?}"),
    }
    drop(rows);
}
