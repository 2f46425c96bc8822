//! The command line, declared with clap's derive: [`Cli`] and its
//! subcommands. The doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diff::threshold::{DEFAULT_MIN_CALLS, DEFAULT_NOISE_SIGMA};
use crate::units::{DurationArg, JobLimit, Percent, Rate};

/// The exit codes, as `--help` lists them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success; for diff: every number within its threshold
  1  a usage error, or a file that cannot be read or written (one line on stderr says which and why)
  3  diff: a regression (a number over its threshold and beyond its noise);
     plan: a job that fits no platform";

/// Reads profiling-alloc reports (the JSON of `Report::write_json`): prints
/// their summary, draws flamegraphs, writes pprof profiles, compares two of
/// them as a regression gate for CI, and plans where jobs run and what that
/// costs.
#[derive(Debug, Parser)]
#[command(name = "profiling-alloc", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a report's text summary: heap totals, jobs (calls, p50/p95/p99,
    /// allocations per call), top callsites.
    Summary(SummaryArgs),
    /// Draw a flamegraph SVG of a report (opens in a browser: hover, click
    /// to zoom, Ctrl-F to search).
    Flamegraph(FlamegraphArgs),
    /// Write a pprof profile (gzipped profile.proto, symbolized) that `go
    /// tool pprof`, Pyroscope, Parca, Grafana and speedscope open.
    Pprof(PprofArgs),
    /// Compare two reports, base (before a change) and head (after it):
    /// exit 0 when every number is within its threshold, 3 on a regression.
    #[command(after_help = DIFF_HELP)]
    Diff(DiffArgs),
    /// Decide where each job runs: every serverless platform's cheapest
    /// fitting size next to a VM's, with predicted p95/p99, the cost of a
    /// million calls and of a month, and why each option fits or not.
    #[command(after_help = PLAN_HELP)]
    Plan(PlanArgs),
    /// Print the built-in price sheet (platforms' rules and prices, dated,
    /// with sources) as JSON, a start for one of your own; or, given a
    /// FILE, check that sheet and print it back.
    Prices(PricesArgs),
}

/// `prices [FILE]`.
#[derive(Debug, Args)]
pub struct PricesArgs {
    /// A price sheet to check (default: print the built-in one).
    #[arg(value_name = "FILE")]
    pub sheet: Option<PathBuf>,
}

/// `summary REPORT`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// The report: a JSON file written by `Report::write_json`.
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
}

/// `flamegraph REPORT --kind KIND -o FILE`.
#[derive(Debug, Args)]
pub struct FlamegraphArgs {
    /// The report: a JSON file written by `Report::write_json`.
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// What the widths measure.
    #[arg(long, value_enum, default_value_t = FlameArg::Allocated)]
    pub kind: FlameArg,
    /// The SVG file to write (its directory is created if needed).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

/// The flamegraphs of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FlameArg {
    /// Bytes allocated, by stack, under the job they ran in.
    Allocated,
    /// Blocks allocated, by stack.
    Blocks,
    /// Bytes still live when the report was taken, by stack: the leak view.
    Live,
    /// Busy time per job path.
    Jobs,
}

impl FlameArg {
    /// The library's name for it.
    pub fn kind(self) -> profiling_alloc::FlameKind {
        match self {
            FlameArg::Allocated => profiling_alloc::FlameKind::AllocatedBytes,
            FlameArg::Blocks => profiling_alloc::FlameKind::AllocatedBlocks,
            FlameArg::Live => profiling_alloc::FlameKind::LiveBytes,
            FlameArg::Jobs => profiling_alloc::FlameKind::JobTime,
        }
    }
}

/// `pprof REPORT --kind KIND -o FILE`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  profiling-alloc pprof report.json -o heap.pb.gz\n  go tool pprof -http=: heap.pb.gz"
)]
pub struct PprofArgs {
    /// The report: a JSON file written by `Report::write_json`.
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// Which profile.
    #[arg(long, value_enum, default_value_t = PprofArg::Heap)]
    pub kind: PprofArg,
    /// The file to write, conventionally `*.pb.gz` (its directory is
    /// created if needed).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

/// The pprof profiles of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PprofArg {
    /// Go's heap profile: objects and space allocated and in use, per
    /// callsite; viewers show in-use space first (`/debug/pprof/heap`).
    Heap,
    /// The same profile, allocated space first (`/debug/pprof/allocs`).
    Allocs,
    /// Busy time per job path, jobs as frames.
    Jobs,
}

