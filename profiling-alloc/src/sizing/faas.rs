//! A serverless platform against a job: every size evaluated (predicted
//! durations, memory, limits, cost), the cheapest fitting one chosen, and
//! the sizes of the sweep kept.

use super::demand::{JobDemand, ModelRuns, Prediction};
use super::model::{CpuShare, RunTime};
use super::plan::{OptionKind, PlanOption, PlanSettings, SweepPoint};
use super::prices::{Billing, ServerlessPlatform};
use crate::units::{bytes, duration_secs, memory_size, vcpus};

/// One size of a platform, evaluated.
struct Evaluated {
    memory_bytes: u64,
    vcpus: f64,
    prediction: Prediction,
    /// The mean predicted wall time of a call, seconds.
    mean_wall: f64,
    cost_per_call: f64,
    cpu_ms_per_call: f64,
    failures: Vec<String>,
}

/// The platform's best option for the job, and the sizes of its sweep.
pub(crate) fn evaluate(
    platform: &ServerlessPlatform,
    demand: &JobDemand,
    need_bytes: u64,
    settings: &PlanSettings,
    hours_per_month: f64,
) -> (PlanOption, Vec<SweepPoint>) {
    let threads_refused = platform.max_threads.and_then(|threads| {
        let parallelism = demand.parallelism();
        (parallelism > f64::from(threads) + 0.1).then(|| {
            format!(
                "the job computes on {parallelism:.1} threads at once; {} runs {threads} (a multi-threaded job may not even build there)",
                platform.name
            )
        })
    });
    // The calls in the model's terms once, and one buffer for each size's
    // predicted calls: what is kept of a size is its numbers.
    let runs = demand.model_runs();
    let mut billed = Vec::new();
    let evaluated: Vec<Evaluated> = platform
        .all_sizes()
        .into_iter()
        .map(|(memory_bytes, vcpus)| {
            let mut size = evaluate_size(
                platform,
                (&runs, &mut billed),
                need_bytes,
                settings,
                (memory_bytes, vcpus),
            );
            size.failures.extend(threads_refused.clone());
            size
        })
        .collect();
    let calls_per_month = settings.rate_per_second * 3600.0 * hours_per_month;
    let fitting = evaluated.iter().filter(|e| e.failures.is_empty());
    let cheapest = fitting.clone().min_by(|a, b| {
        a.cost_per_call
            .total_cmp(&b.cost_per_call)
            .then(a.memory_bytes.cmp(&b.memory_bytes))
    });
    let fitting_count = fitting.count();
    let (chosen, reasons) = match cheapest {
        Some(best) => {
            let which = if fitting_count == 1 {
                "the one fitting size".to_string()
            } else {
                format!(
                    "cheapest of {} fitting sizes",
                    crate::units::grouped(fitting_count as u64)
                )
            };
            let mut reasons = vec![format!(
                "{which}: {} ({}) predicts p95 {}{}",
                memory_size(best.memory_bytes),
                vcpus(best.vcpus),
                duration_secs(best.prediction.p95),
                settings
                    .p95_target
                    .map(|t| format!(" against the {} target", crate::units::duration(t)))
                    .unwrap_or_default()
            )];
            reasons.extend(billing_note(platform, best));
            (best, reasons)
        }
        // None fits: the largest size shows why, since every limit but the
        // threads' eases as the size grows.
        None => match evaluated.last() {
            Some(largest) => (largest, largest.failures.clone()),
            None => {
                let reason = "the price sheet lists no size".to_string();
                let option = PlanOption::nothing(
                    platform.id.clone(),
                    platform.name.clone(),
                    OptionKind::Faas,
                    reason,
                );
                return (option, Vec::new());
            }
        },
    };
    let monthly = monthly_cost(platform, chosen, calls_per_month);
    let option = PlanOption {
        platform: platform.id.clone(),
        name: platform.name.clone(),
        kind: OptionKind::Faas,
        instances: 1,
        memory_bytes: chosen.memory_bytes,
        vcpus: chosen.vcpus,
        predicted_p50_ns: nanos(chosen.prediction.p50),
        predicted_p95_ns: nanos(chosen.prediction.p95),
        predicted_p99_ns: nanos(chosen.prediction.p99),
        cost_per_million_usd: chosen.cost_per_call * 1e6,
        monthly_cost_usd: monthly,
        fits: chosen.failures.is_empty(),
        reasons,
    };
    let mut sweep_sizes = platform.sweep_sizes();
    if !sweep_sizes.iter().any(|(b, _)| *b == chosen.memory_bytes) {
        sweep_sizes.push((chosen.memory_bytes, chosen.vcpus));
        sweep_sizes.sort_by_key(|(b, _)| *b);
    }
    let sweep = sweep_sizes
        .iter()
        .filter_map(|(memory_bytes, _)| evaluated.iter().find(|e| e.memory_bytes == *memory_bytes))
        .map(|e| SweepPoint {
            platform: platform.id.clone(),
            memory_bytes: e.memory_bytes,
            vcpus: e.vcpus,
            predicted_p95_ns: nanos(e.prediction.p95),
            predicted_p99_ns: nanos(e.prediction.p99),
            cost_per_million_usd: e.cost_per_call * 1e6,
            fits: e.failures.is_empty(),
        })
        .collect();
    (option, sweep)
}

