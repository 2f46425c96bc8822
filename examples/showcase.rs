//! The main example: an order-processing pipeline (generate, parse, enrich,
//! aggregate) profiled from the inside.
//!
//! Its steps are jobs (`#[profile_job]`, sync and async); the allocator
//! samples allocation stacks (Poisson, one sample per 32 KiB on average).
//! At the end it prints the report's summary (heap, jobs with p50/p95/p99,
//! top callsites), profiles the parse step with `ProfileRunner` and plans
//! where it could run (every serverless platform's cheapest fitting size
//! next to VMs, at 50 calls/s with a 200 ms p95), and writes into
//! `target/profiling/` (the absolute path is printed; see `output_dir`):
//!
//! - `report.json`: the whole report (read back with `Report::read_json`);
//! - `allocations.svg`: bytes allocated, by stack, under the job they ran in;
//! - `live.svg`: bytes still alive at the end, by stack;
//! - `jobs.svg`: busy time per job path (time spent running, so the eight
//!   concurrent `summarize_city` tasks add up to what they ran, not to eight
//!   times their wall time);
//! - `heap.pb.gz`, `jobs.pb.gz`: pprof profiles (`go tool pprof -top
//!   target/profiling/heap.pb.gz`; Pyroscope, Parca and speedscope open them);
//! - `allocations.folded`: folded stacks of bytes allocated (speedscope,
//!   inferno, flamegraph.pl);
//! - `cpu.svg`, `cpu.pb.gz`: where the pipeline spent its CPU time, sampled
//!   at about 1 kHz per thread (`profiling_alloc::cpu`, Linux x86_64), each
//!   stack under its job; the hot functions are printed too;
//! - `parse-profile.json`: the parse step's job profile, run by run
//!   (`profiling-alloc plan target/profiling/parse-profile.json --rate 50/s`);
//! - `deployment.json`: its plan, the deployment file;
//! - `baseline.json`: its QoS baseline (`profiling-alloc diff baseline.json
//!   report.json` holds a later run against it).
//!
//! `cargo run --release --example showcase`

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use profiling_alloc::sizing::{self, Baseline, JobDemand, PlanSettings, Prices};
use profiling_alloc::{
    output::PprofKind, profile_job, FlameKind, ProfileRunner, ProfilingAllocator, Report, Sampling,
};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Poisson {
    mean_bytes: 32 * 1024,
});

const ORDERS: usize = 150_000;
const CITIES: [&str; 8] = [
    "Lisbon", "Oslo", "Quito", "Hanoi", "Nairobi", "Perth", "Lima", "Tromsø",
];

struct Order {
    id: u64,
    customer: String,
    city: String,
    items: Vec<Item>,
}

struct Item {
    sku: String,
    quantity: u32,
    price_cents: u64,
}

#[derive(Debug)]
struct BadLine(String);

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not an order: {:?}", self.0)
    }
}

impl std::error::Error for BadLine {}

/// Orders as CSV text: `id,customer,city,sku:quantity:price|...`, a header
/// first and one broken line, as real input has.
fn generate(orders: usize, mut state: u64) -> String {
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut text = String::from("id,customer,city,items\n");
    for id in 0..orders as u64 {
        let city = CITIES[(next() % CITIES.len() as u64) as usize];
        let _ = write!(text, "{id},customer-{},{city},", next() % 5000);
        for item in 0..1 + next() % 4 {
            let sep = if item == 0 { "" } else { "|" };
            let _ = write!(
                text,
                "{sep}sku-{}:{}:{}",
                next() % 900,
                1 + next() % 3,
                next() % 10_000
            );
        }
        text.push('\n');
        if id == orders as u64 / 2 {
            text.push_str("this line is broken\n");
        }
    }
    text
}

