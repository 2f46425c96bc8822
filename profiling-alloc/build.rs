//! Records how the library was built, for `Report::program.build`: the
//! compiler's version, the target and the profile. Reports compared in CI
//! (`profiling-alloc diff`) warn when these differ.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=RUSTC");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_string())
        .unwrap_or_default();
    println!("cargo::rustc-env=PROFILING_ALLOC_RUSTC_VERSION={version}");
    for (from, to) in [
        ("TARGET", "PROFILING_ALLOC_TARGET"),
        ("PROFILE", "PROFILING_ALLOC_PROFILE"),
        ("OPT_LEVEL", "PROFILING_ALLOC_OPT_LEVEL"),
    ] {
        let value = std::env::var(from).unwrap_or_default();
        println!("cargo::rustc-env={to}={value}");
    }
}
