//! The memory levels `/memory`, `/metrics` and the OOM early warning hold
//! resident memory against, and where they came from: the environment or
//! code when set, else the container's cgroup limit (90% and 95% of it).

use serde::Serialize;

use super::cgroup::CgroupMemory;

/// Warning at this share of a cgroup's memory limit when no level is set.
pub(super) const CGROUP_WARNING_SHARE: f64 = 0.90;
/// Critical at this share.
pub(super) const CGROUP_CRITICAL_SHARE: f64 = 0.95;

/// Where levels set on the builder came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum SetBy {
    /// `ServerBuilder::memory_limits`.
    #[default]
    Code,
    /// `PROFILING_ALLOC_MEMORY_WARNING` and `_CRITICAL`.
    Environment,
}

/// The levels in force.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct MemoryLevels {
    pub(super) warning_bytes: u64,
    pub(super) critical_bytes: u64,
    /// What set them: `environment`, `code` or `cgroup`.
    pub(super) source: &'static str,
    /// In words: the variables, the call, or the cgroup file and its share.
    pub(super) source_detail: String,
}

/// The levels in force: those set (by the environment or in code), else
/// 90% and 95% of the cgroup's limit, else none.
pub(super) fn resolve(
    set: Option<(u64, u64, SetBy)>,
    cgroup: Option<CgroupMemory>,
) -> Option<MemoryLevels> {
    if let Some((warning_bytes, critical_bytes, by)) = set {
        let (source, source_detail) = match by {
            SetBy::Environment => (
                "environment",
                format!(
                    "{} and {}",
                    super::MEMORY_WARNING_VAR,
                    super::MEMORY_CRITICAL_VAR
                ),
            ),
            SetBy::Code => ("code", "ServerBuilder::memory_limits".to_string()),
        };
        return Some(MemoryLevels {
            warning_bytes,
            critical_bytes,
            source,
            source_detail,
        });
    }
    let cgroup = cgroup?;
    let share = |share: f64| (cgroup.limit_bytes as f64 * share) as u64;
    Some(MemoryLevels {
        warning_bytes: share(CGROUP_WARNING_SHARE),
        critical_bytes: share(CGROUP_CRITICAL_SHARE),
        source: "cgroup",
        source_detail: format!(
            "90% and 95% of the cgroup v{} limit {} ({} bytes)",
            cgroup.version,
            cgroup.limit_file(),
            cgroup.limit_bytes
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cgroup(limit_bytes: u64) -> Option<CgroupMemory> {
        Some(CgroupMemory {
            version: 2,
            limit_bytes,
            usage_bytes: None,
        })
    }

    #[test]
    fn levels_set_win_over_the_cgroup_default() {
        let set = resolve(Some((100, 200, SetBy::Environment)), cgroup(1000)).unwrap();
        assert_eq!(
            (set.warning_bytes, set.critical_bytes, set.source),
            (100, 200, "environment")
        );
        assert!(set.source_detail.contains("PROFILING_ALLOC_MEMORY_WARNING"));
        let code = resolve(Some((1, 2, SetBy::Code)), None).unwrap();
        assert_eq!(code.source, "code");
    }

    #[test]
    fn without_levels_the_cgroup_limit_gives_them() {
        let levels = resolve(None, cgroup(1000)).unwrap();
        assert_eq!((levels.warning_bytes, levels.critical_bytes), (900, 950));
        assert_eq!(levels.source, "cgroup");
        assert!(
            levels.source_detail.contains("memory.max"),
            "{}",
            levels.source_detail
        );
        assert_eq!(resolve(None, None), None);
    }
}
