//! brownout's harness: the command-line subcommands, scenario runner, SMP client and targets.

pub mod cli;
pub mod client;
pub mod runner;
pub mod scenario;
