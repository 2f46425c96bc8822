//! `POST /snapshot` and `GET /snapshot/{id}`: reports written to disk (JSON
//! and a heap pprof profile), the newest few kept, older ones deleted.

use std::collections::VecDeque;
use std::path::PathBuf;

use serde::Serialize;

use super::http::{Response, JSON};
use super::{lock, Shared};
use crate::{output::PprofKind, Report};

/// One snapshot on disk.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Snapshot {
    /// `<unix ms>-<sequence>`.
    id: String,
    /// The report's JSON.
    path: PathBuf,
    /// Its heap profile.
    pprof_path: PathBuf,
    /// Bytes of both files.
    size_bytes: u64,
    /// The resident size that called for it (early-warning snapshots).
    #[serde(skip_serializing_if = "Option::is_none")]
    rss_bytes: Option<u64>,
}

/// The snapshots taken, oldest first.
#[derive(Debug)]
pub(super) struct SnapshotStore {
    dir: PathBuf,
    /// How the files' names start: `snapshot`, `oom`.
    prefix: &'static str,
    max: usize,
    taken: VecDeque<Snapshot>,
    next: u64,
}

impl SnapshotStore {
    /// A store writing `<prefix>-<id>.json` and `.pb.gz` into `dir`,
    /// keeping `max` snapshots (at least 1). Snapshots an earlier run of
    /// the program left there are kept too, and count against `max` (an
    /// OOM crash loop does not fill the disk).
    pub(super) fn new(dir: PathBuf, prefix: &'static str, max: usize) -> SnapshotStore {
        let mut store = SnapshotStore {
            taken: found(&dir, prefix).into(),
            dir,
            prefix,
            max: max.max(1),
            next: 1,
        };
        while store.taken.len() > store.max {
            if let Some(old) = store.taken.pop_front() {
                let _ = std::fs::remove_file(&old.path);
                let _ = std::fs::remove_file(&old.pprof_path);
            }
        }
        store
    }

    /// The names of the next snapshot of `report`.
    fn plan(&mut self, report: &Report) -> Planned {
        let id = format!("{}-{}", report.program.captured_at_unix_ms, self.next);
        self.next += 1;
        let prefix = self.prefix;
        Planned {
            path: self.dir.join(format!("{prefix}-{id}.json")),
            pprof_path: self.dir.join(format!("{prefix}-{id}.pb.gz")),
            id,
        }
    }

    /// Records `snapshot` as written; returns the files of those now beyond
    /// the limit, to delete.
    fn keep(&mut self, snapshot: Snapshot) -> Vec<(PathBuf, PathBuf)> {
        self.taken.push_back(snapshot);
        let mut old = Vec::new();
        while self.taken.len() > self.max {
            if let Some(gone) = self.taken.pop_front() {
                old.push((gone.path, gone.pprof_path));
            }
        }
        old
    }

    /// The snapshots kept, oldest first.
    pub(super) fn kept(&self) -> impl Iterator<Item = &Snapshot> {
        self.taken.iter()
    }
}

/// The snapshots `<prefix>-<ms>-<n>.json` (with their `.pb.gz`) in `dir`,
/// oldest first.
fn found(dir: &std::path::Path, prefix: &str) -> Vec<Snapshot> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut snapshots: Vec<((u64, u64), Snapshot)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let id = name
                .strip_prefix(prefix)?
                .strip_prefix('-')?
                .strip_suffix(".json")?;
            let (ms, n) = id.split_once('-')?;
            let order = (ms.parse().ok()?, n.parse().ok()?);
            let path = entry.path();
            let pprof_path = dir.join(format!("{prefix}-{id}.pb.gz"));
            let size = |path: &PathBuf| std::fs::metadata(path).map_or(0, |m| m.len());
            Some((
                order,
                Snapshot {
                    id: id.to_string(),
                    size_bytes: size(&path) + size(&pprof_path),
                    path,
                    pprof_path,
                    rss_bytes: None,
                },
            ))
        })
        .collect();
    snapshots.sort_by_key(|(order, _)| *order);
    snapshots
        .into_iter()
        .map(|(_, snapshot)| snapshot)
        .collect()
}

