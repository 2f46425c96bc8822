//! pprof export (`Report::to_pprof`), read back by a decoder of its own:
//! the messages below are declared here from google/pprof's
//! `profile.proto` field numbers (every field, not only those the library
//! writes), independently of the library's encoder.
//!
//! With the harness: the reports are scoped to one closure, so other tests
//! running at the same time do not reach them.

use std::io::Read;

use profiling_alloc::{
    output::PprofKind, profile_job, Callsite, ProfilingAllocator, Report, Sampling,
};
use prost::Message;

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Off);

#[derive(Clone, PartialEq, prost::Message)]
struct Profile {
    #[prost(message, repeated, tag = "1")]
    sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    sample: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    mapping: Vec<Mapping>,
    #[prost(message, repeated, tag = "4")]
    location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    string_table: Vec<String>,
    #[prost(int64, tag = "7")]
    drop_frames: i64,
    #[prost(int64, tag = "8")]
    keep_frames: i64,
    #[prost(int64, tag = "9")]
    time_nanos: i64,
    #[prost(int64, tag = "10")]
    duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    period: i64,
    #[prost(int64, repeated, tag = "13")]
    comment: Vec<i64>,
    #[prost(int64, tag = "14")]
    default_sample_type: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ValueType {
    #[prost(int64, tag = "1")]
    r#type: i64,
    #[prost(int64, tag = "2")]
    unit: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    value: Vec<i64>,
    #[prost(message, repeated, tag = "3")]
    label: Vec<Label>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Label {
    #[prost(int64, tag = "1")]
    key: i64,
    #[prost(int64, tag = "2")]
    str: i64,
    #[prost(int64, tag = "3")]
    num: i64,
    #[prost(int64, tag = "4")]
    num_unit: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Mapping {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(uint64, tag = "2")]
    memory_start: u64,
    #[prost(uint64, tag = "3")]
    memory_limit: u64,
    #[prost(uint64, tag = "4")]
    file_offset: u64,
    #[prost(int64, tag = "5")]
    filename: i64,
    #[prost(int64, tag = "6")]
    build_id: i64,
    #[prost(bool, tag = "7")]
    has_functions: bool,
    #[prost(bool, tag = "8")]
    has_filenames: bool,
    #[prost(bool, tag = "9")]
    has_line_numbers: bool,
    #[prost(bool, tag = "10")]
    has_inline_frames: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Location {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(uint64, tag = "2")]
    mapping_id: u64,
    #[prost(uint64, tag = "3")]
    address: u64,
    #[prost(message, repeated, tag = "4")]
    line: Vec<Line>,
    #[prost(bool, tag = "5")]
    is_folded: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Line {
    #[prost(uint64, tag = "1")]
    function_id: u64,
    #[prost(int64, tag = "2")]
    line: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Function {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(int64, tag = "2")]
    name: i64,
    #[prost(int64, tag = "3")]
    system_name: i64,
    #[prost(int64, tag = "4")]
    filename: i64,
    #[prost(int64, tag = "5")]
    start_line: i64,
}

/// Gunzips and decodes, checking what every well-formed profile holds:
/// `string_table[0] = ""`, ids sequential from 1, every id referenced
/// defined, one value per sample type.
fn decode(bytes: &[u8]) -> Profile {
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut raw)
        .expect("valid gzip");
    let profile = Profile::decode(raw.as_slice()).expect("a profile.proto message");
    assert_eq!(profile.string_table[0], "");
    for (index, function) in profile.function.iter().enumerate() {
        assert_eq!(function.id, index as u64 + 1);
        assert_eq!(function.system_name, 0, "no name for a C++ demangler");
        assert!(!profile.string_table[function.name as usize].is_empty());
    }
    for (index, location) in profile.location.iter().enumerate() {
        assert_eq!(location.id, index as u64 + 1);
        assert_eq!(location.mapping_id, 1);
        assert!(!location.line.is_empty());
        for line in &location.line {
            assert!((1..=profile.function.len() as u64).contains(&line.function_id));
        }
    }
    for sample in &profile.sample {
        assert_eq!(sample.value.len(), profile.sample_type.len());
        for &id in &sample.location_id {
            assert!((1..=profile.location.len() as u64).contains(&id));
        }
    }
    assert_eq!(profile.mapping.len(), 1);
    assert_eq!(profile.mapping[0].id, 1);
    profile
}

fn text(profile: &Profile, index: i64) -> &str {
    &profile.string_table[usize::try_from(index).unwrap()]
}

/// The sample's frames, root first: the function of each location's
/// outermost line (the one the others were inlined into).
fn root_first(profile: &Profile, sample: &Sample) -> Vec<String> {
    sample
        .location_id
        .iter()
        .rev()
        .flat_map(|&id| {
            let location = &profile.location[id as usize - 1];
            location.line.iter().rev().map(|line| {
                let function = &profile.function[line.function_id as usize - 1];
                text(profile, function.name).to_string()
            })
        })
        .collect()
}

fn label<'a>(profile: &Profile, sample: &'a Sample, key: &str) -> Option<&'a Label> {
    sample
        .label
        .iter()
        .find(|label| text(profile, label.key) == key)
}

