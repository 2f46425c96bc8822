//! `summary`, `flamegraph`, `--help` and bad input, run as a user would.

mod common;

use common::{dir, profiling_alloc, workload, write};
use predicates::prelude::*;

#[test]
fn summary_prints_the_report() {
    let dir = dir("summary");
    let report = write(&dir, "report.json", &workload(100));
    profiling_alloc()
        .args(["summary"])
        .arg(&report)
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "profiling-alloc report: workload (pid 7), sampling every allocation",
        ))
        .stdout(predicate::str::contains("app::render"));
}

#[test]
fn summary_reads_a_report_the_library_wrote() {
    let dir = dir("summary_real");
    let path = dir.join("captured.json");
    profiling_alloc::Report::capture()
        .write_json(&path)
        .expect("writing a captured report");
    profiling_alloc()
        .arg("summary")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("allocator is not installed"));
}

#[test]
fn a_missing_report_is_one_line_naming_it() {
    let dir = dir("missing");
    let missing = dir.join("nowhere.json");
    profiling_alloc()
        .arg("summary")
        .arg(&missing)
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "profiling-alloc: reading {}: No such file or directory (os error 2)\n",
            missing.display()
        ));
}

#[test]
fn a_file_that_is_not_a_report_is_one_line_naming_it_and_the_fault() {
    let dir = dir("not_a_report");
    let text = dir.join("notes.json");
    std::fs::write(&text, "hello").unwrap();
    profiling_alloc()
        .arg("summary")
        .arg(&text)
        .assert()
        .code(1)
        .stderr(format!(
            "profiling-alloc: {} is not a valid report: a report is a JSON object (`{{ \"format_version\": .. }}`)\n",
            text.display()
        ));
    let mut report = workload(100);
    report["heap"]["total_bytes"] = serde_json::json!("lots");
    let bad = write(&dir, "bad.json", &report);
    profiling_alloc()
        .arg("summary")
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(format!(
            "profiling-alloc: {} is not a valid report: invalid type: string \"lots\"",
            bad.display()
        )))
        .stderr(predicate::str::contains("line 1 column"))
        .stderr(predicate::function(|s: &str| s.lines().count() == 1));
    let future = write(
        &dir,
        "future.json",
        &serde_json::json!({ "format_version": 99 }),
    );
    profiling_alloc()
        .arg("summary")
        .arg(&future)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("has report format version 99"));
}

#[test]
fn flamegraph_writes_each_kind() {
    let dir = dir("flamegraph");
    let report = write(&dir, "report.json", &workload(100));
    for kind in ["allocated", "blocks", "live", "jobs"] {
        let svg = dir.join(format!("{kind}.svg"));
        let assert = profiling_alloc()
            .args(["flamegraph"])
            .arg(&report)
            .args(["--kind", kind, "-o"])
            .arg(&svg)
            .assert();
        if kind == "live" {
            // Nothing of the workload is alive: the library says so.
            assert.code(1).stderr(predicate::str::starts_with(
                "profiling-alloc: no data for the live bytes flamegraph:",
            ));
            assert!(!svg.exists());
            continue;
        }
        assert.success().stdout("");
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("<svg"), "{kind}");
        assert!(text.contains("app::render"), "{kind}");
    }
}

#[test]
fn flamegraph_needs_an_output_file_and_a_known_kind() {
    let dir = dir("flamegraph_usage");
    let report = write(&dir, "report.json", &workload(100));
    profiling_alloc()
        .arg("flamegraph")
        .arg(&report)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--output <FILE>"));
    profiling_alloc()
        .arg("flamegraph")
        .arg(&report)
        .args(["--kind", "cpu", "-o", "x.svg"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "[possible values: allocated, blocks, live, jobs]",
        ));
}

#[test]
fn usage_errors_exit_1_not_clap_s_2() {
    profiling_alloc()
        .arg("frobnicate")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "unrecognized subcommand 'frobnicate'",
        ));
    profiling_alloc().assert().code(1);
    profiling_alloc()
        .args(["diff", "only-one.json"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("<HEAD>"));
}

#[test]
fn help_for_every_subcommand_says_what_it_does() {
    profiling_alloc()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes:"))
        .stdout(predicate::str::contains("3  diff: a regression"))
        .stdout(predicate::str::contains(
            "plan: a job that fits no platform",
        ));
    for (command, says) in [
        ("summary", "text summary"),
        ("flamegraph", "Bytes still live when the report was taken"),
        ("pprof", "go tool pprof -http=: heap.pb.gz"),
        ("diff", "--max-bytes-per-call <JOB=SIZE>"),
        ("plan", "--rate <RATE>"),
        ("prices", "built-in price sheet"),
    ] {
        profiling_alloc()
            .args([command, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains(says));
    }
    profiling_alloc()
        .args(["diff", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("3  a regression"))
        .stdout(predicate::str::contains("--noise-sigma"));
    profiling_alloc()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("profiling-alloc "));
}

#[test]
fn pprof_writes_gzipped_profiles() {
    let dir = dir("pprof");
    let report = write(&dir, "report.json", &workload(100));
    for kind in ["heap", "allocs", "jobs"] {
        let out = dir.join(format!("{kind}.pb.gz"));
        profiling_alloc()
            .arg("pprof")
            .arg(&report)
            .args(["--kind", kind, "-o"])
            .arg(&out)
            .assert()
            .success()
            .stdout("");
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "{kind}: gzip");
    }
    // The default kind is the heap profile, the same bytes.
    let default = dir.join("default.pb.gz");
    profiling_alloc()
        .arg("pprof")
        .arg(&report)
        .arg("-o")
        .arg(&default)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&default).unwrap(),
        std::fs::read(dir.join("heap.pb.gz")).unwrap()
    );
}

#[test]
fn pprof_of_a_bad_report_or_into_a_bad_place_is_one_line() {
    let dir = dir("pprof_bad");
    let report = write(&dir, "report.json", &workload(100));
    // A directory where the file should go.
    profiling_alloc()
        .arg("pprof")
        .arg(&report)
        .arg("-o")
        .arg(&dir)
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(format!(
            "profiling-alloc: writing {}:",
            dir.display()
        )))
        .stderr(predicate::function(|s: &str| s.lines().count() == 1));
    profiling_alloc()
        .args(["pprof", "nowhere.json", "-o", "x.pb.gz"])
        .current_dir(&dir)
        .assert()
        .code(1)
        .stderr("profiling-alloc: reading nowhere.json: No such file or directory (os error 2)\n");
}
