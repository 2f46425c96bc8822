//! Where files go: [`output_dir`], the names the one-call writers of
//! [`testing`](crate::testing) accept, and the directories writers create.

use std::path::{Path, PathBuf};

use crate::error::Error;
pub(crate) use crate::io::{write_file, write_lines};

/// The environment variable that overrides [`output_dir`].
pub const OUTPUT_DIR_VAR: &str = "PROFILING_ALLOC_DIR";

/// The directory reports and flamegraphs are written to by default, always
/// an absolute path (a relative one is taken from the current directory):
///
/// 1. `$PROFILING_ALLOC_DIR`, when set;
/// 2. otherwise `profiling/` in the cargo target directory, the first of:
///    1. `$CARGO_TARGET_DIR` when the program runs (a relative value names
///       the directory above the executable that ends with it, else it is
///       taken from the current directory);
///    2. the nearest directory above the executable that cargo marked as a
///       target directory (its `CACHEDIR.TAG`): the executable sits in
///       `<target>/<profile>/`, in its `deps/` (tests, benchmarks) or
///       `examples/`, or in `<target>/<triple>/<profile>/...` when cross
///       compiling, and `build.target-dir` of a cargo config is followed;
///    3. `$CARGO_TARGET_DIR` when this crate was built, if that was an
///       absolute path and it is still a target directory (doctests run
///       from a temporary directory);
///    4. `target/` in the nearest directory from the current one up that
///       holds a cargo target directory there (the workspace root);
///    5. `target/` under the current directory.
///
/// So the tests, examples and benchmarks of a workspace all write to
/// `target/profiling/`. The directory is not created here; the writers
/// create it.
pub fn output_dir() -> PathBuf {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let facts = Facts {
        output_dir: var(OUTPUT_DIR_VAR),
        target_dir_now: var("CARGO_TARGET_DIR"),
        target_dir_at_build: option_env!("CARGO_TARGET_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        exe: std::env::current_exe().ok(),
        // A current directory that was removed leaves nowhere to resolve
        // relative paths from: the temporary directory stands in.
        cwd: std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir()),
    };
    choose_output_dir(&facts, |dir| dir.join("CACHEDIR.TAG").is_file())
}

/// What [`output_dir`] decides from, gathered first so that the decision
/// itself is a pure function ([`choose_output_dir`]).
#[derive(Debug, Default)]
struct Facts {
    /// `$PROFILING_ALLOC_DIR`.
    output_dir: Option<PathBuf>,
    /// `$CARGO_TARGET_DIR` at run time.
    target_dir_now: Option<PathBuf>,
    /// `$CARGO_TARGET_DIR` when this crate was compiled.
    target_dir_at_build: Option<PathBuf>,
    /// The running executable.
    exe: Option<PathBuf>,
    /// The current directory (absolute).
    cwd: PathBuf,
}

