//! A [`Plan`] for people: text for a terminal, markdown for a pull request
//! or a decision document.

use std::fmt::Write as _;
use std::time::Duration;

use super::plan::{JobPlan, Plan, PlanOption};
use crate::units::{bytes, duration, grouped, memory_size, vcpus};

impl Plan {
    /// The plan as text: per job, what it needs, the recommendation, a
    /// table of every platform's option, why each was chosen or rejected,
    /// and the sweep of sizes.
    pub fn to_text(&self) -> String {
        crate::capture::reading(|| {
            let mut out = String::new();
            let _ = writeln!(out, "{}", self.headline());
            for job in &self.jobs {
                out.push('\n');
                job_text(&mut out, job);
            }
            if !self.notes.is_empty() {
                let _ = writeln!(out, "\nnotes:");
                for note in &self.notes {
                    let _ = writeln!(out, "  - {note}");
                }
            }
            out
        })
    }

    /// The plan as markdown: a section per job with a table of options.
    pub fn to_markdown(&self) -> String {
        crate::capture::reading(|| {
            let mut out = format!("## Deployment plan\n\n{}\n", self.headline());
            for job in &self.jobs {
                job_markdown(&mut out, job);
            }
            if !self.notes.is_empty() {
                out.push_str("\n### Notes\n\n");
                for note in &self.notes {
                    let _ = writeln!(out, "- {note}");
                }
            }
            out
        })
    }

    fn headline(&self) -> String {
        let s = &self.settings;
        let mut targets = Vec::new();
        if let Some(p95) = s.p95_target {
            targets.push(format!("p95 ≤ {}", duration(p95)));
        }
        if let Some(p99) = s.p99_target {
            targets.push(format!("p99 ≤ {}", duration(p99)));
        }
        let targets = if targets.is_empty() {
            "no latency target".to_string()
        } else {
            targets.join(", ")
        };
        format!(
            "Plan for {} calls/s, {targets}; prices of {} in {} (list prices, no free tiers); VMs at {:.0}% CPU utilization",
            crate::units::rate(s.rate_per_second),
            self.prices.as_of,
            self.prices.currency,
            s.vm_utilization * 100.0
        )
    }
}

fn ns(n: u64) -> String {
    if n == u64::MAX {
        "unbounded".into()
    } else {
        duration(Duration::from_nanos(n))
    }
}

/// An amount in US dollars (a price sheet's currency is USD).
fn money(value: f64) -> String {
    if value >= 100.0 {
        format!("${}", grouped(value.round() as u64))
    } else if value >= 1.0 {
        format!("${value:.2}")
    } else {
        format!("${value:.4}")
    }
}

fn measured_line(job: &JobPlan) -> String {
    let b = &job.baseline;
    format!(
        "measured p50 {}, p95 {}, p99 {}, {:.1}% errors; needs {} resident besides the runtime",
        duration(b.duration.p50),
        duration(b.duration.p95),
        duration(b.duration.p99),
        b.error_rate * 100.0,
        bytes(job.memory_need_bytes)
    )
}

fn recommendation(job: &JobPlan) -> String {
    match job
        .recommended
        .as_ref()
        .and_then(|id| job.options.iter().find(|o| &o.platform == id))
    {
        Some(best) => format!(
            "recommended: {}{}: {} per million calls, {} a month",
            best.name,
            size(best).map(|s| format!(", {s}")).unwrap_or_default(),
            money(best.cost_per_million_usd),
            money(best.monthly_cost_usd)
        ),
        None => "fits nowhere: see the reasons below".to_string(),
    }
}

fn size(option: &PlanOption) -> Option<String> {
    (option.memory_bytes > 0).then(|| {
        format!(
            "{} / {}",
            memory_size(option.memory_bytes),
            vcpus(option.vcpus)
        )
    })
}

fn job_text(out: &mut String, job: &JobPlan) {
    let _ = writeln!(out, "job {:?}: {}", job.name, measured_line(job));
    let _ = writeln!(out, "  {}", recommendation(job));
    let width = job
        .options
        .iter()
        .map(|o| o.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let _ = writeln!(
        out,
        "\n  {:<width$} {:>24} {:>11} {:>11} {:>11} {:>10}  fits",
        "option", "size", "p95 pred.", "p99 pred.", "per M calls", "a month"
    );
    for o in &job.options {
        let _ = writeln!(
            out,
            "  {:<width$} {:>24} {:>11} {:>11} {:>11} {:>10}  {}",
            o.name,
            size(o).unwrap_or_else(|| "-".into()),
            ns(o.predicted_p95_ns),
            ns(o.predicted_p99_ns),
            money(o.cost_per_million_usd),
            money(o.monthly_cost_usd),
            if o.fits { "yes" } else { "no" }
        );
    }
    let _ = writeln!(out, "\n  why:");
    for o in &job.options {
        for reason in &o.reasons {
            let _ = writeln!(out, "    {}: {reason}", o.platform);
        }
    }
    let mut platforms: Vec<&str> = job.sweep.iter().map(|p| p.platform.as_str()).collect();
    platforms.dedup();
    if !platforms.is_empty() {
        let _ = writeln!(out, "\n  sweep (size: predicted p95, per million calls):");
        for platform in platforms {
            let points: Vec<String> = job
                .sweep
                .iter()
                .filter(|p| p.platform == platform)
                .map(|p| {
                    format!(
                        "{}: {}, {}{}",
                        memory_size(p.memory_bytes),
                        ns(p.predicted_p95_ns),
                        money(p.cost_per_million_usd),
                        if p.fits { "" } else { " ✗" }
                    )
                })
                .collect();
            let _ = writeln!(out, "    {platform}: {}", points.join("; "));
        }
    }
    for note in &job.notes {
        let _ = writeln!(out, "  note: {note}");
    }
}

fn job_markdown(out: &mut String, job: &JobPlan) {
    let _ = writeln!(out, "\n### `{}`\n", job.name);
    let _ = writeln!(
        out,
        "{}.\n\n**{}**\n",
        measured_line(job),
        recommendation(job)
    );
    let _ = writeln!(
        out,
        "| option | size | p95 (predicted) | p99 (predicted) | per million calls | a month | fits | why |\n|---|---|---|---|---|---|---|---|"
    );
    for o in &job.options {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            o.name,
            size(o).unwrap_or_else(|| "–".into()),
            ns(o.predicted_p95_ns),
            ns(o.predicted_p99_ns),
            money(o.cost_per_million_usd),
            money(o.monthly_cost_usd),
            if o.fits { "✅" } else { "❌" },
            o.reasons.join("; ").replace('|', "\\|")
        );
    }
    if !job.notes.is_empty() {
        out.push('\n');
        for note in &job.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
}
