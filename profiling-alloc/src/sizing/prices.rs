//! [`Prices`]: the platforms a plan considers, with their rules and prices,
//! as data. The crate ships a dated sheet
//! (`data/cloud-prices-2026-12.json`, naming its sources); a user replaces
//! it with a file of their own when prices change or their discounts
//! differ.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{runner::ResourceLimits, Error};

/// The sheet shipped with this version of the crate.
const BUILT_IN: &str = include_str!("../../data/cloud-prices-2026-12.json");

/// What a price sheet's `kind` says.
pub(crate) const KIND: &str = "profiling-alloc-prices";
/// The version of the price sheet format this build reads.
pub const PRICES_VERSION: u64 = 1;
/// The price sheet as a kind of file.
pub(crate) const FILE: super::FileKind = super::FileKind {
    kind: KIND,
    what: "price sheet",
    version: PRICES_VERSION,
};

const MIB: u64 = 1024 * 1024;
/// The largest memory size a sheet may state: 16 TiB, past any machine.
const MAX_MIB: u64 = 1 << 24;
/// The most sizes a range may give: a plan evaluates each.
const MAX_SIZES: u64 = 100_000;

/// Serverless platforms and VM shapes with their rules and prices: the
/// data of a plan. [`Prices::built_in`] is the sheet shipped with the crate
/// (its date in [`as_of`](Self::as_of)); [`Prices::read_json`] reads one of
/// your own in the same format.
///
/// The format, in short (the built-in sheet is the full example):
///
/// ```json
/// { "kind": "profiling-alloc-prices", "version": 1, "as_of": "2026-12-07",
///   "currency": "USD", "hours_per_month": 730, "notes": ["..."],
///   "serverless": [
///     { "id": "aws-lambda-x86_64", "name": "AWS Lambda (x86_64)",
///       "provider": "aws", "region": "us-east-1", "sources": ["https://..."],
///       "memory": { "min_mib": 128, "max_mib": 10240, "step_mib": 1 },
///       "cpu": { "mib_per_vcpu": 1769, "max_vcpus": 6 },
///       "cpu_speed": 1.0, "runtime_baseline_mib": 16, "max_duration_s": 900,
///       "price": { "billed_time": "wall", "per_gib_second": 0.0000166667,
///                  "per_vcpu_second": 0.0, "per_million_requests": 0.20,
///                  "granularity_ms": 1, "minimum_billed_ms": 1 } },
///     { "id": "...", "sizes": [{ "memory_mib": 512, "vcpus": 0.25 }],
///       "price": { "billed_time": "cpu", "per_million_cpu_ms": 0.02,
///                  "per_million_requests": 0.30 }, "...": "..." } ],
///   "vm": { "baseline_mib": 512, "sources": ["..."],
///     "shapes": [{ "provider": "aws", "name": "m7i.large", "arch": "x86_64",
///                  "vcpus": 2, "memory_mib": 8192, "hourly": 0.1008 }] } }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Prices {
    /// `"profiling-alloc-prices"`.
    pub kind: String,
    /// The format's version ([`PRICES_VERSION`]).
    pub version: u64,
    /// The day the prices were read, `YYYY-MM-DD`.
    pub as_of: String,
    /// The currency of every price (`"USD"`).
    pub currency: String,
    /// Hours in a month, for monthly costs (730: 365 × 24 / 12).
    pub hours_per_month: f64,
    /// What the prices leave out (free tiers, discounts, ...).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Serverless platforms.
    pub serverless: Vec<ServerlessPlatform>,
    /// VM shapes.
    pub vm: VmCatalog,
}

