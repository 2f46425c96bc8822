//! The profiler's own state is never one of the program's callsites: what
//! CPU profiling, the first sample, the first report and the endpoint's
//! start build for themselves is the profiler's memory. (The showcase's
//! report once listed `framehop::cache::Cache::new`, the stack walker's
//! rule caches built when CPU profiling starts, under `showcase::main`.)

use std::hint::black_box;

use profiling_alloc::{ProfilingAllocator, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

#[inline(never)]
fn the_programs_own() -> Vec<u8> {
    vec![7; 4096]
}

#[test]
fn building_profiler_state_adds_no_callsite() {
    let kept = black_box(the_programs_own()); // the first sample
    let profiling = profiling_alloc::cpu::start(100);
    let busy: u64 = (0..2_000_000u64).map(black_box).sum();
    if let Ok(profiling) = profiling {
        black_box(profiling.stop());
    }
    let report = profiling_alloc::Report::capture(); // the first report
    black_box(report.to_string());
    let endpoint = profiling_alloc::server::Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .start()
        .unwrap();
    drop(endpoint);
    let sites = profiling_alloc::callsites();
    assert!(
        sites.iter().any(|site| site
            .frames
            .iter()
            .any(|f| f.function.ends_with("the_programs_own"))),
        "the program's own allocation is a callsite"
    );
    for site in &sites {
        let profilers = site.frames.iter().find(|f| {
            f.function.contains("framehop") || f.function.starts_with("profiling_alloc::")
        });
        assert!(
            profilers.is_none(),
            "a profiler's allocation among the program's callsites: {:?}",
            site.frames.iter().map(|f| &f.function).collect::<Vec<_>>()
        );
    }
    drop(kept);
    black_box(busy);
}
