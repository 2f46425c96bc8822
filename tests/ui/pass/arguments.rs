// The attribute's arguments, compiled under `deny(warnings)` and called:
// `name = ".."`, `crate = ..` (a renamed dependency, an absolute path), and
// both together.
#![deny(warnings)]

mod common;

extern crate profiling_alloc as renamed;

use renamed::profile_job;

#[profile_job(name = "named")]
fn named() -> u32 { 1 }

#[profile_job(crate = renamed)]
fn through_renamed() -> u32 { 2 }

#[profile_job(crate = ::profiling_alloc)]
fn through_absolute_path() -> u32 { 3 }

#[profile_job(name = "named-async", crate = renamed)]
async fn named_async() -> u32 { 4 }

#[profile_job(crate = renamed, name = "named-result",)]
fn named_result() -> Result<u32, String> { Err("no".to_string()) }

fn main() {
    assert_eq!(named(), 1);
    assert_eq!(through_renamed(), 2);
    assert_eq!(through_absolute_path(), 3);
    assert_eq!(common::block_on(named_async()), 4);
    assert!(named_result().is_err());

    common::assert_jobs(&[
        ("named", 1),
        ("through_renamed", 1),
        ("through_absolute_path", 1),
        ("named-async", 1),
        ("named-result", 1),
    ]);
}
