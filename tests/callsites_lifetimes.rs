//! Lifetimes of sampled blocks and the findings built on them, under
//! `Sampling::Every` (every block sampled, so the counts are exact): blocks
//! dropped at once and blocks kept across a sleep land in the lifetime
//! classes they must, blocks ended by a realloc are counted, and the
//! report's findings name the wasteful callsites with their numbers.

use std::hint::black_box;
use std::time::Duration;

use profiling_alloc::{
    analysis::FindingKind, callsites, callsites::LIFETIME_CLASS_BOUNDS_NS, Callsite,
    ProfilingAllocator, Report, Sampling,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

#[inline(never)]
fn temporary_strings() {
    for i in 0..2_000u32 {
        let text = black_box(format!("line {i}"));
        drop(text);
    }
}

#[inline(never)]
fn kept_across_a_sleep() {
    let kept: Vec<Box<[u8; 64]>> = (0..50).map(|_| black_box(Box::new([0u8; 64]))).collect();
    std::thread::sleep(Duration::from_millis(20));
    drop(kept);
}

#[inline(never)]
fn grown_by_push() -> usize {
    let mut total = 0;
    for _ in 0..50 {
        let mut grown = Vec::new();
        for i in 0..4_096u32 {
            grown.push(black_box(i));
        }
        total += grown.len();
    }
    total
}

/// The callsite whose stack holds `function` (summed over its lines).
fn site_of(sites: &[Callsite], function: &str) -> Callsite {
    let mut found = sites.iter().filter(|s| {
        s.frames
            .iter()
            .take(3)
            .any(|f| f.function.ends_with(function))
    });
    let mut site = found
        .next()
        .unwrap_or_else(|| panic!("no callsite in {function}"))
        .clone();
    for other in found {
        site.total_blocks += other.total_blocks;
        site.reallocated_blocks += other.reallocated_blocks;
        for (sum, n) in site.lifetimes.iter_mut().zip(&other.lifetimes) {
            *sum += n;
        }
    }
    site
}

/// Freed blocks at least `nanos` old.
fn lived_at_least(site: &Callsite, nanos: u64) -> f64 {
    let first = LIFETIME_CLASS_BOUNDS_NS
        .iter()
        .position(|&bound| bound > nanos)
        .unwrap_or(LIFETIME_CLASS_BOUNDS_NS.len());
    site.lifetimes.iter().skip(first).sum()
}

#[test]
fn lifetimes_add_up_to_the_freed_blocks_and_class_them() {
    temporary_strings();
    kept_across_a_sleep();
    let sites = callsites();

    let temporary = site_of(&sites, "temporary_strings");
    assert_eq!(temporary.freed_blocks(), 2_000.0, "{temporary:?}");
    assert_eq!(
        temporary.lifetimes.len(),
        LIFETIME_CLASS_BOUNDS_NS.len() + 1
    );
    // Dropped at once: all but a preempted few lived under 10 ms.
    assert!(
        lived_at_least(&temporary, 10_000_000) < 100.0,
        "{:?}",
        temporary.lifetimes
    );

    // 50 boxes and the Vec that holds them.
    let kept = site_of(&sites, "kept_across_a_sleep");
    assert_eq!(kept.freed_blocks(), 51.0, "{kept:?}");
    // Kept across a 20 ms sleep: every one lived at least 10 ms (a sleep is
    // never shorter than asked).
    assert_eq!(
        lived_at_least(&kept, 10_000_000),
        51.0,
        "{:?}",
        kept.lifetimes
    );
    assert_eq!(kept.temporary_share(), Some(0.0));
}

#[test]
fn blocks_ended_by_a_realloc_are_counted_and_found() {
    assert_eq!(black_box(grown_by_push()), 50 * 4_096);
    let report = Report::capture();
    let grown = site_of(&report.callsites, "grown_by_push");
    // Each Vec doubles from 4 to 4,096 elements: 10 reallocs, then a free.
    assert_eq!(grown.reallocated_blocks, 50.0 * 10.0, "{grown:?}");
    assert_eq!(grown.freed_blocks(), 50.0 * 11.0, "{grown:?}");
    let finding = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::ReallocGrowth && f.frames == grown.frames)
        .unwrap_or_else(|| panic!("no realloc finding in {:#?}", report.findings));
    assert!(
        finding
            .message
            .contains("91% of its blocks (500) ended in a realloc"),
        "{}",
        finding.message
    );
    assert!(
        report.to_string().contains("Findings"),
        "the summary lists them"
    );
}