/// One serverless platform (one architecture of it, where prices differ).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerlessPlatform {
    /// A short id, as `--platform` takes it: `aws-lambda-arm64`.
    pub id: String,
    /// Its name for people.
    pub name: String,
    /// The provider: `aws`, `gcp`, `azure`, `cloudflare`.
    pub provider: String,
    /// The region the prices are of.
    pub region: String,
    /// Where each rule and price comes from.
    pub sources: Vec<String>,
    /// Memory sizes as a range (with [`cpu`](Self::cpu)); or else
    /// [`sizes`](Self::sizes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryRange>,
    /// CPU in proportion to memory, for a [`memory`](Self::memory) range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuRule>,
    /// Memory sizes as a list, each with its vCPUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<Size>,
    /// Sizes shown in a plan's sweep for a range (the list's are all shown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sweep_mib: Vec<u64>,
    /// Threads a job may compute on at once (`None`: as many as vCPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_threads: Option<u32>,
    /// One vCPU's speed relative to a core of the machine profiled on.
    pub cpu_speed: f64,
    /// Resident memory of the runtime before the job runs, MiB.
    pub runtime_baseline_mib: u64,
    /// The longest an invocation may run, wall time, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_s: Option<f64>,
    /// The most CPU time an invocation may use, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cpu_s: Option<f64>,
    /// How invocations are billed.
    pub price: Billing,
    /// What else to know.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Memory sizes from `min_mib` to `max_mib` in steps of `step_mib`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemoryRange {
    /// The smallest size, MiB.
    pub min_mib: u64,
    /// The largest size, MiB.
    pub max_mib: u64,
    /// The step between sizes, MiB.
    pub step_mib: u64,
}

/// vCPUs in proportion to memory: `memory ÷ mib_per_vcpu`, at most
/// `max_vcpus`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CpuRule {
    /// Memory that buys one full vCPU, MiB (Lambda: 1,769).
    pub mib_per_vcpu: f64,
    /// The most vCPUs a size has.
    pub max_vcpus: f64,
}

/// One memory size and its vCPUs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Size {
    /// Memory, MiB.
    pub memory_mib: u64,
    /// vCPUs (a fraction is a share of one).
    pub vcpus: f64,
}

/// How a platform bills an invocation, by `billed_time`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "billed_time", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Billing {
    /// Wall time × the size's memory and vCPUs, rounded up.
    Wall {
        /// Per GiB of memory per second.
        per_gib_second: f64,
        /// Per vCPU per second.
        per_vcpu_second: f64,
        /// Per million invocations.
        per_million_requests: f64,
        /// Billed time is rounded up to a multiple of this (0: not rounded).
        granularity_ms: u64,
        /// The least time an invocation is billed.
        minimum_billed_ms: u64,
    },
    /// CPU time only; waiting is free.
    Cpu {
        /// Per million milliseconds of CPU time.
        per_million_cpu_ms: f64,
        /// Per million invocations.
        per_million_requests: f64,
        /// A monthly fee that includes the usage below.
        #[serde(default)]
        monthly_minimum: f64,
        /// Invocations a month the fee includes.
        #[serde(default)]
        included_requests: u64,
        /// CPU milliseconds a month the fee includes.
        #[serde(default)]
        included_cpu_ms: u64,
    },
}

/// VM shapes, and what a VM holds before a job's calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VmCatalog {
    /// Resident memory of the operating system and the service before its
    /// calls, MiB.
    pub baseline_mib: u64,
    /// What to know.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Where the prices come from.
    pub sources: Vec<String>,
    /// The shapes.
    pub shapes: Vec<VmShape>,
}

/// One VM shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VmShape {
    /// `aws`, `gcp`, `azure`.
    pub provider: String,
    /// The provider's name for it: `m7i.large`.
    pub name: String,
    /// `x86_64` or `arm64`.
    pub arch: String,
    /// vCPUs.
    pub vcpus: f64,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// On-demand price per hour.
    pub hourly: f64,
}

impl ServerlessPlatform {
    /// Every size the platform offers, `(memory bytes, vCPUs)`, smallest
    /// first.
    pub(crate) fn all_sizes(&self) -> Vec<(u64, f64)> {
        match (&self.memory, &self.cpu) {
            (Some(range), Some(cpu)) => (range.min_mib..=range.max_mib)
                .step_by(usize::try_from(range.step_mib.max(1)).unwrap_or(usize::MAX))
                .map(|mib| (mib.saturating_mul(MIB), cpu.vcpus(mib)))
                .collect(),
            _ => self
                .sizes
                .iter()
                .map(|size| (size.memory_mib.saturating_mul(MIB), size.vcpus))
                .collect(),
        }
    }

