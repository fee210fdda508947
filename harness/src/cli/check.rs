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

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::scenario::{Scenario, json_schema};

/// Deepest directory nesting searched for scenario files.
const MAX_DEPTH: usize = 16;

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
    let mut files = Vec::new();
    for path in &args.paths {
        collect(path, 0, &mut files)?;
    }
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

/// `path` itself if it is a file; the scenario files below it (sorted) if it is a directory.
fn collect(path: &Path, depth: usize, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}: cannot read", path.display()))?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        bail!("{}: directories nested deeper than {MAX_DEPTH} levels", path.display());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("{}: cannot list", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, depth + 1, out)?;
        } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(entry);
        }
    }
    Ok(())
}
