//! Compile tests of `#[profile_job]`.
//!
//! - `tests/ui/pass/*.rs`: every accepted shape of function, each compiled
//!   under `#![deny(warnings)]` (nothing the expansion adds may warn at the
//!   user's code) and run, checking that each call was recorded.
//! - `tests/ui/fail/*.rs`: each misuse gives the error in the matching
//!   `.stderr`, at the offending token.
//!
//! The `.stderr` files are rustc's output for the toolchain this project
//! builds with; regenerate them with `TRYBUILD=overwrite cargo test --test ui`
//! after a toolchain change, and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