    /// The sizes a plan's sweep shows, `(memory bytes, vCPUs)`.
    pub(crate) fn sweep_sizes(&self) -> Vec<(u64, f64)> {
        match (&self.memory, &self.cpu) {
            (Some(range), Some(cpu)) if !self.sweep_mib.is_empty() => self
                .sweep_mib
                .iter()
                .filter(|&&mib| mib >= range.min_mib && mib <= range.max_mib)
                .map(|&mib| (mib.saturating_mul(MIB), cpu.vcpus(mib)))
                .collect(),
            _ => self.all_sizes(),
        }
    }

    /// The runtime's baseline, bytes.
    pub(crate) fn runtime_baseline_bytes(&self) -> u64 {
        self.runtime_baseline_mib.saturating_mul(MIB)
    }
}

impl CpuRule {
    /// vCPUs at `mib` of memory.
    pub(crate) fn vcpus(&self, mib: u64) -> f64 {
        (mib as f64 / self.mib_per_vcpu).min(self.max_vcpus)
    }
}

impl Prices {
    /// The price sheet shipped with this version of the crate.
    pub fn built_in() -> Prices {
        // Checked by a unit test: the shipped sheet parses and is valid.
        Prices::from_json(BUILT_IN).unwrap_or_else(|_| Prices {
            kind: KIND.into(),
            version: PRICES_VERSION,
            as_of: String::new(),
            currency: "USD".into(),
            hours_per_month: 730.0,
            notes: Vec::new(),
            serverless: Vec::new(),
            vm: VmCatalog {
                baseline_mib: 512,
                notes: Vec::new(),
                sources: Vec::new(),
                shapes: Vec::new(),
            },
        })
    }

    /// A price sheet from its JSON.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidData`] naming the missing or mistyped field (with its
    /// line and column) or the rule a value breaks;
    /// [`Error::UnsupportedVersion`] for another format version.
    pub fn from_json(text: &str) -> Result<Prices, Error> {
        Prices::parse(text, None)
    }

    /// Reads a price sheet of your own.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, and the errors of
    /// [`from_json`](Self::from_json), naming the file.
    pub fn read_json(path: impl AsRef<Path>) -> Result<Prices, Error> {
        let path = path.as_ref();
        let text = crate::io::read_text_file(path)?;
        Prices::parse(&text, Some(path))
    }

    fn parse(text: &str, path: Option<&Path>) -> Result<Prices, Error> {
        let prices: Prices = FILE.parse(text, path)?;
        prices.check().map_err(|message| Error::InvalidData {
            what: FILE.what,
            path: path.map(Path::to_path_buf),
            message,
        })?;
        Ok(prices)
    }

    /// The sheet as pretty-printed JSON, in the format
    /// [`from_json`](Self::from_json) reads: a start for a sheet of your
    /// own (`profiling-alloc prices > mine.json`).
    pub fn to_json(&self) -> String {
        super::pretty_json(self)
    }

    /// The limits of platform `id` at the smallest size it offers that
    /// holds `memory_bytes` (its largest when `None`): that size's memory,
    /// the time limit (wall time, or CPU time where only that is limited),
    /// and the runtime's baseline, for
    /// [`JobProfile::fits`](crate::JobProfile::fits). `None` for an id the
    /// sheet does not have, or memory above its largest size.
    ///
    /// ```
    /// use profiling_alloc::sizing::Prices;
    ///
    /// let prices = Prices::built_in();
    /// let lambda = prices.limits("aws-lambda-arm64", Some(512 << 20)).unwrap();
    /// assert_eq!(lambda.max_memory_bytes, Some(512 << 20));
    /// assert_eq!(lambda.max_duration, Some(std::time::Duration::from_secs(900)));
    /// assert_eq!(lambda.baseline_bytes, 16 << 20);
    /// // Cloud Run offers 128 MiB, 256 MiB, ...: 200 MiB needs the 256 MiB size.
    /// let run = prices.limits("gcp-cloud-run", Some(200 << 20)).unwrap();
    /// assert_eq!(run.max_memory_bytes, Some(256 << 20));
    /// assert!(prices.limits("aws-lambda-arm64", Some(64 << 30)).is_none());
    /// ```
    pub fn limits(&self, id: &str, memory_bytes: Option<u64>) -> Option<ResourceLimits> {
        let platform = self.platform(id)?;
        let sizes = platform.all_sizes();
        let size = match memory_bytes {
            Some(wanted) => sizes.iter().find(|&&(bytes, _)| bytes >= wanted)?.0,
            None => sizes.last()?.0,
        };
        let seconds = platform.max_duration_s.or(platform.max_cpu_s);
        let limits = ResourceLimits::new(
            format!(
                "{} ({}, prices of {})",
                platform.name, platform.region, self.as_of
            ),
            seconds.map(|s| Duration::from_secs_f64(s.min(1e9))),
            Some(size),
        );
        Some(limits.with_baseline(platform.runtime_baseline_bytes()))
    }

