//! `profiling-alloc diff`, run as a user (or CI) would: exit codes, the
//! three formats, thresholds from the command line, the differential SVG.

mod common;

use common::{dir, element, profiling_alloc, set, workload, write};
use predicates::prelude::*;
use serde_json::json;

#[test]
fn the_same_workload_twice_passes() {
    let dir = dir("diff_same");
    let base = write(&dir, "base.json", &workload(100));
    let head = write(&dir, "head.json", &workload(100));
    profiling_alloc()
        .arg("diff")
        .args([&base, &head])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(": no regression\n"))
        .stdout(predicate::str::contains("Jobs (2 in both): no change"));
}

#[test]
fn a_planted_regression_exits_3_and_reads_as_a_pr_comment() {
    let dir = dir("diff_regression");
    let base = write(&dir, "base.json", &workload(100));
    let head = write(&dir, "head.json", &workload(120));
    let assert = profiling_alloc()
        .current_dir(&dir)
        .args(["diff", "base.json", "head.json", "--format", "markdown"])
        .assert()
        .code(3)
        .stderr("");
    let markdown = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        markdown.starts_with("## ❌ profiling-alloc: 3 regressions\n"),
        "{markdown}"
    );
    for row in [
        "| ❌ | `app::render` | bytes allocated / call | 100 B → 120 B | +20.0% |",
        "|  |  | peak of one call | 100 B → 120 B | +20.0% | not judged (--judge-kept) |",
        "| ❌ | `app::render (main.rs:12)` | bytes allocated | 97.7 KiB → 117 KiB | +20.0% |",
        "| ❌ | bytes allocated | 195 KiB → 215 KiB | +10.0% |",
        "`base.json` → `head.json`",
    ] {
        assert!(markdown.contains(row), "{row}\n{markdown}");
    }
    // Within a threshold raised past the growth, it passes.
    profiling_alloc()
        .arg("diff")
        .args([&base, &head])
        .args(["--max-increase", "25%"])
        .assert()
        .code(0);
}

#[test]
fn json_output_counts_the_regressions_and_keeps_every_row() {
    let dir = dir("diff_json");
    let base = write(&dir, "base.json", &workload(100));
    let head = write(&dir, "head.json", &workload(120));
    let assert = profiling_alloc()
        .arg("diff")
        .args([&base, &head])
        .args(["--format", "json"])
        .assert()
        .code(3);
    let diff: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(diff["regressions"], 3);
    assert_eq!(diff["within_noise"], 0);
    assert_eq!(diff["thresholds"]["max_increase"], 5.0);
    let render = element(&diff["jobs"], "name", "app::render");
    let bytes = element(&render["rows"], "metric", "bytes_per_call");
    assert_eq!(bytes["base"], 100.0);
    assert_eq!(bytes["head"], 120.0);
    assert_eq!(bytes["verdict"], "regression");
    // Unchanged rows are in the JSON too.
    assert_eq!(render["rows"].as_array().unwrap().len(), 8);
}

#[test]
fn an_absolute_limit_per_call_fails_the_head() {
    let dir = dir("diff_limit");
    let base = write(&dir, "base.json", &workload(100));
    let run = |limit: &str| {
        profiling_alloc()
            .arg("diff")
            .args([&base, &base])
            .args(["--max-bytes-per-call", limit])
            .assert()
    };
    run("render=99")
        .code(3)
        .stdout(predicate::str::contains("over the limit of 99 B per call"));
    run("app::render=100").code(0);
    run("render=1KiB").code(0);
    run("nothing=1KiB").code(1).stderr(
        "profiling-alloc: --max-bytes-per-call names the job `nothing`, which neither report has \
         (jobs: app::parse, app::render)\n",
    );
    run("render=10KB").code(1).stderr(predicate::str::contains(
        "unknown unit `KB`: use B, KiB, MiB or GiB",
    ));
}