fn evaluate_size(
    platform: &ServerlessPlatform,
    (runs, billed): (&ModelRuns, &mut Vec<RunTime>),
    need_bytes: u64,
    settings: &PlanSettings,
    (memory_bytes, vcpus): (u64, f64),
) -> Evaluated {
    let share = CpuShare {
        vcpus,
        speed: platform.cpu_speed,
        max_threads: platform.max_threads.map(f64::from),
    };
    let prediction = runs.predict(share, billed);
    let mut failures = Vec::new();
    let baseline = platform.runtime_baseline_bytes();
    let resident = need_bytes.saturating_add(baseline);
    if resident > memory_bytes {
        failures.push(format!(
            "needs {} resident ({} for the job + {} runtime baseline); {} has {}",
            bytes(resident),
            bytes(need_bytes),
            bytes(baseline),
            platform.name,
            memory_size(memory_bytes)
        ));
    }
    for (name, predicted, target) in [
        ("p95", prediction.p95, settings.p95_target),
        ("p99", prediction.p99, settings.p99_target),
    ] {
        if let Some(target) = target {
            if predicted > target.as_secs_f64() {
                failures.push(format!(
                    "predicted {name} {} is over the {} target at {} ({})",
                    duration_secs(predicted),
                    crate::units::duration(target),
                    memory_size(memory_bytes),
                    crate::units::vcpus(vcpus)
                ));
            }
        }
    }
    if let Some(limit) = platform.max_duration_s {
        if prediction.max > limit {
            failures.push(format!(
                "the slowest run would take {}, over the {} limit of {}",
                duration_secs(prediction.max),
                platform.name,
                duration_secs(limit)
            ));
        }
    }
    let max_cpu = prediction.max_cpu;
    if let Some(limit) = platform.max_cpu_s {
        if max_cpu > limit {
            failures.push(format!(
                "the most CPU time of a run would be {}, over the {} limit of {}",
                duration_secs(max_cpu),
                platform.name,
                duration_secs(limit)
            ));
        }
    }
    let (cost_per_call, cpu_ms_per_call) =
        cost_per_call(&platform.price, memory_bytes, vcpus, billed);
    let mean_wall = billed.iter().map(|r| r.wall).sum::<f64>() / billed.len().max(1) as f64;
    Evaluated {
        memory_bytes,
        vcpus,
        prediction,
        mean_wall,
        cost_per_call,
        cpu_ms_per_call,
        failures,
    }
}

