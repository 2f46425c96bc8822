//! [`Plan`]: for each job, every platform's cheapest fitting option next to
//! a VM's, with the reason for each rejection, the sweep of sizes behind
//! them, and the job's QoS baseline. Its JSON is the deployment file.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::baseline::JobBaseline;
use super::demand::JobDemand;
use super::prices::Prices;
use super::{faas, vm};
use crate::units::bytes;
use crate::Error;

/// What a deployment file's `kind` says.
pub(crate) const KIND: &str = "profiling-alloc-deployment";
/// The version of the deployment file format this build writes and reads.
pub const DEPLOYMENT_VERSION: u64 = 1;
/// The deployment file as a kind of file.
pub(crate) const FILE: super::FileKind = super::FileKind {
    kind: KIND,
    what: "deployment file",
    version: DEPLOYMENT_VERSION,
};

/// What a plan is for: the call rate, the latency to promise, and how VMs
/// are sized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlanSettings {
    /// Calls per second the job must serve (VM sizing, monthly costs).
    pub rate_per_second: f64,
    /// The p95 duration to meet; `None`: any.
    #[serde(rename = "p95_target_ns", with = "crate::units::nanos::option")]
    pub p95_target: Option<Duration>,
    /// The p99 duration to meet; `None`: any.
    #[serde(rename = "p99_target_ns", with = "crate::units::nanos::option")]
    pub p99_target: Option<Duration>,
    /// The share of a VM's vCPUs the calls may use (default 0.6): room for
    /// bursts and queueing.
    pub vm_utilization: f64,
    /// Memory above a VM's need kept free (default 0.25: a quarter more).
    pub vm_headroom: f64,
    /// The allocator's overhead assumed where it was not measured, as a
    /// share of the heap peak (default 0.25).
    pub assumed_overhead: f64,
    /// The most instances of one VM shape a plan considers (default 100).
    pub max_instances: u32,
    /// The platforms to consider, by id (`aws-lambda-arm64`, `vm-aws`);
    /// empty: all of the price sheet.
    pub platforms: Vec<String>,
}

impl PlanSettings {
    /// Settings for `rate_per_second` calls a second, with no latency
    /// target and the defaults above.
    pub fn new(rate_per_second: f64) -> PlanSettings {
        PlanSettings {
            rate_per_second,
            p95_target: None,
            p99_target: None,
            vm_utilization: 0.6,
            vm_headroom: 0.25,
            assumed_overhead: 0.25,
            max_instances: 100,
            platforms: Vec::new(),
        }
    }

    /// The same settings with a p95 target.
    #[must_use]
    pub fn p95_target(mut self, target: Duration) -> Self {
        self.p95_target = Some(target);
        self
    }

    /// The same settings with a p99 target.
    #[must_use]
    pub fn p99_target(mut self, target: Duration) -> Self {
        self.p99_target = Some(target);
        self
    }

    /// The same settings considering only the platforms `ids`.
    #[must_use]
    pub fn platforms(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.platforms = ids.into_iter().map(Into::into).collect();
        self
    }

    /// The same settings with a VM utilization target (0 to 1).
    #[must_use]
    pub fn vm_utilization(mut self, share: f64) -> Self {
        self.vm_utilization = share;
        self
    }

    fn check(&self, prices: &Prices) -> Result<(), Error> {
        let invalid = |setting: &'static str, value: String, reason: &str| {
            Err(Error::InvalidSetting {
                setting,
                value,
                reason: reason.to_string(),
            })
        };
        if !(self.rate_per_second.is_finite() && self.rate_per_second > 0.0) {
            return invalid(
                "rate",
                format!("{}/s", self.rate_per_second),
                "a plan needs calls to serve: give a rate above 0, such as 50/s",
            );
        }
        for (setting, target) in [
            ("p95 target", self.p95_target),
            ("p99 target", self.p99_target),
        ] {
            if target == Some(Duration::ZERO) {
                return invalid(
                    setting,
                    "0".into(),
                    "no call takes no time: give a target above 0",
                );
            }
        }
        if !(self.vm_utilization > 0.0 && self.vm_utilization <= 1.0) {
            return invalid(
                "VM utilization",
                format!("{}%", self.vm_utilization * 100.0),
                "a share of the vCPUs: above 0%, at most 100%",
            );
        }
        for (setting, value) in [
            ("VM headroom", self.vm_headroom),
            ("assumed overhead", self.assumed_overhead),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return invalid(setting, value.to_string(), "a share: 0 or more");
            }
        }
        if self.max_instances == 0 {
            return invalid("max instances", "0".into(), "at least one instance");
        }
        let known = known_platforms(prices);
        if let Some(unknown) = self.platforms.iter().find(|id| !known.contains(id)) {
            return invalid(
                "platform",
                unknown.clone(),
                &format!("not in the price sheet; known: {}", known.join(", ")),
            );
        }
        Ok(())
    }

    fn wants(&self, id: &str) -> bool {
        self.platforms.is_empty() || self.platforms.iter().any(|p| p == id)
    }
}