#[test]
fn durations_are_judged_only_when_asked() {
    let dir = dir("diff_time");
    let base = write(&dir, "base.json", &workload(100));
    let mut slow = workload(100);
    set(&mut slow, "/jobs/0/duration/p99_ns", json!(1000));
    let head = write(&dir, "head.json", &slow);
    let diff = || {
        let mut command = profiling_alloc();
        command.arg("diff").args([&base, &head]);
        command
    };
    diff().assert().code(0);
    diff()
        .args(["--max-time-increase", "50%"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("REGRESSION  p99"));
    // 1,000 calls each: too few when 5,000 are asked for.
    diff()
        .args(["--max-time-increase", "50%", "--min-calls", "5000"])
        .assert()
        .code(0);
}

#[test]
fn bad_thresholds_are_usage_errors() {
    let dir = dir("diff_usage");
    let base = write(&dir, "base.json", &workload(100));
    for (args, says) in [
        (["--max-increase", "five"], "`five` is not a percentage"),
        (["--max-increase", "-5%"], "it must be 0% or more"),
        (
            ["--noise-sigma", "x"],
            "is not a number of standard deviations",
        ),
        (
            ["--format", "html"],
            "[possible values: text, json, markdown]",
        ),
    ] {
        profiling_alloc()
            .arg("diff")
            .args([&base, &base])
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(says));
    }
}

#[test]
fn a_bad_base_or_head_is_named() {
    let dir = dir("diff_bad_input");
    let good = write(&dir, "good.json", &workload(100));
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{ \"format_version\": 1, ").unwrap();
    profiling_alloc()
        .arg("diff")
        .args([&good, &broken])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(format!(
            "profiling-alloc: {} is not a valid report: EOF while parsing",
            broken.display()
        )));
}

#[test]
fn differences_in_how_reports_were_taken_are_warned_of_not_failed() {
    let dir = dir("diff_warnings");
    let base = write(&dir, "base.json", &workload(100));
    let mut other = workload(100);
    set(&mut other, "/program/profiler_version", json!("0.2.0"));
    set(
        &mut other,
        "/settings/sampling",
        json!({ "Poisson": { "mean_bytes": 524288 } }),
    );
    let head = write(&dir, "head.json", &other);
    profiling_alloc()
        .arg("diff")
        .args([&base, &head])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "warning: the reports differ in sampling: base every block (exact), \
             head Poisson, one sample per 512 KiB (estimates)",
        ))
        .stdout(predicate::str::contains(
            "warning: the reports differ in profiler version: base 0.1.0, head 0.2.0",
        ));
}

#[test]
fn labels_say_which_commit_each_report_is_of() {
    let dir = dir("diff_labels");
    let mut labelled = workload(100);
    labelled["program"]["labels"] = json!({ "git_commit": "3f2a9c1" });
    let base = write(&dir, "base.json", &labelled);
    profiling_alloc()
        .current_dir(&dir)
        .args(["diff", "base.json", "base.json", "--format", "markdown"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "`base.json (git_commit=3f2a9c1)` → `base.json (git_commit=3f2a9c1)`",
        ));
    profiling_alloc()
        .arg("diff")
        .args([&base, &base])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "  base: workload (git_commit=3f2a9c1), sampling every block",
        ));
}

#[test]
fn svg_draws_the_differential_flamegraph() {
    let dir = dir("diff_svg");
    let base = write(&dir, "base.json", &workload(100));
    let head = write(&dir, "head.json", &workload(150));
    let svg = dir.join("diff.svg");
    profiling_alloc()
        .arg("diff")
        .args([&base, &head])
        .arg("--svg")
        .arg(&svg)
        .assert()
        .code(3);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("Allocated bytes, base → head"));
    // render grew by 50,000 bytes of 2,150,000: +2.33% of the whole.
    assert!(
        text.contains("app::render (150,000 bytes, 6.98%; +2.33%)"),
        "{text}"
    );
}

