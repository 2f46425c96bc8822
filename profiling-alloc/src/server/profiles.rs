//! Profiles and reports: pprof heap profiles (now, or the allocations of
//! the next N seconds as Go's `?seconds=N` gives them), the report as JSON,
//! and flamegraphs.

use std::collections::HashMap;
use std::time::Duration;

use super::http::{Response, JSON};
use super::Shared;
use crate::{output::PprofKind, Callsite, Error, FlameKind, Report};

/// The content type of gzipped pprof profiles.
const PPROF: &str = "application/octet-stream";

/// `GET /debug/pprof/heap` or `/allocs`, optionally over `seconds`.
pub(super) fn pprof(shared: &Shared, allocs: bool, seconds: Option<u64>) -> Response {
    let kind = if allocs {
        PprofKind::Allocs
    } else {
        PprofKind::Heap
    };
    let report = match seconds {
        None => shared.report(),
        Some(seconds) => {
            let start = shared.report();
            shared.sleep(Duration::from_secs(seconds));
            allocated_since(shared.report(), &start)
        }
    };
    match report.to_pprof(kind) {
        Ok(bytes) => Response::new(200, PPROF, bytes).with_header(
            "Content-Disposition",
            format!("attachment; filename=\"{}.pb.gz\"", kind.name()),
        ),
        Err(error) => failed(&error),
    }
}

/// `end` with its allocation counts made those since `start` (heap totals
/// and each callsite's allocated blocks and bytes); live numbers stay those
/// at the end, as in Go's delta heap profiles. Callsites with nothing
/// allocated in between and nothing live are left out.
pub(super) fn allocated_since(mut end: Report, start: &Report) -> Report {
    let before: HashMap<(&[crate::Frame], &[String]), &Callsite> = start
        .callsites
        .iter()
        .map(|site| ((site.frames.as_slice(), site.job_path.as_slice()), site))
        .collect();
    for site in &mut end.callsites {
        if let Some(old) = before.get(&(site.frames.as_slice(), site.job_path.as_slice())) {
            site.total_blocks = (site.total_blocks - old.total_blocks).max(0.0);
            site.total_bytes = (site.total_bytes - old.total_bytes).max(0.0);
            site.total_blocks_variance =
                (site.total_blocks_variance - old.total_blocks_variance).max(0.0);
            site.total_bytes_variance =
                (site.total_bytes_variance - old.total_bytes_variance).max(0.0);
            site.samples = site.samples.saturating_sub(old.samples);
            site.reallocated_blocks = (site.reallocated_blocks - old.reallocated_blocks).max(0.0);
            for (now, before) in site.lifetimes.iter_mut().zip(&old.lifetimes) {
                *now = (*now - before).max(0.0);
            }
            for (min, blocks) in &mut site.size_classes {
                let before = old.size_classes.iter().find(|(m, _)| m == min);
                *blocks = (*blocks - before.map_or(0.0, |(_, b)| *b)).max(0.0);
            }
        }
    }
    end.callsites
        .retain(|site| site.total_bytes > 0.0 || site.live_bytes > 0.0);
    let heap = &mut end.heap;
    heap.total_blocks = heap.total_blocks.saturating_sub(start.heap.total_blocks);
    heap.total_bytes = heap.total_bytes.saturating_sub(start.heap.total_bytes);
    heap.freed_blocks = heap.freed_blocks.saturating_sub(start.heap.freed_blocks);
    heap.freed_bytes = heap.freed_bytes.saturating_sub(start.heap.freed_bytes);
    heap.reallocs = heap.reallocs.saturating_sub(start.heap.reallocs);
    end.dropped_samples = end.dropped_samples.saturating_sub(start.dropped_samples);
    end
}