impl PprofArg {
    /// The library's name for it.
    pub fn kind(self) -> profiling_alloc::output::PprofKind {
        match self {
            PprofArg::Heap => profiling_alloc::output::PprofKind::Heap,
            PprofArg::Allocs => profiling_alloc::output::PprofKind::Allocs,
            PprofArg::Jobs => profiling_alloc::output::PprofKind::JobTime,
        }
    }
}

const DIFF_HELP: &str = "\
What is compared:
  heap       blocks and bytes allocated, peak, live blocks and bytes, reallocs
  jobs       matched by name: allocations, bytes allocated, bytes kept per call, the
             peak of one call; p50/p95/p99 durations; calls (shown, not judged)
  callsites  matched by job path and the functions of their stacks (not lines):
             bytes and blocks allocated, live bytes
  Jobs and callsites only one report has are listed as new or removed.

Against a QoS baseline (BASE a file of plan --write-baseline or Baseline::write_json):
  jobs       p95/p99 against the baseline's targets (plan --p95/--p99) when it has
             them, else like p50 against --max-time-increase (25% unless given); the
             error rate (beyond its binomial noise); the peak of one call against the
             need. Jobs match by name, or by the last segment (`search` is
             `app::search`); a baseline job the report lacks is a regression.

When a number regresses:
  Counted numbers (heap, jobs, callsites when every block was sampled) regress when
  they grow by more than --max-increase. Sampled estimates (Poisson sampling) must
  also grow by more than --noise-sigma standard deviations of their sampling noise.
  A peak taken while threads allocated at once must also grow beyond its bound.
  Durations are judged only with --max-time-increase.

Examples:
  profiling-alloc diff base.json head.json
  profiling-alloc diff base.json head.json --format markdown > comment.md
  profiling-alloc diff baseline.json head.json     # a QoS baseline as BASE
  profiling-alloc diff base.json head.json --max-increase 2% \\
      --max-bytes-per-call my_app::parse=16KiB --svg diff.svg

Exit codes:
  0  every number within its threshold
  1  a usage error, or a report that cannot be read (one line on stderr says which)
  3  a regression";

/// `diff BASE HEAD [options]`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The report before the change (JSON written by `Report::write_json`),
    /// or a QoS baseline (`plan --write-baseline`).
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// The report after the change.
    #[arg(value_name = "HEAD")]
    pub head: PathBuf,
    /// The largest increase of a count that passes: allocations, bytes (per
    /// call for jobs), peaks, callsite totals.
    #[arg(
        long,
        value_name = "PERCENT",
        default_value = "5%",
        allow_hyphen_values = true
    )]
    pub max_increase: Percent,
    /// The largest increase of a job's p50, p95 or p99 duration that passes.
    /// Off by default between two reports (durations vary between runs and
    /// machines); 25% against a QoS baseline.
    #[arg(long, value_name = "PERCENT", allow_hyphen_values = true)]
    pub max_time_increase: Option<Percent>,
    /// Durations are judged only for jobs with at least this many calls in
    /// both reports (below 100, a p99 is one outlier).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MIN_CALLS)]
    pub min_calls: u64,
    /// An absolute limit on a job's bytes allocated per call in the head,
    /// whatever the base: JOB=SIZE with SIZE such as 1024, 10KiB, 2MiB, and
    /// JOB the job's full name or its last segment (repeatable).
    #[arg(long, value_name = "JOB=SIZE")]
    pub max_bytes_per_call: Vec<JobLimit>,
    /// How many standard deviations of sampling noise a sampled estimate
    /// must grow by to count as a regression (3: a false alarm about once
    /// in 700 numbers).
    #[arg(long, value_name = "Z", default_value_t = DEFAULT_NOISE_SIGMA, value_parser = parse_sigma, allow_hyphen_values = true)]
    pub noise_sigma: f64,
    /// Also judge each job's bytes kept per call and the peak of one call
    /// against --max-increase. Off by default: they count only the frees
    /// made on the calling thread, so a job whose blocks another thread
    /// frees (a spawned task's, a channel's) keeps a different amount from
    /// run to run.
    #[arg(long)]
    pub judge_kept: bool,
    /// The output: text for a terminal, json for tools, markdown for a
    /// pull-request comment.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Show every row, not only those that changed.
    #[arg(long)]
    pub all: bool,
    /// Compare reports of different programs (another executable or
    /// crate), which is otherwise refused (exit 1): a warning still says
    /// so.
    #[arg(long)]
    pub allow_different_programs: bool,
    /// Also write a differential flamegraph of bytes allocated (widths are
    /// the head's; red grew, blue shrank).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

