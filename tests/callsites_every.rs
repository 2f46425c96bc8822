//! `Sampling::Every`: per-callsite numbers are exact, frames name the
//! allocating function, and live counts follow frees on other threads and
//! reallocs that move.

mod common;

use std::hint::black_box;

use profiling_alloc::{
    callsites, live_callsites, profile_job, Callsite, ProfilingAllocator, Sampling,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

#[inline(never)]
fn small_strings() -> Vec<Vec<u8>> {
    let mut kept = Vec::with_capacity(10);
    for _ in 0..10 {
        kept.push(black_box(Vec::<u8>::with_capacity(100)));
    }
    kept
}

#[inline(never)]
fn medium_buffers() -> Vec<u8> {
    black_box(Vec::with_capacity(5000))
}

#[inline(never)]
fn one_big_table() -> Vec<u8> {
    black_box(Vec::with_capacity(1 << 20))
}

/// The callsites whose first frame is in `function`, summed (one function
/// has a callsite per allocating line). Panics, listing all callsites, if
/// there is none.
fn site(sites: &[Callsite], function: &str) -> Callsite {
    let found: Vec<&Callsite> = sites
        .iter()
        .filter(|site| {
            site.frames
                .first()
                .is_some_and(|f| f.function.ends_with(function))
        })
        .collect();
    let Some(first) = found.first() else {
        let tops: Vec<String> = sites
            .iter()
            .map(|s| {
                s.frames
                    .iter()
                    .take(3)
                    .map(|f| f.function.as_str())
                    .collect::<Vec<_>>()
                    .join(" < ")
            })
            .collect();
        panic!(
            "no callsite starts in {function}; callsites:\n{}",
            tops.join("\n")
        );
    };
    let mut sum = (*first).clone();
    for other in &found[1..] {
        sum.samples += other.samples;
        sum.blocks += other.blocks;
        sum.bytes += other.bytes;
        sum.live_blocks += other.live_blocks;
        sum.live_bytes += other.live_bytes;
    }
    sum
}

#[profile_job(name = "leaky-job")]
fn leaky_job() -> Vec<u8> {
    black_box(Vec::with_capacity(777))
}

#[test]
fn main() {
    assert_eq!(profiling_alloc::sampling(), Sampling::Every);
    // CI also runs this file built with frame pointers and says which walk
    // the first capture (long done: every allocation samples) chose.
    if let Ok(expected) = std::env::var("PROFILING_EXPECT_UNWINDER") {
        assert_eq!(profiling_alloc::stack_unwinder(), expected);
    }
    let small = small_strings();
    let mut medium = medium_buffers();
    let big = one_big_table();

    let sites = callsites();
    // Ten 100-byte vectors, and the vector of ten (24-byte) vectors holding
    // them: two allocating lines, two callsites.
    let s = site(&sites, "small_strings");
    assert_eq!((s.blocks, s.bytes, s.samples), (11, 10 * 100 + 10 * 24, 11));
    let lines = sites
        .iter()
        .filter(|site| site.frames[0].function.ends_with("small_strings"))
        .count();
    assert_eq!(lines, 2);
    let m = site(&sites, "medium_buffers");
    assert_eq!(
        (m.blocks, m.bytes, m.live_blocks, m.live_bytes),
        (1, 5000, 1, 5000)
    );
    let b = site(&sites, "one_big_table");
    assert_eq!((b.blocks, b.bytes), (1, 1 << 20));
    assert_eq!(b.size_classes, vec![(1 << 20, 1)]);
    assert!(
        sites.windows(2).all(|w| w[0].bytes >= w[1].bytes),
        "sorted by bytes"
    );
    assert!(b.frames.iter().any(|f| f
        .file
        .as_deref()
        .is_some_and(|file| file.ends_with("callsites_every.rs"))));

    // Freed on another thread: the callsite's live counts drop to zero.
    std::thread::spawn(move || drop(small))
        .join()
        .expect("thread");
    // A realloc that moves: the old block leaves `medium_buffers`.
    medium.reserve_exact(1 << 21);
    let sites = callsites();
    let s = site(&sites, "small_strings");
    assert_eq!((s.live_blocks, s.live_bytes), (0, 0));
    let m = site(&sites, "medium_buffers");
    assert_eq!((m.blocks, m.live_blocks, m.live_bytes), (1, 0, 0));

    // The leak view: what is alive now, by callsite, including what a job
    // left behind.
    let kept_by_job = leaky_job();
    let live = live_callsites();
    let big_live = site(&live, "one_big_table");
    assert_eq!(big_live.live_bytes, 1 << 20);
    let job_site = live
        .iter()
        .find(|s| s.job_path == ["leaky-job"])
        .expect("job's callsite");
    assert_eq!((job_site.live_blocks, job_site.live_bytes), (1, 777));
    assert!(
        job_site.frames[0].function.contains("leaky_job"),
        "{:?}",
        job_site.frames[0]
    );
    assert_eq!(profiling_alloc::dropped_samples(), 0);

    // Reading callsites leaves the heap as it found it: what it returns is
    // the caller's, its tables and symbol caches are the profiler's own.
    drop(callsites());
    let before = profiling_alloc::heap_stats();
    let ((), delta) = profiling_alloc::measure(|| drop(callsites()));
    let after = profiling_alloc::heap_stats();
    assert_eq!(delta.net_bytes, 0, "{delta}");
    assert_eq!(
        (after.live_bytes, after.live_blocks),
        (before.live_bytes, before.live_blocks)
    );

    // A report's own allocations are counted but not sampled: reading
    // callsites, capturing a report and drawing a flamegraph add no sample.
    let samples = |sites: &[Callsite]| sites.iter().map(|s| s.samples).sum::<u64>();
    let first = samples(&callsites());
    let report = profiling_alloc::Report::capture();
    let mut svg = Vec::new();
    report
        .flamegraph(profiling_alloc::FlameKind::AllocatedBytes, &mut svg)
        .unwrap();
    drop((report, svg));
    assert_eq!(samples(&callsites()), first);
    drop((big, medium, kept_by_job));
}
