//! What each subcommand does: read the report(s), write what was asked,
//! and say how it went ([`Outcome`]).

use std::io::Write as _;
use std::path::Path;

use profiling_alloc::Report;

use crate::cli::{
    Command, DiffArgs, FlamegraphArgs, Format, PlanArgs, PprofArgs, PricesArgs, SummaryArgs,
};
use crate::diff::{self, Thresholds};
use crate::error::CliError;

/// How a command that did not fail ended: the exit code's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done; for `diff`, every number within its threshold (exit 0).
    Success,
    /// `diff` found a regression (exit 3).
    Regression,
    /// `plan` found a job that fits no platform (exit 3).
    NoFit,
}

impl Outcome {
    /// The process exit code: 0 or 3.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Regression | Outcome::NoFit => 3,
        }
    }
}

/// Runs `command`.
///
/// # Errors
///
/// A [`CliError`] naming the file and what is wrong with it (exit 1).
pub fn run(command: Command) -> Result<Outcome, CliError> {
    match command {
        Command::Summary(args) => summary(&args),
        Command::Flamegraph(args) => flamegraph(&args),
        Command::Pprof(args) => pprof(&args),
        Command::Diff(args) => diff(&args),
        Command::Plan(args) => plan(&args),
        Command::Prices(args) => prices(&args),
    }
}

fn prices(args: &PricesArgs) -> Result<Outcome, CliError> {
    use profiling_alloc::sizing::Prices;
    let prices = match &args.sheet {
        Some(path) => Prices::read_json(path)?,
        None => Prices::built_in(),
    };
    print(&(prices.to_json() + "\n"))?;
    Ok(Outcome::Success)
}

fn plan(args: &PlanArgs) -> Result<Outcome, CliError> {
    use profiling_alloc::sizing::{self, Baseline, PlanSettings, Prices};
    let prices = match &args.prices {
        Some(path) => Prices::read_json(path)?,
        None => Prices::built_in(),
    };
    let demands = crate::plan_input::read_demands(&args.input)?;
    if demands.is_empty() {
        return Err(CliError::NothingToPlan(shown(&args.input)));
    }
    let mut settings = PlanSettings::new(args.rate.per_second())
        .platforms(args.platforms.iter().cloned())
        .vm_utilization(args.utilization.fraction());
    if let Some(p95) = args.p95 {
        settings = settings.p95_target(p95.0);
    }
    if let Some(p99) = args.p99 {
        settings = settings.p99_target(p99.0);
    }
    let plan = sizing::plan(&demands, &settings, &prices)?;
    // The baseline first: a path that cannot be written fails before
    // anything is printed.
    if let Some(path) = &args.write_baseline {
        let baseline = Baseline::new(plan.jobs.iter().map(|job| job.baseline.clone()).collect());
        baseline.write_json(path)?;
        eprintln!(
            "profiling-alloc: wrote the QoS baseline of {} job(s) to {}",
            plan.jobs.len(),
            path.display()
        );
    }
    let text = match args.format {
        Format::Text => plan.to_text(),
        Format::Markdown => plan.to_markdown(),
        Format::Json => plan.to_json() + "\n",
    };
    print(&text)?;
    Ok(if plan.fits() {
        Outcome::Success
    } else {
        Outcome::NoFit
    })
}

fn summary(args: &SummaryArgs) -> Result<Outcome, CliError> {
    let report = Report::read_json(&args.report)?;
    print(&format!("{report}"))?;
    Ok(Outcome::Success)
}

fn flamegraph(args: &FlamegraphArgs) -> Result<Outcome, CliError> {
    let report = Report::read_json(&args.report)?;
    report.write_flamegraph(args.kind.kind(), &args.output)?;
    Ok(Outcome::Success)
}

fn pprof(args: &PprofArgs) -> Result<Outcome, CliError> {
    let report = Report::read_json(&args.report)?;
    report.write_pprof(args.kind.kind(), &args.output)?;
    Ok(Outcome::Success)
}

fn diff(args: &DiffArgs) -> Result<Outcome, CliError> {
    let base_text =
        std::fs::read_to_string(&args.base).map_err(|source| profiling_alloc::Error::Io {
            action: "reading",
            path: args.base.clone(),
            source,
        })?;
    let head = Report::read_json(&args.head)?;
    let thresholds = thresholds(args);
    let (base_name, head_name) = (shown(&args.base), shown(&args.head));
    if diff::baseline::is_baseline(&base_text) {
        let baseline = profiling_alloc::sizing::Baseline::read_json(&args.base)?;
        let result = diff::baseline::compare(&baseline, &head, &base_name, &head_name, &thresholds);
        return finish_diff(args, &result, None);
    }
    let base = Report::read_json(&args.base)?;
    if !args.allow_different_programs {
        if let Some(differences) = diff::metadata::program_differences(&base, &head) {
            return Err(diff::CompareError::DifferentPrograms { differences }.into());
        }
    }
    let result = diff::compare(&base, &head, &base_name, &head_name, &thresholds)?;
    finish_diff(args, &result, Some((&base, &head)))
}

fn thresholds(args: &DiffArgs) -> Thresholds {
    Thresholds {
        max_increase: args.max_increase,
        max_time_increase: args.max_time_increase,
        min_calls: args.min_calls,
        max_bytes_per_call: args.max_bytes_per_call.clone(),
        noise_sigma: args.noise_sigma,
        judge_kept: args.judge_kept,
    }
}

/// Prints the comparison, draws the differential flamegraph of two reports
/// if asked, and says whether it found a regression.
fn finish_diff(
    args: &DiffArgs,
    result: &diff::Diff,
    reports: Option<(&Report, &Report)>,
) -> Result<Outcome, CliError> {
    let (base_name, head_name) = (shown(&args.base), shown(&args.head));
    let text = match args.format {
        Format::Text => diff::render_text::render(result, args.all),
        Format::Markdown => diff::render_markdown::render(result, args.all),
        Format::Json => result.to_json() + "\n",
    };
    print(&text)?;
    if let Some(svg) = &args.svg {
        let Some((base, head)) = reports else {
            return Err(CliError::NothingToDraw(
                "the base is a QoS baseline, which has no stacks".to_string(),
            ));
        };
        diff::svg::write_differential(base, head, (&base_name, &head_name), svg)?;
    }
    Ok(if result.regressions() > 0 {
        Outcome::Regression
    } else {
        Outcome::Success
    })
}

/// A path as the user gave it.
fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// Writes `text` to standard output. A reader that went away (`| head`) is
/// not an error.
fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::write("standard output", e))
        }
        _ => Ok(()),
    }
}