#[test]
fn all_shows_unchanged_rows() {
    let dir = dir("diff_all");
    let base = write(&dir, "base.json", &workload(100));
    profiling_alloc()
        .arg("diff")
        .args([&base, &base])
        .args(["--all", "--format", "markdown"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("|  | `app::parse` | calls | 1,000 → 1,000 | 0.0% |  |\n| ✅ |  | allocations / call | 20 → 20 | 0.0% |  |"))
        .stdout(predicate::str::contains("changed rows only").not());
}

#[test]
fn reports_of_different_programs_are_refused_unless_allowed() {
    let dir = dir("different_programs");
    let base = workload(100);
    let mut other = base.clone();
    other["program"]["name"] = json!("another-service");
    let (base, other) = (
        write(&dir, "base.json", &base),
        write(&dir, "other.json", &other),
    );
    profiling_alloc()
        .arg("diff")
        .arg(&base)
        .arg(&other)
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "the reports are of different programs (executable: base workload, head another-service)",
        ))
        .stderr(predicate::str::contains("--allow-different-programs"));
    profiling_alloc()
        .arg("diff")
        .arg(&base)
        .arg(&other)
        .arg("--allow-different-programs")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("the reports differ in program"));
}

#[test]
fn a_report_is_held_against_a_qos_baseline() {
    use profiling_alloc::sizing::Baseline;
    let dir = dir("against_baseline");
    let report = workload(100);
    let head = write(&dir, "head.json", &report);
    // The report's own baseline: nothing regressed.
    let parsed = profiling_alloc::Report::from_json(&report.to_string()).unwrap();
    let mut baseline = Baseline::from_job_stats(&parsed.jobs);
    let path = dir.join("baseline.json");
    baseline.write_json(&path).unwrap();
    profiling_alloc()
        .arg("diff")
        .arg(&path)
        .arg(&head)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("the base is a QoS baseline"));
    // The baseline measured a p95 of 300 ns; the head's is 500 ns (+67%,
    // over the 25% a baseline allows unless told otherwise).
    baseline.jobs[0].duration.p95 = std::time::Duration::from_nanos(300);
    baseline.write_json(&path).unwrap();
    let output = profiling_alloc()
        .arg("diff")
        .arg(&path)
        .arg(&head)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let diff: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let parse = element(&diff["jobs"], "name", "app::parse");
    let p95 = element(&parse["rows"], "metric", "duration_p95");
    assert_eq!(p95["verdict"], "regression");
    assert_eq!(diff["thresholds"]["max_time_increase"], 25.0);
    profiling_alloc()
        .arg("diff")
        .arg(&path)
        .arg(&head)
        .args(["--max-time-increase", "70%"])
        .assert()
        .code(0);
    // With a target promised, the target is the limit: 500 ns is within
    // a 1 µs promise, whatever was measured.
    let measured = baseline.jobs[0].clone();
    baseline.jobs[0] = measured
        .clone()
        .with_targets(Some(std::time::Duration::from_micros(1)), None);
    baseline.write_json(&path).unwrap();
    profiling_alloc()
        .arg("diff")
        .arg(&path)
        .arg(&head)
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("target 1.0 µs").or(predicate::str::contains("no regression")),
        );
    // A job the baseline names and the report lacks fails the gate; a
    // baseline name that is the last segment of the report's matches it.
    baseline.jobs[0] = measured;
    baseline.jobs[0].duration.p95 = std::time::Duration::from_nanos(500);
    baseline.jobs[0].name = "parse".to_string();
    baseline.jobs[1].name = "app::gone".to_string();
    baseline.write_json(&path).unwrap();
    profiling_alloc()
        .arg("diff")
        .arg(&path)
        .arg(&head)
        .assert()
        .code(3)
        .stdout(predicate::str::contains(
            "the report has no job `app::gone`",
        ))
        .stdout(predicate::str::contains("new: app::parse").not());
    // A differential flamegraph needs two reports.
    profiling_alloc()
        .arg("diff")
        .arg(&path)
        .arg(&head)
        .args(["--max-time-increase", "90%", "--svg"])
        .arg(dir.join("diff.svg"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "QoS baseline, which has no stacks",
        ));
}
