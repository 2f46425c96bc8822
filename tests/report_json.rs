//! `Report`: JSON out and back in, typed errors for files that are not
//! reports (or are newer ones), and the text summary. (A report of a
//! process that never sampled: `report_unsampled.rs`.)

mod common;

use std::hint::black_box;
use std::sync::OnceLock;

use profiling_alloc::{
    profile_job, set_sampling, Error, FlameKind, ProfilingAllocator, Report, Sampling,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

#[profile_job(name = "load_rows")]
fn load_rows(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|_| black_box(vec![7u8; 200])).collect()
}

/// The report the tests read: taken once, right after three rows were
/// allocated with every allocation sampled, while they were alive.
fn sampled_report() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        set_sampling(Sampling::Every);
        let rows = load_rows(3);
        set_sampling(Sampling::Off);
        let report = Report::capture();
        drop(rows);
        report
    })
}

#[test]
fn with_sampling_a_report_carries_the_callsite() {
    let report = sampled_report();
    let site = report
        .callsites
        .iter()
        .find(|site| site.job_path == ["load_rows"] && site.total_blocks == 3.0)
        .unwrap_or_else(|| {
            let rows: Vec<_> = report
                .callsites
                .iter()
                .filter(|site| site.job_path == ["load_rows"])
                .collect();
            panic!("the rows' callsite: {rows:#?}")
        });
    assert_eq!(site.total_bytes, 600.0);
    assert_eq!(site.live_bytes, 600.0, "taken while the rows were alive");
}

#[test]
fn json_round_trips_through_text_and_files() {
    let report = sampled_report();
    let json = report.to_json();
    assert!(json.contains("\"format_version\": 2"));
    assert_eq!(&Report::from_json(&json).unwrap(), report);
    let path = profiling_alloc::output::output_dir().join("report_json_test.json");
    report.write_json(&path).unwrap();
    assert_eq!(&Report::read_json(&path).unwrap(), report);
}

#[test]
fn folded_stacks_are_written_a_line_each() {
    let report = sampled_report();
    let path = profiling_alloc::output::output_dir().join("report_json_test.folded");
    report
        .write_folded(FlameKind::AllocatedBytes, &path)
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, report.folded(FlameKind::AllocatedBytes));
    assert!(text.ends_with('\n') && lines.iter().any(|l| l.starts_with("load_rows;")));
}

