//! The `profiling-alloc` command: see the crate docs (`profiling_alloc_cli`)
//! and `profiling-alloc --help`.

use std::process::ExitCode;

use clap::Parser;
use profiling_alloc_cli::cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version print to stdout and succeed; usage errors
            // exit 1 (clap's own default is 2), so that 3 stays the one code
            // that means "regression".
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 1 } else { 0 });
        }
    };
    match profiling_alloc_cli::run(cli.command) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(1)
        }
    }
}
