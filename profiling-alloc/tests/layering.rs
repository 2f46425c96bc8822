//! The crate's layering, read from its sources:
//!
//! - the floor (`src/capture/`, the code that runs inside the allocator and
//!   the signal handler) imports nothing but itself, `sync` and `sys`;
//! - the floor denies the lints that keep it from panicking;
//! - no two top-level modules import each other, directly or through others.
//!
//! Paths are read as written (`crate::x`, `super::`), comments left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// What the floor may import besides itself.
const FLOOR_MAY_IMPORT: [&str; 3] = ["capture", "sync", "sys"];

/// Every `.rs` file under `dir`, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("source directory is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// `text` without `//` comments (doc comments included) and `/* */` blocks.
/// String literals are kept as they are: a `//` inside one is rare here and
/// would only hide code after it on that line.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start..]
            .split_once("*/")
            .map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out.lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of a source file, as segments from the crate root:
/// `capture/sampling/mod.rs` → `[capture, sampling]`, `lib.rs` → `[]`.
fn module_path(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(SRC).expect("file under src");
    let mut segments: Vec<String> = relative
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = segments.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        segments.push(stem.to_string());
    }
    segments
}

/// The top-level modules each path in `code` reaches, resolving `crate::`
/// and chains of `super::` from `module` (the file's own module path).
fn reached(code: &str, module: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes = code.as_bytes();
    let word_start =
        |at: usize| at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
    let ident_at = |at: usize| -> String {
        code[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        if word_start(at) {
            let name = ident_at(at + "crate::".len());
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    for (at, _) in code.match_indices("super::") {
        if !word_start(at) || code[..at].ends_with("super::") {
            continue; // counted from the first `super` of a chain
        }
        let mut ups = 0;
        let mut next = at;
        while code[next..].starts_with("super::") {
            ups += 1;
            next += "super::".len();
        }
        if ups > module.len() {
            continue; // not a real path (e.g. inside a string)
        }
        let base = &module[..module.len() - ups];
        let top = match base.first() {
            Some(top) => top.clone(),
            None => ident_at(next),
        };
        if !top.is_empty() {
            found.insert(top);
        }
    }
    found
}

/// The crate's top-level modules: folders and files under `src`.
fn top_level_modules() -> BTreeSet<String> {
    fs::read_dir(SRC)
        .expect("src is readable")
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            path.file_stem()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "lib")
        .collect()
}

#[test]
fn the_floor_imports_only_itself_sync_and_sys() {
    let modules = top_level_modules();
    let mut outside = Vec::new();
    let files = sources(&Path::new(SRC).join("capture"));
    assert!(files.len() > 10, "the floor's files are found: {files:?}");
    for file in &files {
        let code = without_comments(&fs::read_to_string(file).expect("readable"));
        for module in reached(&code, &module_path(file)) {
            if modules.contains(&module) && !FLOOR_MAY_IMPORT.contains(&module.as_str()) {
                outside.push(format!("{} imports crate::{module}", file.display()));
            }
            if !modules.contains(&module) {
                // A name at the crate root (a re-export) is above the floor too.
                outside.push(format!(
                    "{} uses crate::{module} (the crate root)",
                    file.display()
                ));
            }
        }
    }
    assert!(
        outside.is_empty(),
        "the floor reaches above itself:\n{}",
        outside.join("\n")
    );
}

#[test]
fn the_floor_denies_what_could_panic() {
    let floor = fs::read_to_string(Path::new(SRC).join("capture/mod.rs")).expect("readable");
    for lint in [
        "clippy::unwrap_used",
        "clippy::expect_used",
        "clippy::panic",
        "clippy::unreachable",
        "clippy::todo",
        "clippy::unimplemented",
        "clippy::indexing_slicing",
    ] {
        assert!(floor.contains(lint), "capture/mod.rs denies {lint}");
    }
    assert!(floor.contains("deny("), "the lints are denied, not warned");
}

#[test]
fn no_two_top_level_modules_import_each_other() {
    let modules = top_level_modules();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(Path::new(SRC)) {
        let path = module_path(&file);
        let Some(from) = path.first().cloned() else {
            continue; // lib.rs: the root re-exports from everyone
        };
        let code = without_comments(&fs::read_to_string(&file).expect("readable"));
        for to in reached(&code, &path) {
            if to != from && modules.contains(&to) {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert!(edges.len() > 5, "imports are found: {edges:?}");
    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        let cycle = visit(node, &edges, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle between modules: {}",
            cycle.unwrap_or_default().join(" -> ")
        );
    }
}

#[test]
fn paths_are_resolved_from_the_file_they_are_in() {
    let module = vec!["capture".to_string(), "sampling".to_string()];
    let code = "use super::mode::X; use crate::sync::SpinLock; let a = super::super::heap::f();";
    let expected: BTreeSet<String> = ["capture", "heap", "sync"].map(String::from).into();
    assert_eq!(reached(code, &module), expected);
    let from_a_top_level_file = reached("super::heap::f()", &["capture".to_string()]);
    assert_eq!(from_a_top_level_file, BTreeSet::from(["heap".to_string()]));
    let commented = without_comments("// crate::heap\n/* crate::cpu */ crate::sys::f()");
    assert_eq!(
        reached(&commented, &module),
        BTreeSet::from(["sys".to_string()])
    );
}
