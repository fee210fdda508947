//! `brownout check`: read scenario files and report every mistake in them, without running
//! anything; `brownout check --schema` prints the JSON Schema of scenario files.
//!
//! ```text
//! brownout check scenarios/                 # every *.yaml / *.yml below, recursively
//! brownout check a.yaml b.yaml
//! brownout check --schema > scenarios/schema.json
//! ```
//!
//! Exits 0 when every file is valid, 1 when one is not (each problem is printed as
//! `file:line:col: message` with the line and a caret), 2 on bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use crate::scenario::{Scenario, json_schema};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files, or directories searched for `*.yaml` and `*.yml`.
    #[arg(required_unless_present = "schema")]
    paths: Vec<PathBuf>,
    /// Print the JSON Schema of scenario files (for editors) and exit.
    #[arg(long, conflicts_with = "paths")]
    schema: bool,
    /// Print only problems, not a line per valid file.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.schema {
        print!("{}", json_schema());
        return Ok(ExitCode::SUCCESS);
    }
    let files = super::scenario_files(&args.paths)?;
    if files.is_empty() {
        bail!(
            "no scenario files (*.yaml, *.yml) in {}",
            args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let mut bad = 0usize;
    for file in &files {
        match Scenario::from_path(file) {
            Ok(s) => {
                if !args.quiet {
                    println!("ok    {} ({} steps): {}", file.display(), s.steps.len(), s.name);
                }
            }
            Err(e) => {
                bad += 1;
                println!("{e}\n");
            }
        }
    }
    if bad > 0 {
        println!("{bad} of {} scenario files have problems", files.len());
        return Ok(ExitCode::from(1));
    }
    if !args.quiet {
        println!("{} scenario files are valid", files.len());
    }
    Ok(ExitCode::SUCCESS)
}
