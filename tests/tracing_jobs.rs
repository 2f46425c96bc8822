//! `profiling_alloc::tracing::JobLayer`: spans as jobs. Exact allocations
//! per entered interval, summed over threads and over an instrumented
//! future's polls; job paths that follow the span tree; errors; which spans
//! are selected; beside the fmt layer and an `EnvFilter`.

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use common::{job as stats, yield_once};
use profiling_alloc::tracing::JobLayer;
use profiling_alloc::{measure, profile_job, AllocDelta, ProfilingAllocator};
use tracing::{info_span, Instrument, Level};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

/// The job a span named `name` in this file records.
fn span_job(name: &str) -> profiling_alloc::JobStats {
    stats(&format!("{}::{name}", module_path!()))
}

fn recorded(name: &str) -> bool {
    let name = format!("{}::{name}", module_path!());
    profiling_alloc::job_stats()
        .iter()
        .any(|job| job.name == name && job.calls > 0)
}

/// Runs `f` with a subscriber of the registry and `layer` as this thread's
/// default.
fn with_layer<R>(layer: JobLayer, f: impl FnOnce() -> R) -> R {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f)
}

/// Allocates `blocks` blocks of 100 bytes and keeps one of them.
fn work(blocks: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    for i in 0..blocks {
        let block = black_box(vec![i as u8; 100]);
        if i == 0 {
            kept = block;
        }
    }
    kept
}

/// Adds `b` to `a` (counts only).
fn add(a: &mut (u64, u64, u64), d: &AllocDelta) {
    a.0 += d.total_blocks;
    a.1 += d.total_bytes;
    a.2 += d.freed_bytes;
}

#[test]
fn a_span_counts_what_its_intervals_allocate_exactly() {
    let mut measured = (0, 0, 0);
    let mut kept = Vec::new();
    with_layer(JobLayer::new(), || {
        let span = info_span!("exact_intervals");
        for blocks in [3, 5, 7] {
            let (block, delta) = span.in_scope(|| measure(|| work(blocks)));
            add(&mut measured, &delta);
            kept.push(block);
            // Between intervals: not the span's.
            black_box(vec![0u8; 5000]);
        }
    });
    let job = span_job("exact_intervals");
    assert_eq!(job.calls, 1, "one call when the span closes");
    let alloc = job.allocations.unwrap();
    assert_eq!(
        (alloc.total_blocks, alloc.total_bytes, alloc.freed_bytes),
        measured
    );
    assert_eq!(alloc.live_bytes, 300, "three blocks kept");
    // Each interval reached 200 B above where it started (the block it kept
    // and one temporary); the last started 200 B up.
    assert_eq!(alloc.peak_bytes_max, 400);
    assert_eq!((job.errors, job.panics), (0, 0));
    let path = profiling_alloc::jobs::job_paths()
        .into_iter()
        .find(|path| path.path == [format!("{}::exact_intervals", module_path!())])
        .unwrap();
    assert_eq!(path.calls, 1);
    assert!(path.busy <= path.total, "busy time is within the wall time");
}

#[test]
fn a_span_entered_on_two_threads_sums_both() {
    let mut measured = (0, 0, 0);
    with_layer(JobLayer::new(), || {
        let span = info_span!("two_threads");
        // Both threads are in the span at once; the thread is started and
        // joined outside it.
        let both_in = std::sync::Barrier::new(2);
        let both_done = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| {
                both_in.wait();
                let (_, there) = span.in_scope(|| measure(|| work(4)));
                both_done.wait();
                there
            });
            let entered = span.enter();
            both_in.wait();
            let (kept, here) = measure(|| work(2));
            both_done.wait();
            drop(entered);
            drop(kept); // outside the span
            add(&mut measured, &here);
            add(&mut measured, &other.join().unwrap());
        });
    });
    let alloc = span_job("two_threads").allocations.unwrap();
    assert_eq!(
        (alloc.total_blocks, alloc.total_bytes, alloc.freed_bytes),
        measured
    );
    assert_eq!(measured.0, 6);
}

