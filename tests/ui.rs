//! Compile-fail tests: each misuse of `#[profile_job]` gives the error in the
//! matching `tests/ui/fail/*.stderr`, at the offending token.
//!
//! The `.stderr` files are rustc's output for the toolchain this project
//! builds with; regenerate them with `TRYBUILD=overwrite cargo test --test ui`
//! after a toolchain change, and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
}