#[inline(never)]
fn make_rows(count: usize) -> Vec<Vec<u64>> {
    (0..count).map(|i| Vec::with_capacity(8 + i % 2)).collect()
}

#[profile_job]
fn load_rows() -> Vec<Vec<u64>> {
    make_rows(10)
}

fn scoped_heap_report() -> Report {
    let (rows, report) = Report::capture_of(|| {
        let kept = load_rows();
        drop(load_rows());
        kept
    });
    drop(rows);
    report
}

/// The callsite of the rows kept (the two calls of the job are two
/// callsites: the closure calls it from two lines), not that of the `Vec`
/// holding them (240 bytes).
fn rows_site(report: &Report) -> &Callsite {
    let sites: Vec<&Callsite> = report
        .callsites
        .iter()
        .filter(|site| is_rows(site.frames.iter().map(|f| f.function.as_str())))
        .filter(|site| site.total_bytes / site.total_blocks < 100.0)
        .collect();
    let (total, live) = sites.iter().fold((0.0, 0.0), |(t, l), s| {
        (t + s.total_blocks, l + s.live_blocks)
    });
    assert_eq!((total, live), (20.0, 10.0), "{sites:?}");
    sites
        .into_iter()
        .find(|site| site.live_blocks == 10.0)
        .expect("the rows kept")
}

/// Whether a stack holds `make_rows` (or its closure).
fn is_rows<'a>(mut frames: impl Iterator<Item = &'a str>) -> bool {
    frames.any(|f| f.contains("make_rows"))
}

