//! What `plan` reads: a report (its jobs), a deployment file (its jobs'
//! demands), one job profile or an array of them, told apart by their
//! shape.

use std::path::Path;

use profiling_alloc::sizing::{JobDemand, Plan};
use profiling_alloc::{Error, JobProfile, Report};

/// What the file was taken for, when it is none of them.
const WHAT: &str = "plan input (a report, a deployment file or job profiles)";

/// The jobs to plan, from the file `path`.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read; [`Error::InvalidData`] (or
/// a report's errors) saying which kind of file it was taken for and what
/// is wrong with it.
pub fn read_demands(path: &Path) -> Result<Vec<JobDemand>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |message: String| Error::InvalidData {
        what: WHAT,
        path: Some(path.to_path_buf()),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if value.is_array() {
        let profiles: Vec<JobProfile> =
            serde_json::from_value(value).map_err(|e| Error::InvalidData {
                what: "array of job profiles",
                path: Some(path.to_path_buf()),
                message: e.to_string(),
            })?;
        return Ok(profiles.iter().map(JobDemand::from_profile).collect());
    }
    let Some(object) = value.as_object() else {
        return Err(invalid("the JSON is neither an object nor an array".into()));
    };
    if object.contains_key("kind") {
        let plan = Plan::read_json(path)?;
        return Ok(plan.jobs.into_iter().map(|job| job.demand).collect());
    }
    if object.contains_key("format_version") {
        let report = Report::read_json(path)?;
        return Ok(report
            .jobs
            .iter()
            .filter_map(JobDemand::from_job_stats)
            .collect());
    }
    if object.contains_key("runs") {
        let profile = JobProfile::read_json(path)?;
        return Ok(vec![JobDemand::from_profile(&profile)]);
    }
    Err(invalid(
        "no \"kind\" (a deployment file), \"format_version\" (a report) or \"runs\" (a job profile)"
            .into(),
    ))
}
