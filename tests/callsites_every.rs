//! `Sampling::Every`: per-callsite numbers are exact, frames name the
//! allocating function, and live counts follow frees on other threads and
//! reallocs that move.
//!
//! Without the test harness (`harness = false`): some checks compare the
//! whole process's heap before and after reading callsites.

mod common;

use std::hint::black_box;

use profiling_alloc::{
    callsites, callsites::live_callsites, profile_job, Callsite, ProfilingAllocator, Sampling,
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
        sum.total_blocks += other.total_blocks;
        sum.total_bytes += other.total_bytes;
        sum.live_blocks += other.live_blocks;
        sum.live_bytes += other.live_bytes;
    }
    sum
}

#[profile_job(name = "leaky-job")]
fn leaky_job() -> Vec<u8> {
    black_box(Vec::with_capacity(777))
}

fn main() {
    common::quiet::run(
        "callsites_every",
        &[
            ("the_walk_ci_expects", the_walk_ci_expects),
            (
                "counts_per_callsite_are_exact",
                counts_per_callsite_are_exact,
            ),
            (
                "frees_and_moves_leave_the_live_counts",
                frees_and_moves_leave_the_live_counts,
            ),
            (
                "the_leak_view_shows_a_jobs_blocks",
                the_leak_view_shows_a_jobs_blocks,
            ),
            (
                "reading_leaves_the_heap_as_it_was",
                reading_leaves_the_heap_as_it_was,
            ),
            ("readers_are_never_sampled", readers_are_never_sampled),
        ],
    );
}

/// CI also runs this file built with frame pointers and says which walk the
/// first capture (long done: every allocation samples) chose.
fn the_walk_ci_expects() {
    assert_eq!(profiling_alloc::callsites::sampling(), Sampling::Every);
    if let Ok(expected) = std::env::var("PROFILING_EXPECT_UNWINDER") {
        assert_eq!(
            profiling_alloc::callsites::stack_unwinder().name(),
            expected
        );
    }
}

fn counts_per_callsite_are_exact() {
    let small = small_strings();
    let medium = medium_buffers();
    let big = one_big_table();
    let sites = callsites();
    // Ten 100-byte vectors, and the vector of ten (24-byte) vectors holding
    // them: two allocating lines, two callsites.
    let s = site(&sites, "small_strings");
    assert_eq!(
        (s.total_blocks, s.total_bytes, s.samples),
        (11.0, (10 * 100 + 10 * 24) as f64, 11)
    );
    let lines = sites
        .iter()
        .filter(|site| site.frames[0].function.ends_with("small_strings"))
        .count();
    assert_eq!(lines, 2);
    let m = site(&sites, "medium_buffers");
    assert_eq!(
        (m.total_blocks, m.total_bytes, m.live_blocks, m.live_bytes),
        (1.0, 5000.0, 1.0, 5000.0)
    );
    let b = site(&sites, "one_big_table");
    assert_eq!((b.total_blocks, b.total_bytes), (1.0, (1 << 20) as f64));
    assert_eq!(b.size_classes, vec![(1 << 20, 1.0)]);
    assert!(
        sites
            .windows(2)
            .all(|w| w[0].total_bytes >= w[1].total_bytes),
        "sorted by bytes"
    );
    assert!(b.frames.iter().any(|f| f
        .file
        .as_deref()
        .is_some_and(|file| file.ends_with("callsites_every.rs"))));
    drop((small, medium, big));
}

/// Freed on another thread: the callsite's live counts drop to zero. A
/// realloc that moves: the old block leaves its callsite.
fn frees_and_moves_leave_the_live_counts() {
    let small = small_strings();
    let mut medium = medium_buffers();
    let before = callsites();
    std::thread::spawn(move || drop(small))
        .join()
        .expect("thread");
    medium.reserve_exact(1 << 21);
    let sites = callsites();
    let s = site(&sites, "small_strings");
    assert_eq!((s.live_blocks, s.live_bytes), (0.0, 0.0));
    let m = site(&sites, "medium_buffers");
    let m_before = site(&before, "medium_buffers");
    assert_eq!(m.total_blocks, m_before.total_blocks);
    assert_eq!(m_before.live_blocks - m.live_blocks, 1.0);
    drop(medium);
}

/// The leak view: what is alive now, by callsite, including what a job left
/// behind.
fn the_leak_view_shows_a_jobs_blocks() {
    let big = one_big_table();
    let kept_by_job = leaky_job();
    let live = live_callsites();
    let big_live = site(&live, "one_big_table");
    assert_eq!(big_live.live_bytes, (1 << 20) as f64);
    let job_site = live
        .iter()
        .find(|s| s.job_path == ["leaky-job"])
        .expect("job's callsite");
    assert_eq!((job_site.live_blocks, job_site.live_bytes), (1.0, 777.0));
    assert!(
        job_site.frames[0].function.contains("leaky_job"),
        "{:?}",
        job_site.frames[0]
    );
    assert_eq!(profiling_alloc::callsites::dropped_samples(), 0);
    drop((big, kept_by_job));
}

/// Reading callsites leaves the heap as it found it: what it returns is the
/// caller's, its tables and symbol caches are the profiler's own.
fn reading_leaves_the_heap_as_it_was() {
    drop(callsites());
    let before = profiling_alloc::heap_stats();
    let ((), delta) = profiling_alloc::measure(|| drop(callsites()));
    let after = profiling_alloc::heap_stats();
    assert_eq!(delta.live_bytes, 0, "{delta}");
    assert_eq!(
        (after.live_bytes, after.live_blocks),
        (before.live_bytes, before.live_blocks)
    );
}

/// A report's own allocations are counted but not sampled: reading
/// callsites, capturing a report and drawing a flamegraph add no sample.
fn readers_are_never_sampled() {
    let samples = |sites: &[Callsite]| sites.iter().map(|s| s.samples).sum::<u64>();
    let first = samples(&callsites());
    let report = profiling_alloc::Report::capture();
    let mut svg = Vec::new();
    report
        .flamegraph(profiling_alloc::FlameKind::AllocatedBytes, &mut svg)
        .unwrap();
    drop((report, svg));
    assert_eq!(samples(&callsites()), first);
}