/// Every platform id of a price sheet: its serverless platforms' and
/// `vm-<provider>` for each provider of VM shapes.
pub fn known_platforms(prices: &Prices) -> Vec<String> {
    let mut ids: Vec<String> = prices.serverless.iter().map(|p| p.id.clone()).collect();
    for provider in vm_providers(prices) {
        ids.push(vm::provider_label(&provider).0);
    }
    ids
}

fn vm_providers(prices: &Prices) -> Vec<String> {
    let mut providers: Vec<String> = Vec::new();
    for shape in &prices.vm.shapes {
        if !providers.contains(&shape.provider) {
            providers.push(shape.provider.clone());
        }
    }
    providers
}

/// A plan, and the deployment file as JSON: for each job, where it can run
/// and what that costs, with the evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Plan {
    /// `"profiling-alloc-deployment"`.
    pub kind: String,
    /// The format's version ([`DEPLOYMENT_VERSION`]).
    pub version: u64,
    /// When the plan was made, milliseconds since the Unix epoch.
    pub generated_at_unix_ms: u64,
    /// The price sheet used.
    pub prices: PricesUsed,
    /// What the plan is for.
    pub settings: PlanSettings,
    /// What the price sheet and the platforms considered say of
    /// themselves: what the prices leave out, which figures are
    /// assumptions.
    pub notes: Vec<String>,
    /// One entry per job.
    pub jobs: Vec<JobPlan>,
}

/// The price sheet a plan used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PricesUsed {
    /// Its date.
    pub as_of: String,
    /// Its currency.
    pub currency: String,
}

/// One job's plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobPlan {
    /// The job's name.
    pub name: String,
    /// What the job needs resident, beside a runtime's baseline: its
    /// measured need, or its heap peak plus the assumed overhead.
    pub memory_need_bytes: u64,
    /// The cheapest fitting option's platform id; `None` when none fits.
    pub recommended: Option<String>,
    /// Each platform's best option: the cheapest fitting size, or, when
    /// none fits, the size that shows why.
    pub options: Vec<PlanOption>,
    /// Per serverless platform, the sizes evaluated for display (every
    /// listed size; for a range, its sweep sizes and the one chosen).
    pub sweep: Vec<SweepPoint>,
    /// The job's QoS baseline, as measured.
    pub baseline: JobBaseline,
    /// What the plan says of the job's numbers (assumptions made).
    pub notes: Vec<String>,
    /// The job's numbers, as the plan read them: planning the deployment
    /// file again starts from these.
    pub demand: JobDemand,
}

impl JobPlan {
    /// Whether some option fits.
    pub fn fits_somewhere(&self) -> bool {
        self.options.iter().any(|o| o.fits)
    }
}

/// Serverless or VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OptionKind {
    /// A serverless function.
    Faas,
    /// Virtual machines.
    Vm,
}

/// A platform's best option for a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlanOption {
    /// The platform's id.
    pub platform: String,
    /// For people: the platform's name (and for VMs, the shape).
    pub name: String,
    /// Serverless or VM.
    pub kind: OptionKind,
    /// Instances (VMs); 1 for a function.
    pub instances: u32,
    /// Memory of one function or instance, bytes.
    pub memory_bytes: u64,
    /// vCPUs of one function or instance.
    pub vcpus: f64,
    /// Predicted median duration.
    pub predicted_p50_ns: u64,
    /// Predicted p95 duration.
    pub predicted_p95_ns: u64,
    /// Predicted p99 duration.
    pub predicted_p99_ns: u64,
    /// Cost of a million calls, in the price sheet's currency (USD).
    pub cost_per_million_usd: f64,
    /// Cost of a month at the plan's rate.
    pub monthly_cost_usd: f64,
    /// Whether it meets the memory, latency and platform limits.
    pub fits: bool,
    /// Why it was chosen, or each limit it does not meet.
    pub reasons: Vec<String>,
}

