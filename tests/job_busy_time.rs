//! Busy time per job path, and the job-time flamegraph drawn from it: a
//! parent whose children run at once is never narrower than they are.
//!
//! Children polled concurrently inside their parent's polls overlap in wall
//! time (their wall times add up past the parent's), but not in busy time:
//! a path's self busy time plus its children's busy time is its own busy
//! time, to the nanosecond, whatever the timing. These tests assert that
//! structure, never a duration.

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;

use common::{block_on, yield_once};
use profiling_alloc::{
    jobs::job_paths, jobs::JobPathStats, profile_job, FlameKind, ProfilingAllocator, Report,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

/// Some work worth timing.
fn work(rounds: u64) -> u64 {
    (0..rounds).fold(0u64, |acc, i| {
        black_box(acc.wrapping_mul(31).wrapping_add(i))
    })
}

#[profile_job(name = "busy-fetch")]
async fn fetch(id: u64) -> u64 {
    let mut sum = 0;
    for round in 0..5 {
        sum ^= work(2_000 + id * round);
        // Pending once: the other children run meanwhile.
        tokio::task::yield_now().await;
    }
    sum
}

#[profile_job(name = "busy-gather")]
async fn gather() -> u64 {
    let (a, b, c, d) = tokio::join!(fetch(1), fetch(2), fetch(3), fetch(4));
    a.wrapping_add(b).wrapping_add(c).wrapping_add(d) ^ work(1_000)
}

#[profile_job(name = "busy-child")]
fn child(rounds: u64) -> u64 {
    work(rounds)
}

#[profile_job(name = "busy-parent")]
fn parent() -> u64 {
    let nested = (1..=3).fold(0u64, |sum, i| sum.wrapping_add(child(1_000 * i)));
    // The same job on other threads: their own roots, not this job's
    // children (a thread does not inherit its spawner's job path).
    let spawned = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=3)
            .map(|i| scope.spawn(move || child(500 * i)))
            .collect();
        handles
            .into_iter()
            .fold(0u64, |sum, h| sum.wrapping_add(h.join().unwrap()))
    });
    nested.wrapping_add(spawned)
}

#[profile_job(name = "busy-panics")]
async fn panics_in_a_poll() {
    yield_once().await;
    work(500);
    panic!("busy-panics: on purpose");
}

fn path<'a>(paths: &'a [JobPathStats], names: &[&str]) -> &'a JobPathStats {
    paths
        .iter()
        .find(|p| p.path == names)
        .unwrap_or_else(|| panic!("no path {names:?} in {paths:#?}"))
}

/// The job-time folded lines of the report: stack → count.
fn job_time_lines() -> BTreeMap<String, u64> {
    Report::capture()
        .folded(FlameKind::JobTime)
        .iter()
        .map(|line| {
            let (stack, count) = line.rsplit_once(' ').expect("stack and count");
            (stack.to_string(), count.parse().expect("a count"))
        })
        .collect()
}

/// What a flamegraph draws for `stack`: its own line plus its descendants'.
fn drawn(lines: &BTreeMap<String, u64>, stack: &str) -> u64 {
    let below = format!("{stack};");
    lines
        .iter()
        .filter(|(s, _)| *s == stack || s.starts_with(&below))
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn concurrent_children_fit_inside_their_parents_busy_time() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    // A task of its own: its polls may run on either worker.
    let value = runtime.block_on(runtime.spawn(gather())).unwrap();
    black_box(value);

    let paths = job_paths();
    let gather = path(&paths, &["busy-gather"]);
    let fetch = path(&paths, &["busy-gather", "busy-fetch"]);
    assert_eq!((gather.calls, fetch.calls), (1, 4));
    // Every child poll ran inside one of the parent's polls, on its thread.
    assert_eq!(gather.self_busy + fetch.busy, gather.busy, "{paths:#?}");
    assert_eq!(fetch.self_busy, fetch.busy, "no job inside fetch");
    // Busy time is time inside the polls, within the calls' wall time.
    assert!(gather.busy <= gather.total && fetch.busy <= fetch.total);

    let lines = job_time_lines();
    // What is drawn is the self busy time of each path, in µs.
    for p in [gather, fetch] {
        let stack = p.path.join(";");
        let expected = u64::try_from(p.self_busy.as_micros()).unwrap();
        assert_eq!(lines.get(&stack).copied().unwrap_or(0), expected, "{stack}");
    }
    // So no path is drawn wider than its busy time, and children never
    // wider than their parent.
    let parent = drawn(&lines, "busy-gather");
    let children = drawn(&lines, "busy-gather;busy-fetch");
    assert!(children <= parent, "{lines:?}");
    assert!(parent as u128 <= gather.busy.as_micros(), "{lines:?}");
}

#[test]
fn a_sync_job_is_busy_for_its_whole_duration_less_its_nested_jobs() {
    black_box(parent());
    let paths = job_paths();
    let parent = path(&paths, &["busy-parent"]);
    let nested = path(&paths, &["busy-parent", "busy-child"]);
    let spawned = path(&paths, &["busy-child"]);
    assert_eq!((parent.calls, nested.calls, spawned.calls), (1, 3, 3));
    for p in [parent, nested, spawned] {
        assert_eq!(p.busy, p.total, "sync: busy is the duration: {p:?}");
    }
    // The threads' calls are not nested on the parent's thread: only the
    // three direct calls come off its self time.
    assert_eq!(parent.self_busy + nested.busy, parent.busy);
    assert_eq!(spawned.self_busy, spawned.busy);

    let lines = job_time_lines();
    assert!(drawn(&lines, "busy-parent;busy-child") <= drawn(&lines, "busy-parent"));
    assert_eq!(
        lines.get("busy-parent").copied().unwrap_or(0) as u128,
        parent.self_busy.as_micros()
    );
}

#[test]
fn a_poll_that_panics_still_counts_and_leaves_its_caller_right() {
    let caught = profiling_alloc::jobs::job("busy-catcher", || {
        std::panic::catch_unwind(|| block_on(panics_in_a_poll())).is_err()
    });
    assert!(caught);
    let paths = job_paths();
    let catcher = path(&paths, &["busy-catcher"]);
    let panicked = path(&paths, &["busy-catcher", "busy-panics"]);
    assert_eq!(panicked.calls, 1);
    assert!(!panicked.busy.is_zero(), "both polls counted");
    assert_eq!(catcher.self_busy + panicked.busy, catcher.busy);
}
