//! `#[profile_job]` on sync functions of every supported shape: calls,
//! errors, panics and exact allocation deltas in the registry.

use std::hint::black_box;

mod common;

use common::job as stats;
use profiling_alloc::{profile_job, ProfilingAllocator};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

/// The line of `keeps_a_kilobyte`'s name, which the job reports.
const KEEPS_A_KILOBYTE_LINE: u32 = line!() + 2;
#[profile_job]
fn keeps_a_kilobyte() -> Vec<u8> {
    let scratch = black_box(vec![1u8; 4096]);
    drop(scratch);
    Vec::with_capacity(1000)
}

#[test]
fn free_fn_default_name_and_exact_allocations() {
    for _ in 0..3 {
        drop(keeps_a_kilobyte());
    }
    let job = stats(concat!(module_path!(), "::keeps_a_kilobyte"));
    assert_eq!(job.calls, 3);
    assert_eq!((job.errors, job.panics, job.cancelled), (0, 0, 0));
    assert_eq!(job.module_path, module_path!());
    assert!(job.file.ends_with("job_sync.rs"), "{}", job.file);
    assert_eq!(job.line, KEEPS_A_KILOBYTE_LINE);
    let alloc = job.allocations.expect("allocator installed");
    assert_eq!(alloc.measured_calls, 3);
    assert_eq!(alloc.total_blocks, 6);
    assert_eq!(alloc.total_blocks_max, 2);
    assert_eq!(alloc.total_bytes, 3 * 5096);
    assert_eq!(alloc.total_bytes_max, 5096);
    assert_eq!(alloc.freed_bytes, 3 * 4096);
    assert_eq!(alloc.live_bytes, 3000);
    assert_eq!(alloc.live_bytes_max, 1000);
    assert_eq!(
        alloc.peak_bytes_max, 4096,
        "scratch is freed before the kept Vec is made"
    );
    assert!(job.duration.max >= job.duration.p50);
    assert!(job.duration.total >= job.duration.max);
}

#[derive(Debug, PartialEq)]
struct ParseError(String);

#[profile_job(name = "parse-number")]
fn parse_number(text: &str) -> Result<u64, ParseError> {
    if text.is_empty() {
        return Err(ParseError("empty".to_string()));
    }
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let value = digits
        .parse::<u64>()
        .map_err(|e| ParseError(e.to_string()))?;
    Ok(value)
}

#[test]
fn result_errors_early_return_and_question_mark() {
    assert_eq!(parse_number("4 2"), Ok(42));
    assert_eq!(parse_number(""), Err(ParseError("empty".to_string()))); // early return
    assert!(parse_number("x").is_err()); // `?`
    let job = stats("parse-number");
    assert_eq!(job.calls, 3);
    assert_eq!(job.errors, 2);
    assert_eq!(job.panics, 0);
}

#[profile_job]
fn explodes(fuse: bool) -> usize {
    let held = black_box(vec![0u8; 300]);
    if fuse {
        panic!("boom");
    }
    held.len()
}

#[test]
fn panics_are_recorded() {
    assert_eq!(explodes(false), 300);
    let caught = std::panic::catch_unwind(|| explodes(true));
    assert!(caught.is_err());
    let job = stats(concat!(module_path!(), "::explodes"));
    assert_eq!(job.calls, 2);
    assert_eq!(job.panics, 1);
    // The panicking call's buffer was freed during unwinding, inside the job
    // (the panic machinery's own allocations are in the job too).
    let alloc = job.allocations.expect("allocator installed");
    assert_eq!(alloc.measured_calls, 2);
    assert!(alloc.freed_bytes >= 600, "{alloc:?}");
}

struct Counter {
    seen: Vec<u32>,
}

impl Counter {
    #[profile_job(name = "counter-new")]
    fn new() -> Self {
        Counter {
            seen: Vec::with_capacity(8),
        }
    }

    #[profile_job(name = "counter-push")]
    fn push(&mut self, value: u32) -> &mut Self {
        self.seen.push(value);
        self
    }

    #[profile_job(name = "counter-len")]
    #[must_use]
    #[inline]
    fn len(&self) -> usize {
        self.seen.len()
    }

    #[profile_job(name = "counter-into-inner")]
    fn into_inner(self) -> Vec<u32> {
        self.seen
    }

