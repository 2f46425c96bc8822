//! `GET /`: one HTML page a person opens in a browser: the heap now, the
//! top callsites, the jobs, and links to every route. Without the token
//! (when one is set) it shows the links only.

use std::fmt::Write as _;

use super::http::Response;
use super::Shared;
use crate::units::{bytes, duration, grouped, whole};

/// Callsites listed on the page.
const TOP: usize = 10;

/// The routes the page links to, with what each gives.
const LINKS: [(&str, &str); 17] = [
    ("/metrics", "Prometheus metrics"),
    ("/debug/pprof/heap", "heap profile (pprof, in-use space)"),
    (
        "/debug/pprof/allocs",
        "allocation profile (pprof, allocated space)",
    ),
    (
        "/debug/pprof/profile?seconds=10",
        "CPU profile of the next 10 s (pprof)",
    ),
    (
        "/flamegraph/cpu.svg?seconds=10",
        "flamegraph: CPU time of the next 10 s",
    ),
    ("/report.json", "the whole report (JSON)"),
    ("/flamegraph/allocated.svg", "flamegraph: bytes allocated"),
    ("/flamegraph/live.svg", "flamegraph: bytes live"),
    ("/flamegraph/blocks.svg", "flamegraph: blocks allocated"),
    ("/flamegraph/jobs.svg", "flamegraph: job busy time"),
    ("/jobs", "jobs (JSON)"),
    ("/memory", "memory and its status (JSON)"),
    ("/cpu", "CPU use (JSON)"),
    ("/allocations", "top callsites and sizes (JSON)"),
    ("/leaks", "leak analysis (JSON)"),
    (
        "/bottlenecks",
        "bottlenecks: hot functions, jobs' CPU shares, recommendations (JSON; may take 5 s)",
    ),
    (
        "/profiles",
        "profiling sessions (JSON; POST /profiles?kind=cpu&seconds=N starts one)",
    ),
];

/// The page.
pub(super) fn index(shared: &Shared, authorized: bool) -> Response {
    let mut html = String::from(HEAD);
    if authorized {
        let program = std::env::args().next().unwrap_or_default();
        let _ = write!(html, "<h1>profiling-alloc: {}</h1>", escape(&program));
        heap(&mut html);
        status(&mut html, shared);
        let sites = callsites(&mut html);
        jobs(&mut html);
        findings(&mut html, shared, &sites);
    } else {
        html.push_str("<h1>profiling-alloc</h1>");
        html.push_str("<p class=note>This endpoint has a token: send it as <code>Authorization: Bearer &lt;token&gt;</code> or <code>X-API-Key</code> to see the numbers here and to use the routes below.</p>");
    }
    html.push_str("<h2>Routes</h2><ul>");
    for (path, what) in LINKS {
        let _ = write!(html, "<li><a href=\"{path}\">{path}</a>: {what}</li>");
    }
    html.push_str("<li><code>/debug/pprof/heap?seconds=N</code>: what is allocated over the next N seconds</li>");
    html.push_str("<li><code>POST /snapshot</code>: write a report to disk; <code>GET /snapshot/{id}</code> fetches it</li></ul>");
    let _ = write!(
        html,
        "<p class=note>Leak observations every {} s.</p></body></html>",
        shared.settings.leak_interval.as_secs_f64(),
    );
    Response::new(200, "text/html; charset=utf-8", html.into_bytes())
}

const HEAD: &str = "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>profiling-alloc</title><style>\
body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}\
table{border-collapse:collapse;margin-bottom:1.5em}td,th{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:right}\
td,th{white-space:nowrap}td:first-child,th:first-child,td.job,th.job{text-align:left;white-space:normal}.note{color:#666}code{background:#f3f3f3;padding:0 .2em}\
</style></head><body>";

/// The heap table.
fn heap(html: &mut String) {
    let heap = crate::heap_stats();
    html.push_str("<h2>Heap</h2>");
    if !heap.active {
        html.push_str(
            "<p class=note>The counting allocator is not installed: no heap numbers.</p>",
        );
        return;
    }
    html.push_str("<table><tr><th></th><th>bytes</th><th>blocks</th></tr>");
    let rows = [
        ("live now", heap.live_bytes, heap.live_blocks),
        ("at peak", heap.peak_bytes, heap.peak_blocks),
        ("allocated in all", heap.total_bytes, heap.total_blocks),
        ("freed", heap.freed_bytes, heap.freed_blocks),
    ];
    for (name, size, blocks) in rows {
        let _ = write!(
            html,
            "<tr><td>{name}</td><td>{}</td><td>{}</td></tr>",
            bytes(size),
            grouped(blocks)
        );
    }
    html.push_str("</table>");
}