/// One CSV line into an order.
#[profile_job]
fn parse_order(line: &str) -> Result<Order, BadLine> {
    let bad = || BadLine(line.to_string());
    let mut fields = line.splitn(4, ',');
    let id = fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad)?;
    let customer = fields.next().ok_or_else(bad)?.to_string();
    let city = fields.next().ok_or_else(bad)?.to_string();
    let items = fields
        .next()
        .ok_or_else(bad)?
        .split('|')
        .map(|item| {
            let mut parts = item.split(':');
            let sku = parts.next()?.to_string();
            let quantity = parts.next()?.parse().ok()?;
            let price_cents = parts.next()?.parse().ok()?;
            Some(Item {
                sku,
                quantity,
                price_cents,
            })
        })
        .collect::<Option<Vec<Item>>>()
        .ok_or_else(bad)?;
    Ok(Order {
        id,
        customer,
        city,
        items,
    })
}

/// Every line (after the header) into orders; broken lines come back apart.
#[profile_job]
fn parse(text: &str) -> (Vec<Order>, Vec<BadLine>) {
    let mut bad = Vec::new();
    let orders = text
        .lines()
        .skip(1)
        .filter_map(|line| parse_order(line).map_err(|e| bad.push(e)).ok())
        .collect();
    (orders, bad)
}

/// What the rest of the pipeline keeps: orders per customer, and each
/// order's total by city.
struct Enriched {
    by_customer: HashMap<String, Vec<u64>>,
    totals_by_city: HashMap<String, Vec<u64>>,
}

/// Totals each order, indexes orders by customer and groups totals by city.
#[profile_job]
fn enrich(orders: &[Order]) -> Enriched {
    let mut by_customer: HashMap<String, Vec<u64>> = HashMap::new();
    let mut totals_by_city: HashMap<String, Vec<u64>> = HashMap::new();
    for order in orders {
        let total: u64 = order
            .items
            .iter()
            .filter(|item| !item.sku.ends_with('7'))
            .map(|item| u64::from(item.quantity) * item.price_cents)
            .sum();
        by_customer
            .entry(order.customer.clone())
            .or_default()
            .push(order.id);
        totals_by_city
            .entry(order.city.to_uppercase())
            .or_default()
            .push(total);
    }
    Enriched {
        by_customer,
        totals_by_city,
    }
}

/// One city's totals into a summary line, yielding to the runtime between
/// the steps as a real service would between I/O.
#[profile_job]
async fn summarize_city(city: String, mut totals: Vec<u64>) -> (u64, String) {
    totals.sort_unstable();
    tokio::task::yield_now().await;
    let sum: u64 = totals.iter().sum();
    let median = totals[totals.len() / 2];
    let p99 = totals[totals.len() * 99 / 100];
    let line = format!(
        "{city:<8} {:>6} orders  total {:>12.2}  median {:>8.2}  p99 {:>8.2}",
        totals.len(),
        sum as f64 / 100.0,
        median as f64 / 100.0,
        p99 as f64 / 100.0
    );
    (sum, line)
}