#[profile_job(name = "job-inside-a-span")]
fn job_inside() -> Vec<u8> {
    vec![1; 64]
}

#[test]
fn job_paths_follow_the_span_tree_across_threads() {
    with_layer(JobLayer::new(), || {
        let outer = info_span!("tree_outer");
        let _outer = outer.enter();
        let inner = info_span!("tree_inner");
        // The child is entered on another thread than its parent.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _default = tracing::dispatcher::set_default(&dispatch);
                inner.in_scope(|| {
                    black_box(job_inside());
                    // A span made here, on this thread, inside `inner`.
                    info_span!("tree_leaf").in_scope(|| black_box(vec![0u8; 8]));
                });
            });
        });
        // A root span starts a path of its own.
        info_span!(parent: None, "tree_root").in_scope(|| ());
    });
    let name = |span: &str| format!("{}::{span}", module_path!());
    let paths: Vec<Vec<String>> = profiling_alloc::jobs::job_paths()
        .into_iter()
        .map(|path| path.path)
        .collect();
    for expected in [
        vec![name("tree_outer")],
        vec![name("tree_outer"), name("tree_inner")],
        vec![
            name("tree_outer"),
            name("tree_inner"),
            "job-inside-a-span".to_string(),
        ],
        vec![name("tree_outer"), name("tree_inner"), name("tree_leaf")],
        vec![name("tree_root")],
    ] {
        assert!(paths.contains(&expected), "{expected:?} in {paths:?}");
    }
}

#[test]
fn errors_come_from_error_fields_and_error_events() {
    with_layer(JobLayer::new(), || {
        info_span!("err_field", error = "timeout").in_scope(|| ());
        info_span!("err_field", error = false).in_scope(|| ());
        let recorded_later = info_span!("err_field", error = tracing::field::Empty);
        recorded_later.record("error", "refused");
        drop(recorded_later);

        let span = info_span!("err_event");
        span.in_scope(|| {
            // The innermost recorded span fails, not its parent.
            info_span!("err_event_child").in_scope(|| tracing::error!("failed"));
            tracing::warn!("a warning is no error");
        });
        drop(span);
        info_span!("err_event").in_scope(|| tracing::error!("failed"));
    });
    let field = span_job("err_field");
    assert_eq!((field.calls, field.errors), (3, 2));
    let event = span_job("err_event");
    assert_eq!((event.calls, event.errors), (2, 1));
    assert_eq!(span_job("err_event_child").errors, 1);
}

#[test]
fn a_panic_in_an_entered_span_counts_as_one() {
    with_layer(JobLayer::new(), || {
        let span = info_span!("panicking");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            span.in_scope(|| panic!("boom"))
        }));
        assert!(result.is_err());
    });
    let job = span_job("panicking");
    assert_eq!((job.calls, job.panics), (1, 1));
}

#[test]
fn spans_are_selected_by_name_target_level_and_field() {
    with_layer(JobLayer::new().with_span_name("sel_name_yes"), || {
        info_span!("sel_name_yes").in_scope(|| ());
        info_span!("sel_name_no").in_scope(|| ());
    });
    assert!(recorded("sel_name_yes"));
    assert!(!recorded("sel_name_no"));

    with_layer(JobLayer::new().with_max_level(Level::INFO), || {
        tracing::warn_span!("sel_level_warn").in_scope(|| ());
        tracing::debug_span!("sel_level_debug").in_scope(|| ());
    });
    assert!(recorded("sel_level_warn"));
    assert!(!recorded("sel_level_debug"));

    with_layer(JobLayer::new().with_field("route"), || {
        info_span!("sel_field_yes", route = "/a").in_scope(|| ());
        info_span!("sel_field_no", other = 1).in_scope(|| ());
    });
    assert!(recorded("sel_field_yes"));
    assert!(!recorded("sel_field_no"));

    with_layer(JobLayer::new().with_target("elsewhere"), || {
        tracing::info_span!(target: "elsewhere::db", "sel_target").in_scope(|| ());
        tracing::info_span!(target: "elsewhere_not", "sel_target").in_scope(|| ());
        info_span!("sel_target_here").in_scope(|| ());
    });
    assert_eq!(stats("elsewhere::db::sel_target").calls, 1);
    assert!(!profiling_alloc::job_stats()
        .iter()
        .any(|job| job.name == "elsewhere_not::sel_target"));
    assert!(!recorded("sel_target_here"));
}

