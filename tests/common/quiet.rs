//! A runner for test binaries built without the test harness
//! (`harness = false` in `Cargo.toml`): tests whose numbers are the whole
//! process's (heap totals, the peak, a job profile) need a process in which
//! nothing else allocates, and the harness's threads are not that.
//!
//! Each check runs in turn on the main thread; a failing check is reported
//! and the others still run; the process exits with status 1 if any failed.
//! Arguments that are not flags filter checks by name, as the harness's do
//! (`cargo test --test exact_counts -- peak`).

/// A named check.
pub type Check = (&'static str, fn());

/// Runs `checks` (those whose name contains a filter given on the command
/// line, if any) and exits with status 1 if one failed.
pub fn run(file: &str, checks: &[Check]) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let selected: Vec<&Check> = checks
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f)))
        .collect();
    println!("\nrunning {} checks of {file}", selected.len());
    let mut failed = Vec::new();
    for (name, check) in selected.iter().copied() {
        match std::panic::catch_unwind(*check) {
            Ok(()) => println!("check {name} ... ok"),
            Err(_) => {
                println!("check {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    if failed.is_empty() {
        println!("\n{file}: ok. {} passed", selected.len());
    } else {
        println!(
            "\n{file}: FAILED. {} failed: {}",
            failed.len(),
            failed.join(", ")
        );
        std::process::exit(1);
    }
}
