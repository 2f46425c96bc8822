// Free sync functions, each shape compiled under `deny(warnings)` and called.
#![deny(warnings)]

mod common;

use std::fmt::Display;
use std::num::ParseIntError;

use profiling_alloc::profile_job;

#[profile_job]
fn unit() {}

#[profile_job]
fn one_expression() -> u32 { 42 }

#[profile_job]
fn block_body(values: &[u32]) -> u32 {
    let doubled: Vec<u32> = values.iter().map(|v| v * 2).collect();
    doubled.iter().sum()
}

#[profile_job]
fn one_expression_result(text: &str) -> Result<u32, ParseIntError> { text.parse() }

#[profile_job]
fn question_mark_and_early_return(text: &str) -> Result<u32, ParseIntError> {
    if text.is_empty() {
        return Ok(0);
    }
    let value: u32 = text.trim().parse()?;
    Ok(value + 1)
}

#[profile_job]
fn returns_only(text: &str) -> Result<usize, String> {
    return Ok(text.len());
}

#[profile_job]
fn loop_returns_result(limit: u32) -> Result<u32, String> {
    let mut count = 0;
    loop {
        count += 1;
        if count == limit {
            return Ok(count);
        }
        if count > 100 {
            return Err("no limit".to_string());
        }
    }
}

#[profile_job]
fn borrowed_result(text: &str) -> Result<&str, String> { text.split(',').next().ok_or_else(|| "empty".to_string()) }

#[profile_job]
fn impl_trait_in_result(limit: u32) -> Result<impl Iterator<Item = u32>, String> { Ok((0..limit).filter(|n| n % 2 == 0)) }

#[profile_job]
fn ends_in_panic(ready: bool) -> Result<u32, String> {
    if ready {
        return Ok(1);
    }
    panic!("not ready")
}

#[profile_job]
fn early_return(value: u32) -> u32 {
    if value > 10 {
        return 10;
    }
    value
}

#[profile_job]
fn io_result() -> std::io::Result<usize> { Ok(3) }

#[profile_job]
fn generic<T, U>(value: T, other: U) -> String
where
    T: Display,
    U: Into<u64> + Copy,
{
    format!("{value}:{}", other.into())
}

#[profile_job]
fn returns_impl_trait(count: usize) -> impl Iterator<Item = usize> { 0..count }

#[profile_job]
fn reference_in_out(text: &str) -> &str { text.trim() }

/// # Safety
///
/// `pointer` must be valid for reads.
#[profile_job]
unsafe fn read(pointer: *const u32) -> u32 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *pointer }
}

#[profile_job]
extern "C-unwind" fn callback(value: i32) -> i32 { value + 1 }

/// # Safety
///
/// `pointer` must be valid for reads.
#[profile_job]
unsafe extern "C-unwind" fn unsafe_callback(pointer: *const i32) -> i32 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *pointer }
}

#[profile_job]
extern "Rust" fn rust_abi(value: u8) -> u8 { value }

#[profile_job]
#[inline]
#[must_use]
fn with_other_attributes() -> bool { true }

fn main() {
    unit();
    assert_eq!(one_expression(), 42);
    assert_eq!(block_body(&[1, 2, 3]), 12);
    assert_eq!(one_expression_result("7"), Ok(7));
    assert!(one_expression_result("x").is_err());
    assert_eq!(question_mark_and_early_return(""), Ok(0));
    assert_eq!(question_mark_and_early_return(" 4 "), Ok(5));
    assert!(question_mark_and_early_return("four").is_err());
    assert_eq!(returns_only("abc"), Ok(3));
    assert_eq!(loop_returns_result(2), Ok(2));
    assert_eq!(borrowed_result("a,b"), Ok("a"));
    assert_eq!(impl_trait_in_result(5).map(Iterator::count), Ok(3));
    assert_eq!(ends_in_panic(true), Ok(1));
    std::panic::set_hook(Box::new(|_| {}));
    assert!(std::panic::catch_unwind(|| ends_in_panic(false)).is_err());
    let _ = std::panic::take_hook();
    assert_eq!(early_return(20), 10);
    assert_eq!(early_return(3), 3);
    assert_eq!(io_result().unwrap(), 3);
    assert_eq!(generic("a", 5u8), "a:5");
    assert_eq!(generic(1.5, 6u32), "1.5:6");
    assert_eq!(returns_impl_trait(4).sum::<usize>(), 6);
    assert_eq!(reference_in_out(" x "), "x");
    let value = 9;
    // SAFETY: `value` lives across the call.
    assert_eq!(unsafe { read(&value) }, 9);
    assert_eq!(callback(1), 2);
    let signed = -3;
    // SAFETY: `signed` lives across the call.
    assert_eq!(unsafe { unsafe_callback(&signed) }, -3);
    assert_eq!(rust_abi(8), 8);
    assert!(with_other_attributes());

    common::assert_jobs(&[
        ("unit", 1),
        ("one_expression", 1),
        ("block_body", 1),
        ("one_expression_result", 2),
        ("question_mark_and_early_return", 3),
        ("returns_only", 1),
        ("loop_returns_result", 1),
        ("borrowed_result", 1),
        ("impl_trait_in_result", 1),
        ("ends_in_panic", 2),
        ("early_return", 2),
        ("io_result", 1),
        ("generic", 2),
        ("returns_impl_trait", 1),
        ("reference_in_out", 1),
        ("read", 1),
        ("callback", 1),
        ("unsafe_callback", 1),
        ("rust_abi", 1),
        ("with_other_attributes", 1),
    ]);
    let jobs = profiling_alloc::job_stats();
    let errors = |name: &str| jobs.iter().find(|job| job.name.ends_with(name)).map(|job| job.errors);
    assert_eq!(errors("::one_expression_result"), Some(1));
    assert_eq!(errors("::question_mark_and_early_return"), Some(1));
    let panics = jobs.iter().find(|job| job.name.ends_with("::ends_in_panic")).map(|job| job.panics);
    assert_eq!(panics, Some(1));
}