#[test]
fn a_field_can_name_the_job() {
    with_layer(JobLayer::new().name_from_field("http.route"), || {
        for _ in 0..2 {
            info_span!("request", http.route = "/named/{id}").in_scope(|| ());
        }
        info_span!("request", other = 1).in_scope(|| ());
        info_span!("request", http.route = 42).in_scope(|| ());
    });
    assert_eq!(stats("/named/{id}").calls, 2);
    assert_eq!(stats("42").calls, 1, "a non-string value by its Debug form");
    assert!(recorded("request"), "without the field: target::name");
}

#[test]
fn beside_fmt_and_an_env_filter_filtered_spans_record_nothing() {
    let here = module_path!();
    // A global filter: DEBUG spans of this crate never exist. The fmt
    // layer formats the span's fields when it is made, outside its
    // intervals.
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new(format!("{here}=info")))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .with(JobLayer::new());
    let mut measured = (0, 0, 0);
    tracing::subscriber::with_default(subscriber, || {
        let span = info_span!("beside_fmt", user = "someone");
        let (_, delta) = span.in_scope(|| measure(|| work(3)));
        add(&mut measured, &delta);
        tracing::debug_span!("beside_fmt_debug").in_scope(|| ());
    });
    let alloc = span_job("beside_fmt").allocations.unwrap();
    assert_eq!(
        (alloc.total_blocks, alloc.total_bytes, alloc.freed_bytes),
        measured,
        "what the fmt layer formats is not the span's"
    );
    assert!(!recorded("beside_fmt_debug"));

    // A per-layer filter: the fmt layer sees every span, ours only WARN.
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .with(JobLayer::new().with_filter(EnvFilter::new(format!("{here}=warn"))));
    tracing::subscriber::with_default(subscriber, || {
        let warn = tracing::warn_span!("per_layer_warn");
        let _warn = warn.enter();
        let info = info_span!("per_layer_info");
        let _info = info.enter();
        tracing::warn_span!("per_layer_child").in_scope(|| ());
    });
    assert!(recorded("per_layer_warn"));
    assert!(!recorded("per_layer_info"));
    let paths: Vec<Vec<String>> = profiling_alloc::jobs::job_paths()
        .into_iter()
        .map(|path| path.path)
        .collect();
    let expected = vec![
        format!("{here}::per_layer_warn"),
        format!("{here}::per_layer_child"),
    ];
    assert!(
        paths.contains(&expected),
        "the filtered-out span is skipped in the path: {paths:?}"
    );
}

#[test]
fn an_instrumented_future_moving_between_workers_is_counted_exactly() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(JobLayer::new());
    let blocks = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    tracing::subscriber::with_default(subscriber, || {
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let (blocks, bytes) = (blocks.clone(), bytes.clone());
                let future = async move {
                    for step in 0..20 {
                        let (_, delta) = measure(|| work(1 + (task + step) % 3));
                        blocks.fetch_add(delta.total_blocks, Relaxed);
                        bytes.fetch_add(delta.total_bytes, Relaxed);
                        yield_once().await;
                    }
                };
                runtime.spawn(future.instrument(info_span!("instrumented_task", task)))
            })
            .collect();
        runtime.block_on(async {
            for task in tasks {
                task.await.unwrap();
            }
        });
    });
    let job = span_job("instrumented_task");
    assert_eq!(job.calls, 8);
    let alloc = job.allocations.unwrap();
    assert_eq!(alloc.total_blocks, blocks.load(Relaxed));
    assert_eq!(alloc.total_bytes, bytes.load(Relaxed));
}

