//! Reports and flamegraphs of one closure (`Report::capture_of`,
//! `testing::flamegraph`): every block of the closure, exactly, and nothing
//! of the test harness or of other tests running at the same time.
//!
//! With the harness on purpose: tests here run in parallel and each must
//! still see only its own closure. Sampling is off in this binary's
//! allocator: a scope samples its own thread regardless.

use std::hint::black_box;

use profiling_alloc::{
    callsites::sampling, profile_job, testing, Callsite, FlameKind, ProfilingAllocator, Report,
    Sampling,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Off);

#[inline(never)]
fn tokenize(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

#[profile_job]
fn count_words(text: &str) -> usize {
    let tokens = tokenize(text);
    let mut seen = std::collections::HashSet::new();
    for token in &tokens {
        seen.insert(token.clone());
    }
    seen.len()
}

/// Frames no scoped report may hold: the harness, the runtime, the profiler.
const OUTSIDE: [&str; 7] = [
    "test::run_test",
    "getopts",
    "std::rt::",
    "__rust_begin_short_backtrace",
    "profiling_alloc::",
    "__profiling_alloc_scope",
    "scoped_reports::main",
];

/// Every line starts at the scope and holds none of the frames outside
/// it: the harness, the profiler, nor the function that opened the scope
/// (`caller`; its closure is the scope's code).
fn assert_only_closure_frames(lines: &[String], root: &str, caller: &str) {
    assert!(!lines.is_empty());
    for line in lines {
        assert!(line.starts_with(&format!("{root};")), "{line}");
        for outside in OUTSIDE {
            assert!(!line.contains(outside), "`{outside}` in {line}");
        }
        let (stack, _count) = line.rsplit_once(' ').expect("a folded line");
        assert!(
            stack.split(';').skip(1).all(|frame| frame != caller),
            "the scope's caller in {line}"
        );
    }
}

/// Blocks of all callsites: whole numbers in a scope (every block sampled).
fn sum_blocks(sites: &[Callsite]) -> u64 {
    let sum: f64 = sites.iter().map(|site| site.total_blocks).sum();
    assert_eq!(sum.fract(), 0.0, "exact counts are whole: {sum}");
    sum as u64
}

#[test]
fn capture_of_samples_every_block_of_the_closure_and_nothing_else() {
    let text = "the quick brown fox jumps over the lazy dog ".repeat(50);
    let (words, report) = Report::capture_of(|| count_words(black_box(&text)));
    assert_eq!(words, 8);
    assert_eq!(sampling(), Sampling::Off, "the mode is left as chosen");

    let scope = report.scope.as_ref().expect("a scoped report says so");
    assert_eq!(
        scope.name,
        "scoped_reports::capture_of_samples_every_block_of_the_closure_and_nothing_else"
    );
    // Every block of the closure is sampled: the callsites add up exactly.
    assert!(scope.allocations.total_blocks > 450);
    assert_eq!(
        sum_blocks(&report.callsites),
        scope.allocations.total_blocks
    );
    let bytes: f64 = report.callsites.iter().map(|s| s.total_bytes).sum();
    assert_eq!(bytes, scope.allocations.total_bytes as f64);
    for site in &report.callsites {
        assert_eq!(site.job_path.first(), Some(&scope.name), "{site:?}");
    }

    let lines = report.folded(FlameKind::AllocatedBytes);
    assert_only_closure_frames(&lines, &scope.name, &scope.name);
    assert!(
        lines.iter().any(|l| l.contains("tokenize")),
        "the closure's code is drawn: {lines:#?}"
    );
    // The job the closure called is a job path inside the scope.
    let paths: Vec<&Vec<String>> = report.job_paths.iter().map(|p| &p.path).collect();
    assert!(
        paths
            .iter()
            .any(|p| p.len() == 2 && p[1].ends_with("count_words")),
        "{paths:?}"
    );
}

#[test]
fn a_scope_without_jobs_starts_at_its_closure() {
    let (_, report) = Report::capture_of(|| tokenize(black_box("one two")));
    let scope = report.scope.as_ref().expect("scoped");
    let lines = report.folded(FlameKind::AllocatedBlocks);
    assert_only_closure_frames(&lines, &scope.name, &scope.name);
    assert!(
        lines.iter().all(|l| l.contains("scoped_reports::tokenize")),
        "{lines:#?}"
    );
}

#[test]
fn a_second_scope_of_the_same_name_starts_from_nothing() {
    let text = "a b c d";
    let (_, first) = Report::capture_of(|| tokenize(black_box(text)));
    let (_, second) = Report::capture_of(|| tokenize(black_box(text)));
    assert_eq!(sum_blocks(&first.callsites), 5);
    assert_eq!(sum_blocks(&second.callsites), 5);
}

#[test]
fn blocks_the_closure_returns_are_live_in_its_report() {
    let (kept, report) = Report::capture_of(|| tokenize(black_box("kept words here")));
    let live: f64 = report.callsites.iter().map(|s| s.live_blocks).sum();
    assert_eq!(live, 4.0, "the Vec and its three Strings");
    drop(kept);
}

#[test]
fn testing_flamegraph_draws_only_the_closure() {
    let path = testing::flamegraph("scoped_reports_tokenize", || {
        let text = "one two three four five six ".repeat(100);
        assert_eq!(tokenize(&text).len(), 600);
    })
    .expect("the SVG is written");
    assert!(path.is_absolute() || path.starts_with("target"));
    let svg = std::fs::read_to_string(&path).expect("the SVG reads back");
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&svg, options).expect("the SVG is XML");
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text())
        .collect();
    assert!(titles.iter().any(|t| t.contains("tokenize")), "{titles:#?}");
    assert!(titles
        .iter()
        .any(|t| t.starts_with("scoped_reports_tokenize")));
    // The subtitle says what the drawing holds (every block), not the
    // program's mode (`Off` here).
    assert!(
        svg.contains("every block of the closure sampled: exact"),
        "{}",
        &svg[..svg.len().min(2000)]
    );
    assert!(!svg.contains("sampling now off"));
    for title in &titles {
        for outside in OUTSIDE {
            assert!(!title.contains(outside), "`{outside}` in {title}");
        }
        assert!(
            !title.starts_with("scoped_reports::testing_flamegraph_draws_only_the_closure "),
            "the test function called the scope, it is not in it: {title}"
        );
    }
}

#[test]
fn a_scope_that_allocates_nothing_is_a_typed_error() {
    match testing::flamegraph("scoped_reports_nothing", || black_box(1 + 1)) {
        Err(profiling_alloc::Error::NoData { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn testing_report_returns_the_value_and_the_file() {
    let (len, path) = testing::report("scoped_reports_report", || tokenize("x y").len())
        .expect("the report is written");
    assert_eq!(len, 2);
    let back = Report::read_json(&path).expect("the report reads back");
    let summary = back.to_string();
    assert!(
        summary.contains("the closure `scoped_reports_report`"),
        "{summary}"
    );
    let scope = back.scope.expect("the scope survives JSON");
    assert_eq!(scope.name, "scoped_reports_report");
    assert_eq!(scope.allocations.total_blocks, 3);
    assert_eq!(sum_blocks(&back.callsites), 3);
}

#[test]
fn a_panicking_scope_leaves_sampling_as_it_was() {
    let caught =
        std::panic::catch_unwind(|| Report::capture_of(|| -> () { panic!("inside the scope") }));
    assert!(caught.is_err());
    assert_eq!(sampling(), Sampling::Off);
    // The next scope still works.
    let (_, report) = Report::capture_of(|| tokenize(black_box("p q")));
    assert_eq!(sum_blocks(&report.callsites), 3);
}