#[test]
fn the_heap_profile_has_go_s_layout_and_the_report_s_numbers() {
    let report = scoped_heap_report();
    let profile = decode(&report.to_pprof(PprofKind::Heap).unwrap());
    let types: Vec<(&str, &str)> = profile
        .sample_type
        .iter()
        .map(|t| (text(&profile, t.r#type), text(&profile, t.unit)))
        .collect();
    assert_eq!(
        types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ]
    );
    let period_type = profile.period_type.as_ref().unwrap();
    assert_eq!(
        (
            text(&profile, period_type.r#type),
            text(&profile, period_type.unit)
        ),
        ("space", "bytes")
    );
    assert_eq!(profile.period, 1, "a scope counts every block");
    assert_eq!(text(&profile, profile.default_sample_type), "inuse_space");
    assert!(profile.time_nanos > 0);

    // The sums are the report's (exact here).
    let sum = |index: usize| profile.sample.iter().map(|s| s.value[index]).sum::<i64>();
    let report_sum = |f: fn(&Callsite) -> f64| report.callsites.iter().map(f).sum::<f64>() as i64;
    assert_eq!(sum(0), report_sum(|s| s.total_blocks));
    assert_eq!(sum(1), report_sum(|s| s.total_bytes));
    assert_eq!(sum(2), report_sum(|s| s.live_blocks));
    assert_eq!(sum(3), report_sum(|s| s.live_bytes));

    // The rows kept: 10 blocks, all still live.
    let site = rows_site(&report);
    let sample = profile
        .sample
        .iter()
        .find(|sample| {
            root_first(&profile, sample)
                .iter()
                .any(|f| f.ends_with("make_rows"))
                && sample.value[0] == site.total_blocks as i64
        })
        .expect("the rows' sample");
    assert_eq!(
        sample.value,
        [
            site.total_blocks as i64,
            site.total_bytes as i64,
            site.live_blocks as i64,
            site.live_bytes as i64
        ]
    );
    // Stacks start at the job path: the scope, then the job.
    let frames = root_first(&profile, sample);
    assert_eq!(
        frames[..2],
        [site.job_path[0].clone(), site.job_path[1].clone()],
        "{frames:?}"
    );
    assert!(frames[1].ends_with("load_rows"), "{frames:?}");
    assert!(
        frames.last().unwrap().ends_with("make_rows")
            || frames.iter().any(|f| f.ends_with("make_rows"))
    );
    let job = label(&profile, sample, "job").expect("a job label");
    assert!(text(&profile, job.str).ends_with("load_rows"));
    let bytes = label(&profile, sample, "bytes").expect("a bytes label");
    assert_eq!(text(&profile, bytes.num_unit), "bytes");
    assert_eq!(
        bytes.num as f64,
        (site.total_bytes / site.total_blocks).round()
    );
    // Functions carry their file; the job's frame its definition's line.
    let functions_with_files = profile
        .function
        .iter()
        .filter(|f| text(&profile, f.filename).ends_with("pprof_export.rs"))
        .count();
    assert!(functions_with_files >= 2, "make_rows and the job");

    // The executable, with its build id where the platform has one.
    let mapping = &profile.mapping[0];
    assert!(mapping.has_functions && mapping.has_filenames && mapping.has_line_numbers);
    assert_eq!(
        text(&profile, mapping.filename),
        std::env::current_exe().unwrap().display().to_string()
    );
    assert_eq!(
        text(&profile, mapping.build_id),
        report.program.build_id.as_deref().unwrap_or("")
    );
    if cfg!(target_os = "linux") {
        assert!(!text(&profile, mapping.build_id).is_empty());
    }
}

#[test]
fn the_allocs_profile_shows_allocated_space_first() {
    let report = scoped_heap_report();
    let heap = decode(&report.to_pprof(PprofKind::Heap).unwrap());
    let allocs = decode(&report.to_pprof(PprofKind::Allocs).unwrap());
    assert_eq!(text(&allocs, allocs.default_sample_type), "alloc_space");
    assert_eq!(heap.sample, allocs.sample, "the same samples");
}

#[test]
fn poisson_estimates_stay_unbiased_in_whole_numbers() {
    // 100 callsites of one sampled 512 KiB block each at one sample per
    // 512 KiB: each stands for 1/(1 - 1/e) = 1.58 blocks. Rounded one by
    // one they would sum to 200 blocks; the profile's sum stays within one
    // of the estimates' 158.2.
    let mut report = scoped_heap_report();
    report.scope = None;
    report.settings.sampling = Sampling::poisson();
    let weight = 1.0 / -(-1.0f64).exp_m1();
    let template = report.callsites[0].clone();
    report.callsites = (0..100)
        .map(|i| {
            let mut site = template.clone();
            site.frames[0].function = format!("site_{i}");
            site.total_blocks = weight;
            site.total_bytes = weight * 524288.0;
            site.live_blocks = 0.0;
            site.live_bytes = 0.0;
            site
        })
        .collect();
    let profile = decode(&report.to_pprof(PprofKind::Heap).unwrap());
    assert_eq!(profile.period, 512 * 1024);
    assert_eq!(profile.sample.len(), 100);
    for (index, estimate) in [100.0 * weight, 100.0 * weight * 524288.0]
        .into_iter()
        .enumerate()
    {
        let sum: i64 = profile.sample.iter().map(|s| s.value[index]).sum();
        assert!((sum as f64 - estimate).abs() <= 1.0, "{sum} vs {estimate}");
    }
    let comments: Vec<&str> = profile.comment.iter().map(|&c| text(&profile, c)).collect();
    assert!(
        comments.iter().any(|c| c.contains("unbiased estimates")),
        "{comments:?}"
    );
}

#[profile_job]
fn outer_job() {
    inner_job();
    std::hint::black_box(vec![0u8; 100]);
}

#[profile_job]
fn inner_job() {
    std::hint::black_box(vec![0u8; 10]);
}

#[test]
fn the_job_time_profile_holds_each_path_s_own_busy_time() {
    let ((), report) = Report::capture_of(|| {
        for _ in 0..3 {
            outer_job();
        }
    });
    let profile = decode(&report.to_pprof(PprofKind::JobTime).unwrap());
    let types: Vec<(&str, &str)> = profile
        .sample_type
        .iter()
        .map(|t| (text(&profile, t.r#type), text(&profile, t.unit)))
        .collect();
    assert_eq!(types, [("calls", "count"), ("busy", "nanoseconds")]);
    assert_eq!(text(&profile, profile.default_sample_type), "busy");
    assert_eq!(profile.sample.len(), report.job_paths.len());
    for path in &report.job_paths {
        let sample = profile
            .sample
            .iter()
            .find(|sample| root_first(&profile, sample) == path.path)
            .unwrap_or_else(|| panic!("a sample for {:?}", path.path));
        assert_eq!(sample.value[0], path.calls as i64);
        assert_eq!(sample.value[1], path.self_busy.as_nanos() as i64);
    }
    let inner = report
        .job_paths
        .iter()
        .find(|p| p.path.last().is_some_and(|n| n.ends_with("inner_job")))
        .expect("the inner job's path");
    assert_eq!(inner.calls, 3);
    assert_eq!(inner.path.len(), 3, "scope, outer, inner: {:?}", inner.path);
}

#[test]
fn write_pprof_writes_the_same_bytes_to_a_file() {
    let report = scoped_heap_report();
    let path = profiling_alloc::output::output_dir().join("pprof_export_test.pb.gz");
    report.write_pprof(PprofKind::Heap, &path).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        report.to_pprof(PprofKind::Heap).unwrap()
    );
    let error = report
        .write_pprof(PprofKind::Heap, "/proc/nonexistent/dir/heap.pb.gz")
        .unwrap_err();
    assert!(error.to_string().contains("/proc/nonexistent"), "{error}");
}

#[profile_job]
fn spin_job(rounds: u64) -> u64 {
    let mut x = std::hint::black_box(3u64);
    for i in 0..rounds {
        x = x.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(i);
    }
    std::hint::black_box(x)
}

/// The thread that runs [`spin_job`] while the CPU profile is taken.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const SPINNER: &str = "pprof-spin";

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn the_cpu_profile_has_go_s_layout_and_the_profile_s_samples() {
    let profiling = profiling_alloc::cpu::start(1000).expect("start");
    // On a thread of its own, named in the profile (a thread's name there is
    // the kernel's, at most 15 bytes: the test's own thread's is cut).
    let spinner = std::thread::Builder::new()
        .name(SPINNER.into())
        .spawn(|| {
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_millis(400) {
                spin_job(50_000);
            }
        })
        .unwrap();
    spinner.join().unwrap();
    let cpu = profiling.stop();
    let profile = decode(&cpu.to_pprof().unwrap());
    let types: Vec<(&str, &str)> = profile
        .sample_type
        .iter()
        .map(|t| (text(&profile, t.r#type), text(&profile, t.unit)))
        .collect();
    assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
    let period_type = profile.period_type.as_ref().unwrap();
    assert_eq!(
        (
            text(&profile, period_type.r#type),
            text(&profile, period_type.unit)
        ),
        ("cpu", "nanoseconds")
    );
    assert_eq!(profile.period, 1_000_000, "1 kHz: a millisecond a sample");
    assert_eq!(text(&profile, profile.default_sample_type), "cpu");
    assert!(profile.duration_nanos >= 400_000_000);
    // Every sample: nanoseconds = samples × period, a thread label; the
    // samples add up to the profile's.
    let mut total = 0;
    for sample in &profile.sample {
        assert_eq!(sample.value[1], sample.value[0] * profile.period);
        assert!(label(&profile, sample, "thread").is_some());
        total += sample.value[0];
    }
    assert_eq!(total as u64, cpu.samples);
    // The job is the root frame of its samples, labelled with it. Counted
    // on the spinner only: the profile samples every thread, and the tests
    // running beside this one take what CPU the machine gives them.
    let on_spinner: Vec<_> = profile
        .sample
        .iter()
        .filter(|sample| {
            label(&profile, sample, "thread").is_some_and(|l| text(&profile, l.str) == SPINNER)
        })
        .collect();
    let thread_total: i64 = on_spinner.iter().map(|sample| sample.value[0]).sum();
    let in_job: i64 = on_spinner
        .iter()
        .filter(|sample| {
            let frames = root_first(&profile, sample);
            frames[0].ends_with("spin_job")
                && label(&profile, sample, "job")
                    .is_some_and(|l| text(&profile, l.str).ends_with("spin_job"))
        })
        .map(|sample| sample.value[0])
        .sum();
    assert!(thread_total > 0, "no sample of {SPINNER}");
    assert!(
        in_job * 10 >= thread_total * 8,
        "{in_job} of {thread_total} samples of {SPINNER} in the job"
    );
}
