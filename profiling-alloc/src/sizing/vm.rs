//! VMs against a job at a call rate: the vCPUs the rate needs at a target
//! utilization, the memory its concurrent calls need, and the cheapest
//! shape (and number of instances) of one provider's catalog that holds
//! both.

use super::demand::JobDemand;
use super::faas::nanos;
use super::model::CpuShare;
use super::plan::{OptionKind, PlanOption, PlanSettings};
use super::prices::{VmCatalog, VmShape};
use crate::units::{bytes, duration_secs};

const MIB: u64 = 1 << 20;

/// The provider's id in a plan (`vm-aws`) and its name for people.
pub(crate) fn provider_label(provider: &str) -> (String, String) {
    let name = match provider {
        "aws" => "AWS EC2",
        "gcp" => "Google Compute Engine",
        "azure" => "Azure Virtual Machines",
        other => other,
    };
    (format!("vm-{provider}"), name.to_string())
}

/// One shape with a number of instances that holds the load.
struct Fit<'a> {
    shape: &'a VmShape,
    instances: u32,
    concurrency: u64,
    memory_per_instance: u64,
    p50: f64,
    p95: f64,
    p99: f64,
    latency_failures: Vec<String>,
}

/// The cheapest way `provider`'s shapes hold the job at the plan's rate.
pub(crate) fn evaluate(
    provider: &str,
    catalog: &VmCatalog,
    demand: &JobDemand,
    need_bytes: u64,
    settings: &PlanSettings,
    hours_per_month: f64,
) -> PlanOption {
    let (id, name) = provider_label(provider);
    let cpu_per_call = demand.cpu_per_call();
    let vcpus_needed = settings.rate_per_second * cpu_per_call / settings.vm_utilization;
    let baseline = catalog.baseline_mib.saturating_mul(MIB);
    let shapes = catalog.shapes.iter().filter(|s| s.provider == provider);
    let fits: Vec<Fit<'_>> = shapes
        .filter_map(|shape| fit(shape, demand, need_bytes, baseline, vcpus_needed, settings))
        .collect();
    let cost = |fit: &Fit<'_>| f64::from(fit.instances) * fit.shape.hourly;
    // Cheapest first; of equal cost, fewer instances.
    let order = |a: &&Fit<'_>, b: &&Fit<'_>| {
        cost(a)
            .total_cmp(&cost(b))
            .then(a.instances.cmp(&b.instances))
    };
    let best = fits
        .iter()
        .filter(|f| f.latency_failures.is_empty())
        .min_by(order)
        .or_else(|| fits.iter().min_by(order));
    let calls_per_month = settings.rate_per_second * 3600.0 * hours_per_month;
    let Some(best) = best else {
        let reason = format!(
            "no shape holds it, even {} instances: {vcpus_needed:.1} vCPUs needed at {:.0}% utilization, and per call {} resident",
            settings.max_instances,
            settings.vm_utilization * 100.0,
            bytes(need_bytes)
        );
        return PlanOption::nothing(id, name, OptionKind::Vm, reason);
    };
    let monthly = cost(best) * hours_per_month;
    let mut reasons = vec![format!(
        "{} × {} ({}, {}): {vcpus_needed:.2} vCPUs needed at {:.0}% utilization ({}/s × {} CPU a call); {} resident each ({} baseline + {} concurrent calls × {} + {:.0}% headroom)",
        best.instances,
        best.shape.name,
        crate::units::vcpus(best.shape.vcpus),
        crate::units::memory_size(best.shape.memory_mib.saturating_mul(MIB)),
        settings.vm_utilization * 100.0,
        crate::units::rate(settings.rate_per_second),
        duration_secs(cpu_per_call),
        bytes(best.memory_per_instance),
        bytes(baseline),
        best.concurrency,
        bytes(need_bytes),
        settings.vm_headroom * 100.0
    )];
    if demand
        .arch
        .as_deref()
        .is_some_and(|arch| arch != best.shape.arch)
    {
        reasons.push(format!(
            "{} is {}: its speed against the machine profiled on is taken as equal, an assumption",
            best.shape.name, best.shape.arch
        ));
    }
    reasons.extend(best.latency_failures.iter().cloned());
    PlanOption {
        platform: id,
        name: format!("{name}: {} × {}", best.instances, best.shape.name),
        kind: OptionKind::Vm,
        instances: best.instances,
        memory_bytes: best.shape.memory_mib.saturating_mul(MIB),
        vcpus: best.shape.vcpus,
        predicted_p50_ns: nanos(best.p50),
        predicted_p95_ns: nanos(best.p95),
        predicted_p99_ns: nanos(best.p99),
        cost_per_million_usd: if calls_per_month > 0.0 {
            monthly / calls_per_month * 1e6
        } else {
            0.0
        },
        monthly_cost_usd: monthly,
        fits: best.latency_failures.is_empty(),
        reasons,
    }
}

/// The fewest instances of `shape` that hold the job, if any up to the
/// plan's maximum do.
fn fit<'a>(
    shape: &'a VmShape,
    demand: &JobDemand,
    need_bytes: u64,
    baseline: u64,
    vcpus_needed: f64,
    settings: &PlanSettings,
) -> Option<Fit<'a>> {
    // A call gets up to the shape's vCPUs; queueing behind other calls at
    // the target utilization is not modeled.
    let share = CpuShare {
        vcpus: shape.vcpus,
        speed: 1.0,
        max_threads: None,
    };
    let prediction = demand.model_runs().predict(share, &mut Vec::new());
    // Little's law, with every call taking the p99: calls in flight at once.
    let concurrency = (settings.rate_per_second * prediction.p99).ceil().max(1.0);
    let memory = shape.memory_mib.saturating_mul(MIB) as f64;
    for instances in 1..=settings.max_instances {
        let n = f64::from(instances);
        if vcpus_needed / n > shape.vcpus {
            continue;
        }
        let calls = (concurrency / n).ceil();
        let per_instance =
            (baseline as f64 + calls * need_bytes as f64) * (1.0 + settings.vm_headroom);
        if per_instance <= memory {
            let mut latency_failures = Vec::new();
            for (label, predicted, target) in [
                ("p95", prediction.p95, settings.p95_target),
                ("p99", prediction.p99, settings.p99_target),
            ] {
                if let Some(target) = target.filter(|t| predicted > t.as_secs_f64()) {
                    latency_failures.push(format!(
                        "predicted {label} {} is over the {} target even with a whole {} to itself",
                        duration_secs(predicted),
                        crate::units::duration(target),
                        shape.name
                    ));
                }
            }
            return Some(Fit {
                shape,
                instances,
                concurrency: calls as u64,
                memory_per_instance: per_instance as u64,
                p50: prediction.p50,
                p95: prediction.p95,
                p99: prediction.p99,
                latency_failures,
            });
        }
    }
    None
}