/// A snapshot's names, before its files are written.
struct Planned {
    id: String,
    path: PathBuf,
    pprof_path: PathBuf,
}

impl Planned {
    fn write(self, report: &Report, rss_bytes: Option<u64>) -> Result<Snapshot, crate::Error> {
        report.write_json(&self.path)?;
        report.write_pprof(PprofKind::Heap, &self.pprof_path)?;
        let size = |path: &PathBuf| std::fs::metadata(path).map_or(0, |m| m.len());
        Ok(Snapshot {
            size_bytes: size(&self.path) + size(&self.pprof_path),
            id: self.id,
            path: self.path,
            pprof_path: self.pprof_path,
            rss_bytes,
        })
    }
}

/// Writes `report` (taken at a resident size of `rss_bytes`, for an
/// early-warning snapshot) into `store`, then deletes the oldest snapshots
/// beyond its limit; the lock is not held while the files are written
/// (readers of the store, such as `/memory`, do not wait on the disk).
pub(super) fn write_unlocked(
    store: &std::sync::Mutex<SnapshotStore>,
    report: &Report,
    rss_bytes: Option<u64>,
) -> Result<Snapshot, crate::Error> {
    let planned = lock(store).plan(report);
    let snapshot = planned.write(report, rss_bytes)?;
    let old = lock(store).keep(snapshot.clone());
    for (path, pprof_path) in old {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(pprof_path);
    }
    Ok(snapshot)
}

/// `POST /snapshot`.
pub(super) fn take(shared: &Shared) -> Response {
    let report = shared.report();
    match write_unlocked(&shared.snapshots, &report, None) {
        Ok(snapshot) => Response::json(&snapshot),
        Err(error) => Response::error(500, "snapshot_failed", &error.to_string()),
    }
}

/// `GET /snapshot/{id}`: the JSON, or with `format=pprof` the heap profile.
pub(super) fn get(shared: &Shared, id: &str, format: Option<&str>) -> Response {
    let found = lock(&shared.snapshots)
        .taken
        .iter()
        .find(|snapshot| snapshot.id == id)
        .cloned();
    let Some(snapshot) = found else {
        let message = format!(
            "no snapshot {id:?} (kept: the newest {})",
            shared.settings.max_snapshots
        );
        return Response::error(404, "not_found", &message);
    };
    let (path, content_type) = match format {
        None | Some("json") => (&snapshot.path, JSON),
        Some("pprof") => (&snapshot.pprof_path, "application/octet-stream"),
        Some(other) => {
            let message = format!("format={other:?}: use json or pprof");
            return Response::error(400, "bad_query", &message);
        }
    };
    match std::fs::read(path) {
        Ok(bytes) => Response::new(200, content_type, bytes),
        Err(error) => Response::error(
            500,
            "snapshot_unreadable",
            &format!("reading {}: {error}", path.display()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_snapshots_are_deleted_beyond_the_limit() {
        let dir = std::env::temp_dir().join(format!("pa-snapshots-{}", std::process::id()));
        let store = std::sync::Mutex::new(SnapshotStore::new(dir.clone(), "snapshot", 2));
        let report = Report::capture();
        let first = write_unlocked(&store, &report, None).unwrap();
        assert!(first.path.is_file() && first.pprof_path.is_file());
        assert!(first.size_bytes > 0);
        write_unlocked(&store, &report, None).unwrap();
        let third = write_unlocked(&store, &report, Some(1)).unwrap();
        assert!(third
            .path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("snapshot-"));
        assert!(!first.path.exists() && !first.pprof_path.exists());
        let store = store.into_inner().unwrap();
        let kept: Vec<&str> = store.taken.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept.last(), Some(&third.id.as_str()));
        // A later run finds them, and keeps within its own limit.
        let later = SnapshotStore::new(dir.clone(), "snapshot", 1);
        let found: Vec<&str> = later.taken.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(found, [third.id.as_str()]);
        assert!(third.path.exists());
        assert_eq!(SnapshotStore::new(dir.clone(), "oom", 5).taken.len(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
