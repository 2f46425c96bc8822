//! `plan`: where each job can run and what it costs, from a job profile, an
//! array of them, a report or a deployment file; its exit codes and its
//! one-line errors, run as a user would.

mod common;

use common::{dir, element, job_profile, profiling_alloc, workload, write};
use predicates::prelude::*;
use serde_json::{json, Value};

const MIB: u64 = 1 << 20;

/// 20 runs of 50 ms computing, needing 40 MiB.
fn computing_job() -> Value {
    job_profile("search", &[(50, 50); 20], 40 * MIB)
}

fn plan_json(args: &[&str], input: &std::path::Path) -> Value {
    let output = profiling_alloc()
        .arg("plan")
        .arg(input)
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("the plan is JSON")
}

#[test]
fn a_profile_is_planned_in_text() {
    let dir = dir("plan_text");
    let profile = write(&dir, "profile.json", &computing_job());
    profiling_alloc()
        .args(["plan"])
        .arg(&profile)
        .args(["--rate", "50/s", "--p95", "200ms"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with(
            "Plan for 50 calls/s, p95 ≤ 200.00 ms",
        ))
        .stdout(predicate::str::contains("job \"search\""))
        .stdout(predicate::str::contains("recommended:"))
        .stdout(predicate::str::contains("AWS Lambda (arm64)"))
        .stdout(predicate::str::contains("sweep"));
}

#[test]
fn the_json_carries_options_and_a_sweep() {
    let dir = dir("plan_json");
    let profile = write(&dir, "profile.json", &computing_job());
    let plan = plan_json(&["--rate", "50/s", "--p95", "200ms"], &profile);
    assert_eq!(plan["kind"], "profiling-alloc-deployment");
    assert_eq!(plan["version"], 1);
    let job = &plan["jobs"][0];
    assert_eq!(job["name"], "search");
    assert_eq!(job["memory_need_bytes"], 40 * MIB);
    let options = job["options"].as_array().unwrap();
    for option in options {
        for field in [
            "platform",
            "kind",
            "memory_bytes",
            "vcpus",
            "predicted_p95_ns",
            "cost_per_million_usd",
            "monthly_cost_usd",
            "fits",
            "reasons",
        ] {
            assert!(!option[field].is_null(), "{field} in {option}");
        }
    }
    let kinds: Vec<&str> = options
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"faas") && kinds.contains(&"vm"),
        "{kinds:?}"
    );
    // 50 ms computing within 200 ms needs a quarter of a vCPU: Lambda's
    // 442.25 MB at least.
    let lambda = element(&job["options"], "platform", "aws-lambda-x86_64");
    assert_eq!(lambda["fits"], true);
    assert!(lambda["memory_bytes"].as_u64().unwrap() >= 443 * MIB);
    assert!(lambda["predicted_p95_ns"].as_u64().unwrap() <= 200_000_000);
    let sweep: Vec<u64> = job["sweep"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["platform"] == "aws-lambda-x86_64")
        .map(|p| p["memory_bytes"].as_u64().unwrap() / MIB)
        .collect();
    for mib in [128, 256, 512, 1024, 1769, 3008] {
        assert!(sweep.contains(&mib), "{mib} MB in {sweep:?}");
    }
    let at_128 = job["sweep"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["platform"] == "aws-lambda-x86_64" && p["memory_bytes"] == 128 * MIB)
        .unwrap();
    // 50 ms at 128/1769 of a vCPU: 691 ms, over the target.
    assert_eq!(at_128["fits"], false);
    assert_eq!(
        at_128["predicted_p95_ns"].as_u64().unwrap() / 1_000_000,
        691
    );
}

#[test]
fn a_deployment_file_is_planned_again() {
    let dir = dir("plan_again");
    let profiles = write(
        &dir,
        "profiles.json",
        &json!([
            computing_job(),
            job_profile("export", &[(500, 20); 10], 300 * MIB)
        ]),
    );
    let first = plan_json(&["--rate", "50/s"], &profiles);
    assert_eq!(first["jobs"].as_array().unwrap().len(), 2);
    let deployment = write(&dir, "deployment.json", &first);
    let again = plan_json(
        &[
            "--rate",
            "100/s",
            "--platform",
            "aws-lambda-arm64",
            "--platform",
            "vm-gcp",
        ],
        &deployment,
    );
    assert_eq!(again["jobs"][1]["name"], "export");
    assert_eq!(again["jobs"][1]["demand"], first["jobs"][1]["demand"]);
    let platforms: Vec<&str> = again["jobs"][0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["aws-lambda-arm64", "vm-gcp"]);
    assert_eq!(again["settings"]["rate_per_second"], 100.0);
}

