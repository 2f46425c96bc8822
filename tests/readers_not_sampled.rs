//! Every reader and writer of the profiler runs with sampling suspended: under
//! `Sampling::Every`, a second report holds no callsite, and no block, that
//! the first report's readers allocated.
//!
//! Without the test harness (`harness = false`): the check compares the
//! whole process's callsites, and the harness's threads would add theirs.

mod common;

use std::hint::black_box;

use profiling_alloc::{
    callsites, callsites::live_callsites, heap::size_histogram, heap_stats, job_stats,
    jobs::job_paths, measure, profile_job, Callsite, FlameKind, ProfilingAllocator, Report,
    Sampling,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

#[profile_job]
fn build_index(words: usize) -> Vec<String> {
    (0..words).map(|i| format!("word{i}")).collect()
}

/// A callsite's identity and totals: what a later report must not change.
fn totals(sites: &[Callsite]) -> Vec<(String, Vec<String>, u64, u64)> {
    // Every block is sampled here: the counts are whole numbers.
    let mut rows: Vec<_> = sites
        .iter()
        .map(|site| {
            let frames = site
                .frames
                .iter()
                .map(|frame| frame.to_string())
                .collect::<Vec<_>>()
                .join(" < ");
            (
                frames,
                site.job_path.clone(),
                site.total_blocks as u64,
                site.total_bytes as u64,
            )
        })
        .collect();
    rows.sort();
    rows
}

fn a_second_report_holds_nothing_of_the_first_reports_readers() {
    let index = build_index(black_box(500));
    let dir = std::env::temp_dir().join(format!("readers-not-sampled-{}", std::process::id()));
    let json_path = dir.join("report.json");
    let svg_path = dir.join("allocations.svg");
    let pprof_path = dir.join("heap.pb.gz");
    let folded_path = dir.join("allocations.folded");

    let first = Report::capture();

    // Every reader and writer, each once; their results are dropped at once.
    drop(black_box(first.to_json()));
    drop(black_box(format!("{first}")));
    drop(black_box(first.folded(FlameKind::AllocatedBytes)));
    drop(black_box(first.folded(FlameKind::LiveBytes)));
    drop(black_box(first.folded(FlameKind::JobTime)));
    let mut svg = Vec::new();
    first
        .flamegraph(FlameKind::AllocatedBytes, &mut svg)
        .expect("the first report draws");
    drop(svg);
    first.write_json(&json_path).expect("the report is written");
    first
        .write_flamegraph(FlameKind::AllocatedBytes, &svg_path)
        .expect("the SVG is written");
    for kind in profiling_alloc::output::PprofKind::ALL {
        drop(black_box(first.to_pprof(kind).expect("encodes")));
    }
    first
        .write_pprof(profiling_alloc::output::PprofKind::Heap, &pprof_path)
        .expect("the profile is written");
    first
        .write_folded(FlameKind::AllocatedBytes, &folded_path)
        .expect("the folded stacks are written");
    let back = Report::read_json(&json_path).expect("the report reads back");
    drop(black_box(
        Report::from_json(&first.to_json()).expect("parses"),
    ));
    drop(black_box(format!("{back}")));
    drop(back);
    drop(black_box(job_stats()));
    drop(black_box(job_paths()));
    drop(black_box(callsites()));
    drop(black_box(live_callsites()));
    drop(black_box(size_histogram()));
    drop(black_box(format!("{}", size_histogram())));
    drop(black_box(format!("{}", heap_stats())));
    let ((), delta) = measure(|| ());
    drop(black_box(format!("{delta}")));
    for site in &first.callsites {
        for frame in &site.frames {
            drop(black_box(format!("{frame}")));
        }
    }

    let second = Report::capture();
    // Compared only now: what the comparison allocates is in neither report.
    let before = totals(&first.callsites);
    assert!(
        before
            .iter()
            .any(|(_, job, _, _)| job.iter().any(|j| j.ends_with("build_index"))),
        "the workload's callsites are in the first report"
    );
    let after = totals(&second.callsites);
    let new: Vec<_> = after.iter().filter(|row| !before.contains(row)).collect();
    assert!(
        new.is_empty(),
        "callsites that the readers added or grew:\n{new:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(index);
}

fn main() {
    common::quiet::run(
        file!(),
        &[(
            "a_second_report_holds_nothing_of_the_first_reports_readers",
            a_second_report_holds_nothing_of_the_first_reports_readers,
        )],
    );
}
