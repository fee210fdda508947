//! `brownout run`: run scenario files against the in-process simulator and report.
//!
//! ```text
//! brownout run scenarios/library                    # every *.yaml / *.yml below, recursively
//! brownout run scenarios/ --filter power --jobs 4 --junit report.xml --json report.json
//! brownout run a.yaml --seed 7                      # repeat a run with a given seed
//! ```
//!
//! Prints one line per scenario (✓ passed, ~ skipped steps, ✗ failed) with its step counts,
//! seed and duration; for a failure the step, its `file:line`, expected and actual; for a
//! skipped step why. Exits 0 only if every scenario passed, 1 otherwise (a scenario with
//! skipped steps has not passed), 2 on bad arguments.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::runner::{self, Outcome, RunOptions, report};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files, or directories searched for `*.yaml` and `*.yml`.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Run only scenario files whose path contains this text.
    #[arg(long, value_name = "PATTERN")]
    filter: Option<String>,
    /// Scenarios run at once (each on its own simulated device). Default: 1.
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    /// Seed for every scenario, overriding their `seed:` (repeat a reported run).
    #[arg(long)]
    seed: Option<u64>,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut files = super::scenario_files(&args.paths)?;
    if let Some(f) = &args.filter {
        files.retain(|p| p.to_string_lossy().contains(f.as_str()));
    }
    if files.is_empty() {
        bail!(
            "no scenario files (*.yaml, *.yml){} in {}",
            args.filter.as_deref().map(|f| format!(" matching `{f}`")).unwrap_or_default(),
            args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let options = RunOptions { seed: args.seed, ..RunOptions::default() };
    let started = Instant::now();
    eprintln!("running {} scenario(s), {} at a time", files.len(), args.jobs);
    // With one job the lines come in file order as they finish; with more, progress goes to
    // stderr as they finish and the report lines follow in file order.
    let jobs = usize::from(args.jobs);
    let progress = |r: &runner::ScenarioReport| {
        if jobs > 1 {
            eprintln!("  done: {} ({})", r.file.display(), runner::kebab(&r.outcome));
        } else {
            print!("{}", r.to_text());
            let _ = std::io::stdout().flush();
        }
    };
    let reports = runner::run_all(&files, &options, jobs, &progress);
    if jobs > 1 {
        for r in &reports {
            print!("{}", r.to_text());
        }
    }
    println!("{}", report::summary(&reports, started.elapsed()));
    if let Some(path) = &args.junit {
        let xml = report::to_junit(&reports).context("cannot write the JUnit report")?;
        std::fs::write(path, xml).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report::to_json(&reports))?;
        std::fs::write(path, text + "\n").with_context(|| format!("{}: cannot write", path.display()))?;
    }
    let all_passed = reports.iter().all(|r| r.outcome == Outcome::Passed);
    Ok(if all_passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