    /// The serverless platform `id`.
    pub fn platform(&self, id: &str) -> Option<&ServerlessPlatform> {
        self.serverless.iter().find(|p| p.id == id)
    }

    /// The rules a sheet must keep, each broken one named.
    fn check(&self) -> Result<(), String> {
        let positive = |what: String, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be above 0, not {value}"))
            }
        };
        let price = |what: String, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be 0 or more, not {value}"))
            }
        };
        positive("hours_per_month".into(), self.hours_per_month)?;
        if self.currency != "USD" {
            return Err(format!(
                "currency must be \"USD\", not {:?}: a plan names its costs in USD (cost_per_million_usd); convert the prices",
                self.currency
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for p in &self.serverless {
            let at = |field: &str| format!("serverless platform `{}`: {field}", p.id);
            if p.id.is_empty() || !ids.insert(p.id.as_str()) {
                return Err(format!(
                    "serverless platform id `{}` is empty or repeated",
                    p.id
                ));
            }
            match (&p.memory, &p.cpu, p.sizes.is_empty()) {
                (Some(range), Some(cpu), true) => {
                    if range.min_mib == 0 || range.min_mib > range.max_mib || range.step_mib == 0 {
                        return Err(at("memory needs 0 < min_mib <= max_mib and step_mib > 0"));
                    }
                    if range.max_mib > MAX_MIB {
                        return Err(at(&format!(
                            "memory.max_mib must be at most {MAX_MIB} (16 TiB)"
                        )));
                    }
                    if (range.max_mib - range.min_mib) / range.step_mib >= MAX_SIZES {
                        return Err(at(&format!(
                            "memory gives more than {MAX_SIZES} sizes: take a larger step_mib"
                        )));
                    }
                    positive(at("cpu.mib_per_vcpu"), cpu.mib_per_vcpu)?;
                    positive(at("cpu.max_vcpus"), cpu.max_vcpus)?;
                }
                (None, None, false) => {
                    if p.sizes.len() as u64 > MAX_SIZES {
                        return Err(at(&format!("sizes lists more than {MAX_SIZES} sizes")));
                    }
                    for size in &p.sizes {
                        if size.memory_mib == 0 || size.memory_mib > MAX_MIB {
                            return Err(at("sizes: memory_mib must be above 0 and at most 16 TiB"));
                        }
                        positive(at("sizes: vcpus"), size.vcpus)?;
                    }
                }
                _ => {
                    return Err(at(
                        "give either `memory` with `cpu` (a range) or `sizes` (a list), not both or neither",
                    ))
                }
            }
            positive(at("cpu_speed"), p.cpu_speed)?;
            if let Some(limit) = p.max_duration_s {
                positive(at("max_duration_s"), limit)?;
            }
            if let Some(limit) = p.max_cpu_s {
                positive(at("max_cpu_s"), limit)?;
            }
            if p.max_threads == Some(0) {
                return Err(at("max_threads must be above 0"));
            }
            match p.price {
                Billing::Wall {
                    per_gib_second,
                    per_vcpu_second,
                    per_million_requests,
                    ..
                } => {
                    price(at("price.per_gib_second"), per_gib_second)?;
                    price(at("price.per_vcpu_second"), per_vcpu_second)?;
                    price(at("price.per_million_requests"), per_million_requests)?;
                }
                Billing::Cpu {
                    per_million_cpu_ms,
                    per_million_requests,
                    monthly_minimum,
                    ..
                } => {
                    price(at("price.per_million_cpu_ms"), per_million_cpu_ms)?;
                    price(at("price.per_million_requests"), per_million_requests)?;
                    price(at("price.monthly_minimum"), monthly_minimum)?;
                }
            }
        }
        for shape in &self.vm.shapes {
            let at = |field: &str| format!("VM shape `{}`: {field}", shape.name);
            positive(at("vcpus"), shape.vcpus)?;
            if shape.memory_mib == 0 || shape.memory_mib > MAX_MIB {
                return Err(at("memory_mib must be above 0 and at most 16 TiB"));
            }
            price(at("hourly"), shape.hourly)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_sheet_is_valid_and_dated() {
        let prices = Prices::from_json(BUILT_IN).expect("the shipped sheet");
        assert_eq!(prices.as_of, "2026-12-07");
        assert_eq!(Prices::built_in(), prices);
        assert_eq!(Prices::from_json(&prices.to_json()).unwrap(), prices);
        for platform in &prices.serverless {
            assert!(
                !platform.sources.is_empty(),
                "{} names no source",
                platform.id
            );
        }
        assert!(!prices.vm.sources.is_empty());
        let lambda = prices.platform("aws-lambda-x86_64").unwrap();
        let sizes = lambda.all_sizes();
        assert_eq!(sizes.len(), 10_240 - 128 + 1);
        assert_eq!(sizes[0], (128 * MIB, 128.0 / 1769.0));
        let one_vcpu = sizes
            .iter()
            .find(|(bytes, _)| *bytes == 1769 * MIB)
            .unwrap();
        assert_eq!(one_vcpu.1, 1.0);
        assert_eq!(sizes.last().unwrap().1, 6.0_f64.min(10_240.0 / 1769.0));
        assert!(lambda.sweep_sizes().iter().any(|(b, _)| *b == 3008 * MIB));
    }

    fn sheet_with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value: serde_json::Value = serde_json::from_str(BUILT_IN).unwrap();
        edit(&mut value);
        value.to_string()
    }

    #[test]
    fn a_missing_field_is_named() {
        let text = sheet_with(|v| {
            v["serverless"][0]["price"]
                .as_object_mut()
                .unwrap()
                .remove("per_gib_second");
        });
        let error = Prices::from_json(&text).unwrap_err().to_string();
        assert!(
            error.contains("not a valid price sheet") && error.contains("per_gib_second"),
            "{error}"
        );
    }

    #[test]
    fn broken_rules_are_named() {
        let text = sheet_with(|v| v["serverless"][1]["cpu_speed"] = (-1.0).into());
        let error = Prices::from_json(&text).unwrap_err().to_string();
        assert!(
            error.contains("`aws-lambda-arm64`: cpu_speed must be above 0"),
            "{error}"
        );
        let text = sheet_with(|v| {
            v["serverless"][2]["cpu"] = serde_json::json!({"mib_per_vcpu": 1, "max_vcpus": 1})
        });
        let error = Prices::from_json(&text).unwrap_err().to_string();
        assert!(error.contains("not both or neither"), "{error}");
        let text = sheet_with(|v| {
            v["serverless"][0]["memory"]["max_mib"] = 1_000_000_000_000u64.into();
        });
        let error = Prices::from_json(&text).unwrap_err().to_string();
        assert!(error.contains("max_mib must be at most"), "{error}");
        let text = sheet_with(|v| v["serverless"][0]["memory"]["max_mib"] = 1_000_000u64.into());
        let error = Prices::from_json(&text).unwrap_err().to_string();
        assert!(error.contains("more than 100000 sizes"), "{error}");
        let text = sheet_with(|v| v["serverless"][0]["colour"] = "red".into());
        let error = Prices::from_json(&text).unwrap_err().to_string();
        assert!(error.contains("unknown field `colour`"), "{error}");
    }

    #[test]
    fn another_kind_or_version_is_refused() {
        let text = sheet_with(|v| v["version"] = 2.into());
        let error = Prices::from_json(&text).unwrap_err();
        assert!(
            matches!(
                error,
                Error::UnsupportedVersion {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{error}"
        );
        let error = Prices::from_json(r#"{"kind": "profiling-alloc-baseline", "version": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("is a QoS baseline, not a price sheet"),
            "{error}"
        );
    }
}
