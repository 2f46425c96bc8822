//! The container's memory limit and usage, from the process's cgroup (v2,
//! else v1), on Linux. A cgroup without a limit (`max` in v2, the huge
//! "unlimited" value in v1) has none; outside Linux nothing is read.

use std::path::{Path, PathBuf};

/// The memory controller's limit and usage for this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CgroupMemory {
    /// Cgroup version, 1 or 2.
    pub(super) version: u8,
    /// The limit, bytes.
    pub(super) limit_bytes: u64,
    /// Memory charged to the cgroup now, bytes (page cache included).
    pub(super) usage_bytes: Option<u64>,
}

impl CgroupMemory {
    /// The file the limit was read from, as people know it.
    pub(super) fn limit_file(&self) -> &'static str {
        match self.version {
            2 => "memory.max",
            _ => "memory.limit_in_bytes",
        }
    }
}

/// Above this, a v1 limit means "none" (the kernel's unlimited value is
/// `i64::MAX` rounded down to a page).
const UNLIMITED: u64 = 1 << 62;

/// This process's cgroup memory limit, if one is set.
pub(super) fn memory() -> Option<CgroupMemory> {
    #[cfg(target_os = "linux")]
    {
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        memory_in(Path::new("/sys/fs/cgroup"), &cgroups)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The limit for the cgroups listed in `cgroups` (`/proc/self/cgroup`'s
/// text), with the cgroup filesystem mounted at `root`.
pub(super) fn memory_in(root: &Path, cgroups: &str) -> Option<CgroupMemory> {
    let mut v1 = None;
    let mut v2 = None;
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2 = Some(path);
        } else if controllers.split(',').any(|c| c == "memory") {
            v1 = Some(path);
        }
    }
    if let Some(path) = v2 {
        if let Some(found) = read_limit(root, path, 2, "memory.max", "memory.current") {
            return Some(found);
        }
    }
    let path = v1?;
    read_limit(
        &root.join("memory"),
        path,
        1,
        "memory.limit_in_bytes",
        "memory.usage_in_bytes",
    )
}

/// The lowest limit in `limit_file` of the cgroup at `path` under `mount`
/// and of its ancestors (a limit on a parent, such as a pod's or a systemd
/// slice's, binds the process too), with the usage of the lowest cgroup
/// found. Inside a cgroup namespace the process may see its cgroup as `/`
/// or as a path the mount does not have: the mount's root is then its
/// cgroup.
fn read_limit(
    mount: &Path,
    path: &str,
    version: u8,
    limit_file: &str,
    usage_file: &str,
) -> Option<CgroupMemory> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let own = Path::new(path.trim_start_matches('/'));
    // A path that climbs out (`/../..`, seen from another namespace) names
    // nothing under this mount.
    if !own
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        let mut current = Some(own);
        while let Some(dir) = current.filter(|dir| !dir.as_os_str().is_empty()) {
            dirs.push(mount.join(dir));
            current = dir.parent();
        }
    }
    dirs.push(mount.to_path_buf());
    let mut limit: Option<u64> = None;
    let mut usage: Option<u64> = None;
    let mut found = false;
    for dir in &dirs {
        let Ok(text) = std::fs::read_to_string(dir.join(limit_file)) else {
            continue;
        };
        if !found {
            found = true;
            usage = std::fs::read_to_string(dir.join(usage_file))
                .ok()
                .and_then(|usage| usage.trim().parse().ok());
        }
        let own = text.trim().parse::<u64>().ok().filter(|&l| l < UNLIMITED);
        // v1 states the limit its ancestors impose in memory.stat.
        let hierarchical = (version == 1)
            .then(|| std::fs::read_to_string(dir.join("memory.stat")).ok())
            .flatten()
            .and_then(|stat| {
                stat.lines()
                    .find_map(|line| line.strip_prefix("hierarchical_memory_limit "))
                    .and_then(|value| value.trim().parse::<u64>().ok())
            })
            .filter(|&l| l < UNLIMITED);
        for candidate in [own, hierarchical].into_iter().flatten() {
            limit = Some(limit.map_or(candidate, |l| l.min(candidate)));
        }
    }
    limit.map(|limit_bytes| CgroupMemory {
        version,
        limit_bytes,
        usage_bytes: usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cgroup filesystem made of `files` (path, content) under a temporary
    /// directory.
    fn fake(files: &[(&str, &str)]) -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "profiling-alloc-cgroup-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        for (path, content) in files {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        }
        root
    }

    #[test]
    fn a_v2_limit_in_the_process_cgroup() {
        let root = fake(&[
            ("app.slice/memory.max", "536870912\n"),
            ("app.slice/memory.current", "123456\n"),
        ]);
        let found = memory_in(&root, "0::/app.slice\n").unwrap();
        assert_eq!(
            found,
            CgroupMemory {
                version: 2,
                limit_bytes: 512 << 20,
                usage_bytes: Some(123_456)
            }
        );
        assert_eq!(found.limit_file(), "memory.max");
    }

    #[test]
    fn a_v2_cgroup_without_a_limit_has_none() {
        let root = fake(&[("memory.max", "max\n")]);
        assert_eq!(memory_in(&root, "0::/\n"), None);
    }

    #[test]
    fn inside_a_cgroup_namespace_the_files_are_at_the_root() {
        // The process sees a path that does not exist under the mount.
        let root = fake(&[("memory.max", "1073741824\n")]);
        let found = memory_in(&root, "0::/../../kubepods/pod1\n").unwrap();
        assert_eq!(found.limit_bytes, 1 << 30);
        assert_eq!(found.usage_bytes, None);
    }

    #[test]
    fn a_v1_memory_controller() {
        let root = fake(&[
            ("memory/docker/abc/memory.limit_in_bytes", "268435456\n"),
            ("memory/docker/abc/memory.usage_in_bytes", "1000\n"),
        ]);
        let cgroups = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n";
        let found = memory_in(&root, cgroups).unwrap();
        assert_eq!((found.version, found.limit_bytes), (1, 256 << 20));
        assert_eq!(found.usage_bytes, Some(1000));
        assert_eq!(found.limit_file(), "memory.limit_in_bytes");
    }

    #[test]
    fn a_v1_unlimited_value_is_no_limit() {
        let root = fake(&[("memory/memory.limit_in_bytes", "9223372036854771712\n")]);
        assert_eq!(memory_in(&root, "4:memory:/\n"), None);
    }

    #[test]
    fn garbage_is_no_limit() {
        let root = fake(&[("memory.max", "lots\n")]);
        assert_eq!(memory_in(&root, "0::/\n"), None);
        assert_eq!(memory_in(&root, "not a cgroup line"), None);
        assert_eq!(memory_in(&root, ""), None);
    }

    #[test]
    fn a_limit_on_a_parent_binds_the_child() {
        let root = fake(&[
            ("kubepods/pod1/memory.max", "1073741824\n"),
            ("kubepods/pod1/app/memory.max", "max\n"),
            ("kubepods/pod1/app/memory.current", "5\n"),
        ]);
        let found = memory_in(&root, "0::/kubepods/pod1/app\n").unwrap();
        assert_eq!((found.limit_bytes, found.usage_bytes), (1 << 30, Some(5)));
        let v1 = fake(&[
            ("memory/app/memory.limit_in_bytes", "9223372036854771712\n"),
            (
                "memory/app/memory.stat",
                "cache 0\nhierarchical_memory_limit 536870912\n",
            ),
        ]);
        assert_eq!(
            memory_in(&v1, "4:memory:/app\n").unwrap().limit_bytes,
            512 << 20
        );
    }
}
