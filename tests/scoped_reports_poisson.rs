//! A scope under the default mode (Poisson sampling at 512 KiB): the
//! closure's blocks are still every one sampled, weighed as one block each,
//! and the mode other threads see is unchanged.

use std::hint::black_box;

use profiling_alloc::{callsites::sampling, Callsite, ProfilingAllocator, Report, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

#[inline(never)]
fn small_strings(n: usize) -> Vec<String> {
    (0..n).map(|i| black_box(i.to_string())).collect()
}

fn sum(sites: &[Callsite], count: impl Fn(&Callsite) -> f64) -> f64 {
    sites.iter().map(count).sum()
}

#[test]
fn a_scope_is_exact_under_poisson_sampling() {
    assert_eq!(sampling(), Sampling::poisson());
    let (strings, report) = Report::capture_of(|| small_strings(black_box(300)));
    assert_eq!(sampling(), Sampling::poisson());
    let scope = report.scope.as_ref().expect("scoped");
    // 300 small Strings and the Vec: at 512 KiB, Poisson sampling would
    // see almost none of them; the scope sees each, weighed as one.
    assert_eq!(scope.allocations.total_blocks, 301);
    assert_eq!(sum(&report.callsites, |s| s.total_blocks), 301.0);
    assert_eq!(sum(&report.callsites, |s| s.samples as f64), 301.0);
    assert_eq!(
        sum(&report.callsites, |s| s.total_bytes),
        scope.allocations.total_bytes as f64
    );
    drop(strings);
}