/// The process's memory and the leak observer's verdict.
fn status(html: &mut String, shared: &Shared) {
    if let Some(rss) = super::process::memory().rss_bytes {
        let _ = write!(html, "<p>Resident memory: {}.", bytes(rss));
    } else {
        html.push_str("<p>");
    }
    match &*super::lock(&shared.last_leak_report) {
        Some(report) if !report.suspects.is_empty() => {
            let _ = write!(
                html,
                " <strong>{} callsite(s) grow like a leak</strong> (<a href=\"/leaks\">/leaks</a>).</p>",
                report.suspects.len()
            );
        }
        Some(report) => {
            let _ = write!(
                html,
                " No leak suspects over {} observation(s) (a suspect needs at least 4).</p>",
                report.snapshots
            );
        }
        None => html.push_str(" No leak observation yet.</p>"),
    }
}

/// The top callsites by bytes allocated; returns them all.
fn callsites(html: &mut String) -> Vec<crate::Callsite> {
    html.push_str("<h2>Top callsites</h2>");
    let sites = super::shared::sampled_callsites();
    if sites.is_empty() {
        html.push_str(
            "<p class=note>No callsites: sampling is off or nothing was sampled yet.</p>",
        );
        return sites;
    }
    html.push_str(
        "<table><tr><th>where</th><th>allocated</th><th>blocks</th><th>live</th><th class=job>job</th></tr>",
    );
    for site in sites.iter().take(TOP) {
        let place = site
            .frames
            .first()
            .map_or_else(|| "?".to_string(), ToString::to_string);
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=job>{}</td></tr>",
            escape(&place),
            bytes(whole(site.total_bytes)),
            grouped(whole(site.total_blocks)),
            bytes(whole(site.live_bytes)),
            escape(&site.job_path.join(" › "))
        );
    }
    html.push_str("</table>");
    sites
}

/// The findings, with their evidence.
fn findings(html: &mut String, shared: &Shared, sites: &[crate::Callsite]) {
    let found = shared.findings(sites);
    if found.is_empty() {
        return;
    }
    html.push_str("<h2>Findings</h2><ul>");
    for finding in &found {
        let evidence: Vec<String> = finding
            .evidence
            .iter()
            .map(|e| format!("{} = {}", e.name, number(e.value)))
            .collect();
        let _ = write!(
            html,
            "<li>{} <span class=note>({})</span></li>",
            escape(&finding.message),
            escape(&evidence.join(", "))
        );
    }
    html.push_str("</ul>");
}

/// The jobs table.
fn jobs(html: &mut String) {
    let jobs = crate::job_stats();
    html.push_str("<h2>Jobs</h2>");
    if jobs.is_empty() {
        html.push_str("<p class=note>No job has run yet.</p>");
        return;
    }
    html.push_str("<table><tr><th>job</th><th>calls</th><th>failed</th><th>p50</th><th>p95</th><th>p99</th><th>allocated per call</th></tr>");
    for job in &jobs {
        let per_call = job
            .allocations
            .as_ref()
            .and_then(|a| a.total_bytes.checked_div(a.measured_calls))
            .map_or_else(|| "–".to_string(), bytes);
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&job.name),
            grouped(job.calls),
            grouped(job.errors + job.panics),
            duration(job.duration.p50),
            duration(job.duration.p95),
            duration(job.duration.p99),
            per_call
        );
    }
    html.push_str("</table>");
}

/// A number for people: a share with three decimals, a count whole and
/// grouped.
fn number(value: f64) -> String {
    if value.abs() < 10.0 && value.fract() != 0.0 {
        format!("{value:.3}")
    } else {
        grouped(whole(value))
    }
}

/// Text made safe inside HTML elements and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_reads_as_shares_and_counts() {
        assert_eq!(number(0.821_000_6), "0.821");
        assert_eq!(number(68_965.886), "68,966");
        assert_eq!(number(3.0), "3");
    }

    #[test]
    fn rust_generics_are_escaped() {
        assert_eq!(
            escape("<alloc::vec::Vec<T> as Clone>::clone & \"x\""),
            "&lt;alloc::vec::Vec&lt;T&gt; as Clone&gt;::clone &amp; &quot;x&quot;"
        );
    }
}
