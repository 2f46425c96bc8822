//! Where a job can run, and what it costs: serverless sizes, VM shapes,
//! monthly costs and a QoS baseline, from one local [`JobProfile`] (or a
//! report's jobs).
//!
//! AWS Lambda Power Tuning finds a function's size by deploying it and
//! running it at every size. A plan here comes from one profile taken on
//! this machine: each run's wall and CPU time, and the memory the job
//! needs resident, put through each platform's published rules and prices.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
//! use std::time::Duration;
//! use profiling_alloc::sizing::{self, JobDemand, PlanSettings, Prices};
//! use profiling_alloc::ProfileRunner;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let profile = ProfileRunner::new("checksum")
//!     .sample_size(20)
//!     .run(|| {
//!         let data: Vec<u64> = (0..50_000).collect();
//!         std::hint::black_box(data.iter().sum::<u64>());
//!     })?;
//! let settings = PlanSettings::new(50.0).p95_target(Duration::from_millis(200));
//! let plan = sizing::plan(&[JobDemand::from_profile(&profile)], &settings, &Prices::built_in())?;
//! let job = &plan.jobs[0];
//! assert!(job.fits_somewhere());
//! let lambda = job.options.iter().find(|o| o.platform == "aws-lambda-arm64").unwrap();
//! assert!(lambda.fits && lambda.memory_bytes >= 128 << 20);
//! println!("{}", plan.to_text());
//! # Ok(())
//! # }
//! ```
//!
//! `profiling-alloc plan FILE --rate 50/s --p95 200ms` does the same from
//! a file: a report, a deployment file, or job profiles
//! ([`JobProfile::write_json`]). From a report in a program,
//! `report.jobs.iter().filter_map(JobDemand::from_job_stats)` gives the
//! demands.
//!
//! # The model
//!
//! A run took `wall` and used `cpu` of CPU time. The part of its wall time
//! not on a CPU, `wait = max(wall − cpu, 0)`, is waiting (I/O, sleeps,
//! locks): it does not depend on the CPU the platform gives. The rest
//! computed, on `parallelism = cpu ÷ (wall − wait)` threads at once. A
//! size with `vcpus` (a fraction is a share of one core: Lambda gives
//! `memory ÷ 1,769 MB`) at `cpu_speed` times this machine's core, and at
//! most `max_threads` threads (a Cloudflare Worker: one), runs it in
//!
//! ```text
//! predicted = wait + cpu ÷ (min(parallelism, vcpus, max_threads) × cpu_speed)
//! ```
//!
//! Each measured run is predicted so; the percentiles are those of the
//! predicted runs, and the cost is each run billed by the platform's
//! rounding and averaged. A report's job (no runs) is predicted at its
//! percentiles, with its on-CPU share where a CPU profile measured it, and
//! otherwise as computing throughout (the slowest prediction, and said in
//! the plan's notes).
//!
//! Memory: a size fits when the job's [`MemoryNeed`](crate::runner::MemoryNeed)
//! (its heap peak plus the resident overhead measured beside it; or, where
//! the overhead was not measured, plus an assumed 25% of the heap peak)
//! plus the platform runtime's baseline (data, per platform: 16 MiB for a
//! Rust function on Lambda) is at most its memory. Then the cheapest size
//! that meets the latency targets and the platform's limits is chosen.
//!
//! VMs: `vCPUs = rate × CPU seconds per call ÷ target utilization` (0.6 by
//! default); memory per instance `= (baseline + concurrent calls × need)
//! × (1 + headroom)`, with the concurrent calls by Little's law at the p99
//! duration; the cheapest shape and number of instances of each
//! provider's catalog that hold both.
//!
//! # Where the model is weak
//!
//! - **Another CPU.** `cpu_speed` is 1.0 in the shipped data: a platform's
//!   vCPU is taken as fast as this machine's core. Graviton, an older Xeon
//!   or WebAssembly in a Worker can be slower or faster; set your own
//!   figure in a price sheet of your own.
//! - **Quotas are enforced per period.** A CPU share below one core is a
//!   quota (CFS bandwidth): a run shorter than the quota's burst may run at
//!   full speed, so predictions for short runs at small sizes are
//!   pessimistic; for runs much longer than the period they hold
//!   (BENCHMARKS.md has the figures measured here).
//! - **Several threads.** Parallelism is measured on this machine, at most
//!   its cores: a job that would use more threads where it gets more vCPUs
//!   is predicted no faster than here. Threads that wait on each other are
//!   counted as computing while they spin.
//! - **Memory bandwidth and caches** are not modeled: a job that is slow
//!   because of memory, not instructions, speeds up less than its CPU
//!   share says.
//! - **Cold starts** (the runtime's start and the first call's warm-up)
//!   are not in the durations; warm-up runs are in the memory need.
//! - **Queueing**: a VM's predicted latency is a call's with the cores it
//!   can use; waiting behind other calls at the target utilization is not
//!   added. Serverless platforms are taken to run one call per instance.
//! - **Prices** are list prices of one region, without free tiers, tiers
//!   above the first, savings plans or data transfer.
//!
//! # Data
//!
//! [`Prices::built_in`] is `data/cloud-prices-2026-12.json`, dated, each
//! platform naming its sources. Prices and limits change: read your own
//! with [`Prices::read_json`] (`--prices FILE`), same format.
//!
//! # The files
//!
//! - A job profile: [`JobProfile::write_json`].
//! - The deployment file: a [`Plan`]'s JSON (`--format json`), versioned
//!   (`"kind": "profiling-alloc-deployment", "version": 1`): the settings,
//!   and per job `name`, `memory_need_bytes`, `recommended`, `options`
//!   (each with `platform`, `name`, `kind` (`faas` or `vm`), `instances`,
//!   `memory_bytes`, `vcpus`, `predicted_p50_ns`, `predicted_p95_ns`,
//!   `predicted_p99_ns`, `cost_per_million_usd`, `monthly_cost_usd`,
//!   `fits`, `reasons`), `sweep` (per serverless platform each size shown:
//!   `platform`, `memory_bytes`, `vcpus`, `predicted_p95_ns`,
//!   `predicted_p99_ns`, `cost_per_million_usd`, `fits`), `baseline`,
//!   `notes` and `demand` (the numbers planned from, so that the file can
//!   be planned again with other settings or prices).
//! - The QoS baseline: [`Baseline`], versioned
//!   (`"kind": "profiling-alloc-baseline"`): per job the measured
//!   p50/p95/p99, error rate and memory need, and the promised p95/p99
//!   when the plan had targets. `profiling-alloc diff` and the live
//!   endpoint hold later runs to the targets, or to the measured values
//!   plus a tolerance (25%).
//!
//! [`JobProfile`]: crate::JobProfile
//! [`JobProfile::write_json`]: crate::JobProfile::write_json