    #[profile_job(name = "counter-boxed")]
    #[allow(clippy::boxed_local)] // the receiver shape is what is tested
    fn boxed_total(self: Box<Self>) -> u32 {
        self.seen.iter().sum()
    }
}

#[test]
fn methods_and_associated_functions() {
    let mut counter = Counter::new();
    counter.push(1).push(2);
    assert_eq!(counter.len(), 2);
    assert_eq!(Box::new(Counter::new()).boxed_total(), 0);
    assert_eq!(counter.into_inner(), vec![1, 2]);
    assert_eq!(stats("counter-new").calls, 2);
    assert_eq!(stats("counter-push").calls, 2);
    assert_eq!(stats("counter-len").calls, 1);
    assert_eq!(stats("counter-into-inner").calls, 1);
    assert_eq!(stats("counter-boxed").calls, 1);
    let new = stats("counter-new")
        .allocations
        .expect("allocator installed");
    assert_eq!(new.total_bytes, 2 * 8 * 4);
}

#[profile_job(name = "longest")]
#[allow(clippy::needless_lifetimes)] // explicit lifetimes are what is tested
fn longest<'a, T>(items: &'a [T], key: impl Fn(&T) -> usize) -> Option<&'a T>
where
    T: std::fmt::Debug,
{
    items.iter().max_by_key(|item| key(item))
}

#[test]
fn generic_instantiations_are_one_job() {
    assert_eq!(longest(&["a", "abc", "ab"], |s| s.len()), Some(&"abc"));
    assert_eq!(longest(&[3u8, 9, 4], |&n| n as usize), Some(&9));
    assert_eq!(longest::<u64>(&[], |_| 0), None);
    assert_eq!(stats("longest").calls, 3);
}

#[profile_job(name = "unsafe-read")]
unsafe fn read_first(ptr: *const u32) -> u32 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *ptr }
}

#[profile_job(name = "evens")]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[profile_job(name = "evens-result")]
fn evens_checked(limit: u32) -> Result<impl Iterator<Item = u32>, String> {
    if limit > 100 {
        return Err(format!("{limit} is too many"));
    }
    Ok(evens(limit))
}

#[test]
fn unsafe_fns_and_impl_trait_returns() {
    let value = 7u32;
    // SAFETY: a valid pointer to a live u32.
    assert_eq!(unsafe { read_first(&value) }, 7);
    assert_eq!(evens(7).collect::<Vec<_>>(), vec![0, 2, 4, 6]);
    assert_eq!(evens_checked(4).map(|it| it.count()), Ok(2));
    assert!(evens_checked(1000).is_err());
    assert_eq!(stats("unsafe-read").calls, 1);
    assert_eq!(
        stats("evens").calls,
        2,
        "one direct call, one through evens_checked"
    );
    assert_eq!(stats("evens-result").errors, 1);
}

#[profile_job(name = "outer")]
fn outer() -> usize {
    let mine = black_box(vec![0u8; 100]);
    let inner_len = inner();
    mine.len() + inner_len
}

#[profile_job(name = "inner")]
fn inner() -> usize {
    let scratch = black_box(vec![0u8; 1000]);
    scratch.len()
}

#[test]
fn nested_jobs_are_inclusive_and_keep_their_path() {
    assert_eq!(outer(), 1100);
    let outer_alloc = stats("outer").allocations.expect("allocator installed");
    let inner_alloc = stats("inner").allocations.expect("allocator installed");
    assert_eq!(inner_alloc.total_bytes, 1000);
    assert_eq!(outer_alloc.total_bytes, 1100, "includes inner's");
    assert_eq!(
        outer_alloc.peak_bytes_max, 1100,
        "inner's buffer on top of outer's"
    );
    let paths = profiling_alloc::jobs::job_paths();
    let nested = paths
        .iter()
        .find(|p| p.path == ["outer", "inner"])
        .unwrap_or_else(|| panic!("no outer;inner path in {paths:?}"));
    assert_eq!(nested.calls, 1);
    assert!(paths.iter().any(|p| p.path == ["outer"] && p.calls == 1));
    assert!(stats("outer").duration.max >= stats("inner").duration.max);
}