impl PlanOption {
    /// An option that does not fit for `reason`, with nothing to show of
    /// a size (the price sheet lists none, or no shape holds the job).
    pub(crate) fn nothing(
        platform: String,
        name: String,
        kind: OptionKind,
        reason: String,
    ) -> Self {
        PlanOption {
            platform,
            name,
            kind,
            instances: 0,
            memory_bytes: 0,
            vcpus: 0.0,
            predicted_p50_ns: 0,
            predicted_p95_ns: 0,
            predicted_p99_ns: 0,
            cost_per_million_usd: 0.0,
            monthly_cost_usd: 0.0,
            fits: false,
            reasons: vec![reason],
        }
    }
}

/// One size of a serverless platform, evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SweepPoint {
    /// The platform's id.
    pub platform: String,
    /// Memory, bytes.
    pub memory_bytes: u64,
    /// vCPUs.
    pub vcpus: f64,
    /// Predicted p95 duration.
    pub predicted_p95_ns: u64,
    /// Predicted p99 duration.
    pub predicted_p99_ns: u64,
    /// Cost of a million calls.
    pub cost_per_million_usd: f64,
    /// Whether this size fits.
    pub fits: bool,
}

/// Plans `demands` with `settings` and `prices`.
///
/// # Errors
///
/// [`Error::InvalidSetting`] naming the setting that cannot be planned
/// with (a rate of 0, an unknown platform, ...).
pub fn plan(
    demands: &[JobDemand],
    settings: &PlanSettings,
    prices: &Prices,
) -> Result<Plan, Error> {
    crate::capture::reading(|| {
        settings.check(prices)?;
        let jobs = demands
            .iter()
            .map(|demand| plan_job(demand, settings, prices))
            .collect();
        Ok(Plan {
            kind: KIND.to_string(),
            version: DEPLOYMENT_VERSION,
            generated_at_unix_ms: crate::sys::unix_millis_now(),
            prices: PricesUsed {
                as_of: prices.as_of.clone(),
                currency: prices.currency.clone(),
            },
            settings: settings.clone(),
            notes: plan_notes(settings, prices),
            jobs,
        })
    })
}

/// The price sheet's notes, then each platform's considered.
fn plan_notes(settings: &PlanSettings, prices: &Prices) -> Vec<String> {
    let mut notes = prices.notes.clone();
    for platform in prices.serverless.iter().filter(|p| settings.wants(&p.id)) {
        notes.extend(
            platform
                .notes
                .iter()
                .map(|note| format!("{}: {note}", platform.id)),
        );
    }
    if vm_providers(prices)
        .iter()
        .any(|provider| settings.wants(&vm::provider_label(provider).0))
    {
        notes.extend(prices.vm.notes.iter().map(|note| format!("VMs: {note}")));
    }
    notes
}

