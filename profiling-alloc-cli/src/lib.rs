#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod cli;
pub mod commands;
pub mod diff;
pub mod error;
pub mod plan_input;
pub mod units;

pub use commands::{run, Outcome};
pub use error::CliError;
