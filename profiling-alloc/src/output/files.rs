//! Where files go: [`output_dir`], the names the one-call writers of
//! [`testing`](crate::testing) accept, and the directories writers create.

use std::path::{Path, PathBuf};

use super::error::Error;

/// The environment variable that overrides [`output_dir`].
pub const OUTPUT_DIR_VAR: &str = "PROFILING_ALLOC_DIR";

/// The directory reports and flamegraphs are written to by default:
///
/// 1. `$PROFILING_ALLOC_DIR`, when set;
/// 2. otherwise `profiling/` in the cargo target directory the running
///    program was built in (found from the executable's path: the nearest
///    directory above it holding cargo's `CACHEDIR.TAG`), so tests,
///    examples and benchmarks of a workspace all write to
///    `target/profiling/`, and `$CARGO_TARGET_DIR` is followed;
/// 3. otherwise `target/profiling/` under the current directory (doctests,
///    and programs run from outside a cargo target directory).
///
/// The directory is not created here; the writers create it.
pub fn output_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(OUTPUT_DIR_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| target_dir_of(&exe))
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("profiling")
}

fn target_dir_of(exe: &Path) -> Option<PathBuf> {
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

/// `output_dir()/name.extension`, once `name` is checked to be a plain file
/// name.
pub(crate) fn file_in_output_dir(name: &str, extension: &str) -> Result<PathBuf, Error> {
    let invalid = |reason| Error::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(invalid(
            "it must be a file name without a directory (set PROFILING_ALLOC_DIR to change the directory)",
        ));
    }
    if name.contains('\0') {
        return Err(invalid("it contains a NUL character"));
    }
    Ok(output_dir().join(format!("{name}.{extension}")))
}

/// Creates the directory `path` will be written in.
pub(crate) fn create_parent(path: &Path) -> Result<(), Error> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("creating directory", dir, e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_tests_write_into_the_target_directory() {
        let dir = output_dir();
        assert!(dir.ends_with("profiling"), "{}", dir.display());
        if std::env::var_os(OUTPUT_DIR_VAR).is_none() {
            let target = dir.parent().unwrap();
            assert!(
                target.join("CACHEDIR.TAG").is_file(),
                "{}",
                target.display()
            );
        }
    }

    #[test]
    fn names_with_directories_are_refused() {
        for bad in ["", "a/b", "..", "a\\b", "x\0y"] {
            match file_in_output_dir(bad, "svg") {
                Err(Error::InvalidName { name, .. }) => assert_eq!(name, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let good = file_in_output_dir("parse_big_file", "svg").unwrap();
        assert!(good.ends_with("profiling/parse_big_file.svg"));
    }
}
