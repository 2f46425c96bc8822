//! Flamegraph SVGs from a test: one call writes the file, the file is valid
//! XML, and its frames name the functions that allocated, under the job they
//! ran in.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::hint::black_box;

use profiling_alloc::{profile_job, FlameKind, ProfilingAllocator, Report, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Every);

#[inline(never)]
fn build_index_entries() -> Vec<String> {
    (0..50)
        .map(|i| {
            // Sized up front, so each entry is exactly one block.
            let mut entry = String::with_capacity(32);
            write!(entry, "entry number {i}").unwrap();
            black_box(entry)
        })
        .collect()
}

/// A job whose name ends in a number, as the last frame of its stacks.
#[profile_job(name = "step 2")]
fn step_two() -> Vec<u8> {
    black_box(vec![2u8; 100])
}

#[inline(never)]
fn cache_forever() -> &'static [u8] {
    Box::leak(black_box(vec![1u8; 64 * 1024]).into_boxed_slice())
}

#[profile_job(name = "index_job")]
fn index_job() -> usize {
    build_index_entries().len()
}

/// The text of every `<title>` of an SVG (inferno gives each frame one:
/// `name (count unit, share%)`), after checking that it parses as XML.
fn titles(svg: &str) -> Vec<String> {
    // inferno's SVGs carry the SVG 1.1 doctype.
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let document =
        roxmltree::Document::parse_with_options(svg, options).expect("the SVG is well-formed XML");
    assert_eq!(document.root_element().tag_name().name(), "svg");
    document
        .descendants()
        .filter(|node| node.tag_name().name() == "title")
        .filter_map(|node| node.text().map(str::to_string))
        .collect()
}

fn frame_named<'a>(titles: &'a [String], name: &str) -> Option<&'a String> {
    titles.iter().find(|title| title.contains(name))
}

/// Runs the workload once per process, whichever test comes first: three
/// calls of `index_job` and one leaked block.
fn workload() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for _ in 0..3 {
            assert_eq!(index_job(), 50);
        }
        black_box(cache_forever());
    });
}

#[test]
fn a_test_writes_its_flamegraph_with_one_call() {
    workload();
    let path = profiling_alloc::testing::write_flamegraph("flamegraph_svg_test").unwrap();
    assert!(
        path.ends_with("profiling/flamegraph_svg_test.svg"),
        "{}",
        path.display()
    );
    let svg = std::fs::read_to_string(&path).unwrap();
    let allocated = titles(&svg);
    let entries = frame_named(&allocated, "build_index_entries").expect("the allocating function");
    assert!(entries.contains("bytes"), "counted in bytes: {entries}");
    assert!(frame_named(&allocated, "cache_forever").is_some());
    // The job is a root frame: its title is its bare name.
    assert!(
        allocated.iter().any(|t| t.starts_with("index_job (")),
        "{allocated:?}"
    );
    assert!(svg.contains("Allocated bytes by stack"));
}

#[test]
fn a_jobs_stacks_start_at_the_job() {
    workload();
    let folded = Report::capture().folded(FlameKind::AllocatedBlocks);
    let index_lines: Vec<&String> = folded
        .iter()
        .filter(|line| line.contains("build_index_entries"))
        .collect();
    assert!(!index_lines.is_empty(), "{folded:?}");
    let mut blocks = 0;
    for line in &index_lines {
        assert!(line.starts_with("index_job;"), "{line}");
        let (_, count) = line.rsplit_once(' ').unwrap();
        blocks += count.parse::<u64>().unwrap();
    }
    // Per call: 50 strings and the Vec that holds them; 3 calls.
    assert_eq!(blocks, 3 * 51, "{index_lines:?}");
}

#[test]
fn live_bytes_show_only_what_is_still_alive() {
    workload();
    let mut live = Vec::new();
    Report::capture()
        .flamegraph(FlameKind::LiveBytes, &mut live)
        .unwrap();
    let live = titles(std::str::from_utf8(&live).unwrap());
    assert!(frame_named(&live, "cache_forever").is_some(), "{live:?}");
    assert!(
        frame_named(&live, "build_index_entries").is_none(),
        "{live:?}"
    );
}

#[test]
fn a_job_named_with_a_number_is_a_root_frame_like_any_other() {
    drop(step_two());
    let folded = Report::capture().folded(FlameKind::AllocatedBlocks);
    assert!(
        folded.iter().any(|l| l.starts_with("step 2;")),
        "{folded:?}"
    );
}

#[test]
fn job_time_is_busy_time_drawn_in_microseconds() {
    workload();
    let mut jobs = Vec::new();
    Report::capture()
        .flamegraph(FlameKind::JobTime, &mut jobs)
        .unwrap();
    let svg = String::from_utf8(jobs).unwrap();
    let jobs = titles(&svg);
    let job = frame_named(&jobs, "index_job").expect("the job's frame");
    assert!(job.contains("µs"), "{job}");
    // The subtitle says which time the widths are.
    assert!(
        svg.contains("busy (on-CPU poll) time per job path"),
        "{svg}"
    );
    assert!(svg.contains("wall time is in the tables"));
}

#[test]
fn every_kind_draws_to_a_file_of_its_own() {
    workload();
    let mut names = HashSet::new();
    for kind in FlameKind::ALL {
        let path = profiling_alloc::testing::write_flamegraph_of(
            &format!("flamegraph_svg_test_{}", kind.name().replace(' ', "_")),
            kind,
        )
        .unwrap();
        assert!(names.insert(path.clone()));
        assert!(!titles(&std::fs::read_to_string(path).unwrap()).is_empty());
    }
}

#[test]
fn bad_names_are_refused_before_anything_is_written() {
    match profiling_alloc::testing::write_flamegraph("../escape") {
        Err(profiling_alloc::Error::InvalidName { name, .. }) => assert_eq!(name, "../escape"),
        other => panic!("{other:?}"),
    }
}