fn plan_job(demand: &JobDemand, settings: &PlanSettings, prices: &Prices) -> JobPlan {
    let mut notes = Vec::new();
    let memory = demand.memory;
    let need = match (memory.measured_bytes, memory.heap_peak_bytes) {
        (Some(measured), _) if memory.overhead_measured => Some(measured),
        (_, Some(heap)) => {
            notes.push(format!(
                "the allocator's resident overhead was not measured: {:.0}% of the heap peak ({}) is assumed",
                settings.assumed_overhead * 100.0,
                bytes(heap)
            ));
            Some(heap.saturating_add((heap as f64 * settings.assumed_overhead) as u64))
        }
        (measured, None) => measured,
    };
    if !demand.cpu_measured() {
        notes.push(
            "CPU time was not measured: every call is taken as computing throughout, the slowest prediction at a smaller CPU share".into(),
        );
    }
    notes.push(format!("numbers from the {}", demand.source));
    let need_bytes = need.unwrap_or(0);
    let hours = prices.hours_per_month;
    let mut options = Vec::new();
    let mut sweep = Vec::new();
    for platform in prices.serverless.iter().filter(|p| settings.wants(&p.id)) {
        let (option, points) = faas::evaluate(platform, demand, need_bytes, settings, hours);
        options.push(option);
        sweep.extend(points);
    }
    for provider in vm_providers(prices) {
        if settings.wants(&vm::provider_label(&provider).0) {
            options.push(vm::evaluate(
                &provider, &prices.vm, demand, need_bytes, settings, hours,
            ));
        }
    }
    if !demand.has_calls() {
        for option in &mut options {
            option.fits = false;
            option.reasons.insert(
                0,
                "no call of the job was measured: nothing to predict from".into(),
            );
        }
    } else if need.is_none() {
        for option in &mut options {
            option.fits = false;
            option.reasons.insert(
                0,
                "the job's memory need was not measured (no allocator, no resident reading)".into(),
            );
        }
    }
    let recommended = options
        .iter()
        .filter(|o| o.fits)
        .min_by(|a, b| a.monthly_cost_usd.total_cmp(&b.monthly_cost_usd))
        .map(|o| o.platform.clone());
    JobPlan {
        name: demand.name.clone(),
        memory_need_bytes: need_bytes,
        recommended,
        options,
        sweep,
        baseline: JobBaseline::of(demand, need)
            .with_targets(settings.p95_target, settings.p99_target),
        notes,
        demand: demand.clone(),
    }
}

impl Plan {
    /// Whether every job fits somewhere (`profiling-alloc plan` exits 0).
    pub fn fits(&self) -> bool {
        self.jobs.iter().all(JobPlan::fits_somewhere)
    }

    /// The plan as pretty-printed JSON: the deployment file.
    pub fn to_json(&self) -> String {
        super::pretty_json(self)
    }