#[test]
fn a_span_never_entered_records_a_call_and_nothing_else() {
    with_layer(JobLayer::new(), || drop(info_span!("never_entered")));
    let job = span_job("never_entered");
    assert_eq!(job.calls, 1);
    assert_eq!(job.allocations.unwrap().total_blocks, 0);
}

#[test]
fn the_layer_allocates_nothing_per_span() {
    let spans = |dispatch: &tracing::Dispatch| {
        tracing::dispatcher::with_default(dispatch, || {
            measure(|| {
                for i in 0..1000 {
                    info_span!("per_span_cost", i).in_scope(|| black_box(i));
                }
            })
            .1
        })
    };
    let registry = tracing::Dispatch::new(tracing_subscriber::registry());
    let layered = tracing::Dispatch::new(tracing_subscriber::registry().with(JobLayer::new()));
    // A new registry's pools grow on first use, with or without the layer
    // (the layer's own tables are the profiler's memory, never counted).
    spans(&registry);
    spans(&layered);
    let (alone, with_layer) = (spans(&registry), spans(&layered));
    assert_eq!((alone.total_blocks, with_layer.total_blocks), (0, 0));
    assert_eq!(span_job("per_span_cost").calls, 2000);
}

#[test]
fn two_layers_in_one_subscriber_both_count_exactly() {
    // Each layer leaves a span in the order it entered it: out of order for
    // one of them, every time.
    let subscriber = tracing_subscriber::registry()
        .with(JobLayer::new().with_span_name("two_layers_outer"))
        .with(JobLayer::new().with_span_name("two_layers_inner"))
        .with(JobLayer::new().with_span_name("two_layers_inner"));
    let mut measured = (0, 0, 0);
    tracing::subscriber::with_default(subscriber, || {
        let outer = info_span!("two_layers_outer");
        let _outer = outer.enter();
        let inner = info_span!("two_layers_inner");
        let (kept, delta) = inner.in_scope(|| measure(|| work(3)));
        add(&mut measured, &delta);
        drop(kept);
    });
    let here = module_path!();
    let inner = span_job("two_layers_inner");
    assert_eq!(inner.calls, 2, "one call per layer");
    let alloc = inner.allocations.unwrap();
    assert_eq!(
        (alloc.total_blocks, alloc.total_bytes),
        (2 * measured.0, 2 * measured.1)
    );
    assert_eq!(alloc.peak_bytes_max, 200, "each layer's peak is the span's");
    // The thread's path came back whole: a job made now is at the top.
    profiling_alloc::jobs::job("after-two-layers", || ());
    let paths: Vec<Vec<String>> = profiling_alloc::jobs::job_paths()
        .into_iter()
        .map(|path| path.path)
        .collect();
    assert!(
        paths.contains(&vec!["after-two-layers".to_string()]),
        "{paths:?}"
    );
    assert!(paths.contains(&vec![
        format!("{here}::two_layers_outer"),
        format!("{here}::two_layers_inner")
    ]));
}

#[test]
fn spans_left_out_of_order_restore_the_thread() {
    with_layer(JobLayer::new(), || {
        let a = info_span!("out_of_order_a");
        let b = info_span!("out_of_order_b");
        let entered_a = a.enter();
        let entered_b = b.enter();
        drop(entered_a);
        black_box(vec![0u8; 10]); // still in `b`
        drop(entered_b);
    });
    let b = span_job("out_of_order_b").allocations.unwrap();
    assert_eq!(b.total_blocks, 1);
    profiling_alloc::jobs::job("after-out-of-order", || ());
    let paths: Vec<Vec<String>> = profiling_alloc::jobs::job_paths()
        .into_iter()
        .map(|path| path.path)
        .collect();
    assert!(
        paths.contains(&vec!["after-out-of-order".to_string()]),
        "{paths:?}"
    );
}
