//! `PROFILING_ALLOC_SAMPLING` chooses the sampling mode without a rebuild.
//! It is read (on Linux) at the allocator's first call, before `main`, so
//! each case runs this test binary again as a child process with the
//! variable set.

use profiling_alloc::{callsites::SAMPLING_VAR, ProfilingAllocator, Report, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Off);

/// Runs the ignored test `child` in a new process with the variable set to
/// `value`; returns its output.
fn run_child(value: &str) -> String {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SAMPLING_VAR, value)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{text}");
    text
}

/// Prints what the child's profiler says: the mode, why, and the summary's
/// line about it.
#[test]
#[ignore = "run by the other tests, in a process with the variable set"]
fn child() {
    let report = Report::capture();
    println!("mode: {:?}", profiling_alloc::callsites::sampling());
    println!("origin: {}", report.settings.sampling_origin);
    let summary = report.to_string();
    let line = summary
        .lines()
        .find(|line| line.contains("sampling chosen by"))
        .unwrap_or("no line");
    println!("summary: {line}");
    assert_eq!(
        report.settings.sampling,
        profiling_alloc::callsites::sampling()
    );
}

#[test]
#[cfg(target_os = "linux")]
fn a_valid_value_replaces_the_built_in_mode() {
    let text = run_child("poisson:64KiB");
    assert!(
        text.contains("mode: Poisson { mean_bytes: 65536 }"),
        "{text}"
    );
    assert!(
        text.contains("origin: PROFILING_ALLOC_SAMPLING=poisson:64KiB"),
        "{text}"
    );
    assert!(
        text.contains("summary:   sampling chosen by PROFILING_ALLOC_SAMPLING=poisson:64KiB"),
        "{text}"
    );
    assert!(run_child("every").contains("mode: Every"));
}

#[test]
#[cfg(target_os = "linux")]
fn a_bad_value_keeps_the_built_in_mode_and_says_why() {
    let text = run_child("poison:64KiB");
    assert!(
        text.contains("mode: Off"),
        "the built-in mode stays: {text}"
    );
    assert!(
        text.contains(
            "origin: the allocator's configuration (PROFILING_ALLOC_SAMPLING=`poison:64KiB` was ignored: it must be off, every, poisson or poisson:SIZE, such as poisson:64KiB)"
        ),
        "{text}"
    );
    assert!(
        text.contains("summary:   sampling chosen by the allocator's configuration (PROFILING_ALLOC_SAMPLING=`poison:64KiB` was ignored"),
        "{text}"
    );
}

#[test]
fn without_the_variable_the_built_in_mode_applies() {
    // This process runs without it (unless the caller set it).
    if std::env::var_os(SAMPLING_VAR).is_none() {
        assert_eq!(profiling_alloc::callsites::sampling(), Sampling::Off);
        assert_eq!(
            Report::capture().settings.sampling_origin,
            "the allocator's configuration"
        );
    }
    profiling_alloc::set_sampling(Sampling::Every);
    assert!(Report::capture()
        .settings
        .sampling_origin
        .starts_with("set_sampling, at run time"));
    profiling_alloc::set_sampling(Sampling::Off);
}