    /// Writes the deployment file to `path` (its directory is created if
    /// needed).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file or directory that could not be written.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        super::write_json(self, path.as_ref())
    }

    /// A deployment file from its JSON.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidData`] saying what is wrong, or that the text is
    /// another kind of file; [`Error::UnsupportedVersion`].
    pub fn from_json(text: &str) -> Result<Plan, Error> {
        FILE.parse(text, None)
    }

    /// Reads a deployment file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`], and the errors of [`from_json`](Self::from_json)
    /// naming the file.
    pub fn read_json(path: impl AsRef<Path>) -> Result<Plan, Error> {
        FILE.read(path.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizing::demand::{Durations, MeasuredRun, MemoryDemand};

    const MIB: u64 = 1 << 20;

    /// `runs` runs of `wall_ms` with `cpu_ms` of CPU, needing `need_mib`.
    fn demand(runs: usize, wall_ms: u64, cpu_ms: u64, need_mib: u64) -> JobDemand {
        JobDemand {
            name: "job".into(),
            source: "test".into(),
            calls: runs as u64,
            errors: 0,
            durations: Durations::Runs(vec![
                MeasuredRun {
                    wall: Duration::from_millis(wall_ms),
                    cpu: Some(Duration::from_millis(cpu_ms)),
                };
                runs
            ]),
            memory: MemoryDemand {
                measured_bytes: Some(need_mib * MIB),
                heap_peak_bytes: Some(need_mib * MIB),
                overhead_measured: true,
            },
            arch: Some("x86_64".into()),
        }
    }

    fn option<'a>(job: &'a JobPlan, platform: &str) -> &'a PlanOption {
        job.options.iter().find(|o| o.platform == platform).unwrap()
    }

    #[test]
    fn a_waiting_job_takes_the_smallest_lambda() {
        // 100 ms waiting: as fast at 128 MB as at 10 GB, so 128 MB is the
        // cheapest: 100 ms × 0.125 GB × $0.0000166667 + $0.20 per million.
        let plan = plan(
            &[demand(10, 100, 0, 40)],
            &PlanSettings::new(50.0),
            &Prices::built_in(),
        )
        .unwrap();
        let lambda = option(&plan.jobs[0], "aws-lambda-x86_64");
        assert!(lambda.fits);
        assert_eq!(lambda.memory_bytes, 128 * MIB);
        let by_hand = (0.1 * 0.125 * 0.0000166667 + 0.20 / 1e6) * 1e6;
        assert!(
            (lambda.cost_per_million_usd - by_hand).abs() < 1e-9,
            "{lambda:?}"
        );
        let calls = 50.0 * 3600.0 * 730.0;
        assert!((lambda.monthly_cost_usd - by_hand / 1e6 * calls).abs() < 1e-6);
        assert_eq!(lambda.predicted_p95_ns, 100_000_000);
    }

    #[test]
    fn cloud_run_rounding_makes_a_larger_size_cheaper() {
        // 50 ms computing, p95 ≤ 200 ms. 512 MiB (0.333 vCPU) takes 150 ms,
        // billed 200 ms; 1 GiB (0.583 vCPU) takes 86 ms, billed 100 ms:
        //   512 MiB: 0.2 × (0.5 × 0.0000025 + 0.333 × 0.000024) + 0.40/M = $2.2484/M
        //   1 GiB:   0.1 × (1.0 × 0.0000025 + 0.583 × 0.000024) + 0.40/M = $2.0492/M
        let settings = PlanSettings::new(50.0).p95_target(Duration::from_millis(200));
        let plan = plan(&[demand(20, 50, 50, 40)], &settings, &Prices::built_in()).unwrap();
        let job = &plan.jobs[0];
        let run = option(job, "gcp-cloud-run");
        assert!(run.fits);
        assert_eq!(run.memory_bytes, 1024 * MIB);
        assert!((run.cost_per_million_usd - 2.0492).abs() < 1e-9, "{run:?}");
        let point = |mib: u64| {
            job.sweep
                .iter()
                .find(|p| p.platform == "gcp-cloud-run" && p.memory_bytes == mib * MIB)
                .unwrap()
        };
        assert!((point(512).cost_per_million_usd - 2.2484).abs() < 1e-9);
        assert!(!point(256).fits, "299 ms is over the target");
        assert_eq!(point(256).predicted_p95_ns, 299_401_198);
    }

    #[test]
    fn lambda_meets_the_target_at_its_cpu_share() {
        // 50 ms computing with p95 ≤ 200 ms needs 50/200 of a vCPU:
        // 1,769 × 0.25 = 442.25 MB at least.
        let settings = PlanSettings::new(50.0).p95_target(Duration::from_millis(200));
        let plan = plan(&[demand(20, 50, 50, 40)], &settings, &Prices::built_in()).unwrap();
        let job = &plan.jobs[0];
        let lambda = option(job, "aws-lambda-arm64");
        assert!(lambda.fits);
        assert!(lambda.memory_bytes >= 443 * MIB, "{lambda:?}");
        assert!(lambda.predicted_p95_ns <= 200_000_000);
        let sizes: Vec<u64> = job
            .sweep
            .iter()
            .filter(|p| p.platform == "aws-lambda-arm64")
            .map(|p| p.memory_bytes / MIB)
            .collect();
        for mib in [128, 256, 512, 1024, 1769, 3008] {
            assert!(sizes.contains(&mib), "{sizes:?}");
        }
        assert!(
            sizes.contains(&(lambda.memory_bytes / MIB)),
            "the chosen size"
        );
        assert_eq!(job.recommended.is_some(), plan.fits());
    }

    #[test]
    fn vms_are_sized_by_rate_and_utilization() {
        // 10 ms of CPU a call at 100/s and 60% utilization: 1.67 vCPUs.
        // One m7g.large (2 vCPUs) costs as much as two m7g.medium: one
        // instance is taken. 730 h × $0.0816.
        let settings = PlanSettings::new(100.0).platforms(["vm-aws"]);
        let plan = plan(&[demand(10, 10, 10, 40)], &settings, &Prices::built_in()).unwrap();
        let job = &plan.jobs[0];
        assert_eq!(job.options.len(), 1);
        let aws = option(job, "vm-aws");
        assert!(aws.fits, "{aws:?}");
        assert_eq!((aws.instances, aws.vcpus), (1, 2.0));
        assert!(aws.name.ends_with("1 × m7g.large"), "{}", aws.name);
        assert!((aws.monthly_cost_usd - 0.0816 * 730.0).abs() < 1e-9);
        let calls = 100.0 * 3600.0 * 730.0;
        assert!((aws.cost_per_million_usd - 0.0816 * 730.0 / calls * 1e6).abs() < 1e-9);
    }

    #[test]
    fn too_much_memory_fits_nowhere_and_says_why() {
        let plan = plan(
            &[demand(5, 10, 10, 40_000)],
            &PlanSettings::new(1.0),
            &Prices::built_in(),
        )
        .unwrap();
        let job = &plan.jobs[0];
        assert!(!job.fits_somewhere());
        assert!(!plan.fits());
        assert_eq!(job.recommended, None);
        let lambda = option(job, "aws-lambda-x86_64");
        assert_eq!(
            lambda.memory_bytes,
            10_240 * MIB,
            "the largest size shows why"
        );
        assert!(
            lambda.reasons[0].contains("needs 39.1 GiB resident"),
            "{:?}",
            lambda.reasons
        );
        let workers = option(job, "cloudflare-workers");
        assert!(!workers.fits);
    }

    #[test]
    fn a_multi_threaded_job_is_refused_where_one_thread_runs() {
        // 100 ms of wall computing on 2 threads.
        let plan = plan(
            &[demand(5, 100, 200, 10)],
            &PlanSettings::new(1.0),
            &Prices::built_in(),
        )
        .unwrap();
        let workers = option(&plan.jobs[0], "cloudflare-workers");
        assert!(!workers.fits);
        assert!(
            workers.reasons.iter().any(|r| r.contains("2.0 threads")),
            "{:?}",
            workers.reasons
        );
        let lambda = option(&plan.jobs[0], "aws-lambda-x86_64");
        assert!(lambda.fits);
    }

    #[test]
    fn a_job_of_no_calls_fits_nowhere() {
        let plan = plan(
            &[demand(0, 10, 10, 1)],
            &PlanSettings::new(1.0),
            &Prices::built_in(),
        )
        .unwrap();
        let job = &plan.jobs[0];
        assert!(!job.fits_somewhere());
        assert!(job.options[0].reasons[0].contains("no call of the job was measured"));
    }

    #[test]
    fn billing_that_costs_more_than_time_says_so() {
        // 10 ms calls on Azure Flex are billed a second each; a Worker's
        // month includes its plan's fee.
        let plan = plan(
            &[demand(5, 10, 10, 10)],
            &PlanSettings::new(1.0),
            &Prices::built_in(),
        )
        .unwrap();
        let azure = option(&plan.jobs[0], "azure-functions-flex");
        assert!(
            azure
                .reasons
                .iter()
                .any(|r| r.contains("billed at least 1.00 s")),
            "{azure:?}"
        );
        let workers = option(&plan.jobs[0], "cloudflare-workers");
        assert!(
            workers.reasons.iter().any(|r| r.contains("$5.00 fee")),
            "{workers:?}"
        );
        let aws = option(&plan.jobs[0], "vm-aws");
        assert!(
            aws.reasons.iter().any(|r| r.contains("is arm64")),
            "{aws:?}"
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let prices = Prices::built_in();
        let error = plan(&[], &PlanSettings::new(0.0), &prices)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("invalid rate") && error.contains("above 0"),
            "{error}"
        );
        let error = plan(
            &[],
            &PlanSettings::new(1.0).platforms(["aws-fargate"]),
            &prices,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("\"aws-fargate\"")
                && error.contains("aws-lambda-x86_64")
                && error.contains("vm-azure"),
            "{error}"
        );
    }

    #[test]
    fn the_deployment_file_reads_back_and_plans_again() {
        let settings = PlanSettings::new(50.0).p95_target(Duration::from_millis(200));
        let first = plan(&[demand(20, 50, 50, 40)], &settings, &Prices::built_in()).unwrap();
        let json = first.to_json();
        assert!(json.contains(r#""kind": "profiling-alloc-deployment""#));
        let back = Plan::from_json(&json).unwrap();
        assert_eq!(back, first);
        assert_eq!(back.jobs[0].demand, first.jobs[0].demand);
        let text = first.to_text();
        assert!(
            text.contains("recommended:") && text.contains("sweep"),
            "{text}"
        );
        let markdown = first.to_markdown();
        assert!(markdown.contains("| option | size |"), "{markdown}");
    }
}