const PLAN_HELP: &str = "\
FILE is one of:
  a report (Report::write_json): its jobs, from their percentiles
  a job profile (JobProfile::write_json), or a JSON array of them: run by run
  a deployment file (this command's --format json): planned again

The model: waiting stays as measured; computing scales with the CPU share a size
gives (Lambda: memory / 1,769 MB of a vCPU), up to the job's own parallelism.
Memory: the job's need plus the platform runtime's baseline must fit the size.
Prices and rules come from a dated price sheet built in (2026-12-07), or --prices.

Examples:
  profiling-alloc plan profile.json --rate 50/s --p95 200ms
  profiling-alloc plan report.json --rate 3000/min --p95 200ms --format markdown
  profiling-alloc plan profile.json --rate 50/s --format json > deployment.json
  profiling-alloc plan deployment.json --rate 100/s --platform aws-lambda-arm64 --platform vm-aws

Exit codes:
  0  every job fits somewhere
  1  a usage error, or a file that cannot be read (one line on stderr says which)
  3  a job fits nowhere";

/// `plan FILE --rate RATE [options]`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// A report, a job profile or an array of them, or a deployment file.
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
    /// Calls the job must serve: 50/s, 3000/min, 2/h, 1e6/day.
    #[arg(long, value_name = "RATE", allow_hyphen_values = true)]
    pub rate: Rate,
    /// The p95 duration to meet: 200ms, 1.5s.
    #[arg(long, value_name = "DURATION")]
    pub p95: Option<DurationArg>,
    /// The p99 duration to meet.
    #[arg(long, value_name = "DURATION")]
    pub p99: Option<DurationArg>,
    /// A price sheet of your own, in the built-in one's format.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Consider only this platform (repeatable): an id such as
    /// aws-lambda-arm64, gcp-cloud-run, azure-functions-flex,
    /// cloudflare-workers, vm-aws, vm-gcp, vm-azure.
    #[arg(long = "platform", value_name = "ID")]
    pub platforms: Vec<String>,
    /// The share of a VM's vCPUs the calls may use.
    #[arg(long, value_name = "PERCENT", default_value = "60%")]
    pub utilization: Percent,
    /// The output: text for a terminal, json (the deployment file) for
    /// tools, markdown for a decision document.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the jobs' QoS baseline (p50/p95/p99, error rate, memory
    /// need), which diff and the live endpoint hold later runs against.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
}

/// The output formats of `diff` and `plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal or a CI log.
    Text,
    /// The whole comparison as JSON.
    Json,
    /// A pull-request comment: a table per section, with marks.
    Markdown,
}

fn parse_sigma(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(z) if z.is_finite() && z >= 0.0 => Ok(z),
        _ => Err(format!(
            "`{text}` is not a number of standard deviations: write a number of 0 or more, such as 3"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn diff_defaults() {
        let cli = Cli::try_parse_from(["profiling-alloc", "diff", "a.json", "b.json"]).unwrap();
        let Command::Diff(args) = cli.command else {
            panic!("not diff")
        };
        assert_eq!(args.max_increase.get(), 5.0);
        assert_eq!(args.max_time_increase, None);
        assert_eq!(args.min_calls, 100);
        assert_eq!(args.noise_sigma, 3.0);
        assert_eq!(args.format, Format::Text);
    }

    #[test]
    fn sigma_must_be_a_number() {
        assert_eq!(parse_sigma("2.5"), Ok(2.5));
        assert!(parse_sigma("-1").is_err());
        assert!(parse_sigma("three").unwrap_err().contains("such as 3"));
    }
}