/// The mean cost of one call billed as `runs` predict, and its mean CPU
/// milliseconds.
pub(crate) fn cost_per_call(
    billing: &Billing,
    memory_bytes: u64,
    vcpus: f64,
    runs: &[RunTime],
) -> (f64, f64) {
    let n = runs.len().max(1) as f64;
    let cpu_ms = runs.iter().map(|r| r.cpu * 1e3).sum::<f64>() / n;
    let cost = match *billing {
        Billing::Wall {
            per_gib_second,
            per_vcpu_second,
            per_million_requests,
            granularity_ms,
            minimum_billed_ms,
        } => {
            let gib = memory_bytes as f64 / (1u64 << 30) as f64;
            let per_second = gib * per_gib_second + vcpus * per_vcpu_second;
            let billed: f64 = runs
                .iter()
                .map(|r| billed_seconds(r.wall, granularity_ms, minimum_billed_ms))
                .sum::<f64>()
                / n;
            billed * per_second + per_million_requests / 1e6
        }
        Billing::Cpu {
            per_million_cpu_ms,
            per_million_requests,
            ..
        } => cpu_ms * per_million_cpu_ms / 1e6 + per_million_requests / 1e6,
    };
    (cost, cpu_ms)
}

/// `seconds` rounded up to a multiple of `granularity_ms` (exactly, in
/// nanoseconds), at least `minimum_ms`.
pub(crate) fn billed_seconds(seconds: f64, granularity_ms: u64, minimum_ms: u64) -> f64 {
    let ns = nanos(seconds);
    let step = granularity_ms.saturating_mul(1_000_000);
    let rounded = if step == 0 {
        ns
    } else {
        ns.div_ceil(step).saturating_mul(step)
    };
    rounded.max(minimum_ms.saturating_mul(1_000_000)) as f64 / 1e9
}

/// What of the platform's billing makes its cost more than the predicted
/// time says: a minimum billed time above the calls' mean, a monthly fee.
fn billing_note(platform: &ServerlessPlatform, size: &Evaluated) -> Option<String> {
    match platform.price {
        Billing::Wall {
            minimum_billed_ms, ..
        } if minimum_billed_ms as f64 > size.mean_wall * 1e3 => Some(format!(
            "each call is billed at least {} (the platform's minimum), against a predicted mean of {}",
            duration_secs(minimum_billed_ms as f64 / 1e3),
            duration_secs(size.mean_wall)
        )),
        Billing::Cpu {
            monthly_minimum,
            included_requests,
            included_cpu_ms,
            ..
        } if monthly_minimum > 0.0 => Some(format!(
            "only CPU time is billed; the month includes the plan's ${monthly_minimum:.2} fee, which covers {} calls and {} CPU-ms",
            crate::units::grouped(included_requests),
            crate::units::grouped(included_cpu_ms)
        )),
        _ => None,
    }
}

fn monthly_cost(platform: &ServerlessPlatform, size: &Evaluated, calls: f64) -> f64 {
    match platform.price {
        Billing::Wall { .. } => size.cost_per_call * calls,
        Billing::Cpu {
            per_million_cpu_ms,
            per_million_requests,
            monthly_minimum,
            included_requests,
            included_cpu_ms,
        } => {
            let requests = (calls - included_requests as f64).max(0.0);
            let cpu_ms = (calls * size.cpu_ms_per_call - included_cpu_ms as f64).max(0.0);
            monthly_minimum
                + requests * per_million_requests / 1e6
                + cpu_ms * per_million_cpu_ms / 1e6
        }
    }
}