/// Summarizes every city concurrently, one task each.
#[profile_job]
async fn aggregate(totals_by_city: HashMap<String, Vec<u64>>) -> Vec<String> {
    let tasks: Vec<_> = totals_by_city
        .into_iter()
        .map(|(city, totals)| tokio::spawn(summarize_city(city, totals)))
        .collect();
    let mut lines = Vec::new();
    for task in tasks {
        lines.push(task.await.expect("a summary task panicked"));
    }
    lines.sort_by_key(|line| std::cmp::Reverse(line.0));
    lines.into_iter().map(|(_, line)| line).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()?;

    // CPU samples of the whole pipeline, each under the job it ran in:
    // about 1,000 per CPU-second (997: not in step with anything periodic),
    // started after the runtime's worker threads, so that it finds them.
    let cpu_profiling = match profiling_alloc::cpu::start(997) {
        Ok(profiling) => Some(profiling),
        Err(error) => {
            eprintln!("no CPU profile: {error}");
            None
        }
    };
    let text = generate(ORDERS, 0x2545_f491_4f6c_dd1d);
    let (orders, bad) = parse(&text);
    drop(text);
    let Enriched {
        by_customer,
        totals_by_city,
    } = enrich(&orders);
    let summary = runtime.block_on(aggregate(totals_by_city));
    let cpu_profile = cpu_profiling.map(|profiling| profiling.stop());

    println!(
        "{} orders from {} customers, {} bad line(s): {}",
        orders.len(),
        by_customer.len(),
        bad.len(),
        bad.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    );
    for line in &summary {
        println!("  {line}");
    }

    // Everything the profiler saw, while the orders and the customer index
    // are still alive (they are what live.svg shows).
    let report = Report::capture();
    println!("\n{report}");
    let mut written = write_files(&report)?;
    if let Some(cpu) = &cpu_profile {
        println!("\n{}", cpu.hotspot_table(12));
        let dir = profiling_alloc::output::output_dir();
        for (path, result) in [
            (
                dir.join("cpu.svg"),
                cpu.write_flamegraph(dir.join("cpu.svg")),
            ),
            (
                dir.join("cpu.pb.gz"),
                cpu.write_pprof(dir.join("cpu.pb.gz")),
            ),
        ] {
            result?;
            written.push(path);
        }
    }
    drop((orders, by_customer));

    written.extend(plan_parse()?);
    println!("\nWrote:");
    for path in written {
        println!("  {}", path.display());
    }
    Ok(())
}

/// The report as JSON, three flamegraphs, two pprof profiles and folded
/// stacks, in `target/profiling/`.
fn write_files(report: &Report) -> Result<Vec<PathBuf>, profiling_alloc::Error> {
    let dir = profiling_alloc::output::output_dir();
    let json = dir.join("report.json");
    report.write_json(&json)?;
    let mut written = vec![json];
    for (kind, file) in [
        (FlameKind::AllocatedBytes, "allocations.svg"),
        (FlameKind::LiveBytes, "live.svg"),
        (FlameKind::JobTime, "jobs.svg"),
    ] {
        let path = dir.join(file);
        report.write_flamegraph(kind, &path)?;
        written.push(path);
    }
    for (kind, file) in [
        (PprofKind::Heap, "heap.pb.gz"),
        (PprofKind::JobTime, "jobs.pb.gz"),
    ] {
        let path = dir.join(file);
        report.write_pprof(kind, &path)?;
        written.push(path);
    }
    let folded = dir.join("allocations.folded");
    report.write_folded(FlameKind::AllocatedBytes, &folded)?;
    written.push(folded);
    Ok(written)
}

/// The parse step on its own, 20 runs after 2 warm-ups, and where it could
/// run: its profile, plan and QoS baseline, printed and written.
fn plan_parse() -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let sample = generate(ORDERS / 10, 7);
    let profile = ProfileRunner::new("parse 15k orders")
        .sample_size(20)
        .run(|| {
            let (orders, bad) = parse(&sample);
            if bad.len() == 1 && orders.len() == ORDERS / 10 {
                Ok(())
            } else {
                Err(format!("{} orders, {} bad lines", orders.len(), bad.len()))
            }
        })?;
    println!("\n{profile}");
    let settings = PlanSettings::new(50.0).p95_target(Duration::from_millis(200));
    let plan = sizing::plan(
        &[JobDemand::from_profile(&profile)],
        &settings,
        &Prices::built_in(),
    )?;
    println!("{}", plan.to_text());
    let dir = profiling_alloc::output::output_dir();
    let (profile_file, deployment, baseline) = (
        dir.join("parse-profile.json"),
        dir.join("deployment.json"),
        dir.join("baseline.json"),
    );
    profile.write_json(&profile_file)?;
    plan.write_json(&deployment)?;
    Baseline::from_profiles([&profile]).write_json(&baseline)?;
    Ok(vec![profile_file, deployment, baseline])
}