/// The order of [`output_dir`]'s documentation; `is_target_dir` says whether
/// a directory exists and is a cargo target directory.
fn choose_output_dir(facts: &Facts, is_target_dir: impl Fn(&Path) -> bool) -> PathBuf {
    let absolute = |dir: &Path| {
        if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            facts.cwd.join(dir)
        }
    };
    if let Some(dir) = &facts.output_dir {
        return absolute(dir);
    }
    let exe_dirs = || facts.exe.iter().flat_map(|exe| exe.ancestors().skip(1));
    let target = facts
        .target_dir_now
        .as_deref()
        .map(|dir| {
            if dir.is_absolute() {
                return dir.to_path_buf();
            }
            exe_dirs()
                .find(|above| above.ends_with(dir))
                .map_or_else(|| absolute(dir), Path::to_path_buf)
        })
        .or_else(|| {
            exe_dirs()
                .find(|dir| is_target_dir(dir))
                .map(Path::to_path_buf)
        })
        .or_else(|| {
            facts
                .target_dir_at_build
                .clone()
                .filter(|dir| dir.is_absolute() && is_target_dir(dir))
        })
        .or_else(|| {
            facts
                .cwd
                .ancestors()
                .map(|dir| dir.join("target"))
                .find(|dir| is_target_dir(dir))
        })
        .unwrap_or_else(|| facts.cwd.join("target"));
    target.join("profiling")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_tests_write_into_the_target_directory() {
        let dir = output_dir();
        assert!(dir.is_absolute(), "{}", dir.display());
        if std::env::var_os(OUTPUT_DIR_VAR).is_none() {
            assert!(dir.ends_with("profiling"), "{}", dir.display());
            let target = dir.parent().unwrap();
            assert!(
                target.join("CACHEDIR.TAG").is_file(),
                "{}",
                target.display()
            );
        }
    }

    /// Made-up paths: `/ws` is a workspace whose target directory is
    /// `/ws/target`, unless a test says otherwise.
    #[cfg(unix)]
    fn facts(exe: &str, cwd: &str) -> Facts {
        Facts {
            exe: Some(PathBuf::from(exe)),
            cwd: PathBuf::from(cwd),
            ..Facts::default()
        }
    }

    #[cfg(unix)]
    fn targets<'a>(dirs: &'a [&str]) -> impl Fn(&Path) -> bool + 'a {
        move |dir| dirs.iter().any(|t| Path::new(t) == dir)
    }

    // The made-up paths are Unix paths (absolute without a drive).
    #[cfg(unix)]
    #[test]
    fn the_target_directory_is_found_above_every_kind_of_executable() {
        let ws = targets(&["/ws/target"]);
        for exe in [
            "/ws/target/debug/app",
            "/ws/target/debug/deps/report_json-0123abcd",
            "/ws/target/release/examples/showcase",
            "/ws/target/release-lto/deps/bench-99",
            "/ws/target/x86_64-unknown-linux-musl/release/app",
            "/ws/target/aarch64-unknown-linux-gnu/debug/deps/t-1",
        ] {
            // Tests run in their package's directory, examples wherever the
            // user is: neither matters.
            for cwd in ["/ws/member", "/home/me"] {
                assert_eq!(
                    choose_output_dir(&facts(exe, cwd), &ws),
                    Path::new("/ws/target/profiling"),
                    "{exe} from {cwd}"
                );
            }
        }
        // A target directory set in a cargo config, seen only through the
        // executable's path.
        assert_eq!(
            choose_output_dir(
                &facts("/build/out/debug/deps/t-1", "/ws"),
                targets(&["/build/out"])
            ),
            Path::new("/build/out/profiling")
        );
    }

    // The made-up paths are Unix paths (absolute without a drive).
    #[cfg(unix)]
    #[test]
    fn the_variables_come_first_and_relative_ones_become_absolute() {
        let ws = targets(&["/ws/target"]);
        let mut f = facts("/ws/target/debug/deps/t-1", "/ws/member");
        f.target_dir_now = Some(PathBuf::from("/elsewhere/t"));
        assert_eq!(
            choose_output_dir(&f, &ws),
            Path::new("/elsewhere/t/profiling")
        );
        // Relative to where cargo ran (the workspace root), not to the
        // test's directory: the directory above the executable that ends so.
        f.exe = Some(PathBuf::from("/ws/build/t/debug/deps/t-1"));
        f.target_dir_now = Some(PathBuf::from("build/t"));
        assert_eq!(
            choose_output_dir(&f, &ws),
            Path::new("/ws/build/t/profiling")
        );
        // An executable elsewhere: from the current directory.
        f.exe = Some(PathBuf::from("/opt/app/bin/app"));
        assert_eq!(
            choose_output_dir(&f, &ws),
            Path::new("/ws/member/build/t/profiling")
        );
        f.output_dir = Some(PathBuf::from("profiles"));
        assert_eq!(choose_output_dir(&f, &ws), Path::new("/ws/member/profiles"));
        f.output_dir = Some(PathBuf::from("/var/profiles"));
        assert_eq!(choose_output_dir(&f, &ws), Path::new("/var/profiles"));
    }

    // The made-up paths are Unix paths (absolute without a drive).
    #[cfg(unix)]
    #[test]
    fn outside_a_target_directory_the_build_time_one_then_the_current_one() {
        // A doctest runs from a temporary directory.
        let mut f = facts("/tmp/rustdoctestXYZ/rust_out", "/ws/member");
        f.target_dir_at_build = Some(PathBuf::from("/build/t"));
        assert_eq!(
            choose_output_dir(&f, targets(&["/build/t", "/ws/target"])),
            Path::new("/build/t/profiling")
        );
        // Gone since, or relative: the workspace root's target directory.
        assert_eq!(
            choose_output_dir(&f, targets(&["/ws/target"])),
            Path::new("/ws/target/profiling")
        );
        f.target_dir_at_build = Some(PathBuf::from("t"));
        assert_eq!(
            choose_output_dir(&f, targets(&["/ws/member/t", "/ws/target"])),
            Path::new("/ws/target/profiling")
        );
        // Nothing known: under the current directory, still absolute.
        f.exe = None;
        assert_eq!(
            choose_output_dir(&f, targets(&[])),
            Path::new("/ws/member/target/profiling")
        );
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