/// Seconds as whole nanoseconds (saturating; infinity is the largest).
pub(crate) fn nanos(seconds: f64) -> u64 {
    if seconds.is_nan() || seconds <= 0.0 {
        0
    } else {
        // `as` saturates at u64::MAX, infinity included.
        (seconds * 1e9).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn lambda_x86() -> Billing {
        Billing::Wall {
            per_gib_second: 0.0000166667,
            per_vcpu_second: 0.0,
            per_million_requests: 0.20,
            granularity_ms: 1,
            minimum_billed_ms: 1,
        }
    }

    #[test]
    fn lambda_bills_rounded_milliseconds_of_memory() {
        // 345.51 ms at 512 MB: 346 ms billed × 0.5 GB × $0.0000166667,
        // plus $0.20 per million requests.
        let run = RunTime {
            wall: 0.345_51,
            cpu: 0.1,
        };
        let (cost, cpu_ms) = cost_per_call(&lambda_x86(), 512 * MIB, 0.289, &[run]);
        let by_hand = 0.346 * 0.5 * 0.0000166667 + 0.20 / 1e6;
        assert!((cost - by_hand).abs() < 1e-15, "{cost} vs {by_hand}");
        assert!((cost * 1e6 - 3.083_339_1).abs() < 1e-6, "{}", cost * 1e6);
        assert!((cpu_ms - 100.0).abs() < 1e-9);
    }

    #[test]
    fn cloud_run_bills_vcpus_and_memory_by_the_100_ms() {
        let billing = Billing::Wall {
            per_gib_second: 0.0000025,
            per_vcpu_second: 0.000024,
            per_million_requests: 0.40,
            granularity_ms: 100,
            minimum_billed_ms: 100,
        };
        // 130 ms billed as 200 ms, at 1 GiB and 0.583 vCPU.
        let run = RunTime {
            wall: 0.13,
            cpu: 0.0,
        };
        let (cost, _) = cost_per_call(&billing, 1024 * MIB, 0.583, &[run]);
        let by_hand = 0.2 * (1.0 * 0.0000025 + 0.583 * 0.000024) + 0.40 / 1e6;
        assert!((cost - by_hand).abs() < 1e-15);
        // A 20 ms run is billed the minimum, 100 ms.
        let short = RunTime {
            wall: 0.02,
            cpu: 0.0,
        };
        let (cost, _) = cost_per_call(&billing, 1024 * MIB, 0.583, &[short]);
        let by_hand = 0.1 * (0.0000025 + 0.583 * 0.000024) + 0.40 / 1e6;
        assert!((cost - by_hand).abs() < 1e-15);
    }

    #[test]
    fn azure_flex_bills_at_least_a_second() {
        let billing = Billing::Wall {
            per_gib_second: 0.000026,
            per_vcpu_second: 0.0,
            per_million_requests: 0.40,
            granularity_ms: 100,
            minimum_billed_ms: 1000,
        };
        let runs = [
            RunTime {
                wall: 0.05,
                cpu: 0.0,
            },
            RunTime {
                wall: 1.25,
                cpu: 0.0,
            },
        ];
        // 1.0 s and 1.3 s at 2 GB: mean 1.15 s × 2 × $0.000026 + $0.40/M.
        let (cost, _) = cost_per_call(&billing, 2048 * MIB, 1.0, &runs);
        let by_hand = 1.15 * 2.0 * 0.000026 + 0.40 / 1e6;
        assert!((cost - by_hand).abs() < 1e-15, "{cost} vs {by_hand}");
    }

    #[test]
    fn workers_bill_cpu_time_only() {
        let billing = Billing::Cpu {
            per_million_cpu_ms: 0.02,
            per_million_requests: 0.30,
            monthly_minimum: 5.0,
            included_requests: 10_000_000,
            included_cpu_ms: 30_000_000,
        };
        // 3 ms of CPU in a 500 ms call: $0.02 × 3 + $0.30 per million calls.
        let run = RunTime {
            wall: 0.5,
            cpu: 0.003,
        };
        let (cost, cpu_ms) = cost_per_call(&billing, 128 * MIB, 1.0, &[run]);
        assert!((cost * 1e6 - (0.02 * 3.0 + 0.30)).abs() < 1e-9);
        assert!((cpu_ms - 3.0).abs() < 1e-12);
    }

    #[test]
    fn billed_time_rounds_up_exactly() {
        assert_eq!(billed_seconds(0.001, 1, 1), 0.001);
        assert_eq!(billed_seconds(0.001_000_1, 1, 1), 0.002);
        assert_eq!(billed_seconds(0.0, 1, 1), 0.001);
        assert_eq!(billed_seconds(0.15, 100, 1000), 1.0);
        assert_eq!(billed_seconds(1.01, 100, 1000), 1.1);
        assert_eq!(billed_seconds(0.0123, 0, 0), 0.0123);
    }
}
