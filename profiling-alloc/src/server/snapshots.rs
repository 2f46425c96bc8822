//! `POST /snapshot` and `GET /snapshot/{id}`: reports written to disk (JSON
//! and a heap pprof profile), the newest few kept, older ones deleted.

use std::collections::VecDeque;
use std::path::PathBuf;

use serde::Serialize;

use super::http::{Response, JSON};
use super::{lock, Shared};
use crate::{PprofKind, Report};

/// One snapshot on disk.
#[derive(Clone, Debug, Serialize)]
struct Snapshot {
    /// `<unix ms>-<sequence>`.
    id: String,
    /// The report's JSON.
    path: PathBuf,
    /// Its heap profile.
    pprof_path: PathBuf,
    /// Bytes of both files.
    size_bytes: u64,
}

/// The snapshots taken, oldest first.
#[derive(Debug)]
pub(super) struct SnapshotStore {
    dir: PathBuf,
    max: usize,
    taken: VecDeque<Snapshot>,
    next: u64,
}

impl SnapshotStore {
    /// A store writing into `dir`, keeping `max` snapshots (at least 1).
    pub(super) fn new(dir: PathBuf, max: usize) -> SnapshotStore {
        SnapshotStore {
            dir,
            max: max.max(1),
            taken: VecDeque::new(),
            next: 1,
        }
    }

    /// Writes `report`, then deletes the oldest snapshots beyond the limit.
    fn write(&mut self, report: &Report) -> Result<Snapshot, crate::Error> {
        let id = format!("{}-{}", report.program.captured_at_unix_ms, self.next);
        self.next += 1;
        let path = self.dir.join(format!("snapshot-{id}.json"));
        let pprof_path = self.dir.join(format!("snapshot-{id}.pb.gz"));
        report.write_json(&path)?;
        report.write_pprof(PprofKind::Heap, &pprof_path)?;
        let size = |path: &PathBuf| std::fs::metadata(path).map_or(0, |m| m.len());
        let snapshot = Snapshot {
            size_bytes: size(&path) + size(&pprof_path),
            id,
            path,
            pprof_path,
        };
        self.taken.push_back(snapshot.clone());
        while self.taken.len() > self.max {
            if let Some(old) = self.taken.pop_front() {
                let _ = std::fs::remove_file(&old.path);
                let _ = std::fs::remove_file(&old.pprof_path);
            }
        }
        Ok(snapshot)
    }
}

/// `POST /snapshot`.
pub(super) fn take(shared: &Shared) -> Response {
    let report = shared.report();
    match lock(&shared.snapshots).write(&report) {
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
        let mut store = SnapshotStore::new(dir.clone(), 2);
        let report = Report::capture();
        let first = store.write(&report).unwrap();
        assert!(first.path.is_file() && first.pprof_path.is_file());
        assert!(first.size_bytes > 0);
        store.write(&report).unwrap();
        let third = store.write(&report).unwrap();
        assert!(!first.path.exists() && !first.pprof_path.exists());
        let kept: Vec<&str> = store.taken.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept.last(), Some(&third.id.as_str()));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