/// `GET /debug/pprof/profile` or `/flamegraph/cpu.svg`: CPU samples of the
/// next `seconds` at `frequency` Hz, as a pprof CPU profile or a flamegraph.
/// 429 (with `Retry-After`) when the program runs a CPU profile of its own.
pub(super) fn cpu(shared: &Shared, seconds: u64, frequency: u32, svg: bool) -> Response {
    let profiling = match crate::cpu::start(frequency) {
        Ok(profiling) => profiling,
        Err(Error::CpuAlreadyRunning) => {
            return Response::error(
                429,
                "rate_limited",
                "the program is running a CPU profile of its own; one runs at a time",
            )
            .with_header("Retry-After", seconds.to_string());
        }
        Err(error @ (Error::CpuUnsupported { .. } | Error::CpuSignalInUse)) => {
            return Response::error(501, "unsupported", &error.to_string());
        }
        Err(error) => return failed(&error),
    };
    shared.sleep(Duration::from_secs(seconds));
    let profile = profiling.stop();
    super::bottlenecks::keep(shared, "GET /debug/pprof/profile".to_string(), &profile);
    if svg {
        return svg_answer(FlameKind::Cpu, |bytes| profile.flamegraph(bytes));
    }
    match profile.to_pprof() {
        Ok(bytes) => Response::new(200, PPROF, bytes)
            .with_header("Content-Disposition", "attachment; filename=\"cpu.pb.gz\""),
        Err(error) => failed(&error),
    }
}

/// `GET /report.json`.
pub(super) fn report_json(shared: &Shared) -> Response {
    Response::new(200, JSON, shared.report().to_json().into_bytes())
}

/// `GET /flamegraph/<kind>.svg`: 404 with the reason when there is nothing
/// to draw (sampling off, no jobs yet).
pub(super) fn flamegraph(kind: FlameKind) -> Response {
    svg_answer(kind, |svg| Report::capture().flamegraph(kind, svg))
}

/// The SVG `draw` writes, or a 404 with the reason when there is nothing
/// to draw.
fn svg_answer(kind: FlameKind, draw: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>) -> Response {
    let mut svg = Vec::new();
    match draw(&mut svg) {
        Ok(()) => Response::new(200, "image/svg+xml", svg),
        Err(Error::NoData { reason, .. }) => Response::error(
            404,
            "no_data",
            &format!("nothing to draw in the {kind} flamegraph yet: {reason}"),
        ),
        Err(error) => failed(&error),
    }
}

/// A 500 naming the error.
fn failed(error: &Error) -> Response {
    Response::error(500, "internal", &error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(function: &str, total_bytes: f64, live_bytes: f64) -> Callsite {
        let frame = crate::Frame {
            function: function.into(),
            file: None,
            line: None,
            inlined: false,
        };
        Callsite {
            frames: vec![frame],
            truncated: false,
            job_path: Vec::new(),
            samples: 1,
            total_blocks: total_bytes / 8.0,
            total_bytes,
            live_blocks: live_bytes / 8.0,
            live_bytes,
            total_blocks_variance: 0.0,
            total_bytes_variance: 0.0,
            size_classes: Vec::new(),
            lifetimes: Vec::new(),
            reallocated_blocks: 0.0,
        }
    }

    #[test]
    fn a_delta_keeps_what_was_allocated_in_between_and_what_lives_at_the_end() {
        let mut start = Report::capture();
        start.callsites = vec![site("grew", 800.0, 0.0), site("idle", 80.0, 0.0)];
        start.heap.total_bytes = 1_000;
        let mut end = start.clone();
        end.callsites = vec![
            site("grew", 1_800.0, 16.0),
            site("idle", 80.0, 0.0),
            site("new", 40.0, 0.0),
        ];
        end.heap.total_bytes = 2_500;
        let delta = allocated_since(end, &start);
        let bytes: Vec<(&str, f64, f64)> = delta
            .callsites
            .iter()
            .map(|s| (s.frames[0].function.as_str(), s.total_bytes, s.live_bytes))
            .collect();
        assert_eq!(bytes, [("grew", 1_000.0, 16.0), ("new", 40.0, 0.0)]);
        assert_eq!(delta.heap.total_bytes, 1_500);
    }
}