#[test]
fn durations_are_integer_nanoseconds_in_json() {
    let json = sampled_report().to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let job = value["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|job| job["name"] == "load_rows")
        .unwrap();
    for key in [
        "total_ns", "mean_ns", "min_ns", "p50_ns", "p95_ns", "p99_ns", "max_ns",
    ] {
        assert!(job["duration"][key].is_u64(), "{key}: {}", job["duration"]);
    }
    assert!(value["job_paths"][0]["total_ns"].is_u64());
}

#[test]
fn text_that_is_not_a_report_is_refused_with_the_reason() {
    // Not JSON: where the parser stopped.
    match Report::from_json("{\"format_version\": 1,") {
        Err(Error::InvalidReport {
            line, column, path, ..
        }) => {
            assert_eq!((line, path), (1, None));
            assert!(column > 0);
        }
        other => panic!("{other:?}"),
    }
    // JSON, but not a report: the missing field is named.
    match Report::from_json("{\"format_version\": 1, \"program\": {}}") {
        Err(Error::InvalidReport { message, .. }) => {
            assert!(message.contains("missing field"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match Report::from_json("[2]") {
        Err(Error::InvalidReport { message, .. }) => {
            assert!(message.contains("JSON object"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match Report::from_json("[1, 2, 3]") {
        Err(error @ Error::InvalidReport { .. }) => {
            assert!(error.to_string().contains("not a valid report"))
        }
        other => panic!("{other:?}"),
    }
    match Report::from_json("{\"jobs\": []}") {
        Err(Error::InvalidReport { message, .. }) => {
            assert!(message.contains("format_version"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_newer_format_is_refused_by_version_before_its_shape() {
    let json = sampled_report().to_json();
    let newer = json.replacen("\"format_version\": 2", "\"format_version\": 3", 1);
    let newer_path = profiling_alloc::output::output_dir().join("report_json_test_v3.json");
    std::fs::write(&newer_path, newer).unwrap();
    match Report::read_json(&newer_path) {
        Err(
            error @ Error::UnsupportedFormat {
                found: 3,
                supported: 2,
                ..
            },
        ) => {
            let message = error.to_string();
            assert!(message.contains("report_json_test_v3.json"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_version_1_report_still_reads_without_the_fields_version_2_added() {
    let mut value: serde_json::Value = serde_json::from_str(&sampled_report().to_json()).unwrap();
    value["format_version"] = 1.into();
    let program = value["program"].as_object_mut().unwrap();
    for key in [
        "command_line",
        "crate_name",
        "crate_version",
        "build",
        "labels",
    ] {
        assert!(program.remove(key).is_some(), "version 2 writes {key}");
    }
    for site in value["callsites"].as_array_mut().unwrap() {
        let site = site.as_object_mut().unwrap();
        site.remove("total_blocks_variance").unwrap();
        site.remove("total_bytes_variance").unwrap();
    }
    let old = Report::from_json(&value.to_string()).unwrap();
    assert_eq!(old.format_version, 1);
    assert!(old.program.labels.is_empty() && old.program.build.rustc_version.is_empty());
    assert_eq!(old.heap, sampled_report().heap);
}

#[test]
fn the_program_is_described_for_comparisons() {
    let report = sampled_report().clone().with_label("git_commit", "3f2a9c1");
    let program = &report.program;
    assert_eq!(program.labels["git_commit"], "3f2a9c1");
    assert!(
        program.command_line[0].contains("report_json"),
        "{:?}",
        program.command_line
    );
    assert!(
        program.build.rustc_version.starts_with("rustc "),
        "{:?}",
        program.build
    );
    assert!(
        program.build.target.starts_with(std::env::consts::ARCH),
        "{:?}",
        program.build
    );
    assert_eq!(program.build.debug_assertions, cfg!(debug_assertions));
    // `cargo test` sets the package's name and version for the tests it runs.
    if std::env::var_os("CARGO_PKG_NAME").is_some() {
        assert_eq!(program.crate_name.as_deref(), Some("profiling-suite"));
        assert_eq!(
            program.crate_version.as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
    }
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["program"]["labels"]["git_commit"], "3f2a9c1");
    assert!(json["program"]["build"]["opt_level"].is_string());
}

#[test]
fn any_numbers_a_file_holds_saturate_when_printed_and_drawn() {
    let json = sampled_report().to_json();
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    for site in value["callsites"].as_array_mut().unwrap() {
        for field in [
            "samples",
            "total_blocks",
            "total_bytes",
            "live_blocks",
            "live_bytes",
        ] {
            site[field] = u64::MAX.into();
        }
    }
    for job in value["jobs"].as_array_mut().unwrap() {
        job["errors"] = u64::MAX.into();
        job["panics"] = u64::MAX.into();
    }
    let extreme = Report::from_json(&value.to_string()).unwrap();
    assert!(extreme.to_string().contains("load_rows"));
    for kind in FlameKind::ALL {
        match extreme.flamegraph(kind, Vec::new()) {
            Ok(()) | Err(Error::NoData { .. }) => {}
            Err(other) => panic!("{kind}: {other}"),
        }
    }
}

#[test]
fn a_missing_file_is_named() {
    let missing = profiling_alloc::output::output_dir().join("no_such_report.json");
    match Report::read_json(&missing) {
        Err(error @ Error::Io { .. }) => {
            assert!(error.to_string().contains("no_such_report.json"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_summary_shows_heap_jobs_and_callsites() {
    let report = Report::capture();
    let summary = report.to_string();
    for heading in ["Heap", "Total:", "Live now:"] {
        assert!(summary.contains(heading), "{heading}: {summary}");
    }
    // Jobs and callsites: the shapes of their tables, whatever ran before.
    let has_jobs = !report.jobs.is_empty();
    assert_eq!(summary.contains("allocs/call"), has_jobs, "{summary}");
    assert_eq!(
        summary.contains("live bytes"),
        !report.callsites.is_empty(),
        "{summary}"
    );
}

#[test]
fn a_report_from_before_busy_times_reads_and_says_why_it_has_no_job_graph() {
    let json = sampled_report().to_json();
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    for path in value["job_paths"].as_array_mut().unwrap() {
        let fields = path.as_object_mut().unwrap();
        assert!(fields.remove("busy_ns").is_some());
        assert!(fields.remove("self_busy_ns").is_some());
    }
    let old = Report::from_json(&value.to_string()).expect("older reports still read");
    assert!(old.job_paths.iter().all(|p| p.busy.is_zero()));
    assert!(old.folded(FlameKind::JobTime).is_empty());
    match old.flamegraph(FlameKind::JobTime, Vec::new()) {
        Err(error @ Error::NoData { .. }) => {
            let message = error.to_string();
            assert!(message.contains("older profiling-alloc"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dropped_samples_cannot_be_missed() {
    let mut value: serde_json::Value = serde_json::from_str(&sampled_report().to_json()).unwrap();
    value["dropped_samples"] = 92_000.into();
    let report = Report::from_json(&value.to_string()).unwrap();
    let summary = report.to_string();
    assert!(
        summary.contains("WARNING: 92,000 samples DROPPED"),
        "{summary}"
    );
    assert!(summary.contains("set_sampling_limits"), "{summary}");
    let mut svg = Vec::new();
    report
        .flamegraph(FlameKind::AllocatedBytes, &mut svg)
        .unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("92,000 samples DROPPED"), "{svg}");

    // And nothing of the kind when none were.
    let clean = sampled_report();
    assert_eq!(clean.dropped_samples, 0);
    assert!(!clean.to_string().contains("DROPPED"));
    let mut svg = Vec::new();
    clean
        .flamegraph(FlameKind::AllocatedBytes, &mut svg)
        .unwrap();
    assert!(!String::from_utf8(svg).unwrap().contains("DROPPED"));
}