#[test]
fn manual_form_for_closures() {
    let sum = profiling_alloc::jobs::job("manual-closure", || {
        let values: Vec<u64> = (1..=10).collect();
        values.iter().sum::<u64>()
    });
    assert_eq!(sum, 55);
    let job = stats("manual-closure");
    assert_eq!(job.calls, 1);
    assert_eq!(
        job.allocations.expect("allocator installed").total_bytes,
        80
    );
    assert!(job.file.ends_with("job_sync.rs"));
}

struct Slots {
    values: Vec<u32>,
}

impl Slots {
    /// Borrows from `&mut self` through a `Result`: the body's closure must be
    /// `FnOnce` for this to compile.
    #[profile_job]
    fn slot(&mut self, index: usize) -> Result<&mut u32, String> {
        self.values
            .get_mut(index)
            .ok_or_else(|| format!("no slot {index}"))
    }
}

#[test]
fn result_borrowing_from_mut_self_and_default_method_names() {
    let mut slots = Slots { values: vec![1, 2] };
    *slots.slot(1).expect("slot 1") += 40;
    assert_eq!(slots.values[1], 42);
    assert!(slots.slot(5).is_err());
    // Methods are named after their type, which the macro cannot see.
    let job = stats("job_sync::Slots::slot");
    assert_eq!((job.calls, job.errors), (2, 1));
}

#[profile_job]
fn joined_length(words: &[&str]) -> usize {
    // The joined String is a temporary of the last expression.
    words.join(" ").len()
}

#[test]
fn temporaries_of_the_last_expression_are_freed_inside_the_job() {
    assert_eq!(joined_length(&["a", "bc"]), 4);
    let alloc = stats("job_sync::joined_length")
        .allocations
        .expect("allocator installed");
    assert_eq!(alloc.total_blocks, 1);
    assert_eq!(alloc.freed_bytes, alloc.total_bytes);
    assert_eq!(alloc.live_bytes, 0);
}

macro_rules! fallible_job {
    ($name:ident -> $ret:ty) => {
        #[profile_job]
        fn $name(fail: bool) -> $ret {
            if fail {
                Err(7)
            } else {
                Ok(())
            }
        }
    };
}

fallible_job!(from_macro -> Result<(), u8>);

mod lookalike {
    use profiling_alloc::profile_job;

    /// Not `core::result::Result`, only named like it: compiles, never an
    /// error.
    pub struct Result<T>(pub T);

    #[profile_job(name = "own-result-type")]
    pub fn own_result() -> Result<u8> {
        Result(1)
    }
}

#[test]
fn result_detection_through_macros_and_lookalikes() {
    assert!(from_macro(true).is_err());
    assert!(from_macro(false).is_ok());
    let job = stats("job_sync::from_macro");
    assert_eq!((job.calls, job.errors), (2, 1));
    assert_eq!(lookalike::own_result().0, 1);
    assert_eq!(stats("own-result-type").errors, 0);
}

#[profile_job(name = "diverges")]
fn diverges() -> ! {
    panic!("never returns")
}

struct CallsJobOnDrop;

impl Drop for CallsJobOnDrop {
    fn drop(&mut self) {
        assert_eq!(in_drop(), 3);
    }
}

#[profile_job(name = "called-while-unwinding")]
fn in_drop() -> usize {
    3
}

#[test]
fn a_job_run_during_another_panic_is_not_a_panic() {
    let caught = std::panic::catch_unwind(|| {
        let _on_unwind = CallsJobOnDrop;
        diverges();
    });
    assert!(caught.is_err());
    assert_eq!(stats("diverges").panics, 1);
    let job = stats("called-while-unwinding");
    assert_eq!((job.calls, job.panics), (1, 0));
}

#[profile_job(name = "recursive")]
fn depth(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        1 + depth(n - 1)
    }
}

#[test]
fn deep_recursion_keeps_job_paths_bounded() {
    assert_eq!(depth(200), 200);
    assert_eq!(stats("recursive").calls, 201);
    let deepest = profiling_alloc::jobs::job_paths()
        .into_iter()
        .filter(|p| p.path.iter().all(|name| name == "recursive"))
        .map(|p| p.path.len())
        .max();
    assert_eq!(deepest, Some(64));
}