mod baseline;
mod demand;
mod faas;
mod model;
mod plan;
mod prices;
mod render;
mod vm;

use std::path::Path;

pub use baseline::{Baseline, JobBaseline, BASELINE_VERSION};
pub use demand::{Durations, JobDemand, MeasuredRun, MemoryDemand, Percentiles};
pub use plan::{
    known_platforms, plan, JobPlan, OptionKind, Plan, PlanOption, PlanSettings, PricesUsed,
    SweepPoint, DEPLOYMENT_VERSION,
};
pub use prices::{
    Billing, CpuRule, MemoryRange, Prices, ServerlessPlatform, Size, VmCatalog, VmShape,
    PRICES_VERSION,
};

use crate::Error;

/// A kind of versioned JSON file of this module: what its `kind` field
/// says, its name for people, and the version this build reads.
pub(crate) struct FileKind {
    kind: &'static str,
    what: &'static str,
    version: u64,
}

/// The kinds, each with its `kind` field.
const KINDS: [FileKind; 3] = [prices::FILE, baseline::FILE, plan::FILE];

impl FileKind {
    /// `text` as a file of this kind (from `path`, if it came from one).
    pub(crate) fn parse<T: serde::de::DeserializeOwned>(
        &self,
        text: &str,
        path: Option<&Path>,
    ) -> Result<T, Error> {
        crate::capture::reading(|| {
            check_header(text, self.kind, self.what, self.version, path)?;
            crate::io::parse_json(text, self.what, path)
        })
    }

    /// The file `path` as a file of this kind.
    pub(crate) fn read<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<T, Error> {
        let text = crate::io::read_text_file(path)?;
        self.parse(&text, Some(path))
    }
}

/// `value` as pretty-printed JSON (what this module writes holds numbers,
/// strings and enums only: it always serializes; a float that is not finite
/// becomes null).
pub(crate) fn pretty_json<T: serde::Serialize>(value: &T) -> String {
    crate::capture::reading(|| serde_json::to_string_pretty(value).unwrap_or_default())
}

/// Writes `value` as pretty-printed JSON to `path`, creating its directory.
pub(crate) fn write_json<T: serde::Serialize>(value: &T, path: &Path) -> Result<(), Error> {
    crate::capture::reading(|| crate::io::write_file(path, pretty_json(value) + "\n"))
}

/// Checks that `text` is a JSON object of `kind` (as `what`) in
/// `version`: another kind is named, a missing kind said.
pub(crate) fn check_header(
    text: &str,
    kind: &str,
    what: &'static str,
    version: u64,
    path: Option<&Path>,
) -> Result<(), Error> {
    #[derive(serde::Deserialize)]
    struct Header {
        kind: Option<String>,
        version: Option<u64>,
    }
    let invalid = |message: String| Error::InvalidData {
        what,
        path: path.map(Path::to_path_buf),
        message,
    };
    let header: Header = serde_json::from_str::<serde_json::Value>(text)
        .map_err(|e| invalid(e.to_string()))
        .and_then(|value| {
            if value.is_object() {
                serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
            } else {
                Err(invalid(format!(
                    "a {what} is a JSON object with \"kind\": \"{kind}\""
                )))
            }
        })?;
    match header.kind.as_deref() {
        Some(found) if found == kind => {}
        Some(found) => {
            let other = KINDS
                .iter()
                .find(|k| k.kind == found)
                .map_or_else(|| format!("of kind {found:?}"), |k| format!("a {}", k.what));
            return Err(invalid(format!("it is {other}, not a {what}")));
        }
        None => return Err(invalid(format!("it has no \"kind\": \"{kind}\""))),
    }
    match header.version {
        Some(found) if found == version => Ok(()),
        Some(found) => Err(Error::UnsupportedVersion {
            what,
            path: path.map(Path::to_path_buf),
            found,
            supported: version,
        }),
        None => Err(invalid("it has no \"version\"".into())),
    }
}