#[test]
fn a_reports_jobs_are_planned_from_their_percentiles() {
    let dir = dir("plan_report");
    let report = write(&dir, "report.json", &workload(100));
    profiling_alloc()
        .arg("plan")
        .arg(&report)
        .args(["--rate", "3000/min", "--format", "markdown"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("## Deployment plan"))
        .stdout(predicate::str::contains("### `app::render`"))
        .stdout(predicate::str::contains("CPU time was not measured"));
}

#[test]
fn a_job_that_fits_nowhere_exits_3() {
    let dir = dir("plan_nowhere");
    let huge = write(
        &dir,
        "huge.json",
        &job_profile("huge", &[(10, 10); 5], 40 << 30),
    );
    profiling_alloc()
        .arg("plan")
        .arg(&huge)
        .args(["--rate", "1/s"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("fits nowhere"))
        .stdout(predicate::str::contains("needs 40.0 GiB resident"));
}

#[test]
fn the_baseline_is_written_on_request() {
    let dir = dir("plan_baseline");
    let profile = write(&dir, "profile.json", &computing_job());
    let baseline = dir.join("baseline.json");
    profiling_alloc()
        .arg("plan")
        .arg(&profile)
        .args(["--rate", "50/s", "--write-baseline"])
        .arg(&baseline)
        .assert()
        .code(0);
    let read = profiling_alloc::sizing::Baseline::read_json(&baseline).unwrap();
    let job = read.job("search").unwrap();
    assert_eq!(job.duration.p95, std::time::Duration::from_millis(50));
    assert_eq!(job.memory_need_bytes, Some(40 * MIB));
    assert_eq!(job.error_rate, 0.0);
}

/// One line on stderr, naming the file and the fault; exit 1.
fn fails_with(args: &[&str], input: &std::path::Path, message: &str) {
    let output = profiling_alloc()
        .arg("plan")
        .arg(input)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
    assert_eq!(output.stdout, b"", "nothing on stdout");
}

#[test]
fn bad_input_is_one_line_naming_the_fault() {
    let dir = dir("plan_bad");
    let profile = write(&dir, "profile.json", &computing_job());
    let baseline = write(
        &dir,
        "baseline.json",
        &json!({"kind": "profiling-alloc-baseline", "version": 1, "created_at_unix_ms": 0, "jobs": []}),
    );
    fails_with(
        &["--rate", "5/s"],
        &baseline,
        "is a QoS baseline, not a deployment file",
    );
    let mut newer = plan_json(&["--rate", "5/s"], &profile);
    newer["version"] = 9.into();
    let newer = write(&dir, "newer.json", &newer);
    fails_with(&["--rate", "5/s"], &newer, "deployment file of version 9");
    fails_with(
        &["--rate", "0/s"],
        &profile,
        "is not a rate a plan can serve",
    );
    fails_with(
        &["--rate", "5/s", "--platform", "aws-fargate"],
        &profile,
        "invalid platform \"aws-fargate\"",
    );
    let mut sheet: Value =
        serde_json::from_str(&profiling_alloc::sizing::Prices::built_in().to_json()).unwrap();
    sheet["serverless"][0]["price"]
        .as_object_mut()
        .unwrap()
        .remove("per_million_requests");
    let sheet = write(&dir, "prices.json", &sheet);
    let output = profiling_alloc()
        .arg("plan")
        .arg(&profile)
        .args(["--rate", "5/s", "--prices"])
        .arg(&sheet)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("is not a valid price sheet") && stderr.contains("per_million_requests"),
        "{stderr}"
    );
    let empty = write(&dir, "empty.json", &json!([]));
    fails_with(&["--rate", "5/s"], &empty, "holds no job to plan");
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "hello").unwrap();
    fails_with(&["--rate", "5/s"], &notes, "is not a valid plan input");
}

#[test]
fn the_built_in_price_sheet_prints_and_reads_back() {
    let dir = dir("prices");
    let output = profiling_alloc().arg("prices").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let sheet = String::from_utf8(output.stdout).unwrap();
    assert!(sheet.contains(r#""as_of": "2026-12-07""#), "{sheet}");
    let path = dir.join("mine.json");
    std::fs::write(&path, &sheet).unwrap();
    profiling_alloc()
        .arg("prices")
        .arg(&path)
        .assert()
        .code(0)
        .stdout(sheet);
}
